"""Schemathesis hooks for the contract fuzzing run (``SCHEMATHESIS_HOOKS``).

Loaded by ``schemathesis run`` (see ``tests/e2e/test_contract_fuzz.py`` and the README):

* **The run's tenant.** Every operation but key management presents the client key in
  ``AUTH_FUZZ_CLIENT_KEY`` (an auth provider, not ``-H``: a header given on the command
  line would override the providers).
* **Key management on throw-away tenants.** ``POST /api/keys/rotate`` and
  ``/api/keys/get_rotate_key`` present a fresh client key (a new, empty tenant) on every
  call, so that rotating (or a recovery with a rotate key the run fetched) never moves
  the run's own tenant away from the key every other operation presents.
* **Schema-valid requests refused for their meaning.** The built-in
  ``positive_data_acceptance`` check is replaced by :func:`schema_valid_request_accepted`:
  a request its schema allows is never refused as 400, except for the refusals that no
  JSON Schema can express, each named in :data:`MEANINGFUL_REFUSALS` (a cursor the
  service did not issue, an expiry in the past or lengthened, a 26th live key, both
  ``cursor`` and ``offset``, a bulk record naming a role that exists nowhere). Any other 400 on a schema-valid request fails the run.
* **JSON lines.** ``/api/bulk`` documents ``application/x-ndjson`` with the schema of one
  line: generated records are sent as one JSON line each (:func:`json_lines`), and every
  line of an NDJSON answer must match the documented schema (:func:`json_lines_conform`;
  schemathesis itself would validate the whole body as one document).
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import schemathesis
from jsonschema import Draft202012Validator
from schemathesis import Case, CheckContext, Response

NDJSON = "application/x-ndjson"

MEANINGFUL_REFUSALS = (
    "Invalid cursor:",
    "Use either cursor or offset, not both.",
    "expires_at must be in the future.",
    "expires_at must be at most 365 days away.",
    "expires_at can only be shortened.",
    "active API keys; revoke one first.",
    "is neither defined in the body nor in the tenant",
)


KEY_MANAGEMENT = r"^/api/keys/(rotate|get_rotate_key|recover)$"
FRESH_TENANT_OPERATIONS = r"^/api/keys/(rotate|get_rotate_key)$"


def _bearer(case: Case[Any], credential: str) -> None:
    case.headers["Authorization"] = f"Bearer {credential}"


@schemathesis.auth(refresh_interval=None).skip_for(path_regex=KEY_MANAGEMENT)
class RunTenant:
    """The run's own client key (``AUTH_FUZZ_CLIENT_KEY``)."""

    def get(self, case: Case[Any], ctx: Any) -> str:
        return os.environ["AUTH_FUZZ_CLIENT_KEY"]

    def set(self, case: Case[Any], data: str, ctx: Any) -> None:
        _bearer(case, data)


@schemathesis.auth(refresh_interval=None).apply_to(path_regex=FRESH_TENANT_OPERATIONS)
class ThrowAwayTenant:
    """A new client key (so a new, empty tenant) for every key-management call."""

    def get(self, case: Case[Any], ctx: Any) -> str:
        return str(uuid.uuid4())

    def set(self, case: Case[Any], data: str, ctx: Any) -> None:
        _bearer(case, data)


@schemathesis.check
def schema_valid_request_accepted(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """A schema-valid request answered 400 names one of :data:`MEANINGFUL_REFUSALS`."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return
    try:
        detail = str(response.json().get("detail", ""))
    except ValueError:
        detail = ""
    if not any(reason in detail for reason in MEANINGFUL_REFUSALS):
        raise AssertionError(f"Schema-valid request refused as 400: {detail or response.text}")


@schemathesis.serializer(NDJSON)
def json_lines(ctx: Any, value: Any) -> bytes:
    """A generated record as one JSON line (a string, e.g. the documented example, as is)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return (json.dumps(value) + "\n").encode()


@schemathesis.check
def json_lines_conform(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """Every line of an NDJSON answer is JSON matching the operation's documented schema."""
    if NDJSON not in (response.headers.get("content-type") or [""])[0]:
        return
    document: dict[str, Any] = case.operation.schema.raw_schema
    status = str(response.status_code)
    responses = case.operation.definition.raw.get("responses", {})
    schema = responses.get(status, {}).get("content", {}).get(NDJSON, {}).get("schema")
    if schema is None:
        raise AssertionError(f"undocumented NDJSON answer {status}")
    validator = Draft202012Validator({**schema, "components": document.get("components", {})})
    # NDJSON lines end at "\n" alone (str.splitlines would also split at U+2028 and
    # others, which JSON strings may hold).
    for number, line in enumerate(response.content.decode().split("\n"), start=1):
        if line.strip():
            errors = [error.message for error in validator.iter_errors(json.loads(line))]
            if errors:
                raise AssertionError(f"line {number} of the NDJSON answer: {errors[0]}")
