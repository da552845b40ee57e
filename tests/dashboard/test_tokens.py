"""Minting a LiveKit access token from the dashboard, in a real browser."""

from __future__ import annotations

import jwt
from playwright.sync_api import expect

from pulse_core import rooms
from tests.dashboard.conftest import Browsing
from tests.dashboard.test_rooms import open_new_project
from tests.support.live_server import LiveServer


def test_mint_a_token_once_and_refusals_at_their_field(
    browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    page, project_id, _ = open_new_project(browsing, admin_email)
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Tokens").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Access tokens")

    page.get_by_label("Identity").fill("host")
    page.get_by_label("Room").fill("back/stage")
    page.get_by_role("button", name="Mint token").click()
    expect(
        page.locator(".field", has=page.get_by_label("Room")).locator(".field-error")
    ).to_be_visible()
    expect(page.locator("#access-token")).to_have_count(0)

    page.get_by_label("Room").fill("stage")
    page.get_by_label("Lifetime (seconds)").fill("600")
    page.get_by_role("button", name="Mint token").click()
    token = page.locator("#access-token").inner_text()
    settings = server.container.settings()
    claims = jwt.decode(token, settings.livekit_api_secret, algorithms=["HS256"])
    assert claims["sub"] == "host"
    assert claims["video"]["room"] == rooms.to_livekit(project_id, "stage")
    assert claims["exp"] - claims["nbf"] <= 600 + 1
    expect(page.locator("#livekit-url")).to_have_text(settings.livekit_client_url)

    page.reload()
    expect(page.locator("#access-token")).to_have_count(0)
    assert token not in page.content()
