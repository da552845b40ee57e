"""``Idempotency-Key`` on every write, management and project (API.md, "Authentication").

The rules are :mod:`pulse_core.services.idempotency`'s; this module finds the request's
caller, key and fingerprint, and the response to keep. Two pieces, because the caller
is only known inside Litestar and the response only outside it:

1. :func:`with_idempotency`, part of the app's ``before_request`` hook. Litestar runs it
   after the guard (:func:`pulse_http.auth.authenticate`) and before the handler, so the
   caller is the one the guard *verified*: for project routes the key it admitted
   (``state["credential"]``: project id and key id), for management routes the
   principal (``state["principal"]``: organization and subject). Nothing a client can
   choose without credentials (a header, the body) goes into the scope, so a stored
   answer is only ever replayed to the caller it was given to. Unauthenticated routes
   (sign-in, accepting an invitation, LiveKit's webhook) have no caller and ignore the
   header; so do the routes the key alone may call (``/v1/tokens/validate``), with or
   without the secret: what the key alone may do changes nothing, and a kept answer
   would only go stale (a token found valid, replayed after it expired). Failures of
   the guard (401, 403, 429) and of the strict body check (400, 413) come first and
   claim nothing.
   With a claim, the request runs; a repeat gets the stored answer (the same status,
   body and :data:`REPLAYED_HEADERS`, plus ``Idempotent-Replayed: true``) or a 409/422.
2. :class:`IdempotentResponses`, raw ASGI around Litestar, which keeps the response of a
   request that holds a claim: it holds the response back until its last byte, stores
   it (or releases the key for a 5xx), then sends it. Holding it back is what makes a
   retry sent the moment the answer arrived find the answer, not "still running".

A request without the header passes through both at the cost of a method check and, for
writes, one look at the headers. The token fast path (:mod:`pulse_http.fast_tokens`)
hands a request carrying the header to Litestar, so it gets the same treatment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import structlog
from litestar import Request, Response
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from pulse_core.models.keys import ProjectCredential
from pulse_core.models.principal import ManagementPrincipal
from pulse_core.ports.idempotency import StoredResponse
from pulse_core.services.idempotency import (
    Claim,
    IdempotencyService,
    fingerprint,
    parse_key,
)

WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The request header, as ASGI spells header names.
HEADER_NAME: Final = b"idempotency-key"
#: Set on a replayed answer (the name Stripe uses; clients can tell a replay apart).
REPLAYED: Final = "Idempotent-Replayed"
#: The response headers kept with an answer. Per-request ones (request id, rate-limit
#: headers, CORS) are added again to every answer, a replay included, by the layers
#: that own them.
REPLAYED_HEADERS: Final = frozenset(
    {"content-type", "content-disposition", "content-language", "location", "etag"}
)
_CLAIM: Final = "idempotency_claim"  # scope state: the claim of this request

_log = structlog.get_logger("pulse.idempotency")

BeforeRequest = Callable[[Request[Any, Any, Any]], Awaitable[Any]]


def takes_key(kind: str | None, method: str) -> bool:
    """Whether a route of this kind of caller and method honours ``Idempotency-Key``
    (the OpenAPI document says so from this too): the writes of identified callers."""
    return kind in ("management", "project") and method in WRITES


def caller_scope(request: Request[Any, Any, Any], kind: str | None) -> str | None:
    """Who is calling a route of ``kind`` (one that :func:`takes_key`), as the guard
    verified it, or None when no one was (the header is then ignored).
    Newline-separated: ids and a JWT subject, never a key."""
    state: dict[str, Any] = request.scope.get("state", {})
    if kind == "management":
        principal: ManagementPrincipal | None = state.get("principal")
        if principal is None:
            return None
        return f"management\n{principal.org_id or ''}\n{principal.subject}"
    if kind == "project":
        credential: ProjectCredential | None = state.get("credential")
        if credential is None:
            return None
        return f"project\n{credential.project.id}\n{credential.key_id}"
    return None


def with_idempotency(check: BeforeRequest, service: IdempotencyService) -> BeforeRequest:
    """The ``before_request`` hook: ``check`` (the strict body check), then, for a write
    carrying the header, the claim (see the module docstring). Returns the replayed
    answer, or None to run the handler."""

    async def before_request(request: Request[Any, Any, Any]) -> Any:
        await check(request)
        kind = request.route_handler.opt.get("auth")
        if not takes_key(kind, request.method):
            return None
        values = request.headers.getall(HEADER_NAME.decode(), [])
        if not values:
            return None
        scope = caller_scope(request, kind)
        if scope is None:
            return None
        key = parse_key(values)
        body = await request.body()
        raw = request.scope
        digest = fingerprint(raw["method"], raw["path"], raw.get("query_string", b""), body)
        outcome = await service.begin(scope, key, digest)
        if isinstance(outcome, StoredResponse):
            return _replay(outcome)
        raw["state"][_CLAIM] = outcome
        return None

    return before_request


def _replay(stored: StoredResponse) -> Response[bytes]:
    # The stored Content-Type goes in as a header: Litestar keeps it as it is, where
    # from media_type it would append a second charset to a text type.
    headers = dict(stored.headers)
    headers[REPLAYED] = "true"
    return Response(stored.body, status_code=stored.status, headers=headers)


def _has_key(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == HEADER_NAME for name, _ in headers)


class IdempotentResponses:
    """Keeps the answer of every request that holds a claim (set by the hook of
    :func:`with_idempotency`), releases the claim of one that ends without an answer;
    passes everything else through untouched."""

    __slots__ = ("_service", "app")

    def __init__(self, app: ASGIApp, service: IdempotencyService) -> None:
        self.app = app
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != ScopeType.HTTP
            or scope["method"] not in WRITES
            or not _has_key(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        start: HTTPResponseStartEvent | None = None
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            claim: Claim | None = state.get(_CLAIM)
            if claim is None:
                await send(message)
            elif message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                assert start is not None
                del state[_CLAIM]
                body = b"".join(chunks)
                await self._finish(claim, start, body)
                await send(start)
                await send({"type": "http.response.body", "body": body, "more_body": False})
            else:
                await send(message)

        try:
            await self.app(scope, receive, keep)
        finally:
            claim: Claim | None = state.pop(_CLAIM, None)
            if claim is not None:  # no complete answer went out
                try:
                    await self._service.abandon(claim)
                except Exception as exc:  # the lease frees the key in the end
                    _log.warning("idempotency_release_failed", error=repr(exc))

    async def _finish(self, claim: Claim, start: HTTPResponseStartEvent, body: bytes) -> None:
        headers = tuple(
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in start.get("headers", ())
            if name.decode("latin-1").lower() in REPLAYED_HEADERS
        )
        response = StoredResponse(status=start["status"], headers=headers, body=body)
        try:
            await self._service.finish(claim, response)
        except Exception as exc:
            # The work is done and its answer goes out all the same; a repeat finds the
            # key held until the lease runs out (409), then runs again.
            _log.warning("idempotency_store_failed", error=repr(exc))
