"""How the RBAC listings are ordered and paged, as ``/openapi.json`` states it."""

from __future__ import annotations

PAGED = (
    "Paged: `limit` (1..1000, default 1000) and `cursor`; when more entries follow, the "
    'answer carries `Link: <...&cursor=...>; rel="next"`.'
)
BY_USER_INDEX = (
    "Paged in a stable, encryption-independent order of the users (their blind index); "
    "each page is sorted by user name, so a listing of up to `limit` entries is entirely "
    "in name order. "
)
BY_PERMISSION_INDEX = (
    "Paged in a stable, encryption-independent order of the permissions (their blind "
    "index); each page is sorted by name, so a listing of up to `limit` entries is "
    "entirely in name order. "
)
BY_ROLE_THEN_USER = (
    "Ordered by role name, then within a role in a stable order of the users (their "
    "blind index); within a page each role's users are sorted by name, so a listing of "
    "up to `limit` entries is entirely in (role, user) name order. "
)
