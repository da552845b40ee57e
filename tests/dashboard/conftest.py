"""The dashboard in a real browser: the app on a real socket (tests/support/live_server.py)
and Debian's Chromium through Playwright (tests/support/browser.py).

Every page a test opens is watched: a request to anywhere but the server fails the test
at teardown (the dashboard ships everything it needs), and so does a JavaScript dialog
nobody expected (an ``alert`` from an injected script)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page

from pulse_http.settings import Settings
from tests.support.browser import Requests, chromium
from tests.support.live_server import LiveServer, app_container, live_server

JWT_SECRET = "dashboard-test-jwt-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"


# Per module, not per session: Playwright's sync API keeps its event loop marked as
# running in this thread while it is open, and the async tests of later modules need
# the thread to themselves.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(
        environment="development",
        data_dir=str(tmp_path / "data"),
        jwt_secret=JWT_SECRET,
        api_key_pepper="dashboard-test-pepper",
        log_level="warning",
        # The tests' webhook receivers listen on loopback.
        webhook_allowed_networks=("127.0.0.0/8",),
    )
    with live_server(app_container(settings)) as running:
        yield running


@dataclass
class Browsing:
    """A browser context on the server, and what its pages asked for and were shown."""

    page: Page
    base_url: str
    requests: Requests
    dialogs: list[str]

    def open(self, path: str) -> Page:
        self.page.goto(f"{self.base_url}{path}")
        return self.page

    def sign_in(self, email: str, password: str = PASSWORD) -> Page:
        self.open("/dashboard/sign-in")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()
        return self.page


def _browsing(browser: Browser, server: LiveServer) -> Iterator[Browsing]:
    context = browser.new_context()
    page = context.new_page()
    requests = Requests()
    requests.watch(page)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        # Confirmations of the dashboard's own forms are accepted; anything else is a
        # script nobody wrote running in the page.
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.accept() if dialog.type == "confirm" else dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield Browsing(page, server.base_url, requests, dialogs)
        assert requests.elsewhere(server.base_url) == []
        assert [d for d in dialogs if not d.startswith("confirm:")] == []
    finally:
        context.close()


@pytest.fixture
def browsing(browser: Browser, server: LiveServer) -> Iterator[Browsing]:
    yield from _browsing(browser, server)


@pytest.fixture
def second_browsing(browser: Browser, server: LiveServer) -> Iterator[Browsing]:
    """Another person, in a browser context of their own (their own cookies)."""
    yield from _browsing(browser, server)


@pytest.fixture
def admin_email(server: LiveServer) -> str:
    """A platform admin who signs in with :data:`PASSWORD`."""
    email = "admin@pulse.test"
    server.run(server.container.services.users().create_admin(email, PASSWORD))
    return email
