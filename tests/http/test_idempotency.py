"""``Idempotency-Key`` on writes (API.md, "Authentication"), end to end on both
persistence backends (SQLite, Mongo; the ``settings`` fixture).

A repeat with the same key, caller and request replays the first answer (same status,
body, content type; ``Idempotent-Replayed: true``) without doing the work again; another
request under the key is 422, a repeat while the first runs is 409; a 5xx is not kept;
the same key from another caller is another key; after 24 hours the key is free again;
requests without the header are untouched.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory.media_engine import InMemoryMediaEngine
from pulse_core.errors import Unavailable
from pulse_core.ports.idempotency import (
    ClaimOutcome,
    IdempotencyStore,
    StoredResponse,
)
from pulse_core.ports.media import EgressInfo, EgressRequest
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.idempotency import WRITES
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_container, make_tenant
from tests.support.in_loop import PATIENCE_SECONDS, running_app

Client = AsyncTestClient[Any]
HEADER = "Idempotency-Key"
PROBLEM = "application/problem+json"
DAY = 24 * 3600


def keyed(headers: dict[str, str], key: str = "retry-0001") -> dict[str, str]:
    return {**headers, HEADER: key}


def assert_replay(first: Any, again: Any) -> None:
    """``again`` is ``first`` replayed: same status, body and content type, marked."""
    assert again.status_code == first.status_code, again.text
    assert again.content == first.content
    assert again.headers.get("content-type") == first.headers.get("content-type")
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    # Per-request headers are the request's own, not the first one's.
    assert again.headers["x-request-id"] != first.headers["x-request-id"]


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    assert body["field"] == HEADER, body
    assert "idempotent-replayed" not in response.headers


async def project_names(client: Any, tenant: Tenant) -> list[str]:
    listed = await client.get(
        f"/v1/projects?org_id={tenant.org_id}&limit=100", headers=tenant.owner_headers
    )
    assert listed.status_code == 200, listed.text
    return [p["name"] for p in listed.json()["items"]]


# -- replay ------------------------------------------------------------------------------------


async def test_a_repeated_create_replays_the_first_answer_and_creates_once(
    client: Client, tenant_a: Tenant
) -> None:
    body = {"org_id": tenant_a.org_id, "name": "Retry app"}
    first = await client.post("/v1/projects", json=body, headers=keyed(tenant_a.owner_headers))
    assert first.status_code == 201, first.text
    again = await client.post("/v1/projects", json=body, headers=keyed(tenant_a.owner_headers))
    assert_replay(first, again)
    # The secret shown once is the same secret: it is the same answer, not a new project.
    assert again.json()["api_secret"] == first.json()["api_secret"]
    assert (await project_names(client, tenant_a)).count("Retry app") == 1


async def test_a_repeated_token_is_the_first_token_not_a_second_mint(
    client: Client, tenant_a: Tenant, clock: ManualClock
) -> None:
    body = {"identity": "alice", "room": "demo"}
    first = await client.post(
        "/v1/tokens/create", json=body, headers=keyed(tenant_a.project_headers)
    )
    assert first.status_code == 201, first.text
    clock.advance(5)  # a second mint would carry another issue time
    again = await client.post(
        "/v1/tokens/create", json=body, headers=keyed(tenant_a.project_headers)
    )
    assert_replay(first, again)
    assert again.json()["token"] == first.json()["token"]
    # The guard still ran: the repeat was authenticated and charged like any request.
    assert "ratelimit" in again.headers
    fresh = await client.post("/v1/tokens/create", json=body, headers=tenant_a.project_headers)
    assert fresh.status_code == 201
    assert fresh.json()["token"] != first.json()["token"]


async def test_a_client_error_is_an_answer_and_is_replayed(
    client: Client, tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    # A duplicate is a 409 the same request would get again: it is kept.
    body = {"name": "Copycat", "admin_email": "admin@alpha.test"}
    headers = keyed(admin_headers)
    first = await client.post("/v1/organizations", json=body, headers=headers)
    assert first.status_code == 409, first.text
    deleted = await client.delete(f"/v1/organizations/{tenant_a.org_id}", headers=admin_headers)
    assert deleted.status_code == 204
    # The email is free now, but the key's answer was the 409.
    assert_replay(first, await client.post("/v1/organizations", json=body, headers=headers))
    created = await client.post("/v1/organizations", json=body, headers=admin_headers)
    assert created.status_code == 201, created.text


# -- refusals ----------------------------------------------------------------------------------


async def test_the_same_key_for_another_request_is_422(client: Client, tenant_a: Tenant) -> None:
    headers = keyed(tenant_a.owner_headers)
    body = {"org_id": tenant_a.org_id, "name": "One"}
    first = await client.post("/v1/projects", json=body, headers=headers)
    assert first.status_code == 201
    other_body = await client.post("/v1/projects", json={**body, "name": "Two"}, headers=headers)
    assert_problem(other_body, 422, "idempotency_key_reused")
    other_route = await client.post(
        f"/v1/projects/{tenant_a.project_id}/regenerate-keys", headers=headers
    )
    assert_problem(other_route, 422, "idempotency_key_reused")
    # Neither ran, and the key still replays its own answer.
    assert sorted(await project_names(client, tenant_a)) == ["Alpha app", "One"]
    assert_replay(first, await client.post("/v1/projects", json=body, headers=headers))


@pytest.mark.parametrize(
    "value",
    [b"", b"x" * 256, "ключ".encode(), b"tab\there", b"line\x7f"],
    ids=["empty", "too-long", "not-ascii", "tab", "del"],
)
async def test_a_malformed_key_is_400_naming_the_header(
    client: Client, tenant_a: Tenant, value: bytes
) -> None:
    headers: dict[str, Any] = {**tenant_a.owner_headers, HEADER: value}
    body = {"org_id": tenant_a.org_id, "name": "Never"}
    response = await client.post("/v1/projects", json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == HEADER
    assert HEADER in response.json()["detail"]
    assert "Never" not in await project_names(client, tenant_a)


async def test_the_widest_valid_key_is_accepted(client: Client, tenant_a: Tenant) -> None:
    body = {"org_id": tenant_a.org_id, "name": "Edge"}
    widest = " ~" + "k" * 253  # 255 printable characters, spaces and tildes included
    headers = keyed(tenant_a.owner_headers, widest)
    first = await client.post("/v1/projects", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert_replay(first, await client.post("/v1/projects", json=body, headers=headers))


async def test_two_key_headers_are_400(container: Container, admin_headers: dict[str, str]) -> None:
    # httpx's ASGI transport sends repeated headers as they are (Litestar's test client
    # would join them into one "a, b" value, as a proxy may; that is one valid key).
    async with asyncio.timeout(PATIENCE_SECONDS), running_app(container) as client:
        tenant = await make_tenant(client, container, admin_headers, "Twice")
        body = {"org_id": tenant.org_id, "name": "Edge"}
        two = [*tenant.owner_headers.items(), (HEADER, "a"), (HEADER, "b")]
        response = await client.post("/v1/projects", json=body, headers=two)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == HEADER


async def test_authentication_comes_before_the_key(client: Client, tenant_a: Tenant) -> None:
    # An unauthenticated caller learns nothing about keys: the 401 comes first.
    body = {"org_id": tenant_a.org_id, "name": "Anon"}
    bad = await client.post("/v1/projects", json=body, headers={HEADER: ""})
    assert bad.status_code == 401
    wrong = {"X-Pulse-Key": tenant_a.api_key, "X-Pulse-Secret": "pulse_secret_wrong"}
    token = await client.post(
        "/v1/tokens/create", json={"identity": "a", "room": "r"}, headers=keyed(wrong)
    )
    assert token.status_code == 401


# -- scope: the caller ---------------------------------------------------------------------------


async def test_the_same_key_from_another_project_key_runs_again(
    client: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    made = await client.post(
        f"/v1/projects/{tenant_a.project_id}/keys",
        json={"name": "second"},
        headers=tenant_a.owner_headers,
    )
    assert made.status_code == 201, made.text
    second_key = {
        "X-Pulse-Key": made.json()["api_key"],
        "X-Pulse-Secret": made.json()["api_secret"],
    }
    body = {"name": "lobby"}
    first = await client.post("/v1/rooms", json=body, headers=keyed(tenant_a.project_headers))
    assert first.status_code == 201, first.text
    # Another key of the same project: another caller; the room exists now (200).
    other_key = await client.post("/v1/rooms", json=body, headers=keyed(second_key))
    assert other_key.status_code == 200, other_key.text
    assert "idempotent-replayed" not in other_key.headers
    # Another project: its own room, created.
    other_project = await client.post(
        "/v1/rooms", json=body, headers=keyed(tenant_b.project_headers)
    )
    assert other_project.status_code == 201, other_project.text
    assert "idempotent-replayed" not in other_project.headers
    assert_replay(
        first, await client.post("/v1/rooms", json=body, headers=keyed(tenant_a.project_headers))
    )


async def test_the_same_key_from_another_principal_runs_again(
    client: Client, container: Container, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    auth = container.services.management_auth()
    # Two operators, same request, same key: each gets an answer of their own.
    body = {"name": "Shared", "admin_email": "ops@shared.test"}
    one = {"Authorization": "Bearer " + auth.mint("operator-1", role="admin")}
    two = {"Authorization": "Bearer " + auth.mint("operator-2", role="admin")}
    created = await client.post("/v1/organizations", json=body, headers=keyed(one))
    assert created.status_code == 201, created.text
    duplicate = await client.post("/v1/organizations", json=body, headers=keyed(two))
    assert duplicate.status_code == 409, duplicate.text
    assert "idempotent-replayed" not in duplicate.headers
    # Two organizations' owners (the same JWT subject, "owner"): two scopes, two projects.
    for tenant in (tenant_a, tenant_b):
        made = await client.post(
            "/v1/projects",
            json={"org_id": tenant.org_id, "name": "Same key"},
            headers=keyed(tenant.owner_headers),
        )
        assert made.status_code == 201, made.text
        assert "idempotent-replayed" not in made.headers
        assert (await project_names(client, tenant)).count("Same key") == 1


async def test_validation_ignores_the_header_with_or_without_the_secret(
    client: Client, tenant_a: Tenant, clock: ManualClock
) -> None:
    """What the key alone may call changes nothing: a kept verdict would only go stale."""
    minted = await client.post(
        "/v1/tokens/create",
        json={"identity": "a", "room": "r", "ttl_seconds": 60},
        headers=tenant_a.project_headers,
    )
    body = {"token": minted.json()["token"]}
    key_only = keyed({"Authorization": f"Bearer {tenant_a.api_key}"})
    with_secret = keyed(tenant_a.project_headers)
    for headers in (key_only, with_secret, key_only, with_secret):
        checked = await client.post("/v1/tokens/validate", json=body, headers=headers)
        assert checked.status_code == 200, checked.text
        assert checked.json()["valid"] is True
        assert "idempotent-replayed" not in checked.headers
    clock.advance(61)
    for headers in (key_only, with_secret):
        checked = await client.post("/v1/tokens/validate", json=body, headers=headers)
        assert checked.json() == {"valid": False, "reason": "expired"}


async def test_routes_without_a_caller_ignore_the_header(client: Client) -> None:
    login = {"email": "nobody@nowhere.test", "password": "not-the-password"}
    for _ in range(2):
        refused = await client.post("/v1/auth/login", json=login, headers={HEADER: "k"})
        assert refused.status_code == 401
        assert "idempotent-replayed" not in refused.headers
        hook = await client.post(
            "/v1/livekit/webhook", content=b"{}", headers={HEADER: "k", "Authorization": "x"}
        )
        assert hook.status_code == 401
        assert "idempotent-replayed" not in hook.headers


# -- time ------------------------------------------------------------------------------------------


async def test_a_key_is_replayed_for_24_hours_then_free(
    client: Client, container: Container, tenant_a: Tenant, clock: ManualClock
) -> None:
    body = {"org_id": tenant_a.org_id, "name": "Daily"}

    def owner() -> dict[str, str]:
        # Minted now: the caller is the identity (organization, subject), not the token.
        auth = container.services.management_auth()
        token = auth.mint("owner", role="owner", org_id=tenant_a.org_id)
        return keyed({"Authorization": f"Bearer {token}"})

    first = await client.post("/v1/projects", json=body, headers=owner())
    assert first.status_code == 201
    clock.advance(DAY - 1)
    assert_replay(first, await client.post("/v1/projects", json=body, headers=owner()))
    clock.advance(1)
    later = await client.post("/v1/projects", json=body, headers=owner())
    assert later.status_code == 201
    assert "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    listed = await client.get(f"/v1/projects?org_id={tenant_a.org_id}", headers=owner())
    assert [p["name"] for p in listed.json()["items"]].count("Daily") == 2


# -- other methods ---------------------------------------------------------------------------------


async def test_put_patch_and_delete_replay_without_running_again(
    client: Client, tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    path = f"/v1/projects/{tenant_a.project_id}"
    owner = tenant_a.owner_headers
    # PUT: the repeat answers as the first did, and does not undo the change made since.
    renamed = await client.put(path, json={"name": "Renamed"}, headers=keyed(owner, "put-1"))
    assert renamed.status_code == 200, renamed.text
    assert (await client.put(path, json={"name": "Later"}, headers=owner)).status_code == 200
    assert_replay(
        renamed, await client.put(path, json={"name": "Renamed"}, headers=keyed(owner, "put-1"))
    )
    assert (await client.get(path, headers=owner)).json()["name"] == "Later"

    # PATCH (a project route): the same.
    project = tenant_a.project_headers
    assert (
        await client.post("/v1/rooms", json={"name": "hall"}, headers=project)
    ).status_code == 201
    first = await client.patch(
        "/v1/rooms/hall", json={"metadata": "one"}, headers=keyed(project, "patch-1")
    )
    assert first.status_code == 200, first.text
    assert (
        await client.patch("/v1/rooms/hall", json={"metadata": "two"}, headers=project)
    ).status_code == 200
    assert_replay(
        first,
        await client.patch(
            "/v1/rooms/hall", json={"metadata": "one"}, headers=keyed(project, "patch-1")
        ),
    )
    assert (await client.get("/v1/rooms/hall", headers=project)).json()["metadata"] == "two"

    # A 202 with no body and a text content type comes back as it was.
    packet = {"data": "aGVsbG8="}
    sent = await client.post("/v1/rooms/hall/data", json=packet, headers=keyed(project, "data-1"))
    assert sent.status_code == 202, sent.text
    assert_replay(
        sent,
        await client.post("/v1/rooms/hall/data", json=packet, headers=keyed(project, "data-1")),
    )

    # DELETE: the repeat is the first 204, not the 404 a second delete would be.
    gone = await client.delete("/v1/rooms/hall", headers=keyed(project, "delete-1"))
    assert gone.status_code == 204, gone.text
    again = await client.delete("/v1/rooms/hall", headers=keyed(project, "delete-1"))
    assert again.status_code == 204
    assert again.content == b""
    assert again.headers["idempotent-replayed"] == "true"
    assert (await client.delete("/v1/rooms/hall", headers=project)).status_code == 404
    deleted = await client.delete(path, headers=keyed(admin_headers, "delete-2"))
    assert deleted.status_code == 204
    assert_replay(deleted, await client.delete(path, headers=keyed(admin_headers, "delete-2")))


# -- without the header ----------------------------------------------------------------------------


async def test_without_the_header_nothing_changes(client: Client, tenant_a: Tenant) -> None:
    body = {"org_id": tenant_a.org_id, "name": "Twice"}
    for _ in range(2):
        made = await client.post("/v1/projects", json=body, headers=tenant_a.owner_headers)
        assert made.status_code == 201
        assert "idempotent-replayed" not in made.headers
    assert (await project_names(client, tenant_a)).count("Twice") == 2
    # Reads ignore the header.
    for _ in range(2):
        read = await client.get("/v1/project", headers=keyed(tenant_a.project_headers))
        assert read.status_code == 200
        assert "idempotent-replayed" not in read.headers


# -- failures: 5xx, the store, a repeat while the first runs -------------------------------------


class FlakyEngine(InMemoryMediaEngine):
    """The simulated engine, failing its first egress starts with ``failures``."""

    def __init__(self, clock: ManualClock, failures: list[Exception]) -> None:
        super().__init__(clock)
        self.failures = failures
        self.starts = 0

    async def start_egress(self, request: EgressRequest) -> EgressInfo:
        self.starts += 1
        if self.failures:
            raise self.failures.pop(0)
        return await super().start_egress(request)


EGRESS = {"room": "demo", "kind": "room_composite"}


async def test_a_server_error_is_not_kept_and_the_retry_runs(
    client: Client, container: Container, tenant_a: Tenant, clock: ManualClock
) -> None:
    engine = FlakyEngine(clock, [RuntimeError("engine bug"), Unavailable("media server down")])
    container.adapters.media_engine.override(providers.Object(engine))
    headers = keyed(tenant_a.project_headers)
    crashed = await client.post("/v1/media/egress/start", json=EGRESS, headers=headers)
    assert crashed.status_code == 500, crashed.text
    down = await client.post("/v1/media/egress/start", json=EGRESS, headers=headers)
    assert down.status_code == 503, down.text
    assert "idempotent-replayed" not in down.headers
    started = await client.post("/v1/media/egress/start", json=EGRESS, headers=headers)
    assert started.status_code == 201, started.text
    assert_replay(
        started, await client.post("/v1/media/egress/start", json=EGRESS, headers=headers)
    )
    assert engine.starts == 3


class BrokenStore(IdempotencyStore):
    """A store whose backend is down."""

    async def claim(self, *args: Any, **kwargs: Any) -> ClaimOutcome:
        raise Unavailable("idempotency store is down")

    async def complete(self, *args: Any, **kwargs: Any) -> bool:
        raise Unavailable("idempotency store is down")

    async def release(self, *args: Any, **kwargs: Any) -> None:
        raise Unavailable("idempotency store is down")


async def test_a_store_that_is_down_refuses_keyed_writes_only(
    container: Container, admin_headers: dict[str, str]
) -> None:
    # Nothing can be promised without the store, so nothing runs (503); writes without
    # the header do not need it.
    container.adapters.idempotency.override(providers.Object(BrokenStore()))
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await make_tenant(client, container, admin_headers, "Unsure")
        body = {"org_id": tenant.org_id, "name": "Unsure"}
        refused = await client.post("/v1/projects", json=body, headers=keyed(tenant.owner_headers))
        assert refused.status_code == 503, refused.text
        assert "Unsure" not in await project_names(client, tenant)
        plain = await client.post("/v1/projects", json=body, headers=tenant.owner_headers)
        assert plain.status_code == 201


class GatedEngine(InMemoryMediaEngine):
    """The simulated engine, holding each egress start until :attr:`gate` opens."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.starts = 0

    async def start_egress(self, request: EgressRequest) -> EgressInfo:
        self.starts += 1
        self.entered.set()
        await self.gate.wait()
        return await super().start_egress(request)


async def test_a_repeat_while_the_first_runs_is_409_then_replays(
    container: Container, admin_headers: dict[str, str], clock: ManualClock
) -> None:
    engine = GatedEngine(clock)
    container.adapters.media_engine.override(providers.Object(engine))
    async with asyncio.timeout(PATIENCE_SECONDS), running_app(container) as client:
        tenant = await make_tenant(client, container, admin_headers, "Gated")
        headers = keyed(tenant.project_headers)
        first = asyncio.create_task(
            client.post("/v1/media/egress/start", json=EGRESS, headers=headers)
        )
        await engine.entered.wait()
        busy = await client.post("/v1/media/egress/start", json=EGRESS, headers=headers)
        assert_problem(busy, 409, "idempotency_key_in_use")
        # Another request under the key while it runs is still "another request".
        other = await client.post(
            "/v1/media/egress/start", json={**EGRESS, "room": "other"}, headers=headers
        )
        assert_problem(other, 422, "idempotency_key_reused")
        engine.gate.set()
        done = await first
        assert done.status_code == 201, done.text
        assert_replay(
            done, await client.post("/v1/media/egress/start", json=EGRESS, headers=headers)
        )
        assert engine.starts == 1


def test_stored_responses_keep_bytes_exactly() -> None:
    # What the HTTP layer stores round-trips through the encodings the adapters use.
    stored = StoredResponse(
        status=201, headers=(("content-type", "application/json"),), body=b"\xff"
    )
    for encoding in (msgspec.msgpack, msgspec.json):
        assert encoding.decode(encoding.encode(stored), type=StoredResponse) == stored


async def test_browsers_may_send_the_key_and_read_the_replay_mark(
    settings: Settings, clock: ManualClock, admin_headers: dict[str, str]
) -> None:
    origin = "https://dashboard.acme.test"
    container = make_container(msgspec.structs.replace(settings, cors_origins=(origin,)), clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        preflight = await client.options(
            "/v1/tokens/create",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-pulse-key, x-pulse-secret, idempotency-key",
            },
        )
        assert preflight.status_code in (200, 204), preflight.text
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "idempotency-key" in allowed
        tenant = await make_tenant(client, container, admin_headers, "Browser")
        headers = keyed({**tenant.project_headers, "Origin": origin})
        body = {"identity": "alice", "room": "demo"}
        first = await client.post("/v1/tokens/create", json=body, headers=headers)
        assert first.status_code == 201, first.text
        again = await client.post("/v1/tokens/create", json=body, headers=headers)
        assert_replay(first, again)
        # CORS headers are the repeat's own, and let the page read the mark.
        assert again.headers["access-control-allow-origin"] == origin
        assert "idempotent-replayed" in again.headers["access-control-expose-headers"].lower()


def test_every_write_route_runs_the_hook(container: Container) -> None:
    # A controller or handler declaring a before_request of its own would replace the
    # app's (Litestar keeps the closest layer's), silently dropping the key (and the
    # strict body check) on its routes.
    app = create_app(container)
    writes = [
        handler
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if set(handler.http_methods) & WRITES
    ]
    assert len(writes) > 20
    for handler in writes:
        assert handler.resolve_before_request() is app.before_request, handler
