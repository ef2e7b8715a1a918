"""Failed authentication: counted per reason and logged, never with the secret.

One :class:`AuthFailures` per application. ``record`` increments the counter of a
:class:`FailureReason` and writes one structured log line (logger
``app.security.auth``) with the reason, method, route template (never the raw path, which holds user
ids) and client address. The
presented credential is never passed in, so it cannot be logged.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from enum import StrEnum

logger = logging.getLogger("app.security.auth")


class FailureReason(StrEnum):
    MISSING_HEADER = "missing_header"
    MALFORMED_CREDENTIAL = "malformed_credential"
    UNKNOWN_KEY = "unknown_key"
    ROTATED_KEY = "rotated_key"
    DISABLED_TENANT = "disabled_tenant"
    INVALID_TOKEN = "invalid_token"
    EXPIRED_TOKEN = "expired_token"
    REVOKED_TOKEN = "revoked_token"
    REFRESH_REPLAY = "refresh_replay"
    INVALID_ROTATE_KEY = "invalid_rotate_key"


class AuthFailures:
    def __init__(self) -> None:
        self._counts: Counter[FailureReason] = Counter()
        self._lock = threading.Lock()

    def record(self, reason: FailureReason, *, method: str, route: str, client: str | None) -> None:
        with self._lock:
            self._counts[reason] += 1
        logger.warning(
            "authentication failed",
            extra={
                "event": "auth_failure",
                "reason": reason.value,
                "method": method,
                "route": route,
                "client_ip": client,
            },
        )

    def snapshot(self) -> dict[str, int]:
        """Counts per reason, every reason present (zero when never seen)."""
        with self._lock:
            return {reason.value: self._counts[reason] for reason in FailureReason}
