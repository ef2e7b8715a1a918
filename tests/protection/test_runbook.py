"""The incident-response runbook (``docs/runbook.md``), walked against a real server.

A tenant's client key leaks and an attacker uses it: grants itself a permission, adds
a member, deletes a role. The operator then follows the runbook with the real
commands: new JWT secret (old tokens 401), new encryption key (data intact), new client
key (old key 401), audit investigation (CLI and the Python snippet, run verbatim),
revocation and ``tenant disable``. Every action is recorded the way the runbook
writes it, and the record must equal the runbook's own list, in order.

The server is a real process throughout. The runbook's ``auth-server`` lines run
through :func:`app.cli.main` in this process
(:func:`tests.e2e.server.run_cli_in_process`: the same arguments, environment and
working directory, without an interpreter start-up each); the console script itself is
run end to end by the restore part of the runbook (``tests/deploy/test_restore.py``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shlex
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.e2e.server import ServerProcess, free_port, run_cli_in_process, server_env
from tests.protection.test_reencryption import parse_status

pytestmark = pytest.mark.e2e

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
RESTORE_PART = "# Restore from a backup"  # the rest of the page: tests/deploy/test_restore.py
Action = tuple[str, str]


def runbook_actions() -> tuple[list[Action], list[str]]:
    """The runbook's steps and shell actions in order, and its Python blocks."""
    actions: list[Action] = []
    python: list[str] = []
    block: list[str] | None = None
    language = ""
    for line in RUNBOOK.read_text(encoding="utf-8").splitlines():
        if line == RESTORE_PART:
            break
        if line.startswith("```"):
            if block is None:
                block, language = [], line[3:]
                continue
            if language == "python":
                python.append("\n".join(block) + "\n")
                actions.append(("python", python[-1]))
            block = None
        elif block is not None:
            block.append(line)
            if language == "sh":
                actions.extend(_shell_action(line))
        elif line.startswith("## "):
            actions.append(("step", line[3:]))
    return actions, python


def _shell_action(line: str) -> list[Action]:
    code = re.sub(r"\s+#.*$", "", line).strip()
    if code.startswith("export "):
        return [("export", code.removeprefix("export ").split("=", 1)[0])]
    if code.startswith("unset "):
        return [("unset", code.removeprefix("unset "))]
    if code == "systemctl restart auth-server":
        return [("restart", "")]
    if code.startswith("auth-server "):
        return [("auth-server", code)]
    if code.startswith("curl "):
        method = re.search(r"-X (\w+)", code)
        path = re.search(r'"\$AUTH_URL(/[^"]*)"', code)
        assert path is not None, code
        return [(method.group(1) if method else "GET", path.group(1))]
    return []


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"<([a-z-]+)>", lambda match: values[match.group(1)], template)


@dataclass
class Operator:
    """Runs the server and the runbook's commands; records each as the runbook writes it."""

    workdir: Path
    env: dict[str, str]
    done: list[Action] = field(default_factory=list)
    server: ServerProcess | None = None

    def step(self, heading: str) -> None:
        self.done.append(("step", heading))

    def export(self, name: str, value: str) -> None:
        self.done.append(("export", name))
        self.env[name] = value

    def unset(self, name: str) -> None:
        self.done.append(("unset", name))
        self.env.pop(name, None)

    def start(self) -> None:
        self.server = ServerProcess(self.workdir, dict(self.env))
        self.server.__enter__()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def restart(self) -> None:
        self.done.append(("restart", ""))
        self.stop()
        self.start()

    def cli(self, command: str, **values: str) -> subprocess.CompletedProcess[str]:
        """Run an ``auth-server`` line (in this process); ``> FILE`` writes its output to
        FILE, as a shell would."""
        self.done.append(("auth-server", command))
        args = shlex.split(fill(command, {k.replace("_", "-"): v for k, v in values.items()}))
        output = None
        if ">" in args:
            args, output = args[: args.index(">")], args[args.index(">") + 1]
        result = run_cli_in_process(args[1:], self.env, self.workdir)
        assert result.returncode == 0, result.stderr
        if output is not None:
            (self.workdir / output).write_text(result.stdout, encoding="utf-8")
        return result

    def curl(self, method: str, path: str, credential: str, **values: str) -> httpx.Response:
        self.done.append((method, path))
        return self.http(method, fill(path, values), credential)

    def http(self, method: str, path: str, credential: str, body: Any = None) -> httpx.Response:
        """A request the runbook does not list (setup and extra checks)."""
        assert self.server is not None
        headers = {"Authorization": f"Bearer {credential}"}
        with httpx.Client(base_url=self.server.url, timeout=10.0) as http:
            return http.request(method, path, headers=headers, json=body)

    def python(self, block: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        """Run a Python block of the runbook verbatim, configured like ``auth-server``."""
        self.done.append(("python", block))
        namespace: dict[str, Any] = {}
        with monkeypatch.context() as patch:
            for name in [name for name in os.environ if name.upper().startswith("AUTH_")]:
                patch.delenv(name)
            for name, value in self.env.items():
                if name.startswith("AUTH_"):
                    patch.setenv(name, value)
            patch.chdir(self.workdir)
            exec(compile(block, str(RUNBOOK), "exec"), namespace)  # noqa: S102
        return namespace


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@dataclass(frozen=True)
class Loot:
    """What the attacker took with the leaked key: an admin token and the rotate key."""

    token: str
    rotate_key: str


HEAD_DOCUMENT = "audit-head.json"


def owner_history(operator: Operator, client_key: str) -> None:
    """The owner's data, written before the last head document was taken."""
    ok(operator.http("POST", "/api/role/payments", client_key, {"description": "Card refunds"}))
    for path in (
        "/api/role/auditors",
        "/api/permission/payments/refund",
        "/api/membership/alice/payments",
        "/api/permission/auditors/read-ledger",
        "/api/membership/audrey/auditors",
    ):
        assert ok(operator.http("POST", path, client_key)) == {"result": True}


def breach(operator: Operator, client_key: str) -> Loot:
    """The attacker's changes with a token from the leaked key, and the tenant's rotate
    key fetched to take the tenant back after a rotation."""
    admin = {"scope": "admin"}
    token: str = ok(operator.http("POST", "/api/token", client_key, admin))["access_token"]
    for path in ("/api/permission/payments/export-cards", "/api/membership/mallory/payments"):
        assert ok(operator.http("POST", path, token)) == {"result": True}
    assert ok(operator.http("DELETE", "/api/role/auditors", token))["data"] == {"result": True}
    assert operator.http("POST", "/api/keys/get_rotate_key", token).status_code == 403
    rotate_key = ok(operator.http("POST", "/api/keys/get_rotate_key", client_key))["data"]
    return Loot(token, rotate_key["rotate_key"])


def assert_data_intact(operator: Operator, credential: str) -> None:
    roles = ok(operator.http("GET", "/api/roles", credential))
    assert roles == {"result": [{"role": "payments", "description": "Card refunds"}]}
    members = ok(operator.http("GET", "/api/members/payments", credential))["result"]
    assert members == [
        {"user": "alice", "role": "payments"},
        {"user": "mallory", "role": "payments"},
    ]
    holders = ok(operator.http("GET", "/api/which_users_can/export-cards", credential))
    assert holders == {"result": members}


def test_incident_runbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    documented, python_blocks = runbook_actions()
    old_key = Fernet.generate_key().decode()
    env = server_env(
        tmp_path / "home",
        AUTH_PORT=str(free_port()),
        AUTH_SQLITE_PATH=str(tmp_path / "auth.sqlite3"),
        AUTH_KEY_HASH_SECRET=secrets.token_urlsafe(32),
        AUTH_JWT_SECRET_KEY=secrets.token_urlsafe(32),
        AUTH_ENABLE_ENCRYPTION="true",
        AUTH_ENCRYPTION_KEY=old_key,
        AUTH_STRICT_USERS_DEFAULT="false",
        AUTH_LOG_LEVEL="warning",
    )
    operator = Operator(tmp_path, env)
    client_key = str(uuid.uuid4())
    operator.start()
    try:
        owner_history(operator, client_key)
        operator.step("Before an incident: anchor the audit trail")
        operator.cli("auth-server audit head > <head-document>", head_document=HEAD_DOCUMENT)
        loot = breach(operator, client_key)
        new_client_key, tenant_id = walk(operator, client_key, loot, old_key)
        investigate_in_python(operator, python_blocks, monkeypatch, tenant_id)
        remediate(operator, new_client_key, tenant_id)
    finally:
        operator.stop()
    assert operator.done == documented


def walk(operator: Operator, client_key: str, loot: Loot, old_key: str) -> tuple[str, int]:
    """Steps 1-3 and the shell half of step 4; the new client key and the tenant id."""
    operator.step("Step 1: Rotate the JWT signing secret")
    operator.export("AUTH_JWT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    operator.unset("AUTH_JWT_PREVIOUS_SECRET_KEYS")
    operator.restart()
    refused = operator.curl("GET", "/api/roles", loot.token)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    token = ok(operator.curl("POST", "/api/token", client_key))["access_token"]
    assert_data_intact(operator, token)

    operator.step("Step 2: Rotate the encryption key")
    new_key = Fernet.generate_key().decode()
    operator.export("AUTH_ENCRYPTION_KEY", f"{new_key},{old_key}")
    operator.restart()
    rotated = operator.cli("auth-server encryption rotate")
    # 5 protected fields and the resources of 12 audit rows (roles, grants, members, tokens,
    # the rotate key fetched).
    assert rotated.stdout == "17 value(s) now encrypted under the newest key\n"
    status = parse_status(operator.cli("auth-server encryption status").stdout)
    assert status == {
        "memberships.user_name": {"key 1": 2},
        "grants.permission": {"key 1": 2},
        "api_keys.user_name": {},
        "api_keys.label": {},
        "roles.description": {"key 1": 1},
        "audit_log.resource": {"key 1": 12},
    }
    operator.export("AUTH_ENCRYPTION_KEY", new_key)
    operator.restart()
    assert_data_intact(operator, token)

    operator.step("Step 3: Rotate the tenant's client key")
    new_client_key: str = ok(operator.curl("POST", "/api/keys/rotate", client_key))["data"][
        "new_key"
    ]
    operator.export("CLIENT_KEY", new_client_key)
    fresh = ok(operator.curl("POST", "/api/keys/get_rotate_key", new_client_key))["data"]
    assert fresh["rotate_key"] != loot.rotate_key
    for credential in (client_key, token):
        assert operator.http("GET", "/api/roles", credential).status_code == 401
    # The attacker's rotate key died with the rotation: it cannot take the tenant back.
    assert operator.server is not None
    with httpx.Client(base_url=operator.server.url, timeout=10.0) as anonymous:
        taken = anonymous.post("/api/keys/recover", json={"rotate_key": loot.rotate_key})
    assert taken.status_code == 401
    assert_data_intact(operator, new_client_key)

    operator.step("Step 4: Find the suspicious activity")
    deletions = operator.cli("auth-server audit query --action delete --hours 24").stdout
    entries = [json.loads(line) for line in deletions.splitlines()]
    assert [(e["action"], e["entity_type"], e["resource"]) for e in entries] == [
        ("DELETE_ROLE", "role", "auditors")
    ]
    tenant_id: int = entries[0]["tenant"]
    command = "auth-server audit query --hours 24 --tenant <tenant-id>"
    activity = [
        json.loads(line)
        for line in operator.cli(command, tenant_id=str(tenant_id)).stdout.splitlines()
    ]
    assert {"reason": "rotated_key", "status": 401, "route": "/api/roles"} in [
        entry["details"] for entry in activity if entry["action"] == "AUTHENTICATION_FAILED"
    ]
    actions = [entry["action"] for entry in activity if entry["action"] != "AUTHENTICATION_FAILED"]
    assert actions[::-1] == [
        "CREATE_ROLE",
        "CREATE_ROLE",
        "ADD_PERMISSION",
        "ADD_MEMBERSHIP",
        "ADD_PERMISSION",
        "ADD_MEMBERSHIP",
        "TOKEN_ISSUE",
        "ADD_PERMISSION",
        "ADD_MEMBERSHIP",
        "DELETE_ROLE",
        "GET_ROTATE_KEY",  # refused: the attacker's token may not manage keys
        "GET_ROTATE_KEY",
        "TOKEN_ISSUE",
        "ROTATE_KEY",
        "GET_ROTATE_KEY",
    ]
    verified = operator.cli(
        "auth-server audit verify --since-head <head-document>", head_document=HEAD_DOCUMENT
    )
    assert verified.stdout == "audit trail intact\n"
    return new_client_key, tenant_id


def investigate_in_python(
    operator: Operator, blocks: list[str], monkeypatch: pytest.MonkeyPatch, tenant_id: int
) -> None:
    [block] = blocks
    namespace = operator.python(block, monkeypatch)
    suspicious = namespace["suspicious"]
    changes = [
        (log["action"], log["resource"])
        for log in suspicious
        if log["action"] != "AUTHENTICATION_FAILED"
    ]
    assert {log["tenant"] for log in suspicious} <= {tenant_id, 0}
    assert changes == [
        ("ROTATE_KEY", "client_key"),
        ("GET_ROTATE_KEY", None),  # the attacker's token, refused
        ("DELETE_ROLE", "auditors"),
        ("ADD_MEMBERSHIP", "payments"),
        ("ADD_PERMISSION", "payments:export-cards"),
        ("ADD_MEMBERSHIP", "auditors"),
        ("ADD_PERMISSION", "auditors:read-ledger"),
        ("ADD_MEMBERSHIP", "payments"),
        ("ADD_PERMISSION", "payments:refund"),
    ]
    failures = [
        log["details"]["reason"] for log in suspicious if log["action"] == "AUTHENTICATION_FAILED"
    ]
    assert sorted(failures) == [
        "invalid_rotate_key",  # the attacker's rotate key, dead since the rotation
        "invalid_token",
        "revoked_token",
        "rotated_key",
    ]


def remediate(operator: Operator, client_key: str, tenant_id: int) -> None:
    operator.step("Step 5: Revoke what the attacker granted")
    grant = {"role": "payments", "permission": "export-cards"}
    assert ok(operator.curl("DELETE", "/api/permission/<role>/<permission>", client_key, **grant))
    member = {"user": "mallory", "role": "payments"}
    assert ok(operator.curl("DELETE", "/api/membership/<user>/<role>", client_key, **member))
    decision = operator.curl(
        "GET", "/api/has_permission/<user>/<permission>", client_key, user="mallory", **grant
    )
    assert ok(decision)["data"] == {"has_permission": False}
    kept = operator.http("GET", "/api/has_permission/alice/refund", client_key)
    assert ok(kept)["data"] == {"has_permission": True}

    disabled = operator.cli("auth-server tenant disable <tenant-id>", tenant_id=str(tenant_id))
    assert (
        disabled.stdout == f"tenant {tenant_id} disabled: its client key and tokens are refused\n"
    )
    assert operator.http("GET", "/api/roles", client_key).status_code == 401
