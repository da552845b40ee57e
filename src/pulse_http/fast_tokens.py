"""``POST /v1/tokens/create`` in raw ASGI: Pulse's hot path without the framework's cost.

What the route is (its path and method, its bucket, the secret it needs) is
:data:`pulse_http.routes.tokens.CREATE_TOKEN`, the declaration Litestar's handler is built
from too.

Token minting is the per-join request: an audience arriving is thousands of them a
second. Through Litestar each one paid for the connection and request objects, the
signature model, dependency resolution, the ``before_request`` hook and a second, lax
decode of the body (the strict hook decoded it first), which was most of the time of a
request whose own work (checks, HS256) is a few microseconds. This ASGI layer, mounted
inside :class:`~pulse_http.middleware.RequestContextMiddleware` and in front of
Litestar's handler, answers that one route itself with the same code, in the same order:

1. :meth:`pulse_http.auth.Authenticators.admit`, the guard's own logic: failed-auth
   throttle, key + secret through the credential cache (401/403), the project's
   ``tokens`` bucket (429), rate-limit headers on every answer after authentication;
2. the body, under ``MAX_BODY_BYTES`` (413), decoded once, strictly, by
   :func:`pulse_http.strict_body.decode_strict` (400 naming the field);
3. :meth:`TokenService.prepare` and :meth:`TokenService.mint` (400 naming the field) and
   the same ``TokenCreated`` JSON, 201;
4. errors as the same problem+json as :mod:`pulse_http.problems` (same bodies, same
   ``WWW-Authenticate`` / ``Retry-After``, unexpected errors logged and a 500).

Reading the body and answering errors are :mod:`pulse_http.fast_path`'s, shared with
the LiveKit webhook's fast path (:mod:`pulse_http.fast_livekit`).

The request id and the access-log line come from the middleware around it, as for any
route. Everything else goes to Litestar, which still declares the route (OpenAPI): other
methods and paths (a trailing slash too), requests with an ``Origin`` header when
CORS is on, so that browsers get Litestar's CORS handling, and requests with an
``Idempotency-Key``, kept and replayed by :mod:`pulse_http.idempotency`.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from pulse_core.services.tokens import TokenService
from pulse_http.auth import Authenticators
from pulse_http.fast_path import (
    JSON,
    PROBLEM,
    encode,
    error_answer,
    picked_headers,
    read_body,
    send_answer,
)
from pulse_http.routes.tokens import CREATE_TOKEN
from pulse_http.schemas.tokens import CreateToken, TokenCreated
from pulse_http.strict_body import decode_strict

# The route's facts, as module globals: read on every request.
PATH: Final = CREATE_TOKEN.path
_METHOD: Final = CREATE_TOKEN.method
_BUCKET: Final = CREATE_TOKEN.bucket
_SECRET_REQUIRED: Final = CREATE_TOKEN.secret_required
_SCOPE: Final = CREATE_TOKEN.scope
# The request headers the route reads, and nothing else is decoded.
_WANTED: Final = frozenset(
    (
        b"x-pulse-key",
        b"x-pulse-secret",
        b"authorization",
        b"x-forwarded-for",
        b"content-length",
        b"origin",
        b"idempotency-key",
    )
)
_DECODER: Final = msgspec.json.Decoder(CreateToken)


class TokenFastPath:
    """Serves :data:`~pulse_http.routes.tokens.CREATE_TOKEN`; passes every other request
    to ``app``."""

    __slots__ = ("_auth", "_cors", "_max_body", "_tokens", "app")

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticators: Authenticators,
        tokens: TokenService,
        max_body_bytes: int,
        cors: bool,
    ) -> None:
        self.app = app
        self._auth = authenticators
        self._tokens = tokens
        self._max_body = max_body_bytes
        self._cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] != PATH or scope["method"] != _METHOD:
            await self.app(scope, receive, send)
            return
        headers = picked_headers(scope["headers"], _WANTED)
        # An Idempotency-Key is honoured by Litestar's route (pulse_http.idempotency):
        # without one, this lookup is all the header costs.
        if "idempotency-key" in headers or (self._cors and "origin" in headers):
            await self.app(scope, receive, send)
            return
        scope["path_template"] = PATH  # the route, for metrics and traces
        state: dict[str, Any] = scope.setdefault("state", {})
        client = scope.get("client")
        extra: list[tuple[bytes, bytes]] = []
        try:
            project = await self._auth.admit_project(
                state,
                _BUCKET,
                headers,
                client[0] if client else None,
                secret_required=_SECRET_REQUIRED,
                scope=_SCOPE,
            )
            body = await read_body(receive, headers.get("content-length"), self._max_body)
            request = decode_strict(_DECODER, body)
            await self._tokens.prepare(project)
            payload = encode(TokenCreated.of(self._tokens.mint(project, request.to_domain())))
            status, content_type = 201, JSON
        except Exception as exc:
            status, extra, payload = error_answer(exc, state.get("request_id"))
            content_type = PROBLEM
        await send_answer(send, status, extra, content_type, payload)
