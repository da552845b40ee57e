"""Rooms and participants through the REST API, on the embedded default: the simulated
room engine, people brought in through its simulator API (``simulate_join``), which is
the container's own engine, so what the API answers is what the engine holds."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from pulse_adapters.livekit import LiveKitMediaEngine, LiveKitRoomEngine
from pulse_adapters.memory import InMemoryRoomEngine
from pulse_core import rooms
from pulse_core.ports.rooms import RoomRequest
from pulse_http.app import create_app
from pulse_http.container import Container
from tests.http.conftest import Tenant, make_tenant
from tests.support.ports import free_port

Client = AsyncTestClient[Any]
ROOM_FIELDS = {
    "name",
    "sid",
    "created_at",
    "num_participants",
    "num_publishers",
    "max_participants",
    "metadata",
    "active_recording",
    "empty_timeout_seconds",
    "departure_timeout_seconds",
}
PARTICIPANT_FIELDS = {
    "identity",
    "sid",
    "name",
    "state",
    "joined_at",
    "metadata",
    "attributes",
    "permission",
    "tracks",
}


def simulator(container: Container) -> InMemoryRoomEngine:
    engine = container.adapters.room_engine()
    assert isinstance(engine, InMemoryRoomEngine)
    return engine


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def create(client: Client, tenant: Tenant, name: str, **settings: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/rooms", json={"name": name, **settings}, headers=tenant.project_headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# -- the customer's story ---------------------------------------------------------------------


async def test_create_list_inspect_moderate_send_and_end_demo(
    client: Client, tenant_a: Tenant, container: Container
) -> None:
    h = tenant_a.project_headers
    room = await create(
        client,
        tenant_a,
        "demo",
        empty_timeout_seconds=600,
        departure_timeout_seconds=30,
        max_participants=10,
        metadata='{"topic": "standup"}',
    )
    assert set(room) == ROOM_FIELDS  # no project id, no LiveKit room name
    assert (room["name"], room["num_participants"], room["active_recording"]) == (
        "demo",
        0,
        False,
    )
    assert (room["empty_timeout_seconds"], room["departure_timeout_seconds"]) == (600, 30)
    assert (room["max_participants"], room["metadata"]) == (10, '{"topic": "standup"}')
    assert room["sid"].startswith("RM_") and room["created_at"].endswith("Z")

    # Creating it again returns it, unchanged: 200, not 201.
    again = await client.post("/v1/rooms", json={"name": "demo", "max_participants": 2}, headers=h)
    assert again.status_code == 200 and again.json() == room

    # People join through LiveKit; here, through the simulator, in the namespaced room.
    engine = simulator(container)
    livekit_room = rooms.to_livekit(tenant_a.project_id, "demo")
    engine.simulate_join(livekit_room, "alice", name="Alice", tracks=["camera", "microphone"])
    engine.simulate_join(livekit_room, "bob", tracks=["microphone"])
    engine.simulate_join(livekit_room, "carol", metadata="viewer")

    listed = (await client.get("/v1/rooms", headers=h)).json()
    assert listed == {"items": [{**room, "num_participants": 3, "num_publishers": 2}],
                      "next_cursor": None}  # fmt: skip
    people = (await client.get("/v1/rooms/demo/participants", headers=h)).json()
    assert [p["identity"] for p in people["items"]] == ["alice", "bob", "carol"]
    assert people["next_cursor"] is None
    alice = people["items"][0]
    assert set(alice) == PARTICIPANT_FIELDS
    assert (alice["name"], alice["state"], alice["metadata"]) == ("Alice", "active", None)
    assert alice["permission"] == {
        "can_publish": True,
        "can_subscribe": True,
        "can_publish_data": True,
        "hidden": False,
    }
    assert [(t["kind"], t["source"], t["muted"]) for t in alice["tracks"]] == [
        ("video", "camera", False),
        ("audio", "microphone", False),
    ]
    assert set(alice["tracks"][0]) == {"sid", "kind", "source", "muted", "name"}
    got = await client.get("/v1/rooms/demo/participants/alice", headers=h)
    assert got.status_code == 200 and got.json() == alice

    # Mute Alice's microphone.
    microphone = alice["tracks"][1]["sid"]
    muted = await client.post(
        "/v1/rooms/demo/participants/alice/mute",
        json={"track_sid": microphone, "muted": True},
        headers=h,
    )
    assert muted.status_code == 200, muted.text
    assert muted.json() == {**alice["tracks"][1], "muted": True}

    # Update Bob: metadata, attributes, one permission.
    updated = await client.patch(
        "/v1/rooms/demo/participants/bob",
        json={
            "metadata": '{"hand": "raised"}',
            "attributes": {"role": "speaker"},
            "permission": {"can_publish": False},
        },
        headers=h,
    )
    assert updated.status_code == 200, updated.text
    bob = updated.json()
    assert (bob["metadata"], bob["attributes"]) == ('{"hand": "raised"}', {"role": "speaker"})
    assert bob["permission"] == {
        "can_publish": False,
        "can_subscribe": True,
        "can_publish_data": True,
        "hidden": False,
    }

    # Remove Carol.
    removed = await client.delete("/v1/rooms/demo/participants/carol", headers=h)
    assert removed.status_code == 204
    gone = await client.get("/v1/rooms/demo/participants/carol", headers=h)
    assert gone.status_code == 404

    # Send data to the room, then to Bob only.
    sent = await client.post("/v1/rooms/demo/data", json={"data": b64(b"hello")}, headers=h)
    assert sent.status_code == 202, sent.text
    assert sent.content == b""
    to_bob = await client.post(
        "/v1/rooms/demo/data",
        json={
            "data": b64(b"\x00\x01"),
            "topic": "chat",
            "destination_identities": ["bob"],
            "reliable": False,
        },
        headers=h,
    )
    assert to_bob.status_code == 202
    assert [(s.room, s.packet.data, s.packet.reliable) for s in engine.sent_data] == [
        (livekit_room, b"hello", True),
        (livekit_room, b"\x00\x01", False),
    ]
    assert engine.sent_data[1].packet.destination_identities == ["bob"]

    # The room's metadata, then the end of the room.
    patched = await client.patch("/v1/rooms/demo", json={"metadata": "done"}, headers=h)
    assert patched.status_code == 200 and patched.json()["metadata"] == "done"
    cleared = await client.patch("/v1/rooms/demo", json={"metadata": ""}, headers=h)
    assert cleared.json()["metadata"] is None
    ended = await client.delete("/v1/rooms/demo", headers=h)
    assert ended.status_code == 204
    assert (await client.get("/v1/rooms/demo", headers=h)).status_code == 404
    assert (await client.get("/v1/rooms", headers=h)).json()["items"] == []
    assert await engine.list_rooms() == []


async def test_a_room_without_settings_has_livekits_defaults(
    client: Client, tenant_a: Tenant
) -> None:
    room = await create(client, tenant_a, "plain")
    assert (room["empty_timeout_seconds"], room["departure_timeout_seconds"]) == (300, 20)
    assert (room["max_participants"], room["metadata"]) == (None, None)


async def test_a_recorded_room_shows_active_recording(client: Client, tenant_a: Tenant) -> None:
    h = tenant_a.project_headers
    await create(client, tenant_a, "demo")
    started = await client.post("/v1/media/egress/start", json={"room": "demo"}, headers=h)
    assert started.status_code == 201
    assert (await client.get("/v1/rooms/demo", headers=h)).json()["active_recording"] is True
    await client.post("/v1/media/egress/stop", json={"egress_id": started.json()["id"]}, headers=h)
    await client.get(f"/v1/media/egress/{started.json()['id']}", headers=h)  # complete
    assert (await client.get("/v1/rooms/demo", headers=h)).json()["active_recording"] is False


async def test_names_with_spaces_and_unicode_round_trip(client: Client, tenant_a: Tenant) -> None:
    h = tenant_a.project_headers
    name = "Salle de réunion #3"
    await create(client, tenant_a, name)
    got = await client.get(f"/v1/rooms/{quote(name, safe='')}", headers=h)
    assert got.status_code == 200 and got.json()["name"] == name
    assert [r["name"] for r in (await client.get("/v1/rooms", headers=h)).json()["items"]] == [name]


async def test_a_path_that_is_not_utf8_names_no_room(client: Client, tenant_a: Tenant) -> None:
    """%FF, %FE and %80 all decode to U+FFFD: were it a valid name, each would reach it."""
    h = tenant_a.project_headers
    made = await client.post("/v1/rooms", json={"name": "\ufffd"}, headers=h)
    assert (made.status_code, made.json()["field"]) == (400, "name"), made.text
    await create(client, tenant_a, "demo")
    for path in ("/v1/rooms/%FF", "/v1/rooms/%80", "/v1/rooms/demo/participants/%FE"):
        response = await client.get(path, headers=h)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["field"] in ("name", "identity")
    minted = await client.post(
        "/v1/tokens/create", json={"identity": "a\ufffd", "room": "demo"}, headers=h
    )
    assert (minted.status_code, minted.json()["field"]) == (400, "identity")


async def test_rooms_and_participants_paginate_by_name(
    client: Client, tenant_a: Tenant, container: Container
) -> None:
    h = tenant_a.project_headers
    for name in ("c", "a", "b"):
        await create(client, tenant_a, name)
    first = (await client.get("/v1/rooms?limit=2", headers=h)).json()
    assert [r["name"] for r in first["items"]] == ["a", "b"]
    second = (
        await client.get(f"/v1/rooms?limit=2&cursor={first['next_cursor']}", headers=h)
    ).json()
    assert [r["name"] for r in second["items"]] == ["c"] and second["next_cursor"] is None

    livekit_room = rooms.to_livekit(tenant_a.project_id, "a")
    for identity in ("zed", "amy", "max"):
        simulator(container).simulate_join(livekit_room, identity)
    page = (await client.get("/v1/rooms/a/participants?limit=1", headers=h)).json()
    seen = [p["identity"] for p in page["items"]]
    while page["next_cursor"]:
        page = (
            await client.get(
                f"/v1/rooms/a/participants?limit=1&cursor={page['next_cursor']}", headers=h
            )
        ).json()
        seen += [p["identity"] for p in page["items"]]
    assert seen == ["amy", "max", "zed"]


# -- tenancy -------------------------------------------------------------------------------------


async def test_two_projects_with_a_room_of_the_same_name_never_meet(
    client: Client, tenant_a: Tenant, tenant_b: Tenant, container: Container
) -> None:
    a, b = tenant_a.project_headers, tenant_b.project_headers
    room_a = await create(client, tenant_a, "demo", metadata="A")
    room_b = await create(client, tenant_b, "demo", metadata="B")
    assert room_a["sid"] != room_b["sid"]  # two LiveKit rooms
    await create(client, tenant_b, "b-only")
    engine = simulator(container)
    engine.simulate_join(rooms.to_livekit(tenant_a.project_id, "demo"), "alice", tracks=["camera"])
    engine.simulate_join(rooms.to_livekit(tenant_b.project_id, "demo"), "bob", tracks=["camera"])
    # A room made on the media server outside Pulse is nobody's.
    await engine.create_room(RoomRequest(name="legacy-room"))

    assert [r["name"] for r in (await client.get("/v1/rooms", headers=a)).json()["items"]] == [
        "demo"
    ]
    assert [r["name"] for r in (await client.get("/v1/rooms", headers=b)).json()["items"]] == [
        "b-only",
        "demo",
    ]
    assert (await client.get("/v1/rooms/demo", headers=a)).json()["metadata"] == "A"
    in_a = (await client.get("/v1/rooms/demo/participants", headers=a)).json()["items"]
    assert [p["identity"] for p in in_a] == ["alice"]

    # B's room and B's participant, named from A, are A's own (absent) ones: 404.
    bob_track = engine.simulate_publish(
        rooms.to_livekit(tenant_b.project_id, "demo"), "bob", "microphone"
    )
    for method, path, body in [
        ("GET", "/v1/rooms/b-only", None),
        ("GET", "/v1/rooms/b-only/participants", None),
        ("PATCH", "/v1/rooms/b-only", {"metadata": "mine now"}),
        ("DELETE", "/v1/rooms/b-only", None),
        ("POST", "/v1/rooms/b-only/data", {"data": b64(b"hi")}),
        ("GET", "/v1/rooms/demo/participants/bob", None),
        ("PATCH", "/v1/rooms/demo/participants/bob", {"metadata": "x"}),
        ("DELETE", "/v1/rooms/demo/participants/bob", None),
        (
            "POST",
            "/v1/rooms/demo/participants/bob/mute",
            {"track_sid": bob_track.sid, "muted": True},
        ),
    ]:
        response = await client.request(method, path, json=body, headers=a)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert tenant_b.project_id not in response.text

    # A ends its "demo"; B's is untouched, Bob still there and unmuted.
    assert (await client.delete("/v1/rooms/demo", headers=a)).status_code == 204
    assert (await client.get("/v1/rooms/demo", headers=b)).json()["metadata"] == "B"
    bob = (await client.get("/v1/rooms/demo/participants/bob", headers=b)).json()
    assert [t["muted"] for t in bob["tracks"]] == [False, False]
    assert (await client.get("/v1/rooms/b-only", headers=b)).status_code == 200
    assert {r.name for r in await engine.list_rooms()} == {
        rooms.to_livekit(tenant_b.project_id, "demo"),
        rooms.to_livekit(tenant_b.project_id, "b-only"),
        "legacy-room",
    }


async def test_missing_rooms_participants_and_tracks_are_404(
    client: Client, tenant_a: Tenant, container: Container
) -> None:
    h = tenant_a.project_headers
    for method, path, body in [
        ("GET", "/v1/rooms/nope", None),
        ("PATCH", "/v1/rooms/nope", {"metadata": "x"}),
        ("DELETE", "/v1/rooms/nope", None),
        ("GET", "/v1/rooms/nope/participants", None),
        ("GET", "/v1/rooms/nope/participants/alice", None),
        ("POST", "/v1/rooms/nope/data", {"data": b64(b"hi")}),
    ]:
        response = await client.request(method, path, json=body, headers=h)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"] == "room 'nope' does not exist" or "alice" in path
    await create(client, tenant_a, "demo")
    simulator(container).simulate_join(rooms.to_livekit(tenant_a.project_id, "demo"), "alice")
    missing_track = await client.post(
        "/v1/rooms/demo/participants/alice/mute",
        json={"track_sid": "TR_nothing", "muted": True},
        headers=h,
    )
    assert missing_track.status_code == 404
    assert "TR_nothing" in missing_track.json()["detail"]
    assert "prj_" not in missing_track.text


# -- bad input -------------------------------------------------------------------------------------

LONG = "x" * 129
BAD = [
    ("POST", "/v1/rooms", {"name": LONG}, "name"),
    ("POST", "/v1/rooms", {"name": "a/b"}, "name"),
    ("POST", "/v1/rooms", {"name": ""}, "name"),
    ("POST", "/v1/rooms", {}, "name"),
    ("POST", "/v1/rooms", {"name": "demo", "colour": "red"}, "colour"),
    ("POST", "/v1/rooms", {"name": "demo", "empty_timeout_seconds": 0}, "empty_timeout_seconds"),
    ("POST", "/v1/rooms", {"name": "demo", "empty_timeout_seconds": "60"}, "empty_timeout_seconds"),
    (
        "POST",
        "/v1/rooms",
        {"name": "demo", "departure_timeout_seconds": 10**6},
        "departure_timeout_seconds",
    ),
    ("POST", "/v1/rooms", {"name": "demo", "max_participants": -1}, "max_participants"),
    ("POST", "/v1/rooms", {"name": "demo", "max_participants": 2**40}, "max_participants"),
    ("POST", "/v1/rooms", {"name": "demo", "metadata": "m" * 64_001}, "metadata"),
    ("GET", f"/v1/rooms/{LONG}", None, "name"),
    ("GET", "/v1/rooms?limit=0", None, "limit"),
    ("GET", "/v1/rooms?cursor=!!nonsense", None, "cursor"),
    ("GET", "/v1/rooms/demo/participants?cursor=Zm9v=", None, "cursor"),
    ("PATCH", "/v1/rooms/demo", {}, "metadata"),
    ("PATCH", "/v1/rooms/demo", {"metadata": "x", "name": "renamed"}, "name"),
    ("GET", f"/v1/rooms/demo/participants/{'i' * 257}", None, "identity"),
    ("PATCH", "/v1/rooms/demo/participants/alice", {"name": ""}, "name"),
    ("PATCH", "/v1/rooms/demo/participants/alice", {"metadata": ""}, "metadata"),
    ("PATCH", "/v1/rooms/demo/participants/alice", {"name": "n" * 257}, "name"),
    ("PATCH", "/v1/rooms/demo/participants/alice", {"metadata": "m" * 16_385}, "metadata"),
    ("PATCH", "/v1/rooms/demo/participants/alice", {"attributes": {"lk.agent": "x"}}, "attributes"),
    ("PATCH", "/v1/rooms/demo/participants/alice", {"attributes": {"k": 1}}, "attributes[...]"),
    (
        "PATCH",
        "/v1/rooms/demo/participants/alice",
        {"permission": {"can_publish": True, "room_admin": True}},
        "permission.room_admin",
    ),
    ("PATCH", "/v1/rooms/demo/participants/alice", {"identity": "bob"}, "identity"),
    ("POST", "/v1/rooms/demo/participants/alice/mute", {"muted": True}, "track_sid"),
    ("POST", "/v1/rooms/demo/participants/alice/mute", {"track_sid": "", "muted": 1}, "muted"),
    (
        "POST",
        "/v1/rooms/demo/participants/alice/mute",
        {"track_sid": "", "muted": True},
        "track_sid",
    ),
    ("POST", "/v1/rooms/demo/data", {}, "data"),
    ("POST", "/v1/rooms/demo/data", {"data": "not base64!"}, "data"),
    ("POST", "/v1/rooms/demo/data", {"data": "aGk"}, "data"),  # padding missing
    ("POST", "/v1/rooms/demo/data", {"data": ""}, "data"),
    ("POST", "/v1/rooms/demo/data", {"data": b64(b"x" * (15 * 1024 + 1))}, "data"),
    ("POST", "/v1/rooms/demo/data", {"data": "aGk=", "kind": "lossy"}, "kind"),
    ("POST", "/v1/rooms/demo/data", {"data": "aGk=", "topic": ""}, "topic"),
    ("POST", "/v1/rooms/demo/data", {"data": "aGk=", "topic": "t" * 257}, "topic"),
    (
        "POST",
        "/v1/rooms/demo/data",
        {"data": "aGk=", "destination_identities": ["ok", ""]},
        "destination_identities[1]",
    ),
    (
        "POST",
        "/v1/rooms/demo/data",
        {"data": "aGk=", "destination_identities": ["i" * 257]},
        "destination_identities[0]",
    ),
    (
        "POST",
        "/v1/rooms/demo/data",
        {"data": "aGk=", "destination_identities": [f"p{i}" for i in range(101)]},
        "destination_identities",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD)
async def test_bad_input_is_400_naming_the_field(
    client: Client, tenant_a: Tenant, container: Container, method: str, path: str, body: Any,
    field: str,
) -> None:  # fmt: skip
    await create(client, tenant_a, "demo")
    simulator(container).simulate_join(rooms.to_livekit(tenant_a.project_id, "demo"), "alice")
    response = await client.request(method, path, json=body, headers=tenant_a.project_headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field, response.json()
    assert simulator(container).sent_data == []
    alice = await client.get("/v1/rooms/demo/participants/alice", headers=tenant_a.project_headers)
    assert alice.json()["name"] is None and alice.json()["attributes"] == {}


async def test_an_empty_participant_patch_changes_nothing(
    client: Client, tenant_a: Tenant, container: Container
) -> None:
    await create(client, tenant_a, "demo")
    simulator(container).simulate_join(
        rooms.to_livekit(tenant_a.project_id, "demo"), "alice", metadata="m"
    )
    response = await client.patch(
        "/v1/rooms/demo/participants/alice", json={}, headers=tenant_a.project_headers
    )
    assert response.status_code == 200 and response.json()["metadata"] == "m"


async def test_room_routes_need_the_project_key_and_secret(
    client: Client, tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    for headers, status in (
        ({}, 401),
        ({"X-Pulse-Key": tenant_a.api_key}, 401),
        (admin_headers, 403),
        (tenant_a.owner_headers, 403),
    ):
        assert (await client.get("/v1/rooms", headers=headers)).status_code == status
        created = await client.post("/v1/rooms", json={"name": "demo"}, headers=headers)
        assert created.status_code == status
    assert (await client.get("/v1/rooms", headers=tenant_a.project_headers)).json()["items"] == []


async def test_room_answers_carry_rate_limit_headers_and_routes_are_in_openapi(
    client: Client, tenant_a: Tenant
) -> None:
    response = await client.get("/v1/rooms", headers=tenant_a.project_headers)
    assert "RateLimit" in response.headers and "X-RateLimit-Remaining" in response.headers
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert {
        "/v1/rooms",
        "/v1/rooms/{name}",
        "/v1/rooms/{name}/participants",
        "/v1/rooms/{name}/participants/{identity}",
        "/v1/rooms/{name}/participants/{identity}/mute",
        "/v1/rooms/{name}/data",
    } <= set(paths)


# -- LiveKit down ----------------------------------------------------------------------------------


@pytest.fixture
async def client_without_livekit(container: Container) -> AsyncIterator[Client]:
    """The app with its room engine on a LiveKit address where nothing listens."""
    media = LiveKitMediaEngine(
        f"http://127.0.0.1:{free_port()}", "APIkey", "x" * 32, timeout_seconds=1.0
    )
    container.adapters.room_engine.override(providers.Object(LiveKitRoomEngine(media)))
    try:
        async with AsyncTestClient(app=create_app(container)) as test_client:
            yield test_client
    finally:
        container.adapters.room_engine.reset_override()
        await media.aclose()


async def test_livekit_down_is_503_problem_json_within_the_timeout(
    client_without_livekit: Client, container: Container, admin_headers: dict[str, str]
) -> None:
    client = client_without_livekit
    tenant = await make_tenant(client, container, admin_headers, "Delta")
    for method, path, body in [
        ("POST", "/v1/rooms", {"name": "demo"}),
        ("GET", "/v1/rooms", None),
        ("GET", "/v1/rooms/demo", None),
        ("PATCH", "/v1/rooms/demo", {"metadata": "x"}),
        ("DELETE", "/v1/rooms/demo", None),
        ("GET", "/v1/rooms/demo/participants", None),
        ("GET", "/v1/rooms/demo/participants/alice", None),
        ("PATCH", "/v1/rooms/demo/participants/alice", {"name": "A"}),
        ("DELETE", "/v1/rooms/demo/participants/alice", None),
        ("POST", "/v1/rooms/demo/participants/alice/mute", {"track_sid": "TR_x", "muted": True}),
        ("POST", "/v1/rooms/demo/data", {"data": b64(b"hi")}),
    ]:
        began = time.monotonic()
        response = await client.request(method, path, json=body, headers=tenant.project_headers)
        assert time.monotonic() - began < 5, (method, path)
        assert response.status_code == 503, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "unavailable"
