"""``Idempotency-Key`` across replicas (ARCHITECTURE.md, "Scaling out"): two app
instances on one database (one SQLite file, or one MongoDB) and one real
``redis-server``, where the container keeps the keys when ``REDIS_URL`` is set.

- A write sent to one replica and repeated on the other is replayed there, not run
  twice (a token minted once, a project created once).
- A repeat on the other replica while the first still runs is 409; another request
  under the key is 422; once the first finishes, the other replica replays it.
- After 24 hours the key is free on either replica.

Both apps run in the test's event loop (httpx's ASGI transport), so a request can wait
inside one replica's media engine while the other answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest
import redis.asyncio
from dependency_injector import providers

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory.media_engine import InMemoryMediaEngine
from pulse_adapters.redis import RedisIdempotencyStore
from pulse_core.models.keys import PRIMARY_KEY_ID
from pulse_core.ports.media import EgressInfo, EgressRequest
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.http.conftest import JWT_SECRET, Tenant, make_container, make_tenant
from tests.support.in_loop import PATIENCE_SECONDS, running_app
from tests.support.mongo import MongoTestServer

HEADER = "Idempotency-Key"
EGRESS = {"room": "demo", "kind": "room_composite"}


@pytest.fixture(params=["sqlite", "mongo"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Settings:
    """One database and one Redis for both replicas."""
    base = Settings(
        environment="test",
        data_dir=str(tmp_path / "data"),
        jwt_secret=JWT_SECRET,
        api_key_pepper="test-pepper",
        log_level="warning",
        redis_url=redis_url,
        # The clock stands still: no test here should meet a rate limit.
        rate_limit_requests=100_000,
        rate_limit_burst=100_000,
    )
    if request.param == "mongo":
        server: MongoTestServer = request.getfixturevalue("mongo_server")
        base = msgspec.structs.replace(
            base, mongo_uri=server.uri, mongo_db_name=server.new_db_name()
        )
    return base


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


@contextlib.asynccontextmanager
async def two_replicas(
    settings: Settings, clock: ManualClock
) -> AsyncIterator[tuple[list[Container], httpx.AsyncClient, httpx.AsyncClient]]:
    containers = [make_container(settings, clock) for _ in range(2)]
    for container in containers:
        container.adapters.media_engine.override(providers.Object(GatedEngine(clock)))
    async with (
        asyncio.timeout(PATIENCE_SECONDS),
        running_app(containers[0]) as one,
        running_app(containers[1]) as two,
    ):
        yield containers, one, two


def keyed(headers: dict[str, str], key: str = "replica-key") -> dict[str, str]:
    return {**headers, HEADER: key}


def admin(container: Container) -> dict[str, str]:
    token = container.services.management_auth().mint("test-admin", role="admin")
    return {"Authorization": f"Bearer {token}"}


def assert_replay(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code, again.text
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"


async def test_the_other_replica_replays_the_answer(
    settings: Settings, clock: ManualClock, redis_client: redis.asyncio.Redis
) -> None:
    async with two_replicas(settings, clock) as (containers, one, two):
        # Both replicas keep keys in the shared Redis.
        store = containers[0].adapters.idempotency()
        assert isinstance(store, RedisIdempotencyStore)
        assert isinstance(containers[1].adapters.idempotency(), RedisIdempotencyStore)
        tenant: Tenant = await make_tenant(one, containers[0], admin(containers[0]), "Shared")

        body = {"identity": "alice", "room": "demo"}
        first = await one.post(
            "/v1/tokens/create", json=body, headers=keyed(tenant.project_headers)
        )
        assert first.status_code == 201, first.text
        clock.advance(5)  # a second mint would carry another issue time
        again = await two.post(
            "/v1/tokens/create", json=body, headers=keyed(tenant.project_headers)
        )
        assert_replay(first, again)
        assert again.json()["token"] == first.json()["token"]
        # The first key of a project is PRIMARY_KEY_ID (the scope: project id and key id).
        scope = f"project\n{tenant.project_id}\n{PRIMARY_KEY_ID}"
        assert await redis_client.exists(store.key(scope, "replica-key"))

        made = {"org_id": tenant.org_id, "name": "Once"}
        created = await two.post("/v1/projects", json=made, headers=keyed(tenant.owner_headers))
        assert created.status_code == 201, created.text
        assert_replay(
            created, await one.post("/v1/projects", json=made, headers=keyed(tenant.owner_headers))
        )
        listed = await one.get(f"/v1/projects?org_id={tenant.org_id}", headers=tenant.owner_headers)
        assert [p["name"] for p in listed.json()["items"]].count("Once") == 1

        # A day later the key is free on either replica (and the tokens still work).
        clock.advance(24 * 3600)
        later = await two.post(
            "/v1/tokens/create", json=body, headers=keyed(tenant.project_headers)
        )
        assert later.status_code == 201
        assert "idempotent-replayed" not in later.headers
        assert later.json()["token"] != first.json()["token"]


async def test_a_repeat_on_the_other_replica_while_the_first_runs_is_409(
    settings: Settings, clock: ManualClock
) -> None:
    async with two_replicas(settings, clock) as (containers, one, two):
        tenant = await make_tenant(one, containers[0], admin(containers[0]), "Racing")
        headers = keyed(tenant.project_headers)
        engine_one: GatedEngine = containers[0].adapters.media_engine()
        engine_two: GatedEngine = containers[1].adapters.media_engine()

        first = asyncio.create_task(
            one.post("/v1/media/egress/start", json=EGRESS, headers=headers)
        )
        await engine_one.entered.wait()
        busy = await two.post("/v1/media/egress/start", json=EGRESS, headers=headers)
        assert busy.status_code == 409, busy.text
        assert busy.json()["code"] == "idempotency_key_in_use"
        other = await two.post(
            "/v1/media/egress/start", json={**EGRESS, "room": "other"}, headers=headers
        )
        assert other.status_code == 422, other.text
        assert other.json()["code"] == "idempotency_key_reused"

        engine_one.gate.set()
        engine_two.gate.set()
        done = await first
        assert done.status_code == 201, done.text
        assert_replay(done, await two.post("/v1/media/egress/start", json=EGRESS, headers=headers))
        assert (engine_one.starts, engine_two.starts) == (1, 0)
