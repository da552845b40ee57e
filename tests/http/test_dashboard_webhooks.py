"""The webhooks pages over HTTP, on both persistence backends: what a link can make an
endpoint's page say."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from pulse_core import ids
from pulse_core.models.events import Delivery, DeliveryAttempt, Event
from pulse_core.services import webhook_deliveries
from pulse_core.services.webhook_deliveries import MAX_REPLAY_EVENTS
from pulse_http.container import Container
from tests.http.conftest import Tenant
from tests.http.test_dashboard_keys import csrf_of, signed_in_as

Client = AsyncTestClient[Any]
NOTICE = "queued for delivery again."


async def new_endpoint(client: Client, tenant: Tenant, **fields: Any) -> str:
    """A new endpoint of ``tenant``'s project (``fields`` on top of its URL): its id."""
    created = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": "https://hooks.example.com/pulse", **fields},
        headers=tenant.project_headers,
    )
    assert created.status_code == 201, created.text
    endpoint_id: str = created.json()["id"]
    return endpoint_id


@pytest.mark.parametrize(
    ("replayed", "shown"),
    [
        ("3", "3 events"),
        ("1", "1 event"),
        ("0", "0 events"),
        (str(MAX_REPLAY_EVENTS), f"{MAX_REPLAY_EVENTS} events"),
        ("-5", None),
        ("+5", None),
        (" 5", None),
        ("5.0", None),
        ("\u0665", None),  # ARABIC-INDIC DIGIT FIVE: a digit, not one a redirect writes
        ("abc", None),
        ("", None),
        (str(MAX_REPLAY_EVENTS + 1), None),
        ("9" * 5000, None),
    ],
)
async def test_the_replay_notice_shows_only_a_count_a_replay_can_queue(
    client: Client, container: Container, tenant_a: Tenant, replayed: str, shown: str | None
) -> None:
    endpoint_id = await new_endpoint(client, tenant_a, event_types=["room.started"])
    signed_in_as(client, container, "member", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}/webhooks/{endpoint_id}"

    page = await client.get(url, params={"replayed": replayed})
    assert page.status_code == 200, page.text[:2000]
    if shown is None:
        assert NOTICE not in page.text
    else:
        assert f"{shown} {NOTICE}" in page.text


async def test_a_deleted_endpoints_deliveries_are_listed_as_such_without_retry(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    endpoint_id = await new_endpoint(client, tenant_a)
    now = datetime.now(tz=UTC)
    dead = Delivery(
        id=ids.new_id(ids.DELIVERY, now_ms=ids.ms_of(now)),
        project_id=tenant_a.project_id,
        endpoint_id=endpoint_id,
        event_id=ids.new_id(ids.EVENT, now_ms=ids.ms_of(now)),
        event_type="room.started",
        status="dead",
        attempts=(DeliveryAttempt(at=now, status_code=500),),
        created_at=now,
        updated_at=now,
    )
    client.blocking_portal.call(container.adapters.deliveries().add, dead)  # in the app loop
    signed_in_as(client, container, "admin", tenant_a.org_id)
    base = f"/dashboard/projects/{tenant_a.project_id}/deliveries"
    retry = f'action="{base}/{dead.id}/retry"'
    for url in (base, f"{base}/{dead.id}"):
        assert retry in (await client.get(url)).text

    deleted = await client.delete(
        f"/v1/webhooks/endpoints/{endpoint_id}", headers=tenant_a.project_headers
    )
    assert deleted.status_code == 204
    for url in (base, f"{base}/{dead.id}"):
        page = await client.get(url)
        assert page.status_code == 200 and f"<code>{endpoint_id}</code> (deleted)" in page.text
        assert retry not in page.text


async def test_a_replay_past_its_bound_offers_the_rest_and_the_rest_finishes_it(
    client: Client, container: Container, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_deliveries, "MAX_REPLAY_EVENTS", 2)
    monkeypatch.setattr(webhook_deliveries, "_REPLAY_PAGE", 1)
    endpoint_id = await new_endpoint(client, tenant_a)
    now = container.adapters.clock().now()
    for i in range(3):  # three events in the window, none delivered yet
        at = now - timedelta(minutes=3 - i)
        event = Event(
            id=ids.new_id(ids.EVENT, now_ms=ids.ms_of(at)),
            project_id=tenant_a.project_id,
            type="room.started",
            timestamp=at,
            data={"room": "demo"},
        )
        client.blocking_portal.call(container.adapters.events().add, event)
    signed_in_as(client, container, "admin", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}/webhooks/{endpoint_id}"
    since = (now - timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    page = await client.get(url)
    first = await client.post(
        f"{url}/replay", data={"since": since, "_csrf_token": csrf_of(page.text)}
    )
    assert first.status_code == 200, first.text[:2000]
    assert f"2 events {NOTICE}" in first.text and "Replay the rest" in first.text
    rest = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', first.text))
    assert rest["since"] == since and rest["cursor"].startswith("evt_")
    assert "until" not in rest  # left blank, as typed

    rest_form = {**rest, "_csrf_token": csrf_of(first.text)}
    second = await client.post(f"{url}/replay", data=rest_form, follow_redirects=False)
    assert second.status_code == 303
    assert second.headers["location"].endswith("?replayed=1")


async def test_the_endpoint_page_says_when_a_rotations_grace_period_runs(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    endpoint_id = await new_endpoint(client, tenant_a)
    signed_in_as(client, container, "admin", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}/webhooks/{endpoint_id}"
    assert 'id="grace-running"' not in (await client.get(url)).text
    rotate = f"/v1/webhooks/endpoints/{endpoint_id}/rotate-secret"
    for grace, running in ((3600, True), (0, False)):
        rotated = await client.post(
            rotate, json={"grace_period_seconds": grace}, headers=tenant_a.project_headers
        )
        assert rotated.status_code == 200
        assert ('id="grace-running"' in (await client.get(url)).text) is running


async def test_the_delivery_log_shows_each_deliverys_event_time_the_order_it_follows(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    endpoint_id = await new_endpoint(client, tenant_a)
    now = container.adapters.clock().now()
    made = []
    for days_ago in (3, 1):  # made today, of events of 3 and 1 days ago (a replay does so)
        event_at = (now - timedelta(days=days_ago)).replace(microsecond=0)
        delivery = Delivery(
            id=ids.new_id(ids.DELIVERY, now_ms=ids.ms_of(event_at)),
            project_id=tenant_a.project_id,
            endpoint_id=endpoint_id,
            event_id=ids.new_id(ids.EVENT, now_ms=ids.ms_of(event_at)),
            event_type="room.started",
            created_at=now,
            updated_at=now,
        )
        client.blocking_portal.call(container.adapters.deliveries().add, delivery)
        made.append(event_at)
    signed_in_as(client, container, "member", tenant_a.org_id)
    page = await client.get(f"/dashboard/projects/{tenant_a.project_id}/deliveries")
    shown = re.findall(r'<time datetime="([^"]+)"', page.text)
    assert shown == [at.isoformat() for at in reversed(made)]  # newest event first
