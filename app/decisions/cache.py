"""The per-process cache of tenant snapshots: least recently used out, by a row budget.

The budget (``AUTH_DECISION_CACHE_ENTRIES``) counts the rows the snapshots hold
(memberships, grants, live API keys); a tenant larger than the whole budget is never
cached (its decisions read the database). Eviction only forgets: an evicted tenant is
rebuilt on its next decision, and nothing answered changes.

The cache also maps each cached snapshot's client-key hash to its tenant
(:meth:`SnapshotCache.by_key_hash`), for decisions answered without a probe
(``minimize_latency``, :mod:`app.decisions.listener`).
"""

from __future__ import annotations

from collections import OrderedDict

from app.decisions.snapshot import TenantSnapshot


class SnapshotCache:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[int, TenantSnapshot] = OrderedDict()
        self._tenant_of_key: dict[str, int] = {}
        self.rows = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tenant_id: int) -> bool:
        return tenant_id in self._entries

    def by_key_hash(self, key_hash: str) -> TenantSnapshot | None:
        """The cached snapshot whose client key hashes to ``key_hash`` (no LRU touch)."""
        tenant_id = self._tenant_of_key.get(key_hash)
        snapshot = None if tenant_id is None else self._entries.get(tenant_id)
        return snapshot if snapshot is not None and snapshot.key_hash == key_hash else None

    def get(self, tenant_id: int) -> TenantSnapshot | None:
        snapshot = self._entries.get(tenant_id)
        if snapshot is not None:
            self._entries.move_to_end(tenant_id)
        return snapshot

    def put(self, snapshot: TenantSnapshot) -> bool:
        """Keep ``snapshot`` (replacing the tenant's older one); whether it fits."""
        self.forget(snapshot.tenant_id)
        size = snapshot.size
        if size > self.budget:
            return False
        while self._entries and self.rows + size > self.budget:
            _tenant, evicted = self._entries.popitem(last=False)
            self._dropped(evicted)
            self.evictions += 1
        self._entries[snapshot.tenant_id] = snapshot
        self._tenant_of_key[snapshot.key_hash] = snapshot.tenant_id
        self.rows += size
        return True

    def forget(self, tenant_id: int) -> None:
        previous = self._entries.pop(tenant_id, None)
        if previous is not None:
            self._dropped(previous)

    def _dropped(self, snapshot: TenantSnapshot) -> None:
        self.rows -= snapshot.size
        if self._tenant_of_key.get(snapshot.key_hash) == snapshot.tenant_id:
            del self._tenant_of_key[snapshot.key_hash]
