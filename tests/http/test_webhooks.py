"""Events and webhooks end to end: signed LiveKit webhooks in, the in-process worker,
signed deliveries to a real receiver on loopback, retries, the dead letter, replay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_core import rooms
from pulse_core.services.webhook_deliveries import MAX_REPLAY_EVENTS
from pulse_core.services.webhooks import MAX_ENDPOINTS_PER_PROJECT
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.schemas.webhooks import ReplayQueued
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_container, make_tenant, offline_container
from tests.support import livekit_webhooks as lk
from tests.support.webhook_receiver import WebhookReceiver

Client = AsyncTestClient[Any]


@pytest.fixture
def now_clock() -> ManualClock:
    # Real time: LiveKit's tokens and the standardwebhooks receiver both check it.
    return ManualClock(datetime.now(tz=UTC))


@pytest.fixture
def webhook_settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(
        settings,
        livekit_api_key=lk.API_KEY,
        livekit_api_secret=lk.API_SECRET,
        webhook_allowed_networks=("127.0.0.0/8",),
        webhook_retry_schedule="0,30,60",
        # The tests poll while the clock stands still: no bucket would refill.
        rate_limit_requests=100_000,
        rate_limit_burst=100_000,
    )


@pytest.fixture
def hooked(webhook_settings: Settings, now_clock: ManualClock) -> Container:
    return make_container(webhook_settings, now_clock)


@pytest.fixture
async def client(hooked: Container) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(hooked)) as test_client:
        yield test_client


@pytest.fixture
async def tenants(client: Client, hooked: Container) -> tuple[Tenant, Tenant]:
    admin = {"Authorization": "Bearer " + hooked.services.management_auth().mint("a")}
    return (
        await make_tenant(client, hooked, admin, "Alpha"),
        await make_tenant(client, hooked, admin, "Bravo"),
    )


async def _endpoint(
    client: Client, tenant: Tenant, receiver: WebhookReceiver, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": receiver.url, **extra},
        headers=tenant.project_headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    receiver.secret = body["secret"]
    return body


async def _livekit(client: Client, event: Any) -> None:
    body, headers = lk.signed(event)
    response = await client.post("/v1/livekit/webhook", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {}


async def _arrived(receiver: WebhookReceiver, count: int) -> list[Any]:
    return await asyncio.to_thread(receiver.wait_for, count)


async def _advance_until(receiver: WebhookReceiver, count: int, clock: ManualClock) -> None:
    """Move the queue's time on until attempt ``count`` arrives. In steps, because the
    worker schedules the retry a moment after the previous attempt is answered: a single
    jump made before that moment would leave the retry in the future."""
    for _ in range(600):
        if len(receiver.received) >= count:
            return
        clock.advance(70)  # past any delay of the schedule (60 s) and its 10% jitter
        await asyncio.sleep(0.05)
    raise AssertionError(f"attempt {count} never arrived")


async def _delivery_status(client: Client, tenant: Tenant, delivery_id: str, status: str) -> Any:
    for _ in range(600):
        found = await client.get(
            f"/v1/webhooks/deliveries/{delivery_id}", headers=tenant.project_headers
        )
        if found.json()["status"] == status:
            return found.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"delivery never became {status}: {found.json()}")


async def test_a_livekit_event_reaches_the_endpoint_signed_and_in_the_projects_words(
    client: Client, tenants: tuple[Tenant, Tenant], webhook_receiver: WebhookReceiver
) -> None:
    alpha, bravo = tenants
    endpoint = await _endpoint(client, alpha, webhook_receiver)
    assert endpoint["secret"].startswith("whsec_") and endpoint["enabled"] is True
    livekit_room = rooms.to_livekit(alpha.project_id, "demo")
    joined = lk.participant_event("participant_joined", livekit_room, "ada")
    await _livekit(client, joined)
    await _livekit(client, joined)  # LiveKit sends it again: applied once
    [received] = await _arrived(webhook_receiver, 1)
    assert received.verified and received.headers["user-agent"].startswith("Pulse-Webhooks/")
    event = received.event
    assert event["type"] == "participant.joined" and event["project_id"] == alpha.project_id
    assert event["data"]["room"] == "demo" and livekit_room not in received.body.decode()
    assert event["data"]["participant"]["identity"] == "ada"

    listed = await client.get("/v1/events", headers=alpha.project_headers)
    assert [e["id"] for e in listed.json()["items"]] == [event["id"]]
    assert (await client.get("/v1/events", headers=bravo.project_headers)).json()["items"] == []
    deliveries = await client.get("/v1/webhooks/deliveries", headers=alpha.project_headers)
    [delivery] = deliveries.json()["items"]
    done = await _delivery_status(client, alpha, delivery["id"], "succeeded")
    assert done["attempts"][0]["status_code"] == 200
    await asyncio.sleep(0.3)
    assert len(webhook_receiver.received) == 1  # the repeat delivered nothing


async def test_unsigned_or_tampered_livekit_calls_are_401_and_change_nothing(
    client: Client, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    event = lk.room_event("room_started", rooms.to_livekit(alpha.project_id, "demo"))
    body, headers = lk.signed(event)
    for bad_headers, bad_body in [
        ({"content-type": lk.CONTENT_TYPE}, body),
        (headers, body.replace(b"demo", b"dem0")),
        ({**headers, "authorization": lk.sign(body, api_secret="x" * 40)}, body),
        ({**headers, "authorization": "Bearer " + headers["authorization"]}, body),
    ]:
        response = await client.post("/v1/livekit/webhook", content=bad_body, headers=bad_headers)
        assert response.status_code == 401, response.text
    await asyncio.sleep(0.3)
    assert (await client.get("/v1/events", headers=alpha.project_headers)).json()["items"] == []


async def test_retries_then_the_dead_letter_then_retry_and_replay(
    client: Client,
    tenants: tuple[Tenant, Tenant],
    webhook_receiver: WebhookReceiver,
    now_clock: ManualClock,
) -> None:
    alpha, _ = tenants
    endpoint = await _endpoint(client, alpha, webhook_receiver)
    webhook_receiver.script.extend([500, (503, {"Retry-After": "1"}), 500])
    test = await client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/test", headers=alpha.project_headers
    )
    assert test.status_code == 202
    delivery_id = test.json()["id"]
    await _arrived(webhook_receiver, 1)
    failed = await _delivery_status(client, alpha, delivery_id, "failed")
    assert failed["attempts"][0]["status_code"] == 500 and failed["next_attempt_at"]
    await _advance_until(webhook_receiver, 2, now_clock)
    await _advance_until(webhook_receiver, 3, now_clock)
    dead = await _delivery_status(client, alpha, delivery_id, "dead")
    assert [a["status_code"] for a in dead["attempts"]] == [500, 503, 500]

    retried = await client.post(
        f"/v1/webhooks/deliveries/{delivery_id}/retry", headers=alpha.project_headers
    )
    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    await _arrived(webhook_receiver, 4)
    await _delivery_status(client, alpha, delivery_id, "succeeded")

    since = (now_clock.now() - timedelta(hours=1)).isoformat()
    replay = await client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/replay",
        json={"since": since},
        headers=alpha.project_headers,
    )
    assert replay.status_code == 202  # all succeeded, the whole window walked:
    assert replay.json() == {"count": 0, "next_cursor": None}


async def test_410_disables_the_endpoint(
    client: Client, tenants: tuple[Tenant, Tenant], webhook_receiver: WebhookReceiver
) -> None:
    alpha, _ = tenants
    endpoint = await _endpoint(client, alpha, webhook_receiver)
    webhook_receiver.script.append(410)
    await client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/test", headers=alpha.project_headers
    )
    await _arrived(webhook_receiver, 1)
    for _ in range(600):
        got = await client.get(
            f"/v1/webhooks/endpoints/{endpoint['id']}", headers=alpha.project_headers
        )
        if not got.json()["enabled"]:
            break
        await asyncio.sleep(0.05)
    assert got.json()["enabled"] is False and "410" in got.json()["disabled_reason"]


async def test_a_deleted_endpoints_delivery_log_stays_and_cannot_be_retried(
    client: Client, tenants: tuple[Tenant, Tenant], webhook_receiver: WebhookReceiver
) -> None:
    alpha, bravo = tenants
    endpoint = await _endpoint(client, alpha, webhook_receiver)
    webhook_receiver.script.append(410)  # the delivery ends at once, dead
    test = await client.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/test", headers=alpha.project_headers
    )
    delivery_id = test.json()["id"]
    await _delivery_status(client, alpha, delivery_id, "dead")
    deleted = await client.delete(
        f"/v1/webhooks/endpoints/{endpoint['id']}", headers=alpha.project_headers
    )
    assert deleted.status_code == 204

    for listed in (
        await client.get(
            "/v1/webhooks/deliveries",
            params={"endpoint_id": endpoint["id"]},
            headers=alpha.project_headers,
        ),
        await client.get("/v1/webhooks/deliveries", headers=alpha.project_headers),
    ):
        assert [d["id"] for d in listed.json()["items"]] == [delivery_id]
    retry = await client.post(
        f"/v1/webhooks/deliveries/{delivery_id}/retry", headers=alpha.project_headers
    )
    assert retry.status_code == 409, retry.text
    assert retry.headers["content-type"].startswith("application/problem+json")
    assert retry.json()["detail"] == "the endpoint was deleted"
    theirs = await client.post(
        f"/v1/webhooks/deliveries/{delivery_id}/retry", headers=bravo.project_headers
    )
    assert theirs.status_code == 404
    kept = await client.get(f"/v1/webhooks/deliveries/{delivery_id}", headers=alpha.project_headers)
    assert kept.json()["status"] == "dead" and kept.json()["attempts"][0]["status_code"] == 410


async def test_endpoints_of_another_project_are_404_and_management_sees_its_own(
    client: Client,
    tenants: tuple[Tenant, Tenant],
    webhook_receiver: WebhookReceiver,
) -> None:
    alpha, bravo = tenants
    endpoint = await _endpoint(client, alpha, webhook_receiver, event_types=["room.started"])
    for method, path in [
        ("GET", f"/v1/webhooks/endpoints/{endpoint['id']}"),
        ("PATCH", f"/v1/webhooks/endpoints/{endpoint['id']}"),
        ("DELETE", f"/v1/webhooks/endpoints/{endpoint['id']}"),
        ("POST", f"/v1/webhooks/endpoints/{endpoint['id']}/test"),
        ("POST", f"/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret"),
    ]:
        body = {"enabled": False} if method == "PATCH" else None
        response = await client.request(method, path, json=body, headers=bravo.project_headers)
        assert response.status_code == 404, (method, path, response.text)
    managed = await client.get(
        f"/v1/projects/{alpha.project_id}/webhooks/endpoints", headers=alpha.owner_headers
    )
    assert [e["id"] for e in managed.json()["items"]] == [endpoint["id"]]
    assert "secret" not in managed.json()["items"][0]
    other = await client.get(
        f"/v1/projects/{alpha.project_id}/webhooks/endpoints", headers=bravo.owner_headers
    )
    assert other.status_code == 404
    member = await client.post(
        f"/v1/projects/{alpha.project_id}/webhooks/endpoints",
        json={"url": webhook_receiver.url},
        headers=alpha.member_headers,
    )
    assert member.status_code == 403


async def test_bad_endpoint_input_is_a_400_naming_the_field(
    client: Client, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    for body, field in [
        ({"url": "http://169.254.169.254/latest"}, "url"),
        ({"url": "http://hooks.example.com", "event_types": ["room.exploded"]}, "event_types[0]"),
        ({"url": "http://hooks.example.com", "colour": "red"}, "colour"),
        ({"url": 7}, "url"),
    ]:
        response = await client.post(
            "/v1/webhooks/endpoints", json=body, headers=alpha.project_headers
        )
        assert response.status_code == 400, (body, response.text)
        assert response.json()["field"] == field, response.json()


async def test_the_old_webhook_url_setting_becomes_an_endpoint(
    client: Client, tenants: tuple[Tenant, Tenant], webhook_receiver: WebhookReceiver
) -> None:
    alpha, _ = tenants
    updated = await client.put(
        f"/v1/projects/{alpha.project_id}",
        json={"webhook_url": webhook_receiver.url},
        headers=alpha.owner_headers,
    )
    assert updated.status_code == 200, updated.text
    for _ in range(2):  # saving it again adopts nothing new
        listed = await client.get("/v1/webhooks/endpoints", headers=alpha.project_headers)
        [endpoint] = listed.json()["items"]
        assert endpoint["url"] == webhook_receiver.url and endpoint["event_types"] == []
        await client.put(
            f"/v1/projects/{alpha.project_id}",
            json={"webhook_url": webhook_receiver.url},
            headers=alpha.owner_headers,
        )


async def test_the_webhook_url_setting_and_its_endpoint_move_together(
    client: Client, tenants: tuple[Tenant, Tenant], webhook_receiver: WebhookReceiver
) -> None:
    alpha, bravo = tenants
    project = f"/v1/projects/{alpha.project_id}"

    async def put(body: dict[str, Any]) -> None:
        response = await client.put(project, json=body, headers=alpha.owner_headers)
        assert response.status_code == 200, response.text

    async def endpoints(tenant: Tenant = alpha) -> list[dict[str, Any]]:
        listed = await client.get("/v1/webhooks/endpoints", headers=tenant.project_headers)
        items: list[dict[str, Any]] = listed.json()["items"]
        return items

    first, second = f"{webhook_receiver.url}/first", f"{webhook_receiver.url}/second"
    await put({"webhook_url": first})
    [made] = await endpoints()
    await put({"webhook_url": second})  # moved, not added: its secret and log stay
    assert [(e["id"], e["url"]) for e in await endpoints()] == [(made["id"], second)]
    await put({"webhook_url": None})
    assert await endpoints() == []

    await put({"webhook_url": first})
    [again] = await endpoints()
    deleted = await client.delete(
        f"/v1/webhooks/endpoints/{again['id']}", headers=alpha.project_headers
    )
    assert deleted.status_code == 204
    await put({"name": "Renamed"})  # the setting is as it was: the deletion stands
    assert await endpoints() == []
    assert await endpoints(bravo) == []

    async def setting() -> str | None:
        stored = await client.get(project, headers=alpha.owner_headers)
        url: str | None = stored.json()["webhook_url"]
        return url

    # Deleted or moved through the endpoints API, the endpoint takes the setting along,
    # so that the next start does not adopt the old URL again.
    assert await setting() is None
    await put({"webhook_url": first})
    [third] = await endpoints()
    moved = await client.patch(
        f"/v1/webhooks/endpoints/{third['id']}",
        json={"url": second},
        headers=alpha.project_headers,
    )
    assert moved.status_code == 200, moved.text
    assert await setting() == second

    audit = await client.get(
        f"/v1/organizations/{alpha.org_id}/audit-log",
        params={"resource_id": made["id"]},
        headers=alpha.owner_headers,
    )
    actions = {(r["action"], r["actor"]["type"]) for r in audit.json()["items"]}
    # The owner's write did it, and the log says so (not "system").
    assert {a for a, _ in actions} == {
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.deleted",
    }
    assert "system" not in {t for _, t in actions}


async def test_a_webhook_url_past_the_endpoint_cap_is_refused_and_not_saved(
    client: Client, tenants: tuple[Tenant, Tenant], webhook_receiver: WebhookReceiver
) -> None:
    alpha, _ = tenants
    for n in range(MAX_ENDPOINTS_PER_PROJECT):
        await _endpoint(client, alpha, webhook_receiver, description=f"n{n}")
    refused = await client.put(
        f"/v1/projects/{alpha.project_id}",
        json={"webhook_url": f"{webhook_receiver.url}/one-more", "name": "Changed"},
        headers=alpha.owner_headers,
    )
    assert refused.status_code == 409, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == (
        "too_many_endpoints",
        "webhook_url",
    )
    stored = await client.get(f"/v1/projects/{alpha.project_id}", headers=alpha.owner_headers)
    assert (stored.json()["webhook_url"], stored.json()["name"]) == (None, "Alpha app")


async def test_a_stored_webhook_url_that_cannot_be_adopted_does_not_stop_start_up(
    webhook_settings: Settings, now_clock: ManualClock, webhook_receiver: WebhookReceiver
) -> None:
    first = make_container(webhook_settings, now_clock)
    admin = {"Authorization": "Bearer " + first.services.management_auth().mint("a")}
    async with AsyncTestClient(app=create_app(first)) as client:
        tenant = await make_tenant(client, first, admin, "Full")
        for n in range(MAX_ENDPOINTS_PER_PROJECT):
            await _endpoint(client, tenant, webhook_receiver, description=f"n{n}")
    async with offline_container(webhook_settings) as offline:
        repository = offline.adapters.projects()
        project = await repository.get(tenant.project_id)
        url = f"{webhook_receiver.url}/legacy"
        settings = msgspec.structs.replace(project.settings, webhook_url=url)
        await repository.update(msgspec.structs.replace(project, settings=settings))
    second = make_container(webhook_settings, now_clock)
    async with AsyncTestClient(app=create_app(second)) as client:
        listed = await client.get("/v1/webhooks/endpoints", headers=tenant.project_headers)
        assert listed.status_code == 200
        assert url not in [e["url"] for e in listed.json()["items"]]


async def test_stored_webhook_urls_are_adopted_at_start_up(
    webhook_settings: Settings, now_clock: ManualClock, webhook_receiver: WebhookReceiver
) -> None:
    first = make_container(webhook_settings, now_clock)
    admin = {"Authorization": "Bearer " + first.services.management_auth().mint("a")}
    async with AsyncTestClient(app=create_app(first)) as client:
        tenant = await make_tenant(client, first, admin, "Legacy")
    # As an earlier version stored it: the setting, and no endpoint (written here, in the
    # test's own event loop, between two runs of the service).
    async with offline_container(webhook_settings) as offline:
        repository = offline.adapters.projects()
        project = await repository.get(tenant.project_id)
        settings = msgspec.structs.replace(project.settings, webhook_url=webhook_receiver.url)
        await repository.update(msgspec.structs.replace(project, settings=settings))
        assert await offline.adapters.webhook_endpoints().list_all(project.id) == []
    second = make_container(webhook_settings, now_clock)
    async with AsyncTestClient(app=create_app(second)) as client:
        listed = await client.get("/v1/webhooks/endpoints", headers=tenant.project_headers)
        assert [e["url"] for e in listed.json()["items"]] == [webhook_receiver.url]


def test_the_replay_answers_documented_bound_is_the_one_applied() -> None:
    assert f"at most {MAX_REPLAY_EVENTS:,} events" in (ReplayQueued.__doc__ or "")
