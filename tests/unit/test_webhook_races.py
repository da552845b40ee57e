"""Concurrent changes of webhook endpoints and deliveries: an owner's edits and a
worker's health records all land, so a rotated secret or a new URL is never put back by a
write that read the endpoint before it; endpoints created at once stay within the cap; a
project's ``webhook_url`` adopted by several replicas at once becomes one endpoint; and a
retry asked for while a worker records an attempt keeps the attempt in the log.

The endpoints repository here yields to the event loop between reading and answering,
as a real backend's I/O does, so that concurrent tasks interleave between a read and
the write that follows it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import msgspec
from structlog.testing import capture_logs

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import (
    InMemoryDeliveryRepository,
    InMemoryEventRepository,
    InMemoryJobQueue,
    InMemoryLocks,
    InMemoryProjectRepository,
    InMemoryWebhookEndpointRepository,
)
from pulse_core import ids
from pulse_core.errors import Conflict, Unavailable
from pulse_core.models.events import (
    Delivery,
    EndpointPatch,
    EndpointSpec,
    Event,
    WebhookEndpoint,
)
from pulse_core.ports.locks import Locks
from pulse_core.services.delivery import DeliveryService, RetrySchedule
from pulse_core.services.event_log import EventLog
from pulse_core.services.webhooks import MAX_ENDPOINTS_PER_PROJECT, WebhookService
from pulse_http.lifecycle import adopt_all_webhook_urls
from tests.support.builders import org, project
from tests.support.urls import url_guard_for_tests
from tests.unit.test_webhook_delivery import ScriptedSender

URL = "https://hooks.example.com/pulse"


class YieldingEndpoints(InMemoryWebhookEndpointRepository):
    async def get(self, project_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        endpoint = await super().get(project_id, endpoint_id)
        await asyncio.sleep(0)
        return endpoint

    async def list_all(self, project_id: str) -> list[WebhookEndpoint]:
        endpoints = await super().list_all(project_id)
        await asyncio.sleep(0)
        return endpoints


class PausingDeliveries(InMemoryDeliveryRepository):
    """Once :meth:`pause_next_read` is called, the next ``get`` reads, then waits for
    :attr:`go_on` before it answers."""

    def __init__(self) -> None:
        super().__init__()
        self.go_on: asyncio.Event | None = None

    def pause_next_read(self) -> asyncio.Event:
        self.go_on = asyncio.Event()
        return self.go_on

    async def get(self, project_id: str, delivery_id: str) -> Delivery | None:
        delivery = await super().get(project_id, delivery_id)
        go_on, self.go_on = self.go_on, None
        if go_on is not None:
            await go_on.wait()
        return delivery


class World:
    def __init__(self, locks: Locks | None = None) -> None:
        self.clock = ManualClock(datetime.now(tz=UTC))
        events, deliveries = InMemoryEventRepository(), PausingDeliveries()
        self.deliveries = deliveries
        self.endpoints = YieldingEndpoints()
        self.sender = ScriptedSender()
        self.log = EventLog(
            events, self.endpoints, deliveries, InMemoryJobQueue(self.clock), self.clock
        )
        self.webhooks = WebhookService(
            self.endpoints,
            deliveries,
            events,
            self.log,
            self.clock,
            urls=url_guard_for_tests(),
            locks=InMemoryLocks() if locks is None else locks,
        )
        self.delivery = DeliveryService(
            events,
            self.endpoints,
            deliveries,
            self.sender,
            self.clock,
            urls=url_guard_for_tests(),
            schedule=RetrySchedule((0, 5, 60)),
            disable_after_seconds=3600,
            jitter=lambda delay: delay,
        )
        self.project = project(org().id)

    def event(self) -> Event:
        now = self.clock.now()
        return Event(
            id=ids.new_id(ids.EVENT, now_ms=ids.ms_of(now)),
            project_id=self.project.id,
            type="room.started",
            timestamp=now,
            data={"room": "demo"},
        )


async def test_a_secret_rotated_while_the_url_changes_stays_rotated() -> None:
    world = World()
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    endpoint_id = created.endpoint.id
    rotation, _ = await asyncio.gather(
        world.webhooks.rotate_secret(world.project, endpoint_id, grace_period_seconds=0),
        world.webhooks.update_endpoint(
            world.project, endpoint_id, EndpointPatch(url="https://hooks.example.com/v2")
        ),
    )
    stored = await world.webhooks.get_endpoint(world.project, endpoint_id)
    assert stored.secret == rotation.secret != created.secret
    assert stored.url == "https://hooks.example.com/v2"


async def test_a_failed_delivery_recorded_during_a_rotation_keeps_the_new_secret() -> None:
    world = World()
    created = await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    endpoint_id = created.endpoint.id
    [delivery] = await world.log.publish(world.event())
    world.sender.script.append(500)
    _, rotation = await asyncio.gather(
        world.delivery.attempt(world.project.id, delivery.id),
        world.webhooks.rotate_secret(world.project, endpoint_id, grace_period_seconds=0),
    )
    stored = await world.webhooks.get_endpoint(world.project, endpoint_id)
    assert stored.secret == rotation.secret
    assert stored.failing_since is not None  # the worker's record landed too


async def test_endpoints_created_at_once_at_the_cap_stay_within_it() -> None:
    world = World()
    for _ in range(MAX_ENDPOINTS_PER_PROJECT - 1):
        await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    results = await asyncio.gather(
        *(world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL)) for _ in "ab"),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == 1 and refused[0].code == "too_many_endpoints"
    assert len(await world.endpoints.list_all(world.project.id)) == MAX_ENDPOINTS_PER_PROJECT


async def test_a_webhook_url_adopted_by_replicas_at_once_is_one_endpoint() -> None:
    world = World()
    settings = msgspec.structs.replace(world.project.settings, webhook_url=URL)
    legacy = msgspec.structs.replace(world.project, settings=settings)
    adopted = await asyncio.gather(*(world.webhooks.adopt_webhook_url(legacy) for _ in "abc"))
    assert sum(a is not None for a in adopted) == 1
    [endpoint] = await world.endpoints.list_all(world.project.id)
    assert endpoint.url == URL


async def test_a_retry_asked_for_during_an_attempt_keeps_the_attempt() -> None:
    world = World()
    await world.webhooks.create_endpoint(world.project, EndpointSpec(url=URL))
    [delivery] = await world.log.publish(world.event())
    world.sender.script.extend([500, 500])
    await world.delivery.attempt(world.project.id, delivery.id)
    # The retry reads the delivery; a worker's attempt is recorded; then the retry writes.
    go_on = world.deliveries.pause_next_read()
    retrying = asyncio.create_task(world.webhooks.retry_delivery(world.project, delivery.id))
    await asyncio.sleep(0)
    await world.delivery.attempt(world.project.id, delivery.id)
    go_on.set()
    retried = await retrying
    stored = await world.webhooks.get_delivery(world.project, delivery.id)
    assert len(stored.attempts) == len(world.sender.sent) == 2
    assert stored == retried and stored.status == "pending" and stored.round_start == 2


class _Down(InMemoryLocks):
    def hold(self, name: str, *, lease_seconds: float, wait_seconds: float) -> Any:
        raise Unavailable("redis is down")  # the shared lock backend, at start-up


async def test_adoption_at_start_up_skips_what_it_cannot_lock_and_goes_on() -> None:
    world = World(locks=_Down())
    projects = InMemoryProjectRepository()
    legacy = project(org().id)
    settings = msgspec.structs.replace(legacy.settings, webhook_url=URL)
    await projects.add(msgspec.structs.replace(legacy, settings=settings))
    with capture_logs() as logs:
        assert await adopt_all_webhook_urls(projects, world.webhooks) == 0
    assert [entry["event"] for entry in logs] == ["webhook_url_not_adopted"]
    assert await world.endpoints.list_all(legacy.id) == []
