"""Project keys and their scopes over HTTP (API.md, "Projects": keys, scopes).

The route table is walked so that a new project route cannot forget its scope, and every
project route is called with a key lacking exactly the scope it needs (403
``insufficient_scope`` naming it) and with a key holding only that scope (admitted).
Named keys are created, listed, expired and revoked, on one replica and on two sharing
a database; ``last_used_at`` is written in batches, never per request.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytest
from dependency_injector import providers
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_core.models.audit import AuditRecord
from pulse_core.models.keys import SCOPES, ApiKey
from pulse_core.ports.keys import ApiKeyRepository
from pulse_core.services.keys import KeyUsage
from pulse_http.app import create_app
from pulse_http.auth import required_scope
from pulse_http.container import Container
from pulse_http.routes.tokens import CREATE_TOKEN, VALIDATE_TOKEN
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_container, make_tenant

Client = AsyncTestClient[Any]

FAMILIES = frozenset(scope.split(":", 1)[0] for scope in SCOPES)
PROJECT_KINDS = frozenset({"project", "project_key"})
# Methods Litestar answers itself (CORS preflight, no handler of ours behind them).
FRAMEWORK_METHODS = frozenset({"OPTIONS", "HEAD"})
TOKEN_BODY = {"identity": "alice", "room": "demo"}


def roomy(settings: Settings) -> Settings:
    """Limits no test here meets: the walk makes a few hundred admitted requests on a
    clock that stands still."""
    return msgspec.structs.replace(settings, rate_limit_requests=100_000, rate_limit_burst=100_000)


@pytest.fixture
def container(settings: Settings, clock: ManualClock) -> Container:
    return make_container(roomy(settings), clock)


def project_routes(container: Container) -> list[tuple[str, str, dict[str, Any]]]:
    """``(path, method, opt)`` of every project route and method of the app."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for route in create_app(container).routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.opt.get("auth") not in PROJECT_KINDS:
                continue
            for method in sorted(handler.http_methods - FRAMEWORK_METHODS):
                found.append((route.path, str(method), dict(handler.opt)))
    return found


def concrete(path: str) -> str:
    """A callable path: each parameter a value that names nothing."""
    return re.sub(r"\{[^}]+\}", "nosuch", path)


async def new_key(
    client: Client,
    tenant: Tenant,
    scopes: list[str] | None = None,
    *,
    name: str = "service",
    expires_at: datetime | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if scopes is not None:
        body["scopes"] = scopes
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    created = await client.post(
        f"/v1/projects/{tenant.project_id}/keys", json=body, headers=tenant.owner_headers
    )
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def pair(key: Mapping[str, Any]) -> dict[str, str]:
    return {"X-Pulse-Key": key["api_key"], "X-Pulse-Secret": key["api_secret"]}


async def call(client: Client, method: str, path: str, headers: dict[str, str]) -> Any:
    body: dict[str, Any] | None = None if method in {"GET", "DELETE"} else {}
    return await client.request(method, path, headers=headers, json=body)


async def keys_of(client: Client, tenant: Tenant, headers: dict[str, str]) -> list[Any]:
    listed = await client.get(f"/v1/projects/{tenant.project_id}/keys", headers=headers)
    assert listed.status_code == 200, listed.text
    items: list[Any] = listed.json()["items"]
    return items


# -- the declaration -------------------------------------------------------------------


def test_every_project_route_declares_a_known_scope(container: Container) -> None:
    routes = project_routes(container)
    # The walk saw the whole project surface, not an empty table.
    assert {path.split("/")[2] for path, _, _ in routes} == {
        "project",
        "tokens",
        "rooms",
        "media",
        "events",
        "webhooks",
        "usage",
    }
    assert len(routes) >= 36
    for path, method, opt in routes:
        assert "scope" in opt, f"{method} {path} declares no scope"
        declared = opt["scope"]
        if declared is None:
            assert (path, method) == ("/v1/project", "GET"), f"{method} {path} needs a scope"
            continue
        assert declared.split(":", 1)[0] in FAMILIES, f"{method} {path}: {declared!r}"
        if ":" in declared:
            assert declared in SCOPES, f"{method} {path}: {declared!r}"
        assert required_scope(declared, method) in SCOPES, f"{method} {path}: {declared!r}"
    by_route = {(path, method): opt["scope"] for path, method, opt in routes}
    # The fast path serves the create route from the very declaration Litestar's handler has.
    assert by_route[(CREATE_TOKEN.path, CREATE_TOKEN.method)] == CREATE_TOKEN.scope
    assert by_route[(VALIDATE_TOKEN.path, VALIDATE_TOKEN.method)] == VALIDATE_TOKEN.scope
    assert CREATE_TOKEN.scope == "tokens:create" and VALIDATE_TOKEN.scope == "tokens:validate"
    # API.md's families: GETs need :read, the other methods :write.
    assert required_scope(by_route[("/v1/rooms", "GET")], "GET") == "rooms:read"
    assert required_scope(by_route[("/v1/rooms", "POST")], "POST") == "rooms:write"
    assert required_scope(by_route[("/v1/events", "GET")], "GET") == "webhooks:read"
    assert required_scope(by_route[("/v1/usage", "GET")], "GET") == "usage:read"


# -- every route, both ways --------------------------------------------------------------


async def test_each_route_needs_exactly_its_scope(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    all_but: dict[str, dict[str, str]] = {
        scope: pair(await new_key(client, tenant_a, [s for s in SCOPES if s != scope]))
        for scope in SCOPES
    }
    only: dict[str, dict[str, str]] = {
        scope: pair(await new_key(client, tenant_a, [scope])) for scope in SCOPES
    }
    routes = project_routes(container)
    needed: set[str] = set()
    for path, method, opt in routes:
        scope = required_scope(opt["scope"], method)
        target = concrete(path)
        if scope is None:
            for headers in only.values():
                assert (await call(client, method, target, headers)).status_code == 200
            continue
        needed.add(scope)
        refused = await call(client, method, target, all_but[scope])
        assert refused.status_code == 403, (method, path, refused.text)
        problem = refused.json()
        assert problem["code"] == "insufficient_scope", (method, path, problem)
        assert scope in problem["detail"], (method, path, problem)
        # Named exactly: no other scope appears in the message.
        assert [s for s in SCOPES if s in problem["detail"]] == [scope]
        admitted = await call(client, method, target, only[scope])
        assert admitted.status_code not in {401, 403, 429}, (method, path, admitted.text)
        assert admitted.status_code < 500, (method, path, admitted.text)
    # Every scope guards at least one route.
    assert needed == set(SCOPES)


async def test_the_token_fast_path_checks_the_scope(client: Client, tenant_a: Tenant) -> None:
    validate_only = pair(await new_key(client, tenant_a, ["tokens:validate"]))
    create_only = pair(await new_key(client, tenant_a, ["tokens:create"]))
    refused = await client.post("/v1/tokens/create", json=TOKEN_BODY, headers=validate_only)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert "tokens:create" in refused.json()["detail"]
    minted = await client.post("/v1/tokens/create", json=TOKEN_BODY, headers=create_only)
    assert minted.status_code == 201, minted.text
    token = minted.json()["token"]
    # The other token route, the other way round.
    checked = await client.post("/v1/tokens/validate", json={"token": token}, headers=validate_only)
    assert checked.status_code == 200 and checked.json()["valid"] is True
    denied = await client.post("/v1/tokens/validate", json={"token": token}, headers=create_only)
    assert denied.status_code == 403 and "tokens:validate" in denied.json()["detail"]
    # Key alone (no secret) on the validate route: the scope still applies.
    key_only = {"Authorization": f"Bearer {create_only['X-Pulse-Key']}"}
    denied = await client.post("/v1/tokens/validate", json={"token": token}, headers=key_only)
    assert denied.status_code == 403 and denied.json()["code"] == "insufficient_scope"


async def test_a_key_refused_for_its_scope_still_spends_its_projects_requests(
    client: Client, tenant_a: Tenant
) -> None:
    limit = {"requests": 1, "period": "minute", "burst": 4}
    patched = await client.put(
        f"/v1/projects/{tenant_a.project_id}",
        json={"rate_limit": limit},
        headers=tenant_a.owner_headers,
    )
    assert patched.status_code == 200, patched.text
    validate_only = pair(await new_key(client, tenant_a, ["tokens:validate"]))
    # The clock is frozen, so the burst is all there is.
    for remaining in (3, 2, 1, 0):
        refused = await client.get("/v1/rooms", headers=validate_only)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "insufficient_scope"
        assert refused.headers["x-ratelimit-remaining"] == str(remaining)
    spent = await client.get("/v1/rooms", headers=validate_only)
    assert spent.status_code == 429 and spent.json()["code"] == "rate_limited"
    # The bucket is the project's: its other credentials find it spent too.
    other = await client.get("/v1/project", headers=tenant_a.project_headers)
    assert other.status_code == 429
    # The token fast path charges its own bucket the same way.
    first, second = [
        await client.post("/v1/tokens/create", json=TOKEN_BODY, headers=validate_only)
        for _ in range(2)
    ]
    assert first.status_code == second.status_code == 403
    left = int(first.headers["x-ratelimit-remaining"])
    assert int(second.headers["x-ratelimit-remaining"]) == left - 1


async def test_litestars_token_route_agrees_with_the_fast_path(
    settings: Settings, clock: ManualClock, admin_headers: dict[str, str]
) -> None:
    # With CORS on, a request with an Origin goes to Litestar's handler, not the fast path.
    origin = "https://app.example.com"
    cors = make_container(msgspec.structs.replace(roomy(settings), cors_origins=(origin,)), clock)
    async with AsyncTestClient(app=create_app(cors)) as client:
        tenant = await make_tenant(client, cors, admin_headers, "Cors")
        validate_only = pair(await new_key(client, tenant, ["tokens:validate"]))
        create_only = pair(await new_key(client, tenant, ["tokens:create"]))
        answers = {}
        for via in ({}, {"Origin": origin}):
            refused = await client.post(
                "/v1/tokens/create", json=TOKEN_BODY, headers={**validate_only, **via}
            )
            minted = await client.post(
                "/v1/tokens/create", json=TOKEN_BODY, headers={**create_only, **via}
            )
            assert minted.status_code == 201, minted.text
            body = refused.json()
            answers[bool(via)] = (refused.status_code, body["code"], body["detail"])
            assert ("access-control-allow-origin" in minted.headers) == bool(via)
        assert answers[True] == answers[False]
        assert answers[True][:2] == (403, "insufficient_scope")


# -- keys --------------------------------------------------------------------------------


async def test_create_shows_the_secret_once_and_the_list_starts_with_primary(
    client: Client, clock: ManualClock, tenant_a: Tenant
) -> None:
    first = await new_key(client, tenant_a, ["rooms:read", "tokens:create"], name="backend")
    assert first["api_key"].startswith("pulse_key_")
    assert first["api_secret"].startswith("pulse_secret_")
    assert first["id"].startswith("key_")
    # Stored and shown in the documented order, whatever order they were asked in.
    assert first["scopes"] == ["tokens:create", "rooms:read"]
    assert first["expires_at"] is None and first["revoked_at"] is None
    clock.advance(1)
    second = await new_key(client, tenant_a, name="worker")
    assert second["scopes"] == list(SCOPES)  # no scopes: every scope
    listed = await client.get(
        f"/v1/projects/{tenant_a.project_id}/keys", headers=tenant_a.owner_headers
    )
    assert listed.status_code == 200
    for secret in (first["api_secret"], second["api_secret"], tenant_a.api_secret):
        assert secret not in listed.text
    items = listed.json()["items"]
    assert all("api_secret" not in item and "secret_hash" not in item for item in items)
    assert [i["id"] for i in items] == ["primary", first["id"], second["id"]]
    primary = items[0]
    assert primary["name"] == "primary"
    assert primary["api_key"] == tenant_a.api_key
    assert primary["scopes"] == list(SCOPES) and primary["expires_at"] is None
    assert [i["api_key"] for i in items[1:]] == [first["api_key"], second["api_key"]]


async def test_a_scoped_key_works_only_within_its_scopes(client: Client, tenant_a: Tenant) -> None:
    reader = pair(await new_key(client, tenant_a, ["rooms:read"]))
    assert (await client.get("/v1/rooms", headers=reader)).status_code == 200
    assert (await client.get("/v1/project", headers=reader)).status_code == 200
    for method, path in [
        ("POST", "/v1/rooms"),
        ("GET", "/v1/media/egress"),
        ("GET", "/v1/webhooks/endpoints"),
        ("GET", "/v1/usage"),
        ("POST", "/v1/tokens/create"),
    ]:
        answer = await client.request(method, path, headers=reader, json=TOKEN_BODY)
        assert answer.status_code == 403, (method, path)
        assert answer.json()["code"] == "insufficient_scope"
    # A wrong secret is still a 401, not a scope question.
    wrong = {**reader, "X-Pulse-Secret": tenant_a.api_secret}
    assert (await client.post("/v1/rooms", json={}, headers=wrong)).status_code == 401


async def test_an_expired_key_is_401_like_an_unknown_one(
    client: Client, clock: ManualClock, tenant_a: Tenant
) -> None:
    expires = clock.now() + timedelta(minutes=10)
    key = await new_key(client, tenant_a, expires_at=expires)
    assert datetime.fromisoformat(key["expires_at"]) == expires
    headers = pair(key)
    assert (await client.get("/v1/project", headers=headers)).status_code == 200
    clock.advance(9 * 60)
    assert (await client.get("/v1/project", headers=headers)).status_code == 200
    clock.advance(60)
    expired = await client.get("/v1/project", headers=headers)
    unknown = await client.get(
        "/v1/project",
        headers={"X-Pulse-Key": "pulse_key_" + "x" * 32, "X-Pulse-Secret": key["api_secret"]},
    )
    assert expired.status_code == unknown.status_code == 401
    assert expired.headers["www-authenticate"] == unknown.headers["www-authenticate"]
    same = ("type", "title", "status", "detail", "code")
    assert {f: expired.json()[f] for f in same} == {f: unknown.json()[f] for f in same}
    # The token fast path too.
    minted = await client.post("/v1/tokens/create", json=TOKEN_BODY, headers=headers)
    assert minted.status_code == 401
    # A time in the past (or without a zone) is refused when the key is made.
    for bad in ((clock.now() - timedelta(seconds=1)).isoformat(), "2031-01-01T00:00:00"):
        refused = await client.post(
            f"/v1/projects/{tenant_a.project_id}/keys",
            json={"name": "late", "expires_at": bad},
            headers=tenant_a.owner_headers,
        )
        assert refused.status_code == 400, bad
        assert refused.json()["field"] == "expires_at"


async def test_a_revoked_key_stops_at_once_here_and_within_the_cache_ttl_elsewhere(
    client: Client, container: Container, clock: ManualClock, tenant_a: Tenant
) -> None:
    settings = container.settings()
    other = make_container(settings, clock)  # a second replica: same database, own memory
    async with AsyncTestClient(app=create_app(other)) as replica:
        key = await new_key(client, tenant_a, ["rooms:read"])
        headers = pair(key)
        # Both replicas admit it (and so both hold it in their credential cache).
        assert (await client.get("/v1/rooms", headers=headers)).status_code == 200
        assert (await replica.get("/v1/rooms", headers=headers)).status_code == 200
        revoked = await client.delete(
            f"/v1/projects/{tenant_a.project_id}/keys/{key['id']}", headers=tenant_a.owner_headers
        )
        assert revoked.status_code == 204
        assert (await client.get("/v1/rooms", headers=headers)).status_code == 401
        clock.advance(settings.auth_cache_ttl_seconds)
        assert (await replica.get("/v1/rooms", headers=headers)).status_code == 401
        # The project's own pair is untouched; the list keeps the revoked key's record.
        assert (await replica.get("/v1/rooms", headers=tenant_a.project_headers)).status_code == 200
        items = await keys_of(replica, tenant_a, tenant_a.owner_headers)
        assert [i["id"] for i in items] == ["primary", key["id"]]
        assert items[1]["revoked_at"] is not None
        again = await client.delete(
            f"/v1/projects/{tenant_a.project_id}/keys/{key['id']}", headers=tenant_a.owner_headers
        )
        assert again.status_code == 204  # idempotent


async def test_the_first_key_is_rotated_not_revoked(client: Client, tenant_a: Tenant) -> None:
    refused = await client.delete(
        f"/v1/projects/{tenant_a.project_id}/keys/primary", headers=tenant_a.owner_headers
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "primary_key"
    assert (await client.get("/v1/project", headers=tenant_a.project_headers)).status_code == 200
    missing = await client.delete(
        f"/v1/projects/{tenant_a.project_id}/keys/key_nosuch", headers=tenant_a.owner_headers
    )
    assert missing.status_code == 404


async def test_members_list_keys_but_cannot_create_or_revoke(
    client: Client, tenant_a: Tenant
) -> None:
    key = await new_key(client, tenant_a)
    base = f"/v1/projects/{tenant_a.project_id}/keys"
    created = await client.post(base, json={"name": "mine"}, headers=tenant_a.member_headers)
    assert created.status_code == 403
    revoked = await client.delete(f"{base}/{key['id']}", headers=tenant_a.member_headers)
    assert revoked.status_code == 403
    items = await keys_of(client, tenant_a, tenant_a.member_headers)
    assert [i["id"] for i in items] == ["primary", key["id"]]
    assert items[1]["revoked_at"] is None
    assert (await client.get("/v1/project", headers=pair(key))).status_code == 200


async def test_an_unknown_scope_is_400_naming_scopes(client: Client, tenant_a: Tenant) -> None:
    for scopes in (["rooms:read", "rooms:admin"], ["tokens"], [""]):
        refused = await client.post(
            f"/v1/projects/{tenant_a.project_id}/keys",
            json={"name": "bad", "scopes": scopes},
            headers=tenant_a.owner_headers,
        )
        assert refused.status_code == 400, scopes
        assert refused.json()["field"] == "scopes"
    assert [i["id"] for i in await keys_of(client, tenant_a, tenant_a.owner_headers)] == ["primary"]


async def test_another_organizations_keys_are_404(
    client: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    key = await new_key(client, tenant_a)
    base = f"/v1/projects/{tenant_a.project_id}/keys"
    for headers in (tenant_b.owner_headers, tenant_b.member_headers):
        assert (await client.get(base, headers=headers)).status_code == 404
    created = await client.post(base, json={"name": "intruder"}, headers=tenant_b.owner_headers)
    assert created.status_code == 404
    revoke = await client.delete(f"{base}/{key['id']}", headers=tenant_b.owner_headers)
    assert revoke.status_code == 404
    # A's key id under B's own project is not B's either.
    sideways = await client.delete(
        f"/v1/projects/{tenant_b.project_id}/keys/{key['id']}", headers=tenant_b.owner_headers
    )
    assert sideways.status_code == 404
    assert (await client.get("/v1/project", headers=pair(key))).json()["id"] == tenant_a.project_id
    # A's keys are A's: never listed under B.
    items = await keys_of(client, tenant_b, tenant_b.owner_headers)
    assert [i["id"] for i in items] == ["primary"]
    assert key["api_key"] not in str(items)


# -- last_used_at ------------------------------------------------------------------------


class CountingKeys(ApiKeyRepository):
    """The real key repository, counting its writes."""

    def __init__(self, inner: ApiKeyRepository) -> None:
        self._inner = inner
        self.touches: list[dict[str, datetime]] = []
        self.updates = 0

    async def add(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        await self._inner.add(key, audit=audit)

    async def get(self, project_id: str, key_id: str) -> ApiKey | None:
        return await self._inner.get(project_id, key_id)

    async def get_by_api_key(self, api_key: str) -> ApiKey | None:
        return await self._inner.get_by_api_key(api_key)

    async def list_for_project(self, project_id: str) -> list[ApiKey]:
        return await self._inner.list_for_project(project_id)

    async def update(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        self.updates += 1
        await self._inner.update(key, audit=audit)

    async def revoke(
        self, project_id: str, key_id: str, at: datetime, *, audit: AuditRecord | None = None
    ) -> bool:
        self.updates += 1
        return await self._inner.revoke(project_id, key_id, at, audit=audit)

    async def touch(self, last_used: Mapping[str, datetime]) -> None:
        self.touches.append(dict(last_used))
        await self._inner.touch(last_used)


class CountingKeyUsage(KeyUsage):
    """The real batcher, counting its flushes (the lifecycle's and the test's)."""

    flushes = 0

    async def flush(self) -> int:
        self.flushes += 1
        return await super().flush()


@pytest.fixture
async def counted(
    settings: Settings, clock: ManualClock
) -> AsyncIterator[tuple[Container, CountingKeys, Client]]:
    container = make_container(roomy(settings), clock)
    spy = CountingKeys(container.adapters.api_keys())
    container.adapters.api_keys.override(providers.Object(spy))
    container.services.key_usage.override(
        providers.Singleton(
            CountingKeyUsage,
            container.services.keys_repository,
            container.services.projects_repository,
            container.adapters.clock,
        )
    )
    async with AsyncTestClient(app=create_app(container)) as client:
        yield container, spy, client


async def test_last_used_at_is_written_in_batches_not_per_request(
    counted: tuple[Container, CountingKeys, Client],
    clock: ManualClock,
    admin_headers: dict[str, str],
) -> None:
    container, spy, client = counted
    usage = container.services.key_usage()
    assert isinstance(usage, CountingKeyUsage)
    tenant = await make_tenant(client, container, admin_headers, "Meter")
    key = await new_key(client, tenant, ["rooms:read", "tokens:create"])
    idle = await new_key(client, tenant, name="idle")
    clock.advance(42)
    used_at = clock.now()
    headers = pair(key)
    for n in range(50):
        if n % 2:
            answer = await client.get("/v1/rooms", headers=headers)
            assert answer.status_code == 200
        else:
            answer = await client.post("/v1/tokens/create", json=TOKEN_BODY, headers=headers)
            assert answer.status_code == 201
    # No write per request: at most one per flush the lifecycle happened to run.
    assert spy.updates == 0
    assert len(spy.touches) <= usage.flushes
    client.blocking_portal.call(usage.flush)
    assert 1 <= len(spy.touches) <= usage.flushes
    assert all(set(batch) == {key["id"]} for batch in spy.touches)
    items = {i["id"]: i for i in await keys_of(client, tenant, tenant.owner_headers)}
    assert datetime.fromisoformat(items[key["id"]]["last_used_at"]) == used_at
    assert items[idle["id"]]["last_used_at"] is None
    # Refused requests are not uses.
    clock.advance(10)
    assert (await client.get("/v1/usage", headers=headers)).status_code == 403
    touched = len(spy.touches)
    client.blocking_portal.call(usage.flush)
    assert len(spy.touches) == touched
    items = {i["id"]: i for i in await keys_of(client, tenant, tenant.owner_headers)}
    assert datetime.fromisoformat(items[key["id"]]["last_used_at"]) == used_at


async def test_the_first_keys_last_use_is_listed_and_a_rotation_resets_it(
    client: Client, container: Container, clock: ManualClock, admin_headers: dict[str, str]
) -> None:
    """The pair made with the project is tracked as named keys are, through both request
    paths (the raw token route and Litestar's); a rotation makes a new pair, never used,
    and the previous pair's uses during its grace period are not the new one's."""
    tenant = await make_tenant(client, container, admin_headers, "Prime")
    usage = container.services.key_usage()
    named = await new_key(client, tenant, ["rooms:read"], name="idle")

    async def primary() -> Any:
        items = await keys_of(client, tenant, tenant.owner_headers)
        assert items[0]["id"] == "primary"
        assert {i["id"]: i["last_used_at"] for i in items[1:]} == {named["id"]: None}
        return items[0]["last_used_at"]

    assert await primary() is None
    clock.advance(42)
    headers = tenant.project_headers
    minted = await client.post("/v1/tokens/create", json=TOKEN_BODY, headers=headers)
    assert minted.status_code == 201, minted.text
    client.blocking_portal.call(usage.flush)
    assert datetime.fromisoformat(await primary()) == clock.now()
    clock.advance(5)
    assert (await client.get("/v1/rooms", headers=headers)).status_code == 200
    client.blocking_portal.call(usage.flush)
    used_at = clock.now()
    assert datetime.fromisoformat(await primary()) == used_at
    # Members read it too; refused requests are not uses.
    clock.advance(5)
    bad = {"X-Pulse-Key": tenant.api_key, "X-Pulse-Secret": "wrong"}
    assert (await client.get("/v1/rooms", headers=bad)).status_code == 401
    client.blocking_portal.call(usage.flush)
    items = await keys_of(client, tenant, tenant.member_headers)
    assert datetime.fromisoformat(items[0]["last_used_at"]) == used_at

    rotated = await client.post(
        f"/v1/projects/{tenant.project_id}/regenerate-keys",
        json={"grace_period_seconds": 3600},
        headers=tenant.owner_headers,
    )
    assert rotated.status_code == 200, rotated.text
    assert await primary() is None
    clock.advance(5)
    # The previous pair still works, but its use is not the new pair's.
    assert (await client.get("/v1/rooms", headers=headers)).status_code == 200
    client.blocking_portal.call(usage.flush)
    assert await primary() is None
    clock.advance(5)
    new_pair = pair(rotated.json())
    assert (await client.get("/v1/rooms", headers=new_pair)).status_code == 200
    client.blocking_portal.call(usage.flush)
    assert datetime.fromisoformat(await primary()) == clock.now()


async def test_the_openapi_document_states_each_project_routes_scope(client: Client) -> None:
    """The document reads the same declaration as the guard (required_scope of the
    route's opt), so a client generated from it knows which scope each call needs."""
    document = (await client.get("/schema/openapi.json")).json()
    stated = {
        (method.upper(), path): operation.get("x-pulse-scope")
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "security" in operation
    }
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.opt.get("auth") not in ("project", "project_key"):
                continue
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                needed = required_scope(handler.opt.get("scope"), method)
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
                assert stated.get((method, path)) == needed, (method, path)
