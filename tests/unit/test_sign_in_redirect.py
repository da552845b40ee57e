"""Where :func:`pulse_http.dashboard.session.to_sign_in` sends a browser whose session
is missing or ended: to sign in, then back to the page it asked for, query included."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.response import Redirect

from pulse_http.dashboard.session import COOKIE, to_sign_in
from pulse_http.settings import Settings


def _sent_to(**scope: Any) -> dict[str, list[str]]:
    app = Litestar(state=State({"settings": Settings(environment="development")}))
    request: Request[Any, Any, Any] = Request(
        {
            "type": "http",
            "app": app,
            "litestar_app": app,
            "method": "GET",
            "path": "/dashboard/projects/p/rooms/a b",
            "query_string": b"tz=Europe/Paris",
            "headers": [],
            **scope,
        }
    )
    response = to_sign_in(request, Exception())
    assert isinstance(response, Redirect) and response.status_code == 303
    location = response.url
    assert urlsplit(location).path == "/dashboard/sign-in"
    return parse_qs(urlsplit(location).query)


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        (b"/dashboard/projects/p/rooms/a%20b", "/dashboard/projects/p/rooms/a%20b"),
        (b"/dashboard/projects/p/rooms/a%20b?tz=Europe/Paris", "/dashboard/projects/p/rooms/a%20b"),
        (None, "/dashboard/projects/p/rooms/a%20b"),  # optional in ASGI: from the path
    ],
)
def test_the_page_asked_for_comes_back_as_it_was_sent(
    raw_path: bytes | None, expected: str
) -> None:
    scope = {} if raw_path is None else {"raw_path": raw_path}
    assert _sent_to(**scope) == {"next": [f"{expected}?tz=Europe/Paris"]}


def test_a_browser_that_still_sent_a_session_is_told_it_ended() -> None:
    sent = _sent_to(headers=[(b"cookie", f"{COOKIE}=stale".encode())], query_string=b"")
    assert sent == {"next": ["/dashboard/projects/p/rooms/a%20b"], "notice": ["session-ended"]}
