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
3. :meth:`TokenService.mint` (400 naming the field) and the same ``TokenCreated`` JSON,
   201;
4. errors as the same problem+json as :mod:`pulse_http.problems` (same bodies, same
   ``WWW-Authenticate`` / ``Retry-After``, unexpected errors logged and a 500).

The request id and the access-log line come from the middleware around it, as for any
route. Everything else goes to Litestar, which still declares the route (OpenAPI): other
methods and paths (a trailing slash too), and requests with an ``Origin`` header when
CORS is on, so that browsers get Litestar's CORS handling.
"""

from __future__ import annotations

from typing import Any, Final, cast

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from pulse_core.errors import PulseError
from pulse_core.services.tokens import TokenService
from pulse_http.auth import Authenticators
from pulse_http.middleware import INCOMPLETE_BODY
from pulse_http.problems import (
    PROBLEM_JSON,
    Problem,
    problem_body,
    pulse_problem,
    unexpected_problem,
)
from pulse_http.routes.tokens import CREATE_TOKEN
from pulse_http.schemas.tokens import CreateToken, TokenCreated
from pulse_http.strict_body import decode_strict

# The route's facts, as module globals: read on every request.
PATH: Final = CREATE_TOKEN.path
_METHOD: Final = CREATE_TOKEN.method
_BUCKET: Final = CREATE_TOKEN.bucket
_SECRET_REQUIRED: Final = CREATE_TOKEN.secret_required
# The request headers the route reads, and nothing else is decoded.
_WANTED: Final = frozenset(
    (
        b"x-pulse-key",
        b"x-pulse-secret",
        b"authorization",
        b"x-forwarded-for",
        b"content-length",
        b"origin",
    )
)
_DECODER: Final = msgspec.json.Decoder(CreateToken)
_encode = msgspec.json.Encoder().encode
_JSON: Final = (b"content-type", b"application/json")
_PROBLEM: Final = (b"content-type", PROBLEM_JSON.encode())


class _Refused(Exception):
    """An HTTP-level refusal while reading the body (what Litestar would raise)."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field


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
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.lower()
            if name in _WANTED:
                headers.setdefault(name.decode("ascii"), raw_value.decode("latin-1"))
        if self._cors and "origin" in headers:
            await self.app(scope, receive, send)
            return
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
            )
            body = await self._body(receive, headers.get("content-length"))
            request = decode_strict(_DECODER, body)
            payload = _encode(TokenCreated.of(self._tokens.mint(project, request.to_domain())))
            status, content_type = 201, _JSON
        except PulseError as exc:
            problem, problem_headers = pulse_problem(exc, state.get("request_id"))
            extra = [(k.lower().encode(), v.encode("latin-1")) for k, v in problem_headers.items()]
            payload, status, content_type = _encode(problem), problem.status, _PROBLEM
        except _Refused as exc:
            problem = _refusal(exc, state.get("request_id"))
            payload, status, content_type = _encode(problem), problem.status, _PROBLEM
        except Exception as exc:
            problem = unexpected_problem(exc, state.get("request_id"))
            payload, status, content_type = _encode(problem), 500, _PROBLEM
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *extra,
                    content_type,
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    async def _body(self, receive: Receive, declared: str | None) -> bytes:
        """The request body, refused like Litestar refuses it: an announced or actual
        size over the limit is a 413, a garbled ``Content-Length`` a 400."""
        limit = self._max_body
        if declared is not None:
            try:
                announced = int(declared)
            except ValueError:
                raise _Refused(400, f"Invalid content-length: {declared!r}") from None
            if announced > limit:
                raise _Refused(413, "request body is too large", "body")
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            body: bytes = message.get("body", b"")  # the usual case: one message
            if len(body) > limit:
                raise _Refused(413, "request body is too large", "body")
            return body
        chunks: list[bytes] = []
        size = 0
        while True:
            if message["type"] == "http.disconnect":
                raise _Refused(400, INCOMPLETE_BODY, "body")
            chunk = cast("bytes", message.get("body", b""))
            size += len(chunk)
            if size > limit:
                raise _Refused(413, "request body is too large", "body")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
            message = await receive()


def _refusal(exc: _Refused, request_id: str | None) -> Problem:
    return problem_body(exc.status, detail=exc.detail, request_id=request_id, field=exc.field)
