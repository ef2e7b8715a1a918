"""``Auth-Min-Revision``: a caller's floor on the state a decision is answered from.

Every answer to a write carries ``Auth-Revision: <n>``, the tenant's revision after it.
A caller that sends that value back as ``Auth-Min-Revision`` is answered from a state
at least that new, so it reads its own writes in ``minimize_latency`` too (in
``strict`` every answer already reflects the newest state). The value is a decimal
integer from 0 to 2^63-1, sent once; anything else is refused with 400 before any
work is done (:class:`app.security.gate.ClientKeyGate`).
"""

from __future__ import annotations

import re

from starlette.types import Scope

MIN_REVISION_HEADER = "Auth-Min-Revision"
_HEADER_NAME = MIN_REVISION_HEADER.lower().encode("latin-1")
_DIGITS = re.compile(rb"[0-9]{1,19}")
MAX_REVISION = 2**63 - 1


class BadMinRevision(ValueError):
    """The request's ``Auth-Min-Revision`` is not one revision number."""


def min_revision_of(scope: Scope) -> int | None:
    """The request's ``Auth-Min-Revision``; ``None`` when it sends none.

    Raises :class:`BadMinRevision` for a value that is not a decimal integer in
    0..2^63-1, or for the header sent more than once."""
    found: int | None = None
    for name, value in scope["headers"]:
        if name != _HEADER_NAME:
            continue
        if found is not None:
            raise BadMinRevision(f"{MIN_REVISION_HEADER} must be sent once.")
        if not _DIGITS.fullmatch(value) or int(value) > MAX_REVISION:
            raise BadMinRevision(
                f"{MIN_REVISION_HEADER} must be a revision: a decimal integer from 0 to "
                f"{MAX_REVISION} (an Auth-Revision a write answered)."
            )
        found = int(value)
    return found
