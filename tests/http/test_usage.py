"""Usage metering end to end (API.md, "Usage and quotas"): a scripted day of LiveKit
events becomes exact participant minutes per project, hour, day and month; an egress and
an ingress become their minutes and bytes; tokens and requests are counted; the three
views agree; a tenant never sees another's usage; bad queries are 400s naming the field.

LiveKit's events are applied by the in-process worker: the tests wait on the project's
event log (an event is logged after it was metered), never on a fixed sleep."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress
from livekit.protocol import models as lk_models
from livekit.protocol.webhook import WebhookEvent

from pulse_adapters.clock import ManualClock
from pulse_core import rooms
from pulse_core.errors import Unavailable
from pulse_core.models.jobs import QUEUE
from pulse_core.models.media import Egress
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_container, make_tenant, offline_container
from tests.http.test_scopes import TOKEN_BODY, new_key, pair
from tests.support import livekit_webhooks as lk

Client = AsyncTestClient[Any]
DAY = datetime(2026, 11, 10, tzinfo=UTC)  # a past day, within every retention period
MINUTES = {"metric": "participant_minutes"}
# Litestar names a malformed datetime by the handler's argument (``since``/``until``),
# not by the query parameter (``from``/``to``): see the report of the usage tests.


def at(hour: int, minute: int = 0, second: int = 0, *, day: int = 0) -> int:
    """Seconds since the epoch on DAY (LiveKit's timestamps are seconds)."""
    return int((DAY + timedelta(days=day, hours=hour, minutes=minute, seconds=second)).timestamp())


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def lk_settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(
        settings,
        livekit_api_key=lk.API_KEY,
        livekit_api_secret=lk.API_SECRET,
        # The tests poll while the clock stands still: no bucket would refill.
        rate_limit_requests=100_000,
        rate_limit_burst=100_000,
    )


@pytest.fixture
def lk_container(lk_settings: Settings) -> Container:
    return make_container(lk_settings, ManualClock(datetime.now(tz=UTC)))


@pytest.fixture
async def client(lk_container: Container) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(lk_container)) as test_client:
        yield test_client


@pytest.fixture
async def tenants(client: Client, lk_container: Container) -> tuple[Tenant, Tenant]:
    admin = {"Authorization": "Bearer " + lk_container.services.management_auth().mint("a")}
    return (
        await make_tenant(client, lk_container, admin, "Alpha"),
        await make_tenant(client, lk_container, admin, "Bravo"),
    )


async def _post(client: Client, *events: WebhookEvent) -> None:
    for event in events:
        body, headers = lk.signed(event)
        response = await client.post("/v1/livekit/webhook", content=body, headers=headers)
        assert response.status_code == 200, response.text


async def _until(read: Callable[[], Any], check: Callable[[Any], bool]) -> Any:
    """Poll ``read`` until ``check`` holds (bounded: a generous 30 s)."""
    for _ in range(600):
        value = await read()
        if check(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"never became what was expected: {value}")


async def _logged(client: Client, headers: dict[str, str], count: int) -> None:
    """Wait until the project's event log holds ``count`` events (all applied)."""

    async def read() -> list[Any]:
        response = await client.get("/v1/events", params={"limit": 200}, headers=headers)
        return list(response.json()["items"])

    await _until(read, lambda items: len(items) >= count)
    assert len(await read()) == count


async def _drained(client: Client, container: Container) -> None:
    """Wait until the worker has applied every queued job (events that publish nothing
    leave no trace in the event log to wait on)."""
    queue = container.adapters.job_queue()

    async def depth() -> int:
        return (await queue.stats(QUEUE)).depth

    async def read_depth() -> int:
        # On the app's loop, where the database and queue clients live.
        return client.blocking_portal.call(depth)

    await _until(read_depth, lambda jobs: jobs == 0)


async def _get(client: Client, path: str, headers: dict[str, str], **params: str) -> Any:
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _series(items: list[dict[str, Any]]) -> dict[str, int]:
    """``{period_start: quantity}`` of one metric's items, periods as ISO text in UTC."""
    assert len({i["metric"] for i in items}) <= 1, items
    return {iso(datetime.fromisoformat(i["period_start"])): i["quantity"] for i in items}


def _connection(
    livekit_room: str, identity: str, joined: int, left: int, *, leave: str = "participant_left"
) -> tuple[WebhookEvent, WebhookEvent]:
    """One connection's join and leave, as LiveKit sends them (the leave repeats the
    participant's ``joined_at``)."""
    who = lk.participant(identity, sid=f"PA_{identity}", joined_at=joined)
    room = lk.room(livekit_room)
    return (
        lk.webhook_event("participant_joined", created_at=joined, room=room, participant=who),
        lk.webhook_event(leave, created_at=left, room=room, participant=who),
    )


async def test_a_scripted_day_is_metered_exactly_per_project_hour_day_and_month(
    client: Client, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, bravo = tenants
    second = await client.post(
        "/v1/projects", json={"org_id": alpha.org_id, "name": "Second"}, headers=alpha.owner_headers
    )
    assert second.status_code == 201, second.text
    alpha2_id, key, secret = (second.json()[k] for k in ("id", "api_key", "api_secret"))
    alpha2 = {"X-Pulse-Key": key, "X-Pulse-Secret": secret}
    standup = rooms.to_livekit(alpha.project_id, "standup")
    other = rooms.to_livekit(alpha2_id, "other")
    school = rooms.to_livekit(bravo.project_id, "class")

    ada = _connection(standup, "ada", at(9, 50), at(10, 10, 30))  # crosses 10:00: 21 min at 10
    bob = _connection(standup, "bob", at(10), at(10, 1))  # exactly 60 s: 1
    cy = _connection(standup, "cy", at(10, 5), at(10, 6, 1))  # 61 s: 2
    dee = _connection(standup, "dee", at(11), at(11, 0, 20), leave="participant_connection_aborted")
    fay = _connection(standup, "fay", at(11, 10), at(11, 12, 30))  # its leave comes first: 3
    eve_joined = lk.webhook_event(  # never leaves: the room's end closes it, 45 min at 12
        "participant_joined",
        created_at=at(11, 30),
        room=lk.room(standup),
        participant=lk.participant("eve", sid="PA_eve", joined_at=at(11, 30)),
    )
    recorder = lk.participant(  # the media server's own: egress minutes, not participant's
        "EG_rec", sid="PA_rec", joined_at=at(10), kind=lk_models.ParticipantInfo.EGRESS
    )
    recorder_events = [
        lk.webhook_event(name, created_at=t, room=lk.room(standup), participant=recorder)
        for name, t in (("participant_joined", at(10)), ("participant_left", at(12)))
    ]
    ivy = _connection(other, "ivy", at(10, 30), at(10, 40))  # Alpha's second project: 10
    gus = _connection(school, "gus", at(10, 20), at(10, 50))  # Bravo: 30 on the 10th
    hal = _connection(school, "hal", at(23, 50), at(0, 10, day=1))  # 20 on the 11th

    await _post(client, fay[1])
    await _logged(client, alpha.project_headers, 1)
    # LiveKit retries (the same event id twice), and any order: a leave may be applied
    # before its join, which then opens a connection the room's end finds counted.
    batch = [*ada, ada[1], *bob, bob[0], *cy, *dee, fay[0], eve_joined, *recorder_events]
    batch += [*ivy, *gus, gus[1], *hal]
    seed = random.randrange(1 << 32)
    random.Random(seed).shuffle(batch)
    await _post(client, *batch)
    await _logged(client, alpha.project_headers, 13)
    await _logged(client, alpha2, 2)
    await _logged(client, bravo.project_headers, 4)
    await _post(
        client,
        lk.webhook_event("room_finished", created_at=at(12, 15), room=lk.room(standup)),
        lk.webhook_event("room_finished", created_at=at(0, 30, day=1), room=lk.room(school)),
    )
    await _logged(client, alpha.project_headers, 14)
    await _logged(client, bravo.project_headers, 5)

    async def own(tenant: Tenant, **params: str) -> dict[str, int]:
        return _series((await _get(client, "/v1/usage", tenant.project_headers, **params))["items"])

    window = {"from": iso(DAY), "to": iso(DAY + timedelta(days=1)), **MINUTES}
    assert await own(alpha, granularity="hour", **window) == {
        "2026-11-10T10:00:00Z": 21 + 1 + 2,
        "2026-11-10T11:00:00Z": 1 + 3,
        "2026-11-10T12:00:00Z": 45,
    }, f"shuffle seed {seed}"
    assert await own(alpha, granularity="day", **window) == {"2026-11-10T00:00:00Z": 73}
    assert await own(alpha, granularity="month", **window) == {"2026-11-01T00:00:00Z": 73}
    # Whole periods: a window starting and ending inside hours includes both hours.
    inside = {"from": "2026-11-10T10:30:00Z", "to": "2026-11-10T11:15:00+00:00", **MINUTES}
    assert await own(alpha, granularity="hour", **inside) == {
        "2026-11-10T10:00:00Z": 24,
        "2026-11-10T11:00:00Z": 4,
    }

    two_days = {"from": iso(DAY), "to": iso(DAY + timedelta(days=2)), **MINUTES}
    days = await own(bravo, granularity="day", **two_days)
    assert days == {"2026-11-10T00:00:00Z": 30, "2026-11-11T00:00:00Z": 20}
    hours = await own(bravo, granularity="hour", **two_days)
    assert hours == {"2026-11-10T10:00:00Z": 30, "2026-11-11T00:00:00Z": 20}

    # Management views: the project's equals the project's own; the organization's has
    # its projects together, then each project's.
    for granularity in ("hour", "day", "month"):
        params = {**two_days, "granularity": granularity}
        mine = await _get(client, "/v1/usage", alpha.project_headers, **params)
        path = f"/v1/projects/{alpha.project_id}/usage"
        assert await _get(client, path, alpha.owner_headers, **params) == mine
    path = f"/v1/organizations/{alpha.org_id}/usage"
    org = await _get(client, path, alpha.owner_headers, granularity="day", **two_days)
    assert _series(org["items"]) == {"2026-11-10T00:00:00Z": 83}
    per_project = {p["project_id"]: _series(p["items"]) for p in org["projects"]}
    assert per_project == {
        alpha.project_id: {"2026-11-10T00:00:00Z": 73},
        alpha2_id: {"2026-11-10T00:00:00Z": 10},
    }
    path = f"/v1/organizations/{bravo.org_id}/usage"
    bravo_org = await _get(client, path, bravo.owner_headers, granularity="month", **two_days)
    assert _series(bravo_org["items"]) == {"2026-11-01T00:00:00Z": 50}
    assert [p["project_id"] for p in bravo_org["projects"]] == [bravo.project_id]

    # Another tenant's usage does not exist for Alpha.
    for foreign in (f"/v1/projects/{bravo.project_id}/usage", path):
        refused = await client.get(foreign, params=two_days, headers=alpha.owner_headers)
        assert refused.status_code == 404, refused.text


def _ns(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


async def _started_egress(client: Client, tenant: Tenant, settings: Settings) -> Egress:
    """A file egress of room ``demo``, started through the API, as stored."""
    started = await client.post(
        "/v1/media/egress/start",
        json={"room": "demo", "output": {"type": "file", "filepath": "talk.mp4"}},
        headers=tenant.project_headers,
    )
    assert started.status_code == 201, started.text
    async with offline_container(settings) as offline:
        record = await offline.adapters.egress_records().get(
            tenant.project_id, started.json()["id"]
        )
    assert record is not None
    return record


async def test_egress_and_ingress_minutes_and_recording_bytes(
    client: Client, tenants: tuple[Tenant, Tenant], lk_settings: Settings
) -> None:
    alpha, bravo = tenants
    egress_record = await _started_egress(client, alpha, lk_settings)
    ingress = await client.post(
        "/v1/media/ingress/create",
        json={"room": "demo", "type": "rtmp", "participant_identity": "obs"},
        headers=alpha.project_headers,
    )
    assert ingress.status_code == 201, ingress.text
    async with offline_container(lk_settings) as offline:
        ingress_record = await offline.adapters.ingress_records().get(
            alpha.project_id, ingress.json()["id"]
        )
    livekit_room = rooms.to_livekit(alpha.project_id, "demo")
    # The egress ran 150 s (3 minutes) from its start; the ingress published 61 s (2).
    ended = egress_record.started_at + timedelta(seconds=150)
    info = lk_egress.EgressInfo(
        egress_id=egress_record.engine_id,
        room_name=livekit_room,
        status=lk_egress.EgressStatus.EGRESS_COMPLETE,
        started_at=_ns(egress_record.started_at),
        ended_at=_ns(ended),
        file_results=[
            lk_egress.FileInfo(
                filename=f"projects/{alpha.project_id}/recordings/rooms/demo/talk.mp4",
                size=123_456,
                duration=150 * 10**9,
            )
        ],
    )
    state = lk_ingress.IngressState(
        status=lk_ingress.IngressState.ENDPOINT_INACTIVE,
        started_at=_ns(ended - timedelta(seconds=61)),
        ended_at=_ns(ended),
    )
    ingress_info = lk_ingress.IngressInfo(
        ingress_id=ingress_record.engine_id, room_name=livekit_room, state=state
    )
    egress_ended = lk.egress_event("egress_ended", info)
    ingress_ended = lk.ingress_event("ingress_ended", ingress_info)
    await _post(client, egress_ended, ingress_ended, egress_ended, ingress_ended)
    # egress.ended, recording.ready, ingress.ended
    await _logged(client, alpha.project_headers, 3)

    hour = ended.replace(minute=0, second=0, microsecond=0)
    window = {"from": iso(hour), "to": iso(hour + timedelta(hours=1)), "granularity": "hour"}
    body = await _get(
        client, f"/v1/projects/{alpha.project_id}/usage", alpha.owner_headers, **window
    )
    # (The requests of this test are counted too: api_requests is not what is looked at.)
    metered = {i["metric"]: i["quantity"] for i in body["items"] if i["metric"] != "api_requests"}
    assert metered == {"egress_minutes": 3, "ingress_minutes": 2, "recording_bytes": 123_456}
    assert all(i["period_start"].startswith(iso(hour)[:13]) for i in body["items"])
    other = await _get(
        client, f"/v1/projects/{bravo.project_id}/usage", bravo.owner_headers, **window
    )
    assert [i for i in other["items"] if i["metric"] != "api_requests"] == []


async def test_the_end_of_a_deleted_projects_egress_is_still_metered(
    client: Client, tenants: tuple[Tenant, Tenant], lk_settings: Settings, lk_container: Container
) -> None:
    """The project goes while its egress runs; LiveKit reports the end afterwards: the
    minutes are the organization's all the same (nobody is told: no one is left)."""
    alpha, _ = tenants
    record = await _started_egress(client, alpha, lk_settings)
    deleted = await client.delete(f"/v1/projects/{alpha.project_id}", headers=alpha.owner_headers)
    assert deleted.status_code == 204
    ended = record.started_at + timedelta(seconds=150)
    info = lk_egress.EgressInfo(
        egress_id=record.engine_id,
        room_name=rooms.to_livekit(alpha.project_id, "demo"),
        status=lk_egress.EgressStatus.EGRESS_COMPLETE,
        started_at=_ns(record.started_at),
        ended_at=_ns(ended),
    )
    await _post(client, lk.egress_event("egress_ended", info))
    await _drained(client, lk_container)
    hour = ended.replace(minute=0, second=0, microsecond=0)
    window = {"from": iso(hour), "to": iso(hour + timedelta(hours=1)), "granularity": "hour"}
    body = await _get(
        client, f"/v1/organizations/{alpha.org_id}/usage", alpha.owner_headers, **window
    )
    metered = {i["metric"]: i["quantity"] for i in body["items"] if i["metric"] != "api_requests"}
    assert metered == {"egress_minutes": 3}
    # The deleted project is listed with its usage, so the projects add up to the whole.
    [gone] = [p for p in body["projects"] if p["project_id"] == alpha.project_id]
    assert {i["metric"]: i["quantity"] for i in gone["items"]}["egress_minutes"] == 3
    async with offline_container(lk_settings) as offline:
        stored = await offline.adapters.egress_records().get(alpha.project_id, record.id)
        events = await offline.adapters.events().list_page(alpha.project_id, limit=10)
    assert stored is not None and stored.ended
    assert [e.type for e in events if e.type.startswith("egress.")] == []


async def test_an_ingress_deleted_while_publishing_is_metered_once(
    client: Client, tenants: tuple[Tenant, Tenant], lk_container: Container, lk_settings: Settings
) -> None:
    """Deleting an ingress cuts its publisher off; LiveKit reports the end afterwards, when
    the record is gone and the event is dropped. The deletion meters the session, as the
    usage record that event would have made: a session LiveKit already reported is not
    counted again, and the late report adds nothing."""
    alpha, bravo = tenants
    engine = lk_container.adapters.media_engine()
    body = {"room": "stage", "type": "rtmp", "participant_identity": "obs"}
    created = {}
    for name, tenant in (("live", alpha), ("done", alpha), ("idle", bravo)):
        answer = await client.post(
            "/v1/media/ingress/create", json=body, headers=tenant.project_headers
        )
        assert answer.status_code == 201, answer.text
        created[name] = (tenant, answer.json()["id"])
    async with offline_container(lk_settings) as offline:
        records = {
            name: await offline.adapters.ingress_records().get(tenant.project_id, pulse_id)
            for name, (tenant, pulse_id) in created.items()
        }
    now = lk_container.adapters.clock().now()
    livekit_room = rooms.to_livekit(alpha.project_id, "stage")

    def ended_event(name: str, started: datetime, ended: datetime) -> WebhookEvent:
        state = lk_ingress.IngressState(
            status=lk_ingress.IngressState.ENDPOINT_INACTIVE,
            started_at=_ns(started),
            ended_at=_ns(ended),
        )
        info = lk_ingress.IngressInfo(
            ingress_id=records[name].engine_id,
            name=records[name].id,
            room_name=livekit_room,
            state=state,
        )
        return lk.ingress_event("ingress_ended", info)

    # "live" publishes for 61 s (2 minutes) until deleted; "done" published 150 s (3),
    # ended, and LiveKit said so before it was deleted.
    live_start, done_start = now - timedelta(seconds=61), now - timedelta(seconds=170)
    engine.simulate_session(records["live"].engine_id, started_at_ns=_ns(live_start))
    done_end = done_start + timedelta(seconds=150)
    engine.simulate_session(
        records["done"].engine_id, started_at_ns=_ns(done_start), ended_at_ns=_ns(done_end)
    )
    await _post(client, ended_event("done", done_start, done_end))
    await _logged(client, alpha.project_headers, 1)  # ingress.ended
    for tenant, pulse_id in created.values():
        path = f"/v1/media/ingress/{pulse_id}"
        deleted = await client.delete(path, headers=tenant.project_headers)
        assert deleted.status_code == 204, deleted.text
    # LiveKit's report of the cut-off publisher, after the deletion: it meters the
    # session again as the same usage record, and publishes nothing.
    await _post(client, ended_event("live", live_start, now + timedelta(seconds=1)))
    await _drained(client, lk_container)

    window = {
        "from": iso(now - timedelta(days=1)),
        "to": iso(now + timedelta(days=1)),
        "metric": "ingress_minutes",
    }
    ours = await _get(
        client, f"/v1/projects/{alpha.project_id}/usage", alpha.owner_headers, **window
    )
    assert sum(i["quantity"] for i in ours["items"]) == 2 + 3
    theirs = await _get(
        client, f"/v1/projects/{bravo.project_id}/usage", bravo.owner_headers, **window
    )
    assert theirs["items"] == []  # nobody ever published to it
    # Still one logged event: the late report changed nothing.
    await _logged(client, alpha.project_headers, 1)


async def test_an_ingress_deletion_retried_after_a_metering_failure_loses_no_minutes(
    client: Client,
    tenants: tuple[Tenant, Tenant],
    lk_container: Container,
    lk_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The usage store fails as an ingress is deleted mid-session: the deletion answers
    503, but the engine has already cut the publisher off. The client retries at once;
    the engine no longer knows the ingress, so the retry has nothing to meter and deletes
    the record. LiveKit's late report of the session's end then meters it, record or
    not, as the record Pulse made; a report of an ingress Pulse did not make meters
    nothing."""
    alpha, bravo = tenants
    engine = lk_container.adapters.media_engine()
    usage = lk_container.adapters.usage()
    body = {"room": "stage", "type": "rtmp", "participant_identity": "obs"}
    answer = await client.post("/v1/media/ingress/create", json=body, headers=alpha.project_headers)
    assert answer.status_code == 201, answer.text
    pulse_id = answer.json()["id"]
    async with offline_container(lk_settings) as offline:
        record = await offline.adapters.ingress_records().get(alpha.project_id, pulse_id)
    assert record is not None
    now = lk_container.adapters.clock().now()
    started = now - timedelta(seconds=61)
    engine.simulate_session(record.engine_id, started_at_ns=_ns(started))

    async def down(records: object) -> int:
        raise Unavailable("usage store down")

    path = f"/v1/media/ingress/{pulse_id}"
    with monkeypatch.context() as patched:
        patched.setattr(usage, "record", down)
        failed = await client.delete(path, headers=alpha.project_headers)
    assert failed.status_code == 503, failed.text
    assert failed.headers["content-type"].startswith("application/problem+json")
    retried = await client.delete(path, headers=alpha.project_headers)
    assert retried.status_code == 204, retried.text
    listed = await _get(client, "/v1/media/ingress", alpha.project_headers)
    assert [i["id"] for i in listed["items"]] == []

    window = {
        "from": iso(now - timedelta(days=1)),
        "to": iso(now + timedelta(days=1)),
        "metric": "ingress_minutes",
    }

    async def minutes(tenant: Tenant) -> int:
        url = f"/v1/projects/{tenant.project_id}/usage"
        found = await _get(client, url, tenant.owner_headers, **window)
        return sum(i["quantity"] for i in found["items"])

    assert await minutes(alpha) == 0  # so far, the session is unmetered

    def ended(engine_id: str, name: str, project_id: str) -> WebhookEvent:
        state = lk_ingress.IngressState(
            status=lk_ingress.IngressState.ENDPOINT_INACTIVE,
            started_at=_ns(started),
            ended_at=_ns(now + timedelta(seconds=1)),
        )
        info = lk_ingress.IngressInfo(
            ingress_id=engine_id,
            name=name,
            room_name=rooms.to_livekit(project_id, "stage"),
            state=state,
        )
        return lk.ingress_event("ingress_ended", info)

    await _post(
        client,
        ended(record.engine_id, pulse_id, alpha.project_id),
        # Sent again as a new event (not LiveKit's retry of the same id): counted once.
        ended(record.engine_id, pulse_id, alpha.project_id),
        # An ingress someone made on LiveKit directly, into alpha's room.
        ended("IN_direct", "obs-direct", alpha.project_id),
    )
    await _drained(client, lk_container)
    assert await minutes(alpha) == 2
    assert await minutes(bravo) == 0
    # The late report published nothing: the ingress is gone from the project's view.
    events = await _get(client, "/v1/events", alpha.project_headers)
    assert [e["type"] for e in events["items"] if e["type"].startswith("ingress.")] == []


async def test_tokens_and_admitted_requests_are_counted_and_flushed(
    client: Client, tenants: tuple[Tenant, Tenant], lk_container: Container
) -> None:
    alpha, _ = tenants
    for n in range(5):
        minted = await client.post(
            "/v1/tokens/create",
            json={"identity": f"user-{n}", "room": "demo"},
            headers=alpha.project_headers,
        )
        assert minted.status_code == 201, minted.text
    # Admitted, refused by the route: a request, no token.
    bad = await client.post("/v1/tokens/create", json={"room": "x"}, headers=alpha.project_headers)
    assert bad.status_code == 400
    # Not admitted (a wrong secret): not a request of the project's.
    wrong = {**alpha.project_headers, "X-Pulse-Secret": "nope"}
    assert (await client.post("/v1/tokens/create", json={}, headers=wrong)).status_code == 401
    for _ in range(2):
        assert (await client.get("/v1/project", headers=alpha.project_headers)).status_code == 200
    # Admitted, refused for its key's scopes (the token fast path, then Litestar's): two
    # requests that spent the rate limit, so two requests.
    reader = pair(await new_key(client, alpha, ["rooms:read"]))
    denied = await client.post("/v1/tokens/create", json=TOKEN_BODY, headers=reader)
    assert denied.status_code == 403 and denied.json()["code"] == "insufficient_scope"
    assert (await client.get("/v1/usage", headers=reader)).status_code == 403

    counter = lk_container.services.usage_counter()
    clock = lk_container.adapters.clock()
    month = iso(clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0))

    async def managed() -> dict[str, int]:
        # Management reads are not the project's requests: they count nothing.
        path = f"/v1/projects/{alpha.project_id}/usage"
        body = await _get(client, path, alpha.owner_headers, granularity="month")
        assert {i["period_start"] for i in body["items"]} <= {month}, body
        return {i["metric"]: i["quantity"] for i in body["items"]}

    async def flushed(expected: dict[str, int]) -> None:
        client.blocking_portal.call(counter.flush)
        # A scheduled flush may have taken the counts a moment earlier and still be
        # writing them: wait for them, then require exactly them.
        got = await _until(
            managed, lambda got: all(got.get(m, 0) >= n for m, n in expected.items())
        )
        assert got == expected

    await flushed({"tokens_created": 5, "api_requests": 5 + 1 + 2 + 2})
    # The project's own read of its usage (default window: this UTC month) is a request.
    own = await _get(client, "/v1/usage", alpha.project_headers, granularity="month")
    tokens = [i for i in own["items"] if i["metric"] == "tokens_created"]
    assert tokens == [{"metric": "tokens_created", "period_start": month, "quantity": 5}]
    await flushed({"tokens_created": 5, "api_requests": 5 + 1 + 2 + 2 + 1})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"granularity": "week"}, "granularity"),
        ({"metric": "bananas"}, "metric"),
        ({"from": "2026-11-10T00:00:00"}, "from"),
        ({"from": "2026-11-10T00:00:00Z", "to": "2026-11-10T00:00:00+01:00"}, "to"),
        ({"from": "2026-11-10T00:00:00Z", "to": "2026-11-10T00:00:00Z"}, "to"),
        (
            {"from": "2026-01-01T00:00:00Z", "to": "2026-02-02T00:00:00Z", "granularity": "hour"},
            "to",
        ),
        pytest.param({"from": "2026-11-31T00:00:00Z"}, "from"),
        pytest.param({"to": "yesterday"}, "to"),
        # Near the limits of the calendar (the window's end would be after year 9999,
        # or the time in UTC before year 1): a 400, never a 500.
        ({"from": "9999-12-31T00:00:00Z"}, "from"),
        (
            {"from": "9999-12-31T23:00:00Z", "to": "9999-12-31T23:59:59Z", "granularity": "month"},
            "to",
        ),
        ({"from": "9999-12-31T23:00:00Z", "to": "9999-12-31T23:59:59Z"}, "to"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "from"),
        ({"from": "9999-12-01T00:00:00Z", "to": "9999-12-31T23:59:59-14:00"}, "to"),
    ],
)
async def test_bad_usage_queries_are_400_naming_the_field(
    client: Client, tenants: tuple[Tenant, Tenant], params: dict[str, str], field: str
) -> None:
    alpha, _ = tenants
    for path, headers in (
        ("/v1/usage", alpha.project_headers),
        (f"/v1/projects/{alpha.project_id}/usage", alpha.owner_headers),
        (f"/v1/organizations/{alpha.org_id}/usage", alpha.owner_headers),
    ):
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["field"] == field, (path, response.json())
