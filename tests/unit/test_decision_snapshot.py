"""Decision snapshots and their cache, without a database: the rules the snapshot
answers by, its time-based key expiry, and the cache's memory budget."""

from __future__ import annotations

from app.decisions.cache import SnapshotCache
from app.decisions.snapshot import NEVER, NOT_KEY_BACKED, TenantSnapshot


def snapshot(
    tenant_id: int = 1,
    *,
    revision: int = 1,
    strict: bool = False,
    size: int = 10,
    key_expiry: dict[str, float] | None = None,
) -> TenantSnapshot:
    return TenantSnapshot(
        tenant_id=tenant_id,
        revision=revision,
        key_hash="h",
        key_generation=1,
        strict_users=strict,
        disabled=False,
        roles_of={"alice": (1, 2), "bob": (3,)},
        grants={1: frozenset({"read"}), 2: frozenset({"write"}), 4: frozenset({"admin"})},
        key_expiry=key_expiry or {},
        size=size,
    )


def test_a_user_holds_what_any_of_their_roles_holds() -> None:
    decide = snapshot().decide
    assert decide("alice", "read", 0.0) == (True, None)
    assert decide("alice", "write", 0.0) == (True, None)
    assert decide("alice", "admin", 0.0) == (False, None)  # role 4 is not alice's
    assert decide("bob", "read", 0.0) == (False, None)  # role 3 holds nothing
    assert decide("carol", "read", 0.0) == (False, None)


def test_strict_identity_needs_a_key_live_at_the_time_of_the_question() -> None:
    decide = snapshot(strict=True, key_expiry={"alice": 100.0, "bob": NEVER}).decide
    assert decide("alice", "read", 99.0) == (True, None)
    assert decide("alice", "read", 100.0) == (False, NOT_KEY_BACKED)  # expired meanwhile
    assert decide("bob", "read", 1e12) == (False, None)  # never expires; holds nothing
    assert decide("carol", "read", 0.0) == (False, NOT_KEY_BACKED)


def test_the_cache_keeps_the_most_recently_used_tenants_within_its_budget() -> None:
    cache = SnapshotCache(budget=25)
    for tenant in (1, 2):
        assert cache.put(snapshot(tenant))
    assert cache.get(1) is not None  # 1 is now the most recently used
    assert cache.put(snapshot(3))  # 30 rows > 25: the least recently used (2) goes
    assert cache.get(2) is None
    assert cache.get(1) is not None
    assert cache.get(3) is not None
    assert (cache.rows, cache.evictions) == (20, 1)


def test_a_newer_snapshot_replaces_the_tenants_older_one() -> None:
    cache = SnapshotCache(budget=100)
    cache.put(snapshot(1, revision=1, size=40))
    cache.put(snapshot(1, revision=2, size=30))
    current = cache.get(1)
    assert current is not None
    assert current.revision == 2
    assert (len(cache), cache.rows) == (1, 30)


def test_a_tenant_larger_than_the_budget_is_never_cached() -> None:
    cache = SnapshotCache(budget=5)
    assert not cache.put(snapshot(1, size=6))
    assert cache.get(1) is None
    assert cache.rows == 0
