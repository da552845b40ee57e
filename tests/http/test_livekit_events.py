"""What LiveKit's events change: egress and ingress records take their final state from
the webhook (no polling), a finished file egress becomes a recording.ready event, and
events of other projects' egresses or of unknown rooms change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress

from pulse_adapters.clock import ManualClock
from pulse_core import rooms
from pulse_core.ports.rooms import RoomRequest
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_container, make_tenant, offline_container
from tests.support import livekit_webhooks as lk

Client = AsyncTestClient[Any]


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


async def _engine_ids(
    settings: Settings, project_id: str, egress_id: str, ingress_id: str
) -> tuple[str, str]:
    """The media server's ids of Pulse's records."""
    async with offline_container(settings) as offline:
        egress = await offline.adapters.egress_records().get(project_id, egress_id)
        ingress = await offline.adapters.ingress_records().get(project_id, ingress_id)
    return egress.engine_id, ingress.engine_id


async def _ingress_status(settings: Settings, project_id: str, ingress_id: str) -> str:
    async with offline_container(settings) as offline:
        record = await offline.adapters.ingress_records().get(project_id, ingress_id)
    return str(record.status)


async def _post(client: Client, event: Any) -> None:
    body, headers = lk.signed(event)
    response = await client.post("/v1/livekit/webhook", content=body, headers=headers)
    assert response.status_code == 200, response.text


def _completed(
    engine_id: str, project_id: str, filename: str, size: int, ended: datetime
) -> lk_egress.EgressInfo:
    """A minute's egress of room "demo" that wrote one file, as LiveKit reports its end."""
    ended_ns = int(ended.timestamp() * 1e9)
    return lk_egress.EgressInfo(
        egress_id=engine_id,
        room_name=rooms.to_livekit(project_id, "demo"),
        status=lk_egress.EgressStatus.EGRESS_COMPLETE,
        started_at=ended_ns - 60 * 10**9,
        ended_at=ended_ns,
        file_results=[
            lk_egress.FileInfo(
                filename=f"projects/{project_id}/recordings/rooms/demo/{filename}",
                size=size,
                duration=60 * 10**9,
            )
        ],
    )


async def _until(client: Client, path: str, headers: dict[str, str], check: Any) -> Any:
    for _ in range(600):
        body = (await client.get(path, headers=headers)).json()
        if check(body):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never became what was expected: {body}")


async def test_egress_and_ingress_take_their_state_from_livekits_events(
    client: Client, tenants: tuple[Tenant, Tenant], lk_settings: Settings
) -> None:
    alpha, bravo = tenants
    started = await client.post(
        "/v1/media/egress/start",
        json={"room": "demo", "output": {"type": "file", "filepath": "talk.mp4"}},
        headers=alpha.project_headers,
    )
    assert started.status_code == 201, started.text
    egress = started.json()
    ingress = (
        await client.post(
            "/v1/media/ingress/create",
            json={"room": "demo", "type": "rtmp", "participant_identity": "obs"},
            headers=alpha.project_headers,
        )
    ).json()
    engine_egress, engine_ingress = await _engine_ids(
        lk_settings, alpha.project_id, egress["id"], ingress["id"]
    )
    livekit_room = rooms.to_livekit(alpha.project_id, "demo")
    info = _completed(engine_egress, alpha.project_id, "talk.mp4", 123456, datetime.now(tz=UTC))
    ended = lk.egress_event("egress_ended", info)
    await _post(client, ended)
    await _post(client, ended)  # a retry of LiveKit's: nothing more happens

    # Wait on the event log, not on the egress: reading the egress asks the engine (the
    # simulated one, which does not know about this end) while it is still running.
    events = await _until(
        client,
        "/v1/events",
        alpha.project_headers,
        lambda body: len(body["items"]) >= 2,
    )
    done = (
        await client.get(f"/v1/media/egress/{egress['id']}", headers=alpha.project_headers)
    ).json()
    assert done["status"] == "complete", done
    assert done["ended_at"] and done["files"] == [
        {
            "path": "talk.mp4",
            "recording_id": egress["outputs"][0]["recording_id"],
            "size": 123456,
            "duration_seconds": 60.0,
        }
    ]
    by_type = {e["type"]: e for e in events["items"]}
    assert set(by_type) == {"egress.ended", "recording.ready"}
    assert by_type["egress.ended"]["data"]["egress_id"] == egress["id"]
    ready = by_type["recording.ready"]["data"]
    assert ready["recording_id"] == egress["outputs"][0]["recording_id"] and ready["room"] == "demo"
    assert engine_egress not in str(events) and livekit_room not in str(events)

    publishing = lk_ingress.IngressInfo(
        ingress_id=engine_ingress,
        room_name=livekit_room,
        state=lk_ingress.IngressState(status=lk_ingress.IngressState.ENDPOINT_PUBLISHING),
    )
    await _post(client, lk.ingress_event("ingress_started", publishing))
    events = await _until(
        client, "/v1/events", alpha.project_headers, lambda body: len(body["items"]) >= 3
    )
    # (LiveKit stamps events to the second: within one, the log's order is arbitrary.)
    [started_event] = [e for e in events["items"] if e["type"] == "ingress.started"]
    assert started_event["data"]["ingress_id"] == ingress["id"]
    # The record took the state (reads refresh from the engine, here the simulated one,
    # so the stored record is looked at directly).
    assert await _ingress_status(lk_settings, alpha.project_id, ingress["id"]) == "publishing"

    # Bravo heard nothing, and an event naming Bravo's room with Alpha's egress id is
    # still Alpha's egress: the record decides the owner, not the room in the event.
    assert (await client.get("/v1/events", headers=bravo.project_headers)).json()["items"] == []


async def test_events_of_unknown_rooms_and_deleted_projects_are_acknowledged_and_dropped(
    client: Client, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, bravo = tenants
    await _post(client, lk.room_event("room_started", "not-a-pulse-room"))
    await _post(client, lk.egress_event("egress_ended", lk_egress.EgressInfo(egress_id="EG_x")))
    deleted = await client.delete(f"/v1/projects/{bravo.project_id}", headers=bravo.owner_headers)
    assert deleted.status_code == 204
    await _post(client, lk.room_event("room_started", rooms.to_livekit(bravo.project_id, "demo")))
    await _post(client, lk.room_event("room_started", rooms.to_livekit(alpha.project_id, "demo")))
    events = await _until(
        client, "/v1/events", alpha.project_headers, lambda body: len(body["items"]) == 1
    )
    assert events["items"][0]["type"] == "room.started"


async def test_a_deleted_projects_room_is_ended_and_ended_again_when_a_token_reopens_it(
    client: Client, tenants: tuple[Tenant, Tenant], lk_container: Container
) -> None:
    alpha, bravo = tenants
    engine = lk_container.adapters.room_engine()
    bravo_room, alpha_room = (rooms.to_livekit(t.project_id, "demo") for t in (bravo, alpha))

    def is_open(name: str) -> bool:
        async def look() -> bool:
            return bool(await engine.list_rooms(prefix=name))

        return client.blocking_portal.call(look)

    async def until_ended(name: str) -> None:
        for _ in range(600):  # a generous 30 s: the in-process worker runs the jobs
            if not is_open(name):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{name} is still open")

    for tenant in (alpha, bravo):
        made = await client.post("/v1/rooms", json={"name": "demo"}, headers=tenant.project_headers)
        assert made.status_code == 201, made.text
    deleted = await client.delete(f"/v1/projects/{bravo.project_id}", headers=bravo.owner_headers)
    assert deleted.status_code == 204
    await until_ended(bravo_room)  # the deletion's teardown job; it has run now

    # A token minted before the deletion is still good on LiveKit, and a join with it
    # opens the room again: LiveKit reports the join, and the room is ended again.
    def reopen(name: str) -> None:
        async def create() -> None:
            await engine.create_room(RoomRequest(name=name))

        client.blocking_portal.call(create)

    reopen(bravo_room)
    reopen("not-a-pulse-room")
    await _post(client, lk.participant_event("participant_joined", bravo_room, "mallory"))
    await _post(client, lk.room_event("room_started", "not-a-pulse-room"))
    await _post(client, lk.participant_event("participant_joined", alpha_room, "alice"))
    await until_ended(bravo_room)
    # The live project's room, and a room Pulse did not name, are left alone.
    await _until(
        client,
        "/v1/events",
        alpha.project_headers,
        lambda body: [e["type"] for e in body["items"]] == ["participant.joined"],
    )
    assert is_open(alpha_room) and is_open("not-a-pulse-room")


async def test_files_reported_after_a_read_ended_the_egress_are_kept_told_and_metered(
    client: Client, tenants: tuple[Tenant, Tenant], lk_settings: Settings
) -> None:
    """Stop, then read: the read asks the engine, which reports the end with no files
    and ends the record; LiveKit's report of the end, arriving after, brings them."""
    alpha, _ = tenants
    h = alpha.project_headers
    started = await client.post(
        "/v1/media/egress/start",
        json={"room": "demo", "output": {"type": "file", "filepath": "late.mp4"}},
        headers=h,
    )
    assert started.status_code == 201, started.text
    egress = started.json()
    stopped = await client.post(
        "/v1/media/egress/stop", json={"egress_id": egress["id"]}, headers=h
    )
    assert stopped.status_code == 200, stopped.text
    read = await _until(
        client, f"/v1/media/egress/{egress['id']}", h, lambda body: body["ended_at"] is not None
    )
    assert read["files"] == []
    async with offline_container(lk_settings) as offline:
        record = await offline.adapters.egress_records().get(alpha.project_id, egress["id"])
    now = datetime.now(tz=UTC)
    info = _completed(record.engine_id, alpha.project_id, "late.mp4", 4321, now)
    await _post(client, lk.egress_event("egress_ended", info))
    events = await _until(
        client,
        "/v1/events",
        h,
        lambda body: "recording.ready" in {e["type"] for e in body["items"]},
    )
    ready = next(e for e in events["items"] if e["type"] == "recording.ready")
    assert ready["data"]["recording_id"] == egress["outputs"][0]["recording_id"]
    done = (await client.get(f"/v1/media/egress/{egress['id']}", headers=h)).json()
    assert [(f["path"], f["size"]) for f in done["files"]] == [("late.mp4", 4321)]
    window = (
        f"?from={(now - timedelta(days=1)).isoformat()}&to={(now + timedelta(days=1)).isoformat()}"
        "&metric=recording_bytes"
    ).replace("+", "%2B")
    usage = (await client.get(f"/v1/usage{window}", headers=h)).json()
    assert sum(item["quantity"] for item in usage["items"]) == 4321, usage
