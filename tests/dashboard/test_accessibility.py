"""Every dashboard page, filled with demo data, is usable without a mouse and by a
screen reader: each form control has a label, each button a name, each page one main
heading; and signing in works from the keyboard alone."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.dashboard import screenshots
from tests.dashboard.conftest import PASSWORD, Browsing
from tests.support.live_server import LiveServer
from tests.support.webhook_receiver import WebhookReceiver

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
    .map(e => e.outerHTML)"""
NAMELESS_BUTTONS = """() => [...document.querySelectorAll('button')]
    .filter(b => !b.textContent.trim() && !b.getAttribute('aria-label'))
    .map(b => b.outerHTML)"""


def test_every_page_labels_its_controls_and_names_its_buttons(
    browser: Browser, server: LiveServer, webhook_receiver: WebhookReceiver
) -> None:
    ids = screenshots.demo_data(server, webhook_receiver)
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{server.base_url}/dashboard/sign-in")
        page.get_by_label("Email").fill(screenshots.ADMIN)
        page.get_by_label("Password").fill(screenshots.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/dashboard/organizations")
        for name, path in screenshots.PAGES:
            response = page.goto(f"{server.base_url}{path.format(**ids)}")
            assert response is not None and response.status == 200, name
            assert page.evaluate(UNLABELLED) == [], name
            assert page.evaluate(NAMELESS_BUTTONS) == [], name
            expect(page.locator("h1")).to_have_count(1)
            assert page.locator("html").get_attribute("lang") == "en"
    finally:
        context.close()


def test_signing_in_from_the_keyboard_alone(browsing: Browsing, admin_email: str) -> None:
    page = browsing.open("/dashboard/sign-in")
    # The first Tab reaches the skip link; following it lands in the page's content, and
    # the next Tab in the form's first field.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(admin_email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Organizations")
