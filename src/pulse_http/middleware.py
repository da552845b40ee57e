"""Raw ASGI middleware: request ids and one access-log line per request.

Written against ASGI directly (not Litestar's middleware classes) because it wraps every
request, token minting included, and must cost next to nothing.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, ReceiveMessage, Scope, Send

from pulse_core.errors import InvalidInput
from pulse_http.logging import AccessLog, bind_request_id, configured_access_log, reset_request_id

#: What a body that ends before it is complete is (a malformed chunk, a short body).
INCOMPLETE_BODY = "the request body is malformed or incomplete"


def _complete_bodies(receive: Receive) -> Receive:
    """``receive``, with a disconnect before the body's last part made a client error.

    The server reports a body it cannot read (a chunk size of ``zz``, a connection that
    ends mid-body) as ``http.disconnect``; Litestar and the token fast path would read
    that as an internal error (500). It is the client's: ``InvalidInput`` (400) on both
    paths. After the body, a disconnect is only a disconnect and passes through."""
    complete = False

    async def checked() -> ReceiveMessage:
        nonlocal complete
        message = await receive()
        if message["type"] == "http.request":
            complete = not message.get("more_body", False)
        elif message["type"] == "http.disconnect" and not complete:
            complete = True  # report it once; a later receive is an ordinary disconnect
            raise InvalidInput(INCOMPLETE_BODY, field="body")
        return message

    return checked


_INBOUND_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_random_bits = random.getrandbits


class RequestContextMiddleware:
    """Give each request an id (a sane inbound ``X-Request-ID`` is kept, otherwise 128
    random bits in 32 hex digits), echo it in the response, bind it to every log line of
    the request, and log the outcome. Headers and query strings are never logged: they
    carry credentials and signed URLs.

    Also appends the project's rate-limit headers (``scope["state"]["rate_limit_headers"]``,
    set by :meth:`pulse_http.auth.Authenticators.admit`) to whatever response goes out,
    and hands each request's outcome to ``observe`` (the scope, the status, the seconds
    it took: :meth:`pulse_http.observability.metrics.Metrics.observe_request`).
    """

    __slots__ = ("_access", "_observe", "app")

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool = True,
        observe: Callable[[HTTPScope, int, float], None] | None = None,
    ) -> None:
        self.app = app
        # Taken once, after logging is configured (create_app configures it first).
        self._access: AccessLog | None = configured_access_log() if access_log else None
        self._observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        http_scope: HTTPScope = scope
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _INBOUND_ID.fullmatch(candidate):
                    request_id = candidate
                break
        if request_id is None:
            # Not a secret, only unique: 128 bits from the process's PRNG (reseeded in each
            # forked worker), a tenth of the cost of uuid4's system call.
            request_id = f"{_random_bits(128):032x}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = state.get("rate_limit_headers", ())
                message["headers"] = [*message.get("headers", ()), header, *extra]
            await send(message)

        token = bind_request_id(request_id)
        try:
            await self.app(scope, _complete_bodies(receive), send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            if self._observe is not None:
                self._observe(http_scope, status, elapsed)
            if self._access is not None:
                self._access(
                    http_scope["method"],
                    http_scope["path"],
                    status,
                    round(elapsed * 1000, 2),
                    request_id,
                )
            reset_request_id(token)
