"""The per-process cache of tenant snapshots: least recently used out, by a row budget.

The budget (``AUTH_DECISION_CACHE_ENTRIES``) counts the rows the snapshots hold
(memberships, grants, live API keys); a tenant larger than the whole budget is never
cached (its decisions read the database). Eviction only forgets: an evicted tenant is
rebuilt on its next decision, and nothing answered changes.
"""

from __future__ import annotations

from collections import OrderedDict

from app.decisions.snapshot import TenantSnapshot


class SnapshotCache:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[int, TenantSnapshot] = OrderedDict()
        self.rows = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

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
            self.rows -= evicted.size
            self.evictions += 1
        self._entries[snapshot.tenant_id] = snapshot
        self.rows += size
        return True

    def forget(self, tenant_id: int) -> None:
        previous = self._entries.pop(tenant_id, None)
        if previous is not None:
            self.rows -= previous.size
