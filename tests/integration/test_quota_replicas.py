"""A plan's concurrent limit holds across replicas (API.md, "Usage and quotas";
ARCHITECTURE.md, "Scaling out"): two app instances on the same database (one SQLite
file, or one MongoDB) and the same real ``redis-server``, an organization allowed one
concurrent egress.

- Many rounds of one egress start at each replica at once: exactly one 201 and one 403
  (``max_concurrent_egress``, used 1) each round.
- Why: a media engine that holds each start until the test lets it go, so the first
  request is inside its slot (counted, not yet recorded) when the second arrives. With
  the shared Redis lock the second finds the lock held (its ``SET NX`` refused, seen
  on its Redis client) and waits, never reaches its media server, and is refused once
  the first is recorded. With a lock per process
  (``InMemoryLocks`` each, as without Redis) the second counts the same zero and both
  pass: the limit is broken, deterministically.

Both apps run in the test's event loop (httpx's ASGI transport, with the ASGI lifespan
driven here), so their requests really interleave; every wait is on a condition, with a
generous bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from dependency_injector import providers

from pulse_adapters.memory import InMemoryLocks
from pulse_adapters.memory.media_engine import InMemoryMediaEngine
from pulse_adapters.redis import RedisLocks
from pulse_core.ports.media import EgressInfo, EgressRequest
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.http.conftest import JWT_SECRET, make_container
from tests.support.mongo import MongoTestServer
from tests.support.quotas import (
    ONE_EGRESS,
    PATIENCE_SECONDS,
    admin_headers,
    assert_quota,
    limits_of,
    quota_settings,
    real_time_clock,
)

ROUNDS = 20
START = "/v1/media/egress/start"
START_BODY = {"room": "demo", "kind": "room_composite"}


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
    )
    if request.param == "mongo":
        server: MongoTestServer = request.getfixturevalue("mongo_server")
        base = msgspec.structs.replace(
            base, mongo_uri=server.uri, mongo_db_name=server.new_db_name()
        )
    return quota_settings(base, tmp_path)


class GatedEngine(InMemoryMediaEngine):
    """The simulated engine, holding each egress start until :attr:`gate` opens."""

    def __init__(self, container: Container) -> None:
        super().__init__(container.adapters.clock())
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.starts = 0

    async def start_egress(self, request: EgressRequest) -> EgressInfo:
        self.starts += 1
        self.entered.set()
        await self.gate.wait()
        return await super().start_egress(request)


class WatchedRedis:
    """The Redis client of a replica's locks, telling when a quota lock was asked for
    and refused (``SET NX`` found it held): the replica is waiting at the lock."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.refused = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def set(self, key: str, *args: Any, **kwargs: Any) -> Any:
        taken = await self._client.set(key, *args, **kwargs)
        if kwargs.get("nx") and not taken and key.startswith("pulse:lock:quota:"):
            self.refused.set()
        return taken


@dataclass
class Replica:
    container: Container
    client: httpx.AsyncClient
    #: The Redis client of its quota locks (shared locks only).
    lock_redis: WatchedRedis | None = None


@contextlib.asynccontextmanager
async def running(container: Container) -> AsyncIterator[Replica]:
    """The app of ``container`` started (its ASGI lifespan) and a client on it."""
    # An ASGI app to httpx and to the lifespan driven here.
    app: Any = create_app(container)
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, Any]:
        return await to_app.get()

    async def send(message: dict[str, Any]) -> None:
        await from_app.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.create_task(app(scope, receive, send))
    await to_app.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(from_app.get(), PATIENCE_SECONDS)
    assert started["type"] == "lifespan.startup.complete", started
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pulse") as client:
            yield Replica(container, client)
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(from_app.get(), PATIENCE_SECONDS)
        await asyncio.wait_for(lifespan, PATIENCE_SECONDS)


@contextlib.asynccontextmanager
async def two_replicas(
    settings: Settings, *, per_process_locks: bool = False, gated: bool = False
) -> AsyncIterator[tuple[Replica, Replica]]:
    containers = [make_container(settings, real_time_clock()) for _ in range(2)]
    watched: list[Any] = []
    for container in containers:
        if per_process_locks:
            container.adapters.locks.override(providers.Singleton(InMemoryLocks))
        else:
            lock_redis = providers.Singleton(WatchedRedis, container.gateways.queue_redis)
            container.adapters.locks.override(providers.Singleton(RedisLocks, lock_redis))
            watched.append(lock_redis)
        if gated:
            container.adapters.media_engine.override(providers.Object(GatedEngine(container)))
    async with running(containers[0]) as one, running(containers[1]) as two:
        if watched:
            one.lock_redis, two.lock_redis = watched[0](), watched[1]()
        yield one, two


@dataclass
class Org:
    org_id: str
    owner: dict[str, str]
    project: dict[str, str]


async def one_egress_org(replica: Replica) -> Org:
    """An organization allowed one concurrent egress (and nothing else limited), with
    one project."""
    admin = admin_headers(replica.container)
    client = replica.client
    org = await client.post(
        "/v1/organizations",
        json={"name": "Solo", "admin_email": "ops@solo.test", "plan": ONE_EGRESS},
        headers=admin,
    )
    assert org.status_code == 201, org.text
    org_id = org.json()["id"]
    auth = replica.container.services.management_auth()
    owner = {"Authorization": "Bearer " + auth.mint("owner", role="owner", org_id=org_id)}
    made = await client.post("/v1/projects", json={"org_id": org_id, "name": "App"}, headers=owner)
    assert made.status_code == 201, made.text
    project = {"X-Pulse-Key": made.json()["api_key"], "X-Pulse-Secret": made.json()["api_secret"]}
    return Org(org_id=org_id, owner=owner, project=project)


async def start(replica: Replica, org: Org) -> httpx.Response:
    return await replica.client.post(START, json=START_BODY, headers=org.project)


async def finish(replica: Replica, org: Org, egress_id: str) -> None:
    """Stop the egress on the replica that started it (its media server) and read it
    back complete: its slot is free."""
    client = replica.client
    body = {"egress_id": egress_id}
    stopped = await client.post("/v1/media/egress/stop", json=body, headers=org.project)
    assert stopped.status_code == 200, stopped.text
    done = await client.get(f"/v1/media/egress/{egress_id}", headers=org.project)
    assert done.json()["status"] == "complete", done.text


async def test_one_egress_start_at_each_replica_at_once_lets_exactly_one_through(
    settings: Settings,
) -> None:
    async with asyncio.timeout(ROUNDS * PATIENCE_SECONDS):
        async with two_replicas(settings) as replicas:
            org = await one_egress_org(replicas[0])
            for round_ in range(ROUNDS):
                answers = await asyncio.gather(*(start(r, org) for r in replicas))
                codes = [a.status_code for a in answers]
                assert sorted(codes) == [201, 403], (round_, [a.text for a in answers])
                winner = codes.index(201)
                assert_quota(answers[1 - winner], "max_concurrent_egress", 1, 1)
                await finish(replicas[winner], org, answers[winner].json()["id"])
            page = await replicas[1].client.get(
                f"/v1/organizations/{org.org_id}/plan", headers=org.owner
            )
            assert limits_of(page.json())["max_concurrent_egress"] == (1, 0)


async def test_the_shared_lock_makes_the_second_replica_wait_and_count_the_first(
    settings: Settings,
) -> None:
    async with (
        asyncio.timeout(PATIENCE_SECONDS),
        two_replicas(settings, gated=True) as (one, two),
    ):
        org = await one_egress_org(one)
        engine_one: GatedEngine = one.container.adapters.media_engine()
        engine_two: GatedEngine = two.container.adapters.media_engine()
        redis_two = two.lock_redis
        assert redis_two is not None

        first = asyncio.create_task(start(one, org))
        await engine_one.entered.wait()  # inside its slot: counted 0, not yet recorded
        second = asyncio.create_task(start(two, org))
        # Whichever comes first: the second finds the lock held, or (were the lock not
        # shared) it counts 0 as well and reaches its media server.
        waits = [asyncio.create_task(e.wait()) for e in (redis_two.refused, engine_two.entered)]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        assert redis_two.refused.is_set() and not engine_two.entered.is_set()
        assert not second.done()

        engine_one.gate.set()
        engine_two.gate.set()
        assert (await first).status_code == 201
        assert_quota(await second, "max_concurrent_egress", 1, 1)
        assert engine_two.starts == 0  # the refused start never reached a media server


async def test_without_a_shared_lock_both_replicas_count_zero_and_both_pass(
    settings: Settings,
) -> None:
    """What the shared lock prevents: the same two requests, each replica with a lock
    of its own process."""
    async with (
        asyncio.timeout(PATIENCE_SECONDS),
        two_replicas(settings, gated=True, per_process_locks=True) as (one, two),
    ):
        org = await one_egress_org(one)
        engine_one: GatedEngine = one.container.adapters.media_engine()
        engine_two: GatedEngine = two.container.adapters.media_engine()

        first = asyncio.create_task(start(one, org))
        await engine_one.entered.wait()
        second = asyncio.create_task(start(two, org))
        await engine_two.entered.wait()  # its own lock was free: it counted 0 too

        engine_one.gate.set()
        engine_two.gate.set()
        assert [(await first).status_code, (await second).status_code] == [201, 201]
        page = await two.client.get(f"/v1/organizations/{org.org_id}/plan", headers=org.owner)
        assert limits_of(page.json())["max_concurrent_egress"] == (1, 2)
