"""Egress, ingress and recordings in a real browser, on the simulated media engine (the
live server's default; recordings in the embedded local storage): record a room, stop
it, download the file it wrote; create an ingress and see where to publish; refusals
next to their field.

What a page did is checked on the engine too, and the download is the file's bytes,
fetched from the server's own origin (the fixture fails a test on any other request)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from pulse_adapters.memory.media_engine import PLACEHOLDER
from pulse_core import rooms
from pulse_core.ports.media import EgressInfo, IngressInfo, MediaEngine
from tests.dashboard.conftest import Browsing
from tests.dashboard.test_rooms import open_new_project
from tests.support.live_server import LiveServer


def media_engine(server: LiveServer) -> MediaEngine:
    engine: MediaEngine = server.container.adapters.media_engine()
    return engine


def engine_egress(server: LiveServer) -> list[EgressInfo]:
    return server.run(media_engine(server).list_egress())


def engine_ingress(server: LiveServer, project_id: str, room: str) -> list[IngressInfo]:
    livekit_room = rooms.to_livekit(project_id, room)
    return server.run(media_engine(server).list_ingress(room_name=livekit_room))


def open_media(browsing: Browsing, admin_email: str) -> tuple[Page, str]:
    page, project_id, _ = open_new_project(browsing, admin_email)
    nav = page.get_by_role("navigation", name="Project")
    nav.get_by_role("link", name="Egress, ingress, recordings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Egress")
    return page, project_id


def test_record_a_room_stop_it_and_download_the_recording(
    browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    page, project_id = open_media(browsing, admin_email)
    expect(page.get_by_text("No egress yet.")).to_be_visible()

    page.get_by_label("Room").fill("back/stage")
    page.get_by_role("button", name="Start egress").click()
    room_field = page.locator(".field", has=page.get_by_label("Room"))
    expect(room_field.locator(".field-error")).to_contain_text("room")
    expect(page.get_by_label("Room")).to_have_attribute("aria-invalid", "true")
    assert engine_egress(server) == []

    page.get_by_label("Room").fill("demo")
    page.get_by_role("button", name="Start egress").click()
    expect(page.get_by_role("status")).to_have_text("Started.")
    (info,) = engine_egress(server)
    assert info.room_name == rooms.to_livekit(project_id, "demo")
    row = page.locator("tr[data-egress]")
    expect(row).to_have_count(1)
    egress_id = row.get_attribute("data-egress")
    assert egress_id and egress_id.startswith("eg_")
    expect(row).to_contain_text("demo")
    expect(row).to_contain_text("room composite")
    expect(row).to_contain_text("active")
    # The file it will write, not yet a link: there is nothing to download before the end.
    expect(row).to_contain_text(f"{egress_id}.mp4")
    expect(row.get_by_role("link")).to_have_count(0)

    row.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("status")).to_have_text("Stopped.")
    expect(row).to_contain_text("complete")
    expect(row.get_by_role("button", name="Stop")).to_have_count(0)
    expect(row.get_by_role("link", name=f"{egress_id}.mp4")).to_be_visible()
    (info,) = engine_egress(server)
    assert info.status == "complete"

    page.get_by_role("navigation", name="Media").get_by_role("link", name="Recordings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Recordings")
    recording = page.get_by_role("row").filter(has_text=f"{egress_id}.mp4")
    expect(recording).to_contain_text("demo")
    with page.expect_download() as downloading:
        recording.get_by_role("link", name="Download").click()
    download = downloading.value
    assert download.suggested_filename == f"{egress_id}.mp4"
    # The API's signed URL, on this server's origin (not PUBLIC_URL's localhost:8080).
    assert urlsplit(download.url)[:2] == urlsplit(browsing.base_url)[:2], download.url
    assert urlsplit(download.url).path.startswith("/v1/media/files/")
    assert "signature=" in download.url
    assert Path(download.path()).read_bytes() == PLACEHOLDER

    # Deleted, after a confirmation that names the file: gone from the page and storage.
    recording.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted.")
    expect(page.get_by_text("No recordings yet.")).to_be_visible()
    assert browsing.dialogs[-1] == (
        f"confirm: Delete {egress_id}.mp4? The file is removed for good."
    )
    storage = server.container.adapters.storage()
    assert server.run(storage.list(prefix=f"projects/{project_id}/", limit=10)) == []


def test_create_an_ingress_see_where_to_publish_and_delete_it(
    browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    page, project_id = open_media(browsing, admin_email)
    page.get_by_role("navigation", name="Media").get_by_role("link", name="Ingress").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ingress")
    expect(page.get_by_text("No ingress yet.")).to_be_visible()

    # No identity: refused next to that field, what was typed kept.
    page.get_by_label("Input type").select_option("whip")
    page.get_by_label("Room").fill("stage")
    page.get_by_role("button", name="Create ingress").click()
    identity_field = page.locator(".field", has=page.get_by_label("Participant identity"))
    expect(identity_field.locator(".field-error")).to_contain_text("participant_identity")
    expect(page.get_by_label("Room")).to_have_value("stage")
    expect(page.get_by_label("Input type")).to_have_value("whip")
    assert engine_ingress(server, project_id, "stage") == []

    page.get_by_label("Input type").select_option("rtmp")
    page.get_by_label("Participant identity").fill("obs")
    page.get_by_label("Participant name").fill("OBS")
    page.get_by_role("button", name="Create ingress").click()
    expect(page.get_by_role("status")).to_have_text("Created.")

    (info,) = engine_ingress(server, project_id, "stage")
    assert info.stream_key
    row = page.locator("tr[data-ingress]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("rtmp")
    expect(row).to_contain_text("OBS")
    expect(row.locator(".stream-url")).to_have_text(info.url)
    expect(row.locator(".stream-key")).to_have_text(info.stream_key)
    assert info.url.startswith("rtmp://")

    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted.")
    expect(page.get_by_text("No ingress yet.")).to_be_visible()
    assert engine_ingress(server, project_id, "stage") == []


def test_stream_a_participant_to_rtmp_and_refusals_of_other_kinds(
    browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    page, project_id = open_media(browsing, admin_email)
    # A web recording needs its page: refused next to that field, nothing started.
    page.get_by_label("Kind").select_option("web")
    page.get_by_role("button", name="Start egress").click()
    url_field = page.locator(".field", has=page.get_by_label("Web page URL"))
    expect(url_field.locator(".field-error")).to_be_visible()
    expect(page.get_by_label("Kind")).to_have_value("web")
    assert engine_egress(server) == []

    page.get_by_label("Kind").select_option("participant")
    page.get_by_label("Room").fill("demo")
    page.get_by_label("Participant identity").fill("alice")
    page.get_by_label("Output").select_option("rtmp")
    page.get_by_label("RTMP URL").fill("rtmp://live.example.com/app/secret-stream-key")
    page.get_by_role("button", name="Start egress").click()
    expect(page.get_by_role("status")).to_have_text("Started.")
    (info,) = engine_egress(server)
    assert info.room_name == rooms.to_livekit(project_id, "demo")
    row = page.locator("tr[data-egress]")
    expect(row).to_contain_text("participant")
    # The stream key is the customer's secret: never shown back.
    assert "secret-stream-key" not in page.content()


def test_pull_an_ingress_from_a_url_and_internal_addresses_are_refused(
    browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    page, project_id = open_media(browsing, admin_email)
    page.get_by_role("link", name="Ingress", exact=True).click()
    page.get_by_label("Input type").select_option("url")
    page.get_by_label("Room").fill("stage")
    page.get_by_label("Participant identity").fill("feed")
    # A URL Pulse would have LiveKit fetch from its own network: refused at the field.
    page.get_by_label("Source URL").fill("http://10.0.0.1/live.m3u8")
    page.get_by_role("button", name="Create ingress").click()
    url_field = page.locator(".field", has=page.get_by_label("Source URL"))
    expect(url_field.locator(".field-error")).to_be_visible()
    assert engine_ingress(server, project_id, "stage") == []

    page.get_by_label("Source URL").fill("https://cdn.example.com/live.m3u8")
    page.get_by_role("button", name="Create ingress").click()
    expect(page.get_by_role("status")).to_have_text("Created.")
    (info,) = engine_ingress(server, project_id, "stage")
    assert info.participant_identity == "feed"
