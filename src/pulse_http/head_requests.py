"""``HEAD`` answered as ``GET`` without its body (RFC 9110, 9.3.2).

Litestar routes only the methods a handler declares, so every ``HEAD`` was a 405: an
uptime check or a load balancer probing ``/health`` with ``HEAD`` saw the service as
broken, and a client could not ask a download's size without fetching it. Every ``GET``
route of Pulse is safe (no handler changes anything on ``GET``), so ``HEAD`` runs the
``GET`` route, through the same authentication, scopes and rate limits, and sends its
status and headers (``Content-Length`` included) with an empty body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_GET: Final = "GET"
_HEAD: Final = "HEAD"
_LAST_EMPTY_BODY: Final[Message] = {"type": "http.response.body", "body": b"", "more_body": False}


def with_head(headers: Mapping[str, str]) -> dict[str, str]:
    """An error's headers, its ``Allow`` (a 405's, as routing makes it) naming ``HEAD``
    wherever it names ``GET``: :class:`HeadAsGet` answers both."""
    return {
        name: _allow_with_head(value) if name.lower() == "allow" else value
        for name, value in headers.items()
    }


def _allow_with_head(allow: str) -> str:
    methods = [method.strip() for method in allow.split(",") if method.strip()]
    if _GET in methods and _HEAD not in methods:
        methods.insert(methods.index(_GET) + 1, _HEAD)
    return ", ".join(methods)


class HeadAsGet:
    """Runs ``app`` with a ``HEAD`` request's method read as ``GET`` and drops the body
    it answers with; passes every other request through untouched. The scope's method is
    ``HEAD`` again once the answer is sent, so what logs and measures the request after
    it (the request-context middleware) names the method the client used."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != _HEAD:
            await self.app(scope, receive, send)
            return
        ended = False

        async def without_body(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.start":
                await send(message)
            elif not ended and not message.get("more_body", False):
                # The last part of the body (or a file sent by path): the answer ends here.
                ended = True
                await send(_LAST_EMPTY_BODY)

        scope["method"] = _GET
        try:
            await self.app(scope, receive, without_body)
        finally:
            scope["method"] = _HEAD
