"""``POST /v1/livekit/webhook`` in raw ASGI: LiveKit's events accepted without the
framework's cost.

LiveKit posts one webhook per room, participant and track event, so a busy deployment
receives thousands a second. Through Litestar each paid for the connection and request
objects, three dependencies resolved in an anyio task group, the response object and the
exception middleware: several times the route's own work (a signature check, a parse,
an enqueue). This ASGI layer, mounted inside
:class:`~pulse_http.middleware.RequestContextMiddleware` (the request id and access-log
line) and in front of Litestar, answers the route itself.

Nothing of the route is decided here. Its path, method and status are
:data:`pulse_http.routes.livekit.LIVEKIT_WEBHOOK` and its work is
:func:`pulse_http.routes.livekit.accept_livekit_webhook`, both also what Litestar's
handler is made of; the body is read and errors are answered by :mod:`pulse_http.fast_path`,
as the token fast path does, to match Litestar's answers (413 over ``MAX_BODY_BYTES``,
400 for a garbled ``Content-Length`` or a body that ends early, problem+json with
``WWW-Authenticate`` for a 401, a logged 500). ``tests/http/test_livekit_fast_path.py``
sends each case both ways and compares the bytes.

Everything else goes to Litestar, which still declares the route (OpenAPI): other
methods and paths (a trailing slash too), and requests with an ``Origin`` header when
CORS is on, so that browsers get Litestar's CORS handling.
"""

from __future__ import annotations

from typing import Any, Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from pulse_core.livekit_webhooks import LiveKitWebhookVerifier
from pulse_core.ports.clock import Clock
from pulse_core.ports.queue import JobQueue
from pulse_http.fast_path import (
    JSON,
    PROBLEM,
    Header,
    encode,
    error_answer,
    picked_headers,
    read_body,
    send_answer,
)
from pulse_http.routes.livekit import LIVEKIT_WEBHOOK, accept_livekit_webhook

# The route's facts, as module globals: read on every request.
PATH: Final = LIVEKIT_WEBHOOK.path
_METHOD: Final = LIVEKIT_WEBHOOK.method
_STATUS: Final = LIVEKIT_WEBHOOK.status_code
# The request headers the route reads, and nothing else is decoded.
_WANTED: Final = frozenset((b"authorization", b"content-type", b"content-length", b"origin"))


class LiveKitWebhookFastPath:
    """Serves :data:`~pulse_http.routes.livekit.LIVEKIT_WEBHOOK`; passes every other
    request to ``app``."""

    __slots__ = ("_clock", "_cors", "_max_body", "_queue", "_verifier", "app")

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: LiveKitWebhookVerifier,
        queue: JobQueue,
        clock: Clock,
        max_body_bytes: int,
        cors: bool,
    ) -> None:
        self.app = app
        self._verifier = verifier
        self._queue = queue
        self._clock = clock
        self._max_body = max_body_bytes
        self._cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] != PATH or scope["method"] != _METHOD:
            await self.app(scope, receive, send)
            return
        headers = picked_headers(scope["headers"], _WANTED)
        if self._cors and "origin" in headers:
            await self.app(scope, receive, send)
            return
        scope["path_template"] = PATH  # the route, for metrics and traces
        extra: list[Header] = []
        try:
            body = await read_body(receive, headers.get("content-length"), self._max_body)
            answer = await accept_livekit_webhook(
                body,
                headers.get("authorization"),
                headers.get("content-type"),
                verifier=self._verifier,
                queue=self._queue,
                clock=self._clock,
            )
            payload, status, content_type = encode(answer), _STATUS, JSON
        except Exception as exc:
            state: dict[str, Any] = scope.get("state", {})
            status, extra, payload = error_answer(exc, state.get("request_id"))
            content_type = PROBLEM
        await send_answer(send, status, extra, content_type, payload)
