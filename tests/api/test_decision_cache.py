"""Building decision snapshots. A rebuild that a write races reads again in a new
transaction and keeps the newer state. A tenant larger than the cache's whole budget
is answered from the database, and its snapshot is read once per revision to learn
that it does not fit, never again on every check."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.decisions import snapshot as snapshot_module
from app.decisions.service import Decisions
from app.security.credentials import hash_client_key
from tests.api.helpers import assert_bare, assert_wrapped

pytestmark = pytest.mark.stored_data

CHECK = "/api/has_permission/alice/publish"


async def _tenant_id(app: FastAPI, client_key: str) -> int:
    key_hash = hash_client_key(client_key, app.state.auth.secrets.key_hash)
    found = await app.state.auth.decisions.probe.by_key_hash(key_hash)
    assert found is not None
    return int(found.tenant_id)


async def test_a_rebuild_that_a_write_races_reads_again(
    backend: str,
    app: FastAPI,
    api: httpx.AsyncClient,
    client_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write commits between the snapshot's reads and its closing revision check.
    PostgreSQL (READ COMMITTED) sees the new revision there: the rebuild reads again in
    a new transaction and keeps the state with the write in it (it used to fail, logged
    as an error, on every such race). SQLite reads the whole snapshot in one WAL read
    transaction: it keeps the state before the write, whole and correctly tagged."""
    assert_bare(await api.post("/api/role/editors"), True)
    assert_bare(await api.post("/api/membership/alice/editors"), True)
    decisions: Decisions = app.state.auth.decisions
    await decisions.settle()
    tenant_id = await _tenant_id(app, client_key)
    before = await decisions.probe.by_tenant(tenant_id)
    assert before is not None
    decisions.cache.forget(tenant_id)
    original = snapshot_module._revision
    raced: list[bool] = []

    async def revision_after_a_write(*args: Any) -> int | None:
        if not raced:  # the first closing check: a write commits just before it
            raced.append(True)
            assert_bare(await api.post("/api/permission/editors/publish"), True)
        return await original(*args)

    monkeypatch.setattr(snapshot_module, "_revision", revision_after_a_write)
    errors = decisions.stats.rebuild_errors
    await decisions._build(tenant_id)
    built = decisions.cache.get(tenant_id)
    await decisions.settle()  # the write's own request started a rebuild of its own
    monkeypatch.undo()
    assert raced
    assert decisions.stats.rebuild_errors == errors
    assert built is not None
    if backend == "postgresql":
        assert built.revision > before  # read again, after the write
    grant_seen = bool(built.grants)
    assert grant_seen is (built.revision > before)  # the state of the revision it names
    assert_wrapped(await api.get(CHECK), {"has_permission": True})


async def test_a_tenant_over_the_budget_is_rebuilt_once_per_revision(
    app: FastAPI, api: httpx.AsyncClient, client_key: str
) -> None:
    assert_bare(await api.post("/api/role/editors"), True)
    for permission in ("publish", "edit", "review"):
        assert_bare(await api.post(f"/api/permission/editors/{permission}"), True)
    assert_bare(await api.post("/api/membership/alice/editors"), True)  # 5 rows in all
    decisions: Decisions = app.state.auth.decisions
    await decisions.settle()
    tenant_id = await _tenant_id(app, client_key)
    budget, decisions.cache.budget = decisions.cache.budget, 4
    try:
        decisions.cache.forget(tenant_id)
        rebuilds = decisions.stats.rebuilds
        for _check in range(5):
            assert_wrapped(await api.get(CHECK), {"has_permission": True})
            await decisions.settle()
        assert decisions.cache.get(tenant_id) is None
        assert decisions.stats.rebuild_errors == 0
        assert decisions.stats.rebuilds == rebuilds + 1  # not one per check

        # A write moves the revision: the tenant may have shrunk, so it is tried again.
        for permission in ("edit", "review"):
            assert_bare(await api.delete(f"/api/permission/editors/{permission}"), True)
        await decisions.settle()
        assert_wrapped(await api.get(CHECK), {"has_permission": True})
        await decisions.settle()
        snapshot = decisions.cache.get(tenant_id)
        assert snapshot is not None
        assert snapshot.size == 3
        fresh = decisions.stats.fresh
        assert_wrapped(await api.get(CHECK), {"has_permission": True})
        assert decisions.stats.fresh == fresh + 1  # answered from memory
    finally:
        decisions.cache.budget = budget
