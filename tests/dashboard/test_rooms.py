"""Live rooms in a real browser, on the simulated room engine (the live server's default):
create a room, see who joined and what they publish, mute a track, remove a participant,
end the room; refusals next to their field; a member sees and cannot change.

People join through the simulator (``simulate_join``) in the server's own event loop;
what the page did is checked on the engine too, not only on the page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, expect

from pulse_adapters.memory.room_engine import InMemoryRoomEngine
from pulse_core import rooms
from pulse_core.models.rooms import Participant, TrackSource
from pulse_core.ports.rooms import RoomInfo
from tests.dashboard.conftest import Browsing
from tests.dashboard.test_projects import create_organization
from tests.dashboard.test_users import accept, create_project, csrf_token, invite
from tests.support.live_server import LiveServer


def engine_of(server: LiveServer) -> InMemoryRoomEngine:
    engine = server.container.adapters.room_engine()
    assert isinstance(engine, InMemoryRoomEngine)
    return engine


def project_id_of(path: str) -> str:
    match = re.fullmatch(r"/dashboard/projects/([^/]+)", path)
    assert match, path
    return match.group(1)


def open_new_project(browsing: Browsing, admin_email: str) -> tuple[Page, str, str]:
    """Signed in as an admin, a new organization and project; the page, the project's id
    and its organization's id."""
    browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    return browsing.page, project_id_of(create_project(browsing, org_id)), org_id


def join(
    server: LiveServer,
    project_id: str,
    room: str,
    identity: str,
    *,
    name: str | None = None,
    tracks: tuple[TrackSource, ...] = (),
) -> None:
    """``identity`` joins the project's ``room`` on the simulated engine (in the server's
    event loop: the engine is the app's)."""
    engine = engine_of(server)
    livekit_room = rooms.to_livekit(project_id, room)

    async def joining() -> None:
        engine.simulate_join(livekit_room, identity, name=name, tracks=tracks)

    server.run(joining())


def in_engine(server: LiveServer, project_id: str, room: str) -> list[Participant]:
    engine = engine_of(server)
    return server.run(engine.list_participants(rooms.to_livekit(project_id, room)))


def engine_rooms(server: LiveServer, project_id: str) -> list[RoomInfo]:
    engine = engine_of(server)
    return server.run(engine.list_rooms(prefix=rooms.project_prefix(project_id)))


def person(page: Page, identity: str) -> Locator:
    return page.locator(f"tr[data-identity='{identity}']")


def test_create_a_room_see_participants_mute_remove_and_end_it(
    browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    page, project_id, _ = open_new_project(browsing, admin_email)
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Rooms").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Live rooms")
    expect(page.get_by_text("No live rooms.")).to_be_visible()

    page.get_by_label("Room name").fill("town hall")
    page.get_by_label("Max participants").fill("10")
    page.get_by_role("button", name="Create room").click()
    expect(page.get_by_role("status")).to_have_text("Created.")
    expect(page.get_by_role("heading", level=1)).to_have_text("town hall")
    expect(page.get_by_text("Nobody is in this room.")).to_be_visible()
    assert urlsplit(page.url).path == f"/dashboard/projects/{project_id}/rooms/town%20hall"
    (info,) = engine_rooms(server, project_id)
    assert info.max_participants == 10

    join(server, project_id, "town hall", "alice", name="Alice", tracks=("camera", "microphone"))
    join(server, project_id, "town hall", "bob", tracks=("microphone",))
    page.reload()
    alice, bob = person(page, "alice"), person(page, "bob")
    expect(alice).to_contain_text("Alice")
    expect(alice).to_contain_text("active")
    expect(alice).to_contain_text("video · camera")
    expect(alice).to_contain_text("audio · microphone")
    expect(bob).to_contain_text("audio · microphone")
    expect(bob).not_to_contain_text("camera")
    expect(page.locator("dl.room-facts")).to_contain_text("2 of 10")

    # Mute Alice's microphone: shown muted, and muted on the engine.
    alice.get_by_role("button", name="Mute microphone").click()
    expect(page.get_by_role("status")).to_have_text("Muted.")
    expect(alice.get_by_role("button", name="Unmute microphone")).to_be_visible()
    expect(alice.get_by_role("button", name="Mute camera")).to_be_visible()
    muted = {
        t.source: t.muted for p in in_engine(server, project_id, "town hall") for t in p.tracks
        if p.identity == "alice"
    }  # fmt: skip
    assert muted == {"camera": False, "microphone": True}

    # Remove Bob: gone from the page and from the room.
    bob.get_by_role("button", name="Remove bob").click()
    expect(page.get_by_role("status")).to_have_text("Removed.")
    expect(bob).to_have_count(0)
    expect(alice).to_have_count(1)
    assert [p.identity for p in in_engine(server, project_id, "town hall")] == ["alice"]

    page.get_by_role("link", name="← Live rooms").click()
    listed = page.get_by_role("row").filter(has=page.get_by_role("link", name="town hall"))
    expect(listed).to_contain_text("1 of 10")

    # End it: no room left, on the page or on the engine.
    listed.get_by_role("link", name="town hall").click()
    page.get_by_role("button", name="End room").click()
    expect(page.get_by_role("status")).to_have_text("Ended.")
    expect(page.get_by_text("No live rooms.")).to_be_visible()
    assert engine_rooms(server, project_id) == []
    assert any("End town hall?" in d for d in browsing.dialogs)  # it asked first


def test_refusals_are_shown_next_to_their_field(
    browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    page, project_id, _ = open_new_project(browsing, admin_email)
    browsing.open(f"/dashboard/projects/{project_id}/rooms")

    page.get_by_label("Room name").fill("back/stage")
    page.get_by_role("button", name="Create room").click()
    name_field = page.locator(".field", has=page.get_by_label("Room name"))
    expect(name_field.locator(".field-error")).to_contain_text("name")
    expect(page.get_by_label("Room name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Room name")).to_have_value("back/stage")

    # Above the plan's per-room cap (pro: 1,000): the quota, next to its field.
    page.get_by_label("Room name").fill("stage")
    page.get_by_label("Max participants").fill("5000")
    page.get_by_role("button", name="Create room").click()
    cap_field = page.locator(".field", has=page.get_by_label("Max participants"))
    expect(cap_field.locator(".field-error")).to_contain_text("1000")
    expect(page.get_by_label("Room name")).not_to_have_attribute("aria-invalid", "true")
    assert engine_rooms(server, project_id) == []

    # Creating a room that exists shows it unchanged.
    join(server, project_id, "stage", "carol")
    page.get_by_label("Max participants").fill("3")
    page.get_by_role("button", name="Create room").click()
    expect(page.get_by_role("status")).to_have_text("It already exists: nothing changed.")
    expect(person(page, "carol")).to_be_visible()
    (info,) = engine_rooms(server, project_id)
    assert info.max_participants != 3


def test_a_member_sees_the_room_and_cannot_change_it(
    browsing: Browsing, second_browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    _, project_id, org_id = open_new_project(browsing, admin_email)
    join(server, project_id, "demo", "alice", tracks=("microphone",))
    token = invite(browsing, org_id, "max@acme.test")
    member = accept(second_browsing, token, "max@acme.test")

    second_browsing.open(f"/dashboard/projects/{project_id}/rooms")
    expect(member.get_by_role("link", name="demo")).to_be_visible()
    expect(member.get_by_role("button", name="Create room")).to_have_count(0)
    member.get_by_role("link", name="demo").click()
    expect(person(member, "alice")).to_contain_text("audio · microphone")
    expect(member.get_by_role("button")).to_have_text(["Sign out"])  # no other button

    # A forged post with a valid CSRF token: the service refuses, alice stays.
    answer = member.request.post(
        f"{second_browsing.base_url}/dashboard/projects/{project_id}/rooms/demo/remove",
        form={"_csrf_token": csrf_token(member), "identity": "alice"},
        max_redirects=0,
    )
    assert answer.status == 403, answer.status
    assert [p.identity for p in in_engine(server, project_id, "demo")] == ["alice"]


def test_room_metadata_a_message_and_a_participants_permissions(
    browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    page, project_id, _ = open_new_project(browsing, admin_email)
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Rooms").click()
    page.get_by_label("Room name").fill("studio")
    page.get_by_role("button", name="Create room").click()
    # The room's page, before anyone joins: a click does not wait for its answer, and a
    # reload sent before it would reload the list page instead.
    expect(page.get_by_role("heading", level=1)).to_have_text("studio")
    join(server, project_id, "studio", "alice", name="Alice", tracks=("camera",))
    join(server, project_id, "studio", "bob")
    page.reload()

    page.get_by_label("Room metadata").fill('{"topic": "launch"}')
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_label("Room metadata")).to_have_value('{"topic": "launch"}')
    (info,) = engine_rooms(server, project_id)
    assert info.metadata == '{"topic": "launch"}'

    page.get_by_label("Message").fill("héllo")
    page.get_by_label("Topic").fill("chat")
    page.get_by_label("To", exact=True).fill("bob")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("status")).to_have_text("Sent.")
    (sent,) = engine_of(server).sent_data
    assert sent.room == rooms.to_livekit(project_id, "studio")
    assert (sent.packet.data, sent.packet.topic) == ("héllo".encode(), "chat")
    assert list(sent.packet.destination_identities) == ["bob"]
    # An empty message is refused next to its field; nothing more is sent.
    page.get_by_role("button", name="Send message").click()
    expect(
        page.locator(".field", has=page.get_by_label("Message")).locator(".field-error")
    ).to_be_visible()
    assert len(engine_of(server).sent_data) == 1

    person(page, "alice").get_by_role("link", name="alice").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("alice")
    page.get_by_label("Can publish", exact=True).select_option("false")
    page.get_by_label("Display name").fill("Alice B.")
    page.get_by_role("button", name="Save participant").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    (alice,) = [p for p in in_engine(server, project_id, "studio") if p.identity == "alice"]
    assert (alice.name, alice.permission.can_publish) == ("Alice B.", False)
    assert alice.permission.can_subscribe  # left as it was

    # Attributes: merged into hers; "key=" removes one; a line that is not key=value is
    # refused next to the field, with what was typed kept.
    # (Each save is awaited by what it changes on the page: "Saved." is there already.)
    page.get_by_label("Attributes to change").fill("team = blue\n\nrole=host")
    page.get_by_role("button", name="Save participant").click()
    expect(page.get_by_text("role=host")).to_be_visible()
    (alice,) = [p for p in in_engine(server, project_id, "studio") if p.identity == "alice"]
    assert alice.attributes == {"team": "blue", "role": "host"}
    page.get_by_label("Attributes to change").fill("role=")
    page.get_by_role("button", name="Save participant").click()
    expect(page.get_by_text("role=host")).to_have_count(0)
    expect(page.get_by_role("status")).to_have_text("Saved.")
    (alice,) = [p for p in in_engine(server, project_id, "studio") if p.identity == "alice"]
    assert alice.attributes == {"team": "blue"}
    page.get_by_label("Attributes to change").fill("team=red\nnonsense")
    page.get_by_role("button", name="Save participant").click()
    attributes = page.locator(".field", has=page.get_by_label("Attributes to change"))
    expect(attributes.locator(".field-error")).to_have_text("line 2 is not key=value")
    expect(page.get_by_label("Attributes to change")).to_have_value("team=red\nnonsense")
    (alice,) = [p for p in in_engine(server, project_id, "studio") if p.identity == "alice"]
    assert alice.attributes == {"team": "blue"}  # nothing applied


def test_rooms_named_with_dots_or_escapes_open_and_end(
    browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    """A browser drops a ``.`` or ``..`` segment from a URL (and ``%2E``), so such a
    room's links must hold none, and still name it; ``%2E%2E`` is a name of its own."""
    page, project_id, _ = open_new_project(browsing, admin_email)
    rooms_url = f"/dashboard/projects/{project_id}/rooms"
    for name in ("..", ".", "%2E%2E"):
        browsing.open(rooms_url)
        page.get_by_label("Room name").fill(name)
        page.get_by_role("button", name="Create room").click()
        expect(page.get_by_role("status")).to_have_text("Created.")
        expect(page.get_by_role("heading", level=1)).to_have_text(name)

        join(server, project_id, name, "alice", name="Alice")
        browsing.open(rooms_url)
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        person(page, "alice").get_by_role("link", name="alice").click()
        expect(page.get_by_role("link", name=f"← {name}")).to_be_visible()
        page.get_by_role("link", name=f"← {name}").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(name)

        page.get_by_role("button", name="End room").click()
        expect(page.get_by_role("status")).to_have_text("Ended.")
    assert engine_rooms(server, project_id) == []
