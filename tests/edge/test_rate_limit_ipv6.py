"""Per-address budgets count an IPv6 client by its /64, so one host cannot walk
through its 2**64 addresses for fresh budgets."""

from __future__ import annotations

import pytest

from app.edge.context import address_group
from tests.edge.conftest import EdgeClient, bearer, new_key


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:198.51.100.9", "198.51.100.9"),
        ("::1", "::/64"),
        ("testclient", "testclient"),
    ],
)
def test_address_group(address: str, group: str) -> None:
    assert address_group(address) == group


def _from(address: str) -> dict[str, str]:
    """The test client is 127.0.0.1, the default trusted proxy."""
    return {"X-Forwarded-For": address}


async def test_failure_budget_is_shared_by_a_64(edge_client: EdgeClient) -> None:
    async with edge_client(rate_limit_auth_failures="3/minute") as (_app, http):
        failures = [
            (await http.get("/api/roles", headers=_from(f"2001:db8:1:2::{n}"))).status_code
            for n in (1, 2, 3)
        ]
        same_64 = await http.get("/api/roles", headers=_from("2001:db8:1:2:abcd::9"))
        next_64 = await http.get("/api/roles", headers=_from("2001:db8:1:3::1"))
    assert failures == [401, 401, 401]
    assert same_64.status_code == 429
    assert same_64.json()["limit"] == "auth_failures"
    assert next_64.status_code == 401


async def test_registration_budget_is_shared_by_a_64(edge_client: EdgeClient) -> None:
    async with edge_client(rate_limit_registration="2/minute") as (_app, http):
        opened = [
            (
                await http.get("/api/roles", headers=bearer(new_key()) | _from(f"2001:db8:9::{n}"))
            ).status_code
            for n in (1, 2)
        ]
        same_64 = await http.get(
            "/api/roles", headers=bearer(new_key()) | _from("2001:db8:9::ffff:1")
        )
        next_64 = await http.get("/api/roles", headers=bearer(new_key()) | _from("2001:db8:a::1"))
    assert opened == [200, 200]
    assert same_64.status_code == 429
    assert same_64.json()["limit"] == "registration"
    assert next_64.status_code == 200
