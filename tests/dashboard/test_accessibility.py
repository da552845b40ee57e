"""Every dashboard page, filled with demo data, is usable without a mouse and by a
screen reader: each form control has a label, each button a name, each page one main
heading; signing in works from the keyboard alone; and on a phone's 390 px nothing
but a wide table's own box scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from playwright.sync_api import Browser, Page, expect

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


#: What overflows the window sideways: the page itself, or an element wider than it that
#: does not scroll on its own (a table in a scrolling wrapper is fine).
OVERFLOWING = """() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll('main *, header *, nav *')].filter(e => {
        const box = e.getBoundingClientRect();
        if (box.width === 0 || box.right <= width + 1) return false;
        for (let up = e.parentElement; up; up = up.parentElement) {
            const x = getComputedStyle(up).overflowX;
            if ((x === 'auto' || x === 'scroll') && up.clientWidth <= width) return false;
        }
        return true;
    });
    return {page: document.documentElement.scrollWidth - width,
            wide: wide.slice(0, 3).map(e => e.outerHTML.slice(0, 120))};
}"""


def _every_page(
    browser: Browser, server: LiveServer, receiver: WebhookReceiver, **context: Any
) -> Iterator[tuple[str, Page]]:
    """Each page of :data:`screenshots.PAGES`, demo data in it, signed in as an admin."""
    ids = screenshots.demo_data(server, receiver)
    browsing = browser.new_context(**context)
    page = browsing.new_page()
    try:
        page.goto(f"{server.base_url}/dashboard/sign-in")
        page.get_by_label("Email").fill(screenshots.ADMIN)
        page.get_by_label("Password").fill(screenshots.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/dashboard/organizations")
        for name, path in screenshots.PAGES:
            response = page.goto(f"{server.base_url}{path.format(**ids)}")
            assert response is not None and response.status == 200, name
            yield name, page
    finally:
        browsing.close()


def test_every_page_labels_its_controls_and_names_its_buttons(
    browser: Browser, server: LiveServer, webhook_receiver: WebhookReceiver
) -> None:
    for name, page in _every_page(browser, server, webhook_receiver):
        assert page.evaluate(UNLABELLED) == [], name
        assert page.evaluate(NAMELESS_BUTTONS) == [], name
        expect(page.locator("h1")).to_have_count(1)
        assert page.locator("html").get_attribute("lang") == "en"


def test_every_page_fits_a_phone_without_scrolling_sideways(
    browser: Browser, server: LiveServer, webhook_receiver: WebhookReceiver
) -> None:
    phone = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3}
    overflowing = {}
    for name, page in _every_page(browser, server, webhook_receiver, **phone):
        found = page.evaluate(OVERFLOWING)
        if found["page"] > 0 or found["wide"]:
            overflowing[name] = found
    assert overflowing == {}


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
