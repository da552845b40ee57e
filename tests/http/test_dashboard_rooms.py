"""Room URLs over HTTP, on both persistence backends: every room name the API accepts
opens its page and takes its forms, ``.`` and ``..`` included.

A browser removes a ``.`` or ``..`` path segment before sending the URL, and so does the
URL standard for ``%2E``, ``.%2E``, ``%2E.`` and ``%2e%2e``: a room URL must hold no such
segment, and the server must read the room's name back from what it holds instead. The
browser test (tests/dashboard/test_rooms.py) opens such a room in chromium."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar.testing import AsyncTestClient

from pulse_adapters.memory import InMemoryRoomEngine
from pulse_core import rooms
from pulse_http.container import Container
from tests.http.conftest import Tenant
from tests.http.test_dashboard_keys import csrf_of, signed_in_as

Client = AsyncTestClient[Any]
#: Names a path would lose or misread: dot segments, and what quote() leaves or escapes.
#: (Not a name holding an escape such as ``%2E``: Litestar's test client decodes a path
#: twice, where a server decodes it once; the browser test opens one.)
AWKWARD = [".", "..", "...", ".hidden", "100%", "a?b#c", "town hall", "é~!*'()"]


def is_dot_segment(segment: str) -> bool:
    """Whether a browser drops ``segment`` (the URL standard's single- and double-dot
    path segments)."""
    return segment.lower() in {".", "%2e", "..", ".%2e", "%2e.", "%2e%2e"}


def links_of(page: str, prefix: str) -> set[str]:
    """Every link and form target of ``page`` that starts with ``prefix``."""
    found = re.findall(r'(?:href|action)="([^"]+)"', page)
    return {html.unescape(u) for u in found if html.unescape(u).startswith(prefix)}


@pytest.mark.parametrize("name", AWKWARD)
async def test_every_room_name_opens_its_page_and_takes_its_forms(
    client: Client, container: Container, tenant_a: Tenant, name: str
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    base = f"/dashboard/projects/{tenant_a.project_id}/rooms"
    listing = await client.get(base)
    created = await client.post(
        base, data={"name": name, "_csrf_token": csrf_of(listing.text)}, follow_redirects=False
    )
    assert created.status_code == 303, created.text[:2000]
    location = created.headers["location"]
    room_path = urlsplit(location).path
    assert room_path.startswith(f"{base}/")
    assert not any(is_dot_segment(s) for s in room_path.split("/")), location

    # The room page is this room's, whose links all lead back to it.
    page = await client.get(location)
    assert page.status_code == 200, page.text[:2000]
    heading = re.search(r"<h1>([^<]*)</h1>", page.text)
    assert heading and html.unescape(heading.group(1)) == name
    engine = container.adapters.room_engine()
    assert isinstance(engine, InMemoryRoomEngine)
    engine.simulate_join(rooms.to_livekit(tenant_a.project_id, name), "alice", name="Alice")
    page = await client.get(room_path)
    targets = links_of(page.text, f"{base}/")
    assert f"{room_path}/metadata" in targets and f"{room_path}/delete" in targets
    assert f"{room_path}/participant?identity=alice" in targets
    for target in targets:
        assert not any(is_dot_segment(s) for s in urlsplit(target).path.split("/")), target

    # The list links to it; its participant's page opens; its forms change it.
    listed = await client.get(base)
    assert room_path in links_of(listed.text, f"{base}/")
    person = await client.get(f"{room_path}/participant", params={"identity": "alice"})
    assert person.status_code == 200, person.text[:2000]
    assert f'href="{html.escape(room_path)}"' in person.text
    token = csrf_of(page.text)
    saved = await client.post(
        f"{room_path}/metadata",
        data={"metadata": "kept", "_csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[:2000]
    assert urlsplit(saved.headers["location"]).path == room_path
    api = await client.get("/v1/rooms", headers=tenant_a.project_headers)
    assert {r["name"]: r["metadata"] for r in api.json()["items"]}[name] == "kept"

    ended = await client.post(
        f"{room_path}/delete", data={"_csrf_token": token}, follow_redirects=False
    )
    assert ended.status_code == 303, ended.text[:2000]
    api = await client.get("/v1/rooms", headers=tenant_a.project_headers)
    assert name not in {r["name"] for r in api.json()["items"]}
