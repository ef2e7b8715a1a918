"""Freshness across processes: no server ever answers from a state older than the last
acknowledged write, whichever process made it.

Two ``auth-server`` processes share one database (a SQLite file, or a PostgreSQL
database with field encryption on; see :mod:`tests.e2e.freshness`). For each kind of
write, every round warms the reader's snapshot of the tenant (it answered from memory
at the current revision), writes on the other process (or as the operator), and asks
the reader at once, right after the 200: every answer must match the state the write
left. Rounds alternate which process writes and which reads, and the route asked
(``has_permission``, ``can_run``). Strict identity is on (the server default)
throughout, except where a scenario turns it off to toggle it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.tenants.admin import disable
from tests.e2e.freshness import (
    ALLOWED,
    CURRENT,
    DENIED,
    NOT_KEY_BACKED,
    PERMISSION,
    REFUSED,
    ROLE,
    SMALL_CACHE,
    USER,
    VIA,
    Answer,
    Cluster,
    Ledger,
    Toggle,
    bearer,
    decision,
    issue_token,
    metrics,
    open_tenant,
    rotate_client_key,
    shorten_key,
    start_cluster,
    token_tenant,
    warm,
    write,
)

pytestmark = pytest.mark.e2e

ROUNDS = int(os.environ.get("AUTH_TEST_FRESHNESS_ROUNDS", "12"))
"""Writes per scenario (alternating states); raise it for a longer run."""
EXPIRY_ROUNDS = max(2, ROUNDS // 2)
EXPIRY_WINDOW = 0.3
"""Seconds a shortened API key stays live after the write."""
DISABLE_ROUNDS = max(2, ROUNDS // 2)
TENANTS = 8
"""Tenants of the cache-bound test: 5 rows each, so B holds at most 4 of them."""
SWEEPS = 2

ERROR_SERIES = (
    'auth_decision_snapshot_rebuilds_total{result="error"}',
    "auth_decision_probe_errors_total",
)


@pytest.fixture(scope="module")
def cluster(
    backend: str, server_database_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    with start_cluster(backend, server_database_env, tmp_path_factory.mktemp("fresh")) as found:
        yield found


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


@pytest.fixture(autouse=True)
async def no_decision_errors(cluster: Cluster, http: httpx.AsyncClient) -> AsyncIterator[None]:
    """After each scenario: no snapshot rebuild and no freshness probe failed on
    either server (a failure answers from the database, so only this shows it)."""
    yield
    for server in (cluster.a, cluster.b):
        errors = await metrics(http, server, *ERROR_SERIES)
        assert errors == [0.0] * len(ERROR_SERIES), (cluster.name(server), errors)


async def test_grants_and_revokes(cluster: Cluster, http: httpx.AsyncClient) -> None:
    ledger = Ledger("grant/revoke", cluster)
    key, _ = await open_tenant(http, cluster.a)
    toggle = Toggle(http, ledger, key, ALLOWED)
    for turn in range(ROUNDS):
        granted = toggle.state == ALLOWED
        method, after = ("DELETE", DENIED) if granted else ("POST", ALLOWED)
        await toggle.step(turn, method, f"/api/permission/{ROLE}/{PERMISSION}", after)
    ledger.assert_fresh(3 * ROUNDS)
    assert ledger.warmed == ROUNDS


async def test_memberships_added_and_removed(cluster: Cluster, http: httpx.AsyncClient) -> None:
    ledger = Ledger("membership add/remove", cluster)
    key, _ = await open_tenant(http, cluster.b)
    toggle = Toggle(http, ledger, key, ALLOWED)
    for turn in range(ROUNDS):
        member = toggle.state == ALLOWED
        method, after = ("DELETE", DENIED) if member else ("POST", ALLOWED)
        await toggle.step(turn, method, f"/api/membership/{USER}/{ROLE}", after)
    ledger.assert_fresh(3 * ROUNDS)
    assert ledger.warmed == ROUNDS


async def test_bulk_imports(cluster: Cluster, http: httpx.AsyncClient) -> None:
    """``POST /api/bulk`` (one transaction, one revision) brings the grant back; the
    REST route takes it away again."""
    ledger = Ledger("bulk import", cluster)
    key, _ = await open_tenant(http, cluster.b)
    toggle = Toggle(http, ledger, key, ALLOWED)
    grant = f'{{"type": "grant", "role": "{ROLE}", "permission": "{PERMISSION}"}}\n'
    for turn in range(ROUNDS):
        if toggle.state == ALLOWED:
            await toggle.step(turn, "DELETE", f"/api/permission/{ROLE}/{PERMISSION}", DENIED)
        else:
            imported = await toggle.step(turn, "POST", "/api/bulk", ALLOWED, grant)
            assert imported.json()["data"]["grants"] == 1
    ledger.assert_fresh(3 * ROUNDS)


async def test_role_deleted_and_recreated(cluster: Cluster, http: httpx.AsyncClient) -> None:
    """Deleting the role purges its grants and memberships; re-creating it gives an
    empty role, which answers "no" until the grant and the membership are back."""
    ledger = Ledger("role deletion", cluster)
    key, _ = await open_tenant(http, cluster.a)
    toggle = Toggle(http, ledger, key, ALLOWED)
    turn = 0
    for _round in range(ROUNDS // 3):
        await toggle.step(turn, "DELETE", f"/api/role/{ROLE}", DENIED)
        await toggle.step(turn + 1, "POST", f"/api/role/{ROLE}", DENIED)
        await toggle.step(turn + 2, "POST", f"/api/permission/{ROLE}/{PERMISSION}", DENIED)
        await toggle.step(turn + 3, "POST", f"/api/membership/{USER}/{ROLE}", ALLOWED)
        turn += 4
    ledger.assert_fresh(3 * 4 * (ROUNDS // 3))


async def test_api_keys_revoked_and_issued_under_strict(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    ledger = Ledger("API-key revocation (strict)", cluster)
    key, key_id = await open_tenant(http, cluster.a)
    toggle = Toggle(http, ledger, key, ALLOWED)
    for turn in range(ROUNDS):
        if toggle.state == ALLOWED:
            path = f"/api/apikeys/user/{USER}/{key_id}"
            revoked = await toggle.step(turn, "DELETE", path, NOT_KEY_BACKED)
            assert revoked.json()["data"]["already_revoked"] is False
        else:
            issued = await toggle.step(turn, "POST", f"/api/apikeys/user/{USER}", ALLOWED)
            key_id = issued.json()["data"]["key_id"]
    ledger.assert_fresh(3 * ROUNDS)


async def test_api_key_expiry_shortened_under_strict(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    """A shortened key is live until its new expiry and dead after it, on every
    process: a reader that kept the old expiry would still say yes."""
    ledger = Ledger("API-key expiry change (strict)", cluster)
    key, key_id = await open_tenant(http, cluster.a)
    toggle = Toggle(http, ledger, key, ALLOWED)
    undecided = 0
    for turn in range(EXPIRY_ROUNDS):
        writer, reader = cluster.sides(turn)
        if turn:  # the previous round's key has expired: issue the next one
            issued = await toggle.step(turn + 1, "POST", f"/api/apikeys/user/{USER}", ALLOWED)
            key_id = issued.json()["data"]["key_id"]

        await warm(http, reader, ledger, (key, ALLOWED))
        expires = await shorten_key(http, writer, key, key_id, EXPIRY_WINDOW)
        ledger.wrote(writer, "PATCH key expires_at (shortened)")
        sent = time.time()
        answer = await decision(http, reader, key)
        if time.time() < expires:  # answered before the new expiry: still live
            ledger.record(reader, "at once", answer, ALLOWED)
        elif sent > expires:
            ledger.record(reader, "at once", answer, NOT_KEY_BACKED)
        else:
            undecided += 1  # the expiry passed while the request was in flight
        await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)
        for label in ("expired", "expired again"):
            await ledger.expect(http, reader, key, NOT_KEY_BACKED, label)
        toggle.state = NOT_KEY_BACKED
    ledger.assert_fresh(2 * EXPIRY_ROUNDS)
    assert undecided < EXPIRY_ROUNDS // 2, undecided


async def test_strict_users_setting_toggled(cluster: Cluster, http: httpx.AsyncClient) -> None:
    ledger = Ledger("strict_users setting", cluster)
    key = str(uuid.uuid4())
    for method, path, body in (
        ("PUT", "/api/settings", {"strict_users": False}),
        ("POST", f"/api/role/{ROLE}", None),
        ("POST", f"/api/permission/{ROLE}/{PERMISSION}", None),
        ("POST", f"/api/membership/{USER}/{ROLE}", None),  # USER holds no API key
    ):
        await write(http, cluster.a, key, method, path, body)
    toggle = Toggle(http, ledger, key, ALLOWED)
    for turn in range(ROUNDS):
        strict = toggle.state == ALLOWED  # what the write turns on
        after = NOT_KEY_BACKED if strict else ALLOWED
        answer = await toggle.step(turn, "PUT", "/api/settings", after, {"strict_users": strict})
        assert answer.json()["data"] == {"strict_users": strict}
    ledger.assert_fresh(3 * ROUNDS)


async def test_client_key_rotation(cluster: Cluster, http: httpx.AsyncClient) -> None:
    """After a rotation (API, recovery or operator) the other process refuses the old
    key and every token issued under it, and answers the new key from the same data."""
    ledger = Ledger("client-key rotation", cluster)
    key, _ = await open_tenant(http, cluster.a)
    for turn in range(ROUNDS):
        writer, reader = cluster.sides(turn)
        token = await issue_token(http, writer, key)
        ledger.wrote(writer, "POST /api/token")
        await warm(http, reader, ledger, (key, ALLOWED), (token, ALLOWED))
        new_key, how = await rotate_client_key(http, cluster, turn, key, token)
        ledger.sequence.append(f"{how} -> 200")
        await ledger.expect(http, reader, key, REFUSED, "old key")
        await ledger.expect(http, reader, token, REFUSED, "token of the old key")
        await ledger.expect(http, reader, new_key, ALLOWED, "new key", via=VIA[turn % 2])
        await ledger.expect(http, reader, key, REFUSED, "old key again")
        key = new_key
    ledger.assert_fresh(4 * ROUNDS)


async def test_token_revocation(cluster: Cluster, http: httpx.AsyncClient) -> None:
    ledger = Ledger("token revocation", cluster)
    key, _ = await open_tenant(http, cluster.b)
    for turn in range(ROUNDS):
        writer, reader = cluster.sides(turn)
        token = await issue_token(http, writer, key)
        ledger.wrote(writer, "POST /api/token")

        await warm(http, reader, ledger, (token, ALLOWED))
        revoked = await http.post(f"{writer.url}/api/token/revoke", json={"token": token})
        assert revoked.status_code == 200, revoked.text
        ledger.wrote(writer, "POST /api/token/revoke")
        await ledger.expect(http, reader, token, REFUSED, "revoked token")
        await ledger.expect(http, reader, key, ALLOWED, "client key", via=VIA[turn % 2])
        await ledger.expect(http, reader, token, REFUSED, "revoked token again")
    ledger.assert_fresh(3 * ROUNDS)


async def test_tenant_disabled_by_the_operator(cluster: Cluster, http: httpx.AsyncClient) -> None:
    """The operator disables a tenant (the service function behind ``auth-server tenant
    disable``, run here in the test's own process): both servers, warm for the tenant's
    key and token, refuse both at once."""
    ledger = Ledger("tenant disabling", cluster)
    for turn in range(DISABLE_ROUNDS):
        key, _ = await open_tenant(http, cluster.sides(turn)[0])
        token = await issue_token(http, cluster.a, key)
        tenant_id = token_tenant(token)
        for server in (cluster.a, cluster.b):
            await warm(http, server, ledger, (key, ALLOWED), (token, ALLOWED))
        assert await disable(cluster.settings, tenant_id)
        ledger.wrote("operator", f"disable tenant {tenant_id}")
        for server in cluster.sides(turn):
            await ledger.expect(http, server, key, REFUSED, "key of the disabled tenant")
            await ledger.expect(http, server, token, REFUSED, "token of the disabled tenant")
    ledger.assert_fresh(6 * DISABLE_ROUNDS)


async def test_cache_bound_holds_and_eviction_never_changes_an_answer(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    """B's snapshots may hold SMALL_CACHE rows: with TENANTS tenants of about five
    rows each (and one larger than the whole budget, never cached) it evicts and
    rebuilds all the time, while A changes grants between passes. Every answer stays
    the database's, and the budget holds."""
    ledger = Ledger("cache bound", cluster)
    expected: dict[str, dict[tuple[str, str], Answer]] = {}
    granted: dict[str, str] = {}
    for index in range(TENANTS):
        key = str(uuid.uuid4())
        mine, theirs = f"p{index}", f"p{index + 1}"
        granted[key] = mine
        for method, path in (
            ("POST", f"/api/role/{ROLE}"),
            ("POST", f"/api/permission/{ROLE}/{mine}"),
            ("POST", f"/api/apikeys/user/{USER}"),
            ("POST", "/api/apikeys/user/bob"),
            ("POST", f"/api/membership/{USER}/{ROLE}"),
        ):
            await write(http, cluster.a, key, method, path)
        expected[key] = {
            (USER, mine): ALLOWED,
            (USER, theirs): DENIED,  # another tenant's permission
            ("bob", mine): DENIED,  # a key, no role
            ("carol", mine): NOT_KEY_BACKED,  # no key
        }
    big = str(uuid.uuid4())  # larger than B's whole budget
    await write(http, cluster.a, big, "POST", f"/api/role/{ROLE}")
    for index in range(SMALL_CACHE):
        await write(http, cluster.a, big, "POST", f"/api/permission/{ROLE}/q{index}")
    await write(http, cluster.a, big, "POST", f"/api/apikeys/user/{USER}")
    await write(http, cluster.a, big, "POST", f"/api/membership/{USER}/{ROLE}")
    expected[big] = {(USER, "q0"): ALLOWED, (USER, f"q{SMALL_CACHE - 1}"): ALLOWED}
    expected[big][(USER, "p0")] = DENIED

    shuffle = random.Random(8).shuffle
    series = (
        CURRENT,
        "auth_decision_cache_rows",
        "auth_decision_cache_tenants",
        "auth_decision_cache_evictions_total",
    )
    [current_before, *_] = await metrics(http, cluster.b, *series)
    keys = list(expected)
    for sweep in range(SWEEPS):
        shuffle(keys)
        for key in keys:
            for _repeat in range(2):  # the second time, often from a rebuilt snapshot
                for (user, permission), want in expected[key].items():
                    label = f"sweep {sweep}"
                    await ledger.expect(
                        http, cluster.b, key, want, label, user=user, permission=permission
                    )
        current, rows, tenants, evictions = await metrics(http, cluster.b, *series)
        assert rows <= SMALL_CACHE
        assert 0 < tenants <= rows
        # Between sweeps A revokes the grant of every other tenant, or grants it back.
        for index, key in enumerate(keys[::2]):
            if key == big:
                continue
            question = (USER, granted[key])
            method = "DELETE" if expected[key][question] == ALLOWED else "POST"
            await write(http, cluster.a, key, method, f"/api/permission/{ROLE}/{granted[key]}")
            ledger.wrote(cluster.a, f"{method} permission of tenant #{index}")
            expected[key][question] = DENIED if method == "DELETE" else ALLOWED
            await ledger.expect(
                http, cluster.b, key, expected[key][question], "after", permission=granted[key]
            )
    ledger.assert_fresh(SWEEPS * 2 * 4 * TENANTS)
    assert evictions > 0
    assert current - current_before >= TENANTS  # many answers came from memory


async def test_batch_answers_equal_single_answers(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    """``POST /api/check`` on one process right after a write on the other: each result
    is what ``has_permission`` answers there for the same question, and what the write
    left, strict identity included."""
    ledger = Ledger("batch = single", cluster)
    key, key_id = await open_tenant(http, cluster.a)
    await write(http, cluster.a, key, "POST", "/api/apikeys/user/bob")
    grants, members, keyed, strict = {PERMISSION}, {USER}, {USER, "bob"}, True
    questions = list(itertools.product([USER, "bob", "carol"], [PERMISSION, "edit"]))

    def model(user: str, permission: str) -> Answer:
        if strict and user not in keyed:
            return NOT_KEY_BACKED
        return ALLOWED if user in members and permission in grants else DENIED

    def toggle(found: set[str], item: str, path: str) -> tuple[str, str]:
        method = "DELETE" if item in found else "POST"
        (found.discard if item in found else found.add)(item)
        return method, path

    body = {"checks": [{"user": user, "permission": p} for user, p in questions]}
    for turn in range(ROUNDS):
        writer, reader = cluster.sides(turn)
        await warm(http, reader, ledger, (key, model(USER, PERMISSION)))
        change = turn % 5
        payload: dict[str, object] | None = None
        if change == 0:
            method, path = toggle(grants, "edit", f"/api/permission/{ROLE}/edit")
        elif change == 1:
            method, path = toggle(members, "bob", f"/api/membership/bob/{ROLE}")
        elif change == 2:
            method, path = toggle(grants, PERMISSION, f"/api/permission/{ROLE}/{PERMISSION}")
        elif change == 3:
            strict = not strict
            method, path, payload = "PUT", "/api/settings", {"strict_users": strict}
        elif USER in keyed:
            method, path = "DELETE", f"/api/apikeys/user/{USER}/{key_id}"
            keyed.discard(USER)
        else:
            method, path = "POST", f"/api/apikeys/user/{USER}"
            keyed.add(USER)
        response = await write(http, writer, key, method, path, payload)
        ledger.wrote(writer, f"{method} {path} {payload or ''}")
        if method == "POST" and path.startswith("/api/apikeys/"):
            key_id = response.json()["data"]["key_id"]
        batch = await http.post(f"{reader.url}/api/check", headers=bearer(key), json=body)
        assert batch.status_code == 200, batch.text
        results = batch.json()["data"]["results"]
        assert [(r["user"], r["permission"]) for r in results] == questions
        for (user, permission), result in zip(questions, results, strict=True):
            answer: Answer = (200, result["has_permission"], result.get("reason"))
            ledger.record(reader, f"batch {user} {permission}", answer, model(user, permission))
            single = await decision(http, reader, key, user=user, permission=permission)
            ledger.record(reader, f"single {user} {permission}", single, answer)
            ledger.record(reader, f"single {user} {permission}", single, model(user, permission))
    ledger.assert_fresh(3 * len(questions) * ROUNDS)
