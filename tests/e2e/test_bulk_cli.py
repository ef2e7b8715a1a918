"""``auth-server import|export`` on SQLite and PostgreSQL: a round trip between
tenants, a refused line that stores nothing, the 0600 output file, the progress bar on
a terminal, and a running server that answers the imported state.

The round trip's first ``import`` and its export to standard output run as real
``auth-server`` processes (the console script, end to end), and so do the progress
checks (on a pseudo-terminal) and the server; set-up (``migrate``, ``tenant create``)
and the other commands run through :func:`app.cli.main` in this process, which checks
the same exit status, output and files without an interpreter start-up each."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess, free_port, run_cli, run_cli_in_process, server_env
from tests.e2e.test_cli_polish import on_a_terminal

pytestmark = pytest.mark.e2e

BODY = [
    {"type": "grant", "role": "editors", "permission": "publish"},
    {"type": "role", "role": "editors", "description": "Can publish"},
    {"type": "membership", "user": "alice", "role": "editors"},
    {"type": "membership", "user": "bob", "role": "editors"},
]


def _lines(records: list[dict[str, str]]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def _tenant(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    created = run_cli_in_process(["tenant", "create"], env, cwd)
    assert created.returncode == 0, created.stderr
    first, key = created.stdout.splitlines()
    return int(first.split()[1]), key


def _sorted(text: str) -> list[str]:
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in text.splitlines())


@pytest.fixture
def env(fresh_database_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    values = server_env(
        tmp_path / "home",
        AUTH_STRICT_USERS_DEFAULT="false",
        AUTH_LOG_LEVEL="warning",
        AUTH_PORT=str(free_port()),
        **fresh_database_env,
    )
    assert run_cli_in_process(["migrate"], values, tmp_path).returncode == 0
    return values


def test_export_then_import_round_trip(env: dict[str, str], tmp_path: Path) -> None:
    source, _ = _tenant(env, tmp_path)
    target, key = _tenant(env, tmp_path)
    (tmp_path / "in.jsonl").write_text(_lines(BODY), encoding="utf-8")
    imported = run_cli(["import", "--tenant", str(source), "in.jsonl"], env, tmp_path)  # a process
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == (
        f"imported 1 role(s), 1 grant(s) and 2 membership(s) into tenant {source}\n"
    )
    exported = run_cli_in_process(
        ["export", "--tenant", str(source), "--output", "out.jsonl"], env, tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    assert (
        exported.stderr.splitlines()[-1] == f"auth-server: exported 4 record(s) of tenant {source}"
    )
    out = tmp_path / "out.jsonl"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert _sorted(out.read_text(encoding="utf-8")) == _sorted(_lines(BODY))

    again = run_cli_in_process(["import", "--tenant", str(target), str(out)], env, tmp_path)
    assert again.returncode == 0, again.stderr
    to_stdout = run_cli(["export", "--tenant", str(target)], env, tmp_path)  # a process
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert _sorted(to_stdout.stdout) == _sorted(_lines(BODY))

    with ServerProcess(tmp_path, env) as server:
        headers = {"Authorization": f"Bearer {key}"}
        answer = httpx.get(f"{server.url}/api/has_permission/bob/publish", headers=headers)
        assert answer.json()["data"] == {"has_permission": True}
        exported_over_http = httpx.get(f"{server.url}/api/bulk", headers=headers)
        assert _sorted(exported_over_http.text) == _sorted(_lines(BODY))
    audit = run_cli_in_process(
        ["audit", "query", "--action", "BULK_IMPORT", "--tenant", str(target)], env, tmp_path
    )
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(entry["details"], entry["user_agent"]) for entry in entries] == [
        ({"roles": 1, "grants": 1, "memberships": 2}, "auth-server")
    ]


def test_a_refused_line_stores_nothing(env: dict[str, str], tmp_path: Path) -> None:
    tenant, _ = _tenant(env, tmp_path)
    broken = [*BODY, {"type": "membership", "user": "carol", "role": "nowhere"}]
    (tmp_path / "in.jsonl").write_text(_lines(broken), encoding="utf-8")
    refused = run_cli_in_process(["import", "--tenant", str(tenant), "in.jsonl"], env, tmp_path)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.splitlines()[-1] == (
        "auth-server: in.jsonl: line 5: role 'nowhere' is neither defined in the body nor "
        "in the tenant; nothing was imported."
    )
    exported = run_cli_in_process(["export", "--tenant", str(tenant)], env, tmp_path)
    assert (exported.returncode, exported.stdout) == (0, "")
    missing = run_cli_in_process(["import", "--tenant", "999", "in.jsonl"], env, tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.splitlines()[-1] == "auth-server: in.jsonl: no tenant with id 999"


def test_import_shows_progress_on_a_terminal(env: dict[str, str], tmp_path: Path) -> None:
    tenant, _ = _tenant(env, tmp_path)
    (tmp_path / "in.jsonl").write_text(_lines(BODY), encoding="utf-8")
    code, out, err = on_a_terminal(["import", "--tenant", str(tenant), "in.jsonl"], env, tmp_path)
    assert code == 0, err
    assert out.startswith("imported 1 role(s)")
    assert "records imported         [##############################] 3/3" in err
    code, _out, err = on_a_terminal(
        ["export", "--tenant", str(tenant), "--output", "out.jsonl"], env, tmp_path
    )
    assert code == 0, err
    assert "records exported         [##############################] 4/4" in err
