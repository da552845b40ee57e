"""The event log's retention, as the running service applies it: the lifecycle's
``events`` job purges events older than 30 days and their deliveries with them, on
every backend, and keeps everything newer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_core.models.events import EVENT_RETENTION_DAYS
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, Upkeep, make_container, make_tenant, unscheduled
from tests.support.webhook_receiver import WebhookReceiver

Client = AsyncTestClient[Any]


@pytest.fixture
def now_clock() -> ManualClock:
    return ManualClock(datetime.now(tz=UTC))


@pytest.fixture
async def served(
    settings: Settings, now_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Container, Client, Upkeep]]:
    """The app, and its ``events`` purge taken off its hourly schedule so that the test
    runs it (in the app's loop) when it chooses."""
    hooks = unscheduled(monkeypatch, "events")
    hooked = msgspec.structs.replace(
        settings,
        webhook_allowed_networks=("127.0.0.0/8",),
        rate_limit_requests=100_000,
        rate_limit_burst=100_000,
    )
    container = make_container(hooked, now_clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        yield container, client, hooks["events"]


async def _tested(client: Client, tenant: Tenant, endpoint_id: str) -> tuple[str, str]:
    """A test event to the endpoint, delivered: its event id and delivery id."""
    sent = await client.post(
        f"/v1/webhooks/endpoints/{endpoint_id}/test", headers=tenant.project_headers
    )
    assert sent.status_code == 202, sent.text
    delivery = sent.json()
    for _ in range(600):
        got = await client.get(
            f"/v1/webhooks/deliveries/{delivery['id']}", headers=tenant.project_headers
        )
        if got.json()["status"] != "pending":
            return delivery["event_id"], delivery["id"]
        await asyncio.sleep(0.05)
    raise AssertionError("the test event was never attempted")


async def test_events_and_their_deliveries_go_after_the_retention_and_not_before(
    served: tuple[Container, Client, Upkeep],
    now_clock: ManualClock,
    webhook_receiver: WebhookReceiver,
) -> None:
    container, client, purge = served
    admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
    alpha = await make_tenant(client, container, admin, "Alpha")
    bravo = await make_tenant(client, container, admin, "Bravo")
    made: dict[str, str] = {}
    for tenant in (alpha, bravo):
        created = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": webhook_receiver.url},
            headers=tenant.project_headers,
        )
        made[tenant.project_id] = created.json()["id"]
    old = await _tested(client, alpha, made[alpha.project_id])
    theirs_old = await _tested(client, bravo, made[bravo.project_id])
    now_clock.advance(timedelta(days=EVENT_RETENTION_DAYS - 10).total_seconds())
    recent = await _tested(client, alpha, made[alpha.project_id])
    now_clock.advance(timedelta(days=10, seconds=1).total_seconds())

    async def kept(tenant: Tenant, event_id: str, delivery_id: str) -> tuple[int, int]:
        headers = tenant.project_headers
        event = await client.get("/v1/events?type=webhook.test", headers=headers)
        delivery = await client.get(f"/v1/webhooks/deliveries/{delivery_id}", headers=headers)
        listed = [e["id"] for e in event.json()["items"]]
        return int(event_id in listed), delivery.status_code

    assert await kept(alpha, *old) == (1, 200)
    client.blocking_portal.call(purge)
    assert await kept(alpha, *old) == (0, 404)
    assert await kept(bravo, *theirs_old) == (0, 404)
    assert await kept(alpha, *recent) == (1, 200)
    listed = await client.get("/v1/webhooks/deliveries", headers=alpha.project_headers)
    assert [d["id"] for d in listed.json()["items"]] == [recent[1]]
    client.blocking_portal.call(purge)  # again: nothing more goes
    assert await kept(alpha, *recent) == (1, 200)
