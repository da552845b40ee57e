"""Debian's Chromium, driven by Playwright for Python (never a downloaded browser).

The browser resolves no host but this machine's loopback (``--host-resolver-rules``), so
a page that needed anything from elsewhere would visibly break, and :class:`Requests`
records every request a page makes so a test can say that none left the server's origin.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, Request, sync_playwright

from tests.support.require import require_binary

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    executable = require_binary("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Requests:
    """Every URL the pages of a browser context asked for."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        self.urls.append(request.url)

    def elsewhere(self, base_url: str) -> list[str]:
        """The requests that went anywhere but ``base_url``'s origin."""
        origin = urlsplit(base_url)[:2]
        return [u for u in self.urls if urlsplit(u)[:2] != origin and not u.startswith("data:")]
