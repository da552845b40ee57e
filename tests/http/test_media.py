"""Media control through the REST API, on the embedded default: the simulated engine
writing into local storage, records in SQLite, downloads through Pulse's own route."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient
from pymongo import MongoClient

from pulse_adapters.clock import ManualClock
from pulse_adapters.livekit import LiveKitMediaEngine
from pulse_adapters.memory.media_engine import PLACEHOLDER
from pulse_core import recordings as recording_names
from pulse_core import rooms
from pulse_core.errors import NotFound
from pulse_core.ports.media import MediaEngine
from pulse_core.ports.storage import DOWNLOAD_PATH
from pulse_http.app import create_app
from pulse_http.container import Container, build_container
from pulse_http.routes.media import download_routes
from pulse_http.settings import Settings
from tests.http.conftest import JWT_SECRET, Tenant, make_tenant
from tests.support.ports import free_port

Client = AsyncTestClient[Any]
EGRESS_FIELDS = {
    "id",
    "room",
    "kind",
    "status",
    "started_at",
    "ended_at",
    "outputs",
    "error",
    "files",
}
STREAM_KEY = "live_0123456789_abcdefghijklmnop"


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def start(
    client: Client, tenant: Tenant, clock: ManualClock | None = None, **body: Any
) -> dict[str, Any]:
    """Start an egress; with ``clock``, a millisecond later than the previous one, so ids
    (which order by millisecond, then at random) order by creation."""
    if clock is not None:
        clock.advance(0.001)
    response = await client.post(
        "/v1/media/egress/start", json=body, headers=tenant.project_headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def finish(client: Client, tenant: Tenant, egress_id: str) -> dict[str, Any]:
    """Stop an egress and read it back (the read that sees it complete)."""
    h = tenant.project_headers
    stopped = await client.post("/v1/media/egress/stop", json={"egress_id": egress_id}, headers=h)
    assert stopped.status_code == 200, stopped.text
    got = await client.get(f"/v1/media/egress/{egress_id}", headers=h)
    assert got.status_code == 200, got.text
    result: dict[str, Any] = got.json()
    return result


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


# -- the customer's story ---------------------------------------------------------------------


async def test_record_demo_list_stop_and_download(
    client: Client, tenant_a: Tenant, container: Container, clock: ManualClock
) -> None:
    h = tenant_a.project_headers
    egress = await start(client, tenant_a, room="demo", kind="room_composite")

    assert set(egress) == EGRESS_FIELDS  # no project id, engine id or LiveKit room name
    assert egress["id"].startswith("eg_")
    assert (egress["room"], egress["kind"], egress["status"]) == (
        "demo",
        "room_composite",
        "starting",
    )
    assert egress["ended_at"] is None and egress["error"] is None
    (output,) = egress["outputs"]
    assert output["type"] == "file" and output["filepath"] == f"{egress['id']}.mp4"
    recording_id = output["recording_id"]
    # LiveKit sees the namespaced room, the caller its own name.
    engine: MediaEngine = container.adapters.media_engine()
    (info,) = await engine.list_egress()
    assert info.room_name == rooms.to_livekit(tenant_a.project_id, "demo")

    listed = (await client.get("/v1/media/egress", headers=h)).json()
    assert [e["id"] for e in listed["items"]] == [egress["id"]]
    assert listed["items"][0]["status"] == "active" and listed["next_cursor"] is None
    in_room = (await client.get("/v1/media/egress?room=demo", headers=h)).json()
    assert [e["id"] for e in in_room["items"]] == [egress["id"]]
    assert (await client.get("/v1/media/egress?room=other", headers=h)).json()["items"] == []

    stopped = await client.post(
        "/v1/media/egress/stop", json={"egress_id": egress["id"]}, headers=h
    )
    assert stopped.status_code == 200 and stopped.json()["status"] == "ending"
    done = (await client.get(f"/v1/media/egress/{egress['id']}", headers=h)).json()
    assert done["status"] == "complete" and done["ended_at"] is not None
    again = await client.post("/v1/media/egress/stop", json={"egress_id": egress["id"]}, headers=h)
    assert again.status_code == 200 and again.json()["status"] == "complete"  # idempotent

    recordings = (await client.get("/v1/media/recordings", headers=h)).json()
    assert recordings["next_cursor"] is None
    (recording,) = recordings["items"]
    assert recording["id"] == recording_id
    assert (recording["room"], recording["path"]) == ("demo", output["filepath"])
    assert recording["size"] == len(PLACEHOLDER)
    assert [
        r["id"]
        for r in (await client.get("/v1/media/recordings?room=demo", headers=h)).json()["items"]
    ] == [recording_id]
    assert (await client.get("/v1/media/recordings?room=other", headers=h)).json()["items"] == []

    link = await client.get(f"/v1/media/recordings/{recording_id}/url", headers=h)
    assert link.status_code == 200, link.text
    url = link.json()["url"]
    assert when(link.json()["expires_at"]) == clock.now() + timedelta(seconds=3600)
    assert url.startswith("http://localhost:8080/v1/media/files/")

    download = await client.get(path_of(url))  # no credentials: the URL is the credential
    assert download.status_code == 200
    assert download.content == PLACEHOLDER
    assert download.headers["content-type"] == "video/mp4"
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"

    tampered = await client.get(path_of(url)[:-4] + "0000")
    assert tampered.status_code == 403
    assert tampered.headers["content-type"].startswith("application/problem+json")
    assert tampered.json()["code"] == "download_url_invalid"
    unsigned = await client.get(urlsplit(url).path)
    assert unsigned.status_code == 403
    clock.advance(3601)
    expired = await client.get(path_of(url))
    assert expired.status_code == 403 and expired.json()["code"] == "download_url_expired"

    short = await client.get(f"/v1/media/recordings/{recording_id}/url?expires_in=60", headers=h)
    assert when(short.json()["expires_at"]) == clock.now().replace(microsecond=0) + timedelta(
        seconds=60
    )


async def test_hls_and_custom_file_paths_land_under_the_room(
    client: Client, tenant_a: Tenant
) -> None:
    h = tenant_a.project_headers
    hls = await start(
        client,
        tenant_a,
        room="stage",
        output={"type": "hls", "path": "live/show", "segment_duration": 4},
    )
    (output,) = hls["outputs"]
    assert output == {
        "type": "hls",
        "playlist": "live/show/index.m3u8",
        "recording_id": output["recording_id"],
        "segment_duration": 4,
    }
    named = await start(
        client,
        tenant_a,
        room="stage",
        audio_only=True,
        output={"type": "file", "filepath": "talks/keynote"},
    )
    assert named["outputs"][0]["filepath"] == "talks/keynote.ogg"  # extension added
    for egress in (hls, named):
        assert (await finish(client, tenant_a, egress["id"]))["status"] == "complete"

    items = (await client.get("/v1/media/recordings?room=stage", headers=h)).json()["items"]
    assert sorted(r["path"] for r in items) == [
        "live/show/index.m3u8",
        "live/show/segment_00000.ts",
        "talks/keynote.ogg",
    ]
    playlist = next(r for r in items if r["path"].endswith(".m3u8"))
    assert playlist["id"] == output["recording_id"]
    link = (await client.get(f"/v1/media/recordings/{playlist['id']}/url", headers=h)).json()
    body = (await client.get(path_of(link["url"]))).text
    assert "#EXTM3U" in body and "segment_00000.ts" in body


async def test_rtmp_stream_keys_are_never_echoed_or_stored(
    client: Client, tenant_a: Tenant, container: Container
) -> None:
    url = f"rtmp://a.rtmp.youtube.com/live2/{STREAM_KEY}"
    egress = await start(
        client,
        tenant_a,
        room="demo",
        output={"type": "rtmp", "urls": [url, "rtmps://x.example.com/app/k"]},
    )
    assert egress["outputs"] == [
        {
            "type": "rtmp",
            "urls": ["rtmp://a.rtmp.youtube.com/live2/***mnop", "rtmps://x.example.com/app/***"],
        }
    ]
    listed = await client.get("/v1/media/egress", headers=tenant_a.project_headers)
    assert STREAM_KEY not in listed.text
    # Nor stored: look at the database itself (the app's clients live on its own loop).
    settings = container.settings()
    if settings.persistence == "sqlite":
        path = settings.resolved_sqlite_path
        stored = b"".join(
            p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
        )
        assert egress["id"].encode() in stored
    else:
        client_ = MongoClient(settings.mongo_uri)
        try:
            stored = repr(list(client_[settings.mongo_db_name]["media_egress"].find())).encode()
        finally:
            client_.close()
        assert egress["id"].encode() in stored
    assert STREAM_KEY.encode() not in stored


async def test_every_kind_starts(client: Client, tenant_a: Tenant, clock: ManualClock) -> None:
    bodies = [
        {
            "room": "demo",
            "kind": "track_composite",
            "audio_track_id": "TR_a",
            "video_track_id": "TR_v",
        },
        {"room": "demo", "kind": "track", "track_id": "TR_v"},
        {"room": "demo", "kind": "participant", "participant_identity": "alice"},
        {"kind": "web", "url": "https://example.com/show", "video_only": True},
    ]
    for body in bodies:
        egress = await start(client, tenant_a, clock, **body)
        assert egress["kind"] == body["kind"] and egress["status"] == "starting"
    web = egress
    assert web["room"] is None
    assert web["outputs"][0]["filepath"] == f"{web['id']}.mp4"
    track = (
        await client.get("/v1/media/egress?room=demo", headers=tenant_a.project_headers)
    ).json()
    assert [e["kind"] for e in track["items"]] == ["track_composite", "track", "participant"]
    assert track["items"][1]["outputs"][0]["filepath"].endswith(".webm")


async def test_lists_paginate(client: Client, tenant_a: Tenant, clock: ManualClock) -> None:
    h = tenant_a.project_headers
    made = [(await start(client, tenant_a, clock, room=f"r{i}"))["id"] for i in range(3)]
    first = (await client.get("/v1/media/egress?limit=2", headers=h)).json()
    assert [e["id"] for e in first["items"]] == made[:2] and first["next_cursor"] == made[1]
    rest = (
        await client.get(f"/v1/media/egress?limit=2&cursor={first['next_cursor']}", headers=h)
    ).json()
    assert [e["id"] for e in rest["items"]] == made[2:] and rest["next_cursor"] is None

    for egress_id in made:
        await finish(client, tenant_a, egress_id)
    page = (await client.get("/v1/media/recordings?limit=2", headers=h)).json()
    assert len(page["items"]) == 2 and page["next_cursor"] == page["items"][1]["id"]
    tail = (
        await client.get(f"/v1/media/recordings?limit=2&cursor={page['next_cursor']}", headers=h)
    ).json()
    assert len(tail["items"]) == 1 and tail["next_cursor"] is None
    rooms_seen = [r["room"] for r in page["items"] + tail["items"]]
    assert rooms_seen == ["r0", "r1", "r2"]


async def test_rtmp_ingress_create_read_and_delete(
    client: Client, tenant_a: Tenant, clock: ManualClock
) -> None:
    h = tenant_a.project_headers
    created = await client.post(
        "/v1/media/ingress/create",
        json={
            "room": "stage",
            "type": "rtmp",
            "participant_identity": "obs",
            "participant_name": "OBS",
        },
        headers=h,
    )
    assert created.status_code == 201, created.text
    ingress = created.json()
    assert ingress["id"].startswith("ig_")
    assert (ingress["type"], ingress["room"], ingress["status"]) == ("rtmp", "stage", "inactive")
    assert ingress["url"].startswith("rtmp://") and len(ingress["stream_key"]) >= 8
    assert (ingress["participant_identity"], ingress["participant_name"]) == ("obs", "OBS")
    assert "livekit_room" not in ingress and "project_id" not in ingress

    clock.advance(0.001)
    whip = await client.post(
        "/v1/media/ingress/create",
        json={"room": "other", "type": "whip", "participant_identity": "browser"},
        headers=h,
    )
    clock.advance(0.001)
    pull = await client.post(
        "/v1/media/ingress/create",
        json={
            "room": "other",
            "type": "url",
            "participant_identity": "cdn",
            "url": "https://cdn.example.com/a.m3u8",
        },
        headers=h,
    )
    assert whip.status_code == 201 and whip.json()["stream_key"]
    assert pull.status_code == 201 and pull.json()["stream_key"] is None
    assert pull.json()["url"] == "https://cdn.example.com/a.m3u8"

    listed = (await client.get("/v1/media/ingress", headers=h)).json()
    assert [i["id"] for i in listed["items"]] == [
        ingress["id"],
        whip.json()["id"],
        pull.json()["id"],
    ]
    assert listed["items"][0]["stream_key"] == ingress["stream_key"]
    stage = (await client.get("/v1/media/ingress?room=stage", headers=h)).json()
    assert [i["id"] for i in stage["items"]] == [ingress["id"]]

    deleted = await client.delete(f"/v1/media/ingress/{ingress['id']}", headers=h)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get("/v1/media/ingress?room=stage", headers=h)).json()["items"] == []
    gone = await client.delete(f"/v1/media/ingress/{ingress['id']}", headers=h)
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


async def test_a_recording_is_never_overwritten_by_a_later_egress(
    client: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """A second egress to a file that exists would replace the recording without a word,
    and links handed out for it would serve the new one: refused until it is deleted."""
    h = tenant_a.project_headers
    first = await start(client, tenant_a, room="demo", output={"type": "file", "filepath": "a.mp4"})
    await finish(client, tenant_a, first["id"])
    recording = first["outputs"][0]["recording_id"]
    for output, field in (
        ({"type": "file", "filepath": "a.mp4"}, "output.filepath"),
        ({"type": "file", "filepath": "a"}, "output.filepath"),  # .mp4 is added
    ):
        again = await client.post(
            "/v1/media/egress/start", json={"room": "demo", "output": output}, headers=h
        )
        assert again.status_code == 409, again.text
        assert again.json()["field"] == field
    hls = await start(client, tenant_a, room="demo", output={"type": "hls", "path": "live"})
    await finish(client, tenant_a, hls["id"])
    again = await client.post(
        "/v1/media/egress/start",
        json={"room": "demo", "output": {"type": "hls", "path": "live"}},
        headers=h,
    )
    assert (again.status_code, again.json()["field"]) == (409, "output.path")
    # Another room, or another project, has its own a.mp4.
    await start(client, tenant_a, room="other", output={"type": "file", "filepath": "a.mp4"})
    await start(client, tenant_b, room="demo", output={"type": "file", "filepath": "a.mp4"})
    deleted = await client.delete(f"/v1/media/recordings/{recording}", headers=h)
    assert deleted.status_code == 204
    await start(client, tenant_a, room="demo", output={"type": "file", "filepath": "a.mp4"})


# -- a deleted project's media ------------------------------------------------------------------


async def _engine_state(client: Client, container: Container, tenant: Tenant) -> dict[str, str]:
    """Each of the tenant's rooms, egresses and ingresses as the engines have them now."""

    async def read() -> dict[str, str]:
        engine = container.adapters.media_engine()
        states = {}
        prefix = rooms.project_prefix(tenant.project_id)
        for room in await container.adapters.room_engine().list_rooms(prefix=prefix):
            states[room.name] = "open"
        for egress in await container.adapters.egress_records().list_page(
            tenant.project_id, room=None, after=None, limit=50
        ):
            states[egress.id] = (await engine.get_egress(egress.engine_id)).status
        for ingress in await container.adapters.ingress_records().list_page(
            tenant.project_id, room=None, after=None, limit=50
        ):
            try:
                await engine.get_ingress(ingress.engine_id)
                states[ingress.id] = "exists"
            except NotFound:
                states[ingress.id] = "deleted"
        return states

    return client.blocking_portal.call(read)


async def _media(client: Client, tenant: Tenant) -> None:
    await start(client, tenant, room="demo", output={"type": "file", "filepath": "a.mp4"})
    made = await client.post(
        "/v1/media/ingress/create",
        json={"room": "stage", "type": "rtmp", "participant_identity": "obs"},
        headers=tenant.project_headers,
    )
    assert made.status_code == 201, made.text
    room = await client.post("/v1/rooms", json={"name": "lobby"}, headers=tenant.project_headers)
    assert room.status_code == 201, room.text


async def _until_ended(client: Client, container: Container, tenant: Tenant) -> dict[str, str]:
    for _ in range(600):  # a generous 30 s: the in-process worker runs the job
        states = await _engine_state(client, container, tenant)
        if all(state in {"ending", "complete", "deleted"} for state in states.values()):
            return states
        await asyncio.sleep(0.05)
    raise AssertionError(f"still running: {states}")


async def test_deleting_a_project_or_its_organization_ends_the_rooms_and_media_it_left(
    client: Client, container: Container, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    await _media(client, tenant_a)
    await _media(client, tenant_b)
    running = {"active", "exists", "open"}
    assert set((await _engine_state(client, container, tenant_a)).values()) == running
    deleted = await client.delete(
        f"/v1/projects/{tenant_a.project_id}", headers=tenant_a.owner_headers
    )
    assert deleted.status_code == 204
    assert set((await _until_ended(client, container, tenant_a)).values()) <= {
        "ending",
        "complete",
        "deleted",
    }
    # The other tenant's media runs on until its own organization goes.
    assert set((await _engine_state(client, container, tenant_b)).values()) == running
    gone = await client.delete(
        f"/v1/organizations/{tenant_b.org_id}", headers=tenant_b.owner_headers
    )
    assert gone.status_code == 204, gone.text
    await _until_ended(client, container, tenant_b)


# -- two tenants -------------------------------------------------------------------------------


async def test_projects_cannot_see_or_touch_each_others_media(
    client: Client, tenant_a: Tenant, tenant_b: Tenant, container: Container, clock: ManualClock
) -> None:
    a, b = tenant_a.project_headers, tenant_b.project_headers
    a_egress = await start(client, tenant_a, clock, room="demo")
    a_recorded = await start(client, tenant_a, clock, room="demo")
    await finish(client, tenant_a, a_recorded["id"])
    a_recording = a_recorded["outputs"][0]["recording_id"]
    a_ingress = (
        await client.post(
            "/v1/media/ingress/create",
            json={"room": "demo", "type": "rtmp", "participant_identity": "obs"},
            headers=a,
        )
    ).json()
    # B has a room "demo" too: a different LiveKit room, and its own objects.
    b_egress = await start(client, tenant_b, room="demo")

    for method, path, body in [
        ("GET", f"/v1/media/egress/{a_egress['id']}", None),
        ("POST", "/v1/media/egress/stop", {"egress_id": a_egress["id"]}),
        ("DELETE", f"/v1/media/ingress/{a_ingress['id']}", None),
        ("GET", f"/v1/media/recordings/{a_recording}/url", None),
    ]:
        response = await client.request(method, path, json=body, headers=b)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "not_found"

    b_lists = {
        path: [item["id"] for item in (await client.get(path, headers=b)).json()["items"]]
        for path in (
            "/v1/media/egress",
            "/v1/media/egress?room=demo",
            "/v1/media/ingress",
            "/v1/media/ingress?room=demo",
            "/v1/media/recordings",
            "/v1/media/recordings?room=demo",
        )
    }
    assert b_lists == {
        "/v1/media/egress": [b_egress["id"]],
        "/v1/media/egress?room=demo": [b_egress["id"]],
        "/v1/media/ingress": [],
        "/v1/media/ingress?room=demo": [],
        "/v1/media/recordings": [],
        "/v1/media/recordings?room=demo": [],
    }
    a_egress_ids = [
        e["id"] for e in (await client.get("/v1/media/egress", headers=a)).json()["items"]
    ]
    assert a_egress_ids == [a_egress["id"], a_recorded["id"]]

    # Nothing of A changed: its egress still runs, its ingress and recording are there.
    assert (await client.get(f"/v1/media/egress/{a_egress['id']}", headers=a)).json()[
        "status"
    ] == "active"
    assert (await client.get("/v1/media/ingress", headers=a)).json()["items"][0]["id"] == a_ingress[
        "id"
    ]
    assert (
        await client.get(f"/v1/media/recordings/{a_recording}/url", headers=a)
    ).status_code == 200
    engine: MediaEngine = container.adapters.media_engine()
    rooms_in_livekit = {e.room_name for e in await engine.list_egress()}
    assert rooms_in_livekit == {
        rooms.to_livekit(tenant_a.project_id, "demo"),
        rooms.to_livekit(tenant_b.project_id, "demo"),
    }


async def test_forged_recording_ids_find_nothing(
    client: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    import base64

    recorded = await start(client, tenant_b, room="demo")
    await finish(client, tenant_b, recorded["id"])

    def forged(path: str) -> str:
        return "rec_" + base64.urlsafe_b64encode(path.encode()).rstrip(b"=").decode()

    b_key = f"../../{tenant_b.project_id}/recordings/rooms/demo/{recorded['id']}.mp4"
    for recording_id in (
        forged(b_key),
        forged(f"projects/{tenant_b.project_id}/recordings/rooms/demo/{recorded['id']}.mp4"),
        forged("/etc/passwd"),
        "rec_!!!",
        "rec_",
        "nothing",
        forged(f"rooms/demo/{recorded['id']}.mp4") + "=",
    ):
        response = await client.get(
            f"/v1/media/recordings/{recording_id}/url", headers=tenant_a.project_headers
        )
        assert response.status_code == 404, (recording_id, response.text)
        deleted = await client.delete(
            f"/v1/media/recordings/{recording_id}", headers=tenant_a.project_headers
        )
        assert deleted.status_code == 404, (recording_id, deleted.text)
    # B's file is still there.
    (kept,) = (await client.get("/v1/media/recordings", headers=tenant_b.project_headers)).json()[
        "items"
    ]
    assert kept["path"] == f"{recorded['id']}.mp4"


async def test_a_deleted_recording_is_gone_for_good_and_in_the_audit_log(
    client: Client, tenant_a: Tenant, tenant_b: Tenant, clock: ManualClock
) -> None:
    a, b = tenant_a.project_headers, tenant_b.project_headers
    first = await finish(
        client, tenant_a, (await start(client, tenant_a, clock, room="demo"))["id"]
    )
    second = await finish(
        client, tenant_a, (await start(client, tenant_a, clock, room="demo"))["id"]
    )
    theirs = await finish(client, tenant_b, (await start(client, tenant_b, room="demo"))["id"])
    gone, kept = (e["outputs"][0]["recording_id"] for e in (first, second))
    their_recording = theirs["outputs"][0]["recording_id"]
    link = (await client.get(f"/v1/media/recordings/{gone}/url", headers=a)).json()["url"]
    assert (await client.get(path_of(link))).status_code == 200

    # Another project's key finds nothing to delete, even with its own room "demo".
    refused = await client.delete(f"/v1/media/recordings/{gone}", headers=b)
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"

    deleted = await client.delete(f"/v1/media/recordings/{gone}", headers=a)
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    listed = (await client.get("/v1/media/recordings", headers=a)).json()["items"]
    assert [r["id"] for r in listed] == [kept]
    assert (await client.get(f"/v1/media/recordings/{gone}/url", headers=a)).status_code == 404
    # The link handed out before is dead: the file is gone, not only unlisted.
    dead = await client.get(path_of(link))
    assert dead.status_code == 404, dead.text
    again = await client.delete(f"/v1/media/recordings/{gone}", headers=a)
    assert again.status_code == 404 and again.json()["code"] == "not_found"
    # The egress keeps its history: it still names the file it wrote.
    egress = (await client.get(f"/v1/media/egress/{first['id']}", headers=a)).json()
    assert egress["outputs"][0]["recording_id"] == gone
    # The other project's recording is untouched.
    (their,) = (await client.get("/v1/media/recordings", headers=b)).json()["items"]
    assert their["id"] == their_recording

    # Who deleted what is in the organization's audit log, once; not in the other's.
    log = await client.get(
        f"/v1/organizations/{tenant_a.org_id}/audit-log",
        params={"action": "recording.deleted"},
        headers=tenant_a.owner_headers,
    )
    assert log.status_code == 200, log.text
    (record,) = log.json()["items"]
    assert (record["resource_type"], record["resource_id"]) == ("recording", gone)
    assert record["actor"]["type"] == "key" and record["org_id"] == tenant_a.org_id
    other = await client.get(
        f"/v1/organizations/{tenant_b.org_id}/audit-log",
        params={"action": "recording.deleted"},
        headers=tenant_b.owner_headers,
    )
    assert other.json()["items"] == []


# -- bad input ---------------------------------------------------------------------------------

BAD_EGRESS = [
    ({"room": "demo", "kind": "movie"}, "kind"),
    ({}, "room"),
    ({"kind": "room_composite", "output": {"type": "file"}}, "room"),
    ({"room": "a/b"}, "room"),
    (
        {"room": "demo", "output": {"type": "rtmp", "urls": ["http://live.example.com/app/k"]}},
        "output.urls[0]",
    ),
    (
        {"room": "demo", "output": {"type": "rtmp", "urls": ["javascript:alert(1)"]}},
        "output.urls[0]",
    ),
    (
        {
            "room": "demo",
            "output": {"type": "rtmp", "urls": ["rtmp://ok.example.com/a/k", "ftp://x/y"]},
        },
        "output.urls[1]",
    ),
    ({"room": "demo", "output": {"type": "rtmp", "urls": []}}, "output.urls"),
    ({"room": "demo", "output": {"type": "dvd"}}, "output.type"),
    (
        {"room": "demo", "output": {"type": "file", "filepath": "x" * 10_000 + ".mp4"}},
        "output.filepath",
    ),
    ({"room": "demo", "output": {"type": "file", "filepath": "../escape.mp4"}}, "output.filepath"),
    ({"room": "demo", "output": {"type": "file", "filepath": "a/../../b.mp4"}}, "output.filepath"),
    (
        {"room": "demo", "output": {"type": "file", "filepath": "/etc/cron.d/x.mp4"}},
        "output.filepath",
    ),
    ({"room": "demo", "output": {"type": "file", "filepath": "page.html"}}, "output.filepath"),
    (
        {"room": "demo", "output": {"type": "file", "filepath": "{room_name}.mp4"}},
        "output.filepath",
    ),
    ({"room": "demo", "output": {"type": "hls", "path": "../up"}}, "output.path"),
    ({"room": "demo", "output": {"type": "hls", "segment_duration": 0}}, "output.segment_duration"),
    ({"room": "demo", "colour": "red"}, "colour"),
    ({"room": "demo", "output": {"type": "file", "bucket": "theirs"}}, "output.bucket"),
    ({"room": 7}, "room"),
    ({"kind": "web", "room": "demo", "url": "https://example.com"}, "room"),
    ({"kind": "web"}, "url"),
    ({"kind": "web", "url": "javascript:alert(1)"}, "url"),
    ({"kind": "participant", "room": "demo"}, "participant_identity"),
    ({"kind": "track", "room": "demo", "track_id": "TR_x", "layout": "grid"}, "layout"),
    (
        {"kind": "track", "room": "demo", "track_id": "TR_x", "output": {"type": "hls"}},
        "output.type",
    ),
    ({"room": "demo", "audio_only": True, "video_only": True}, "video_only"),
]


@pytest.mark.parametrize(("body", "field"), BAD_EGRESS)
async def test_bad_egress_requests_are_400_naming_the_field(
    client: Client, tenant_a: Tenant, container: Container, body: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/v1/media/egress/start", json=body, headers=tenant_a.project_headers
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field, response.json()
    engine: MediaEngine = container.adapters.media_engine()
    assert await engine.list_egress() == []  # nothing was started


TOO_LONG_ONCE_PREFIXED = recording_names.recording_id("r/" + "a" * 1020)
BAD_OTHERS = [
    (
        "POST",
        "/v1/media/ingress/create",
        {"room": "demo", "type": "srt", "participant_identity": "x"},
        "type",
    ),
    ("POST", "/v1/media/ingress/create", {"room": "demo", "type": "rtmp"}, "participant_identity"),
    (
        "POST",
        "/v1/media/ingress/create",
        {"room": "demo", "type": "url", "participant_identity": "x"},
        "url",
    ),
    (
        "POST",
        "/v1/media/ingress/create",
        {"room": "demo", "type": "url", "participant_identity": "x", "url": "ftp://h/a"},
        "url",
    ),
    (
        "POST",
        "/v1/media/ingress/create",
        {"room": "demo", "type": "rtmp", "participant_identity": "x", "url": "rtmp://h/a"},
        "url",
    ),
    (
        "POST",
        "/v1/media/ingress/create",
        {"room": "", "type": "rtmp", "participant_identity": "x"},
        "room",
    ),
    (
        "POST",
        "/v1/media/ingress/create",
        {"room": "demo", "type": "rtmp", "participant_identity": "x", "extra": 1},
        "extra",
    ),
    ("POST", "/v1/media/egress/stop", {}, "egress_id"),
    ("POST", "/v1/media/egress/stop", {"egress_id": 5}, "egress_id"),
    ("POST", "/v1/media/egress/stop", {"egress_id": ""}, "egress_id"),
    ("GET", "/v1/media/egress?limit=0", None, "limit"),
    ("GET", "/v1/media/egress?cursor=nonsense", None, "cursor"),
    ("GET", "/v1/media/egress?room=a%2Fb", None, "room"),
    ("GET", "/v1/media/ingress?limit=500", None, "limit"),
    ("GET", "/v1/media/recordings?cursor=rec_!!", None, "cursor"),
    # A valid recording id whose key, once under the project's prefix, is too long.
    ("GET", f"/v1/media/recordings?cursor={TOO_LONG_ONCE_PREFIXED}", None, "cursor"),
    ("GET", "/v1/media/recordings/rec_cm9vbXMvZGVtby94Lm1wNA/url?expires_in=0", None, "expires_in"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD_OTHERS)
async def test_bad_ingress_stop_and_list_requests_are_400_naming_the_field(
    client: Client, tenant_a: Tenant, method: str, path: str, body: Any, field: str
) -> None:
    response = await client.request(method, path, json=body, headers=tenant_a.project_headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field, response.json()


async def test_media_routes_need_the_project_key_and_secret(
    client: Client, tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    for headers in ({}, {"X-Pulse-Key": tenant_a.api_key}, admin_headers):
        response = await client.post(
            "/v1/media/egress/start", json={"room": "demo"}, headers=headers
        )
        assert response.status_code in (401, 403), response.text
        listed = await client.get("/v1/media/recordings", headers=headers)
        assert listed.status_code in (401, 403)


# -- the engine down ---------------------------------------------------------------------------


@pytest.fixture
async def client_without_engine(container: Container) -> AsyncIterator[Client]:
    """The app with LiveKit configured at an address where nothing listens."""
    engine = LiveKitMediaEngine(
        f"http://127.0.0.1:{free_port()}", "APIkey", "x" * 32, timeout_seconds=1.0
    )
    container.adapters.media_engine.override(providers.Object(engine))
    async with AsyncTestClient(app=create_app(container)) as test_client:
        yield test_client
    container.adapters.media_engine.reset_override()


async def test_engine_down_is_503_problem_json_quickly(
    client_without_engine: Client, container: Container, admin_headers: dict[str, str]
) -> None:
    client = client_without_engine
    tenant = await make_tenant(client, container, admin_headers, "Delta")
    h = tenant.project_headers
    for path, body in [
        ("/v1/media/egress/start", {"room": "demo"}),
        ("/v1/media/ingress/create", {"room": "demo", "type": "rtmp", "participant_identity": "x"}),
    ]:
        began = time.monotonic()
        response = await client.post(path, json=body, headers=h)
        assert time.monotonic() - began < 5
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "unavailable"
    # Nothing was recorded for what never started, and the rest of the API still works.
    assert (await client.get("/v1/media/egress", headers=h)).json()["items"] == []
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["media"] == "degraded"


async def test_a_media_engine_that_never_answers_leaves_the_replica_ready(
    container: Container,
) -> None:
    """Slower than the readiness check (not refusing): still "degraded", not "down"."""
    with socket.socket() as blackhole:  # connections complete, nothing ever answers
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        url = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        engine = LiveKitMediaEngine(url, "APIkey", "x" * 32, timeout_seconds=60.0)
        container.adapters.media_engine.override(providers.Object(engine))
        try:
            async with AsyncTestClient(app=create_app(container)) as client:
                ready = await client.get("/health/ready")
        finally:
            container.adapters.media_engine.reset_override()
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["media"] == "degraded"


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        environment="test",
        data_dir=str(tmp_path / "data"),
        jwt_secret=JWT_SECRET,
        api_key_pepper="test-pepper",
        **overrides,
    )


def test_download_route_is_mounted_only_for_storage_pulse_serves(tmp_path: Path) -> None:
    local = build_container(_settings(tmp_path))
    served = local.adapters.signed_downloads()
    assert served is not None and served is local.adapters.storage()
    (router,) = download_routes(served)
    assert [route.path for route in router.routes] == [DOWNLOAD_PATH + "{key:path}"]

    bucket = build_container(
        _settings(tmp_path, s3_bucket="b", s3_access_key_id="k", s3_secret_access_key="s")
    )
    assert bucket.adapters.signed_downloads() is None  # a bucket serves its own URLs
    assert download_routes(None) == []


#: HKDF-SHA256 (RFC 5869) of JWT_SECRET, empty salt, info "pulse local-storage download
#: URLs v1", 32 bytes; pinned (and checked against the cryptography package's HKDF when
#: pinned) because a different key voids every download link already handed out.
PINNED_DOWNLOAD_KEY = "f5db872ed0bb6bc33edebbce3311bb1c5515fb96b310db856adcc0c04bba79d0"


async def test_local_download_links_are_signed_with_the_key_derived_from_jwt_secret(
    tmp_path: Path,
) -> None:
    storage = build_container(_settings(tmp_path)).adapters.storage()
    await storage.put("a/b.mp4", b"x")
    url = urlsplit(await storage.presigned_url("a/b.mp4", expires_in=60))
    query = parse_qs(url.query)
    expires, signature = query["expires"][0], query["signature"][0]
    message = f"pulse-media-download\na/b.mp4\n{expires}".encode()
    expected = hmac.new(bytes.fromhex(PINNED_DOWNLOAD_KEY), message, hashlib.sha256)
    assert signature == expected.hexdigest()


async def test_the_dashboard_deletes_a_recording_for_an_owner_not_a_member(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    from tests.http.test_dashboard_keys import csrf_of, signed_in_as

    h = tenant_a.project_headers
    recorded = await finish(client, tenant_a, (await start(client, tenant_a, room="demo"))["id"])
    rec = recorded["outputs"][0]["recording_id"]
    page_url = f"/dashboard/projects/{tenant_a.project_id}/media/recordings"
    delete_url = f"{page_url}/{rec}/delete"

    signed_in_as(client, container, "member", tenant_a.org_id)
    page = await client.get(page_url)
    assert page.status_code == 200 and f"{recorded['id']}.mp4" in page.text
    assert delete_url not in page.text and ">Delete<" not in page.text
    refused = await client.post(delete_url, data={"_csrf_token": csrf_of(page.text)})
    assert refused.status_code == 403
    assert [
        r["id"] for r in (await client.get("/v1/media/recordings", headers=h)).json()["items"]
    ] == [rec]

    signed_in_as(client, container, "owner", tenant_a.org_id)
    page = await client.get(page_url)
    assert delete_url in page.text
    deleted = await client.post(
        delete_url, data={"_csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert deleted.status_code == 303, deleted.text
    assert deleted.headers["location"] == f"{page_url}?notice=deleted"
    assert (await client.get("/v1/media/recordings", headers=h)).json()["items"] == []
    log = await client.get(
        f"/v1/organizations/{tenant_a.org_id}/audit-log",
        params={"action": "recording.deleted"},
        headers=tenant_a.owner_headers,
    )
    (record,) = log.json()["items"]
    assert (record["actor"]["type"], record["actor"]["id"]) == ("token", "owner-1")  # the session's
    assert record["resource_id"] == rec
