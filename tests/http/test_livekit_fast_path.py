"""POST /v1/livekit/webhook is served by a raw-ASGI fast path (pulse_http.fast_livekit).

It must answer exactly as the Litestar route does. Litestar still serves the same route
under ``/v1/livekit/webhook/`` (trailing slash), which makes it the oracle: every case
below is sent both ways, as raw ASGI messages with the same request id, and the answers
compared byte for byte (status, every header in order, body), and so is what each
queued. And each time, a spy between the fast path and Litestar checks that the first
request never reached Litestar and the second did: were the fast path unwired, or
serving another path, both would come from Litestar and compare equal.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from dependency_injector import providers
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryJobQueue
from pulse_core.errors import Unavailable
from pulse_core.models.jobs import QUEUE
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.fast_livekit import LiveKitWebhookFastPath
from pulse_http.routes.livekit import LIVEKIT_WEBHOOK
from pulse_http.settings import Settings
from tests.http.conftest import make_container
from tests.support import livekit_webhooks as lk

FAST = LIVEKIT_WEBHOOK.path
LITESTAR = FAST + "/"
REQUEST_ID = b"trace-lk-1"
Headers = list[tuple[bytes, bytes]]
Messages = list[dict[str, Any]]


class _Queue(InMemoryJobQueue):
    """The in-memory queue, made to fail on demand (a real ``JobQueue``: Litestar's
    signature model checks the dependency's type)."""

    fail_with: Exception | None = None

    async def enqueue(self, queue: str, payload: bytes, *, delay_seconds: float = 0) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        return await super().enqueue(queue, payload, delay_seconds=delay_seconds)

    async def taken(self) -> list[bytes]:
        """What was queued since the last look (and is gone now)."""
        jobs = await self.reserve(QUEUE, "test", max_jobs=100, wait_seconds=0)
        for job in jobs:
            await self.ack(QUEUE, job.id)
        return [job.payload for job in jobs]


class _Behind:
    """An ASGI layer put between the fast path and Litestar: notes each path that got
    past the fast path, and passes it on."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


def _fast_path(app: Litestar) -> LiveKitWebhookFastPath:
    layer: Any = app.asgi_handler
    while not isinstance(layer, LiveKitWebhookFastPath):
        layer = getattr(layer, "app", None)
        assert layer is not None, "LiveKitWebhookFastPath is not in the application's stack"
    return layer


def _behind_fast_path(app: Litestar) -> _Behind:
    """The spy behind the app's fast path (put there on first use)."""
    fast_path = _fast_path(app)
    if not isinstance(fast_path.app, _Behind):
        fast_path.app = _Behind(fast_path.app)
    return fast_path.app


@pytest.fixture
def queue(clock: ManualClock) -> _Queue:
    clock.set(datetime.now(UTC))  # LiveKit's tokens are valid for five minutes from now
    return _Queue(clock)


def _lk_settings(settings: Settings, **changes: Any) -> Settings:
    return msgspec.structs.replace(
        settings,
        livekit_api_key=lk.API_KEY,
        livekit_api_secret=lk.API_SECRET,
        webhook_worker="off",  # what is queued stays there for the test to read
        **changes,
    )


def _container(settings: Settings, clock: ManualClock, queue: _Queue) -> Container:
    container = make_container(settings, clock)
    container.adapters.job_queue.override(providers.Object(queue))
    return container


@pytest.fixture
async def app(settings: Settings, clock: ManualClock, queue: _Queue) -> AsyncIterator[Litestar]:
    app = create_app(_container(_lk_settings(settings), clock, queue))
    # The test client runs the lifespan (in a task of its own, as a fixture needs); the
    # tests call the app directly, with the exact messages a server would send.
    async with AsyncTestClient(app=app):
        yield app


async def _call(
    app: Any,
    path: str,
    headers: Headers,
    messages: Messages,
    *,
    method: str = "POST",
) -> tuple[int, Headers, bytes]:
    """One request as an ASGI server delivers it; ``(status, headers, body)``."""
    sent: Messages = []
    pending = [dict(message) for message in messages]

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"x-request-id", REQUEST_ID)],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }
    await app(scope, receive, send)
    start, body = sent
    assert body["type"] == "http.response.body" and not body.get("more_body", False)
    return start["status"], list(start["headers"]), body["body"]


async def _both(
    app: Litestar, queue: _Queue, headers: Headers, messages: Messages
) -> tuple[int, Headers, bytes]:
    """The fast path's answer, checked equal to Litestar's (and what each queued)."""
    behind = _behind_fast_path(app)
    fast = await _call(app, FAST, headers, messages)
    fast_queued = await queue.taken()
    assert behind.paths == [], "the fast path passed its own route on to Litestar"
    slow = await _call(app, LITESTAR, headers, messages)
    slow_queued = await queue.taken()
    assert behind.paths == [LITESTAR]
    behind.paths.clear()
    assert fast == slow
    assert fast_queued == slow_queued  # the same job, byte for byte (the clock stands still)
    assert len(fast_queued) == (1 if fast[0] == 200 else 0)
    return fast


def _request(body: bytes, headers: dict[str, str | None] | None = None) -> tuple[Headers, Messages]:
    """A request LiveKit signed for ``body``, with ``headers`` changed (None: removed)."""
    fields: dict[str, str | None] = {
        "authorization": lk.sign(body),
        "content-type": lk.CONTENT_TYPE,
        "content-length": str(len(body)),
        **(headers or {}),
    }
    raw = [(k.encode(), v.encode("latin-1")) for k, v in fields.items() if v is not None]
    return raw, [{"type": "http.request", "body": body}]


EVENT = lk.encode(lk.room_event("room_started", "p_room"))
DEEP = b'{"event":"room_started","id":"EV_1","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
NOT_UTF8 = b'{"event":"room_started","id":"EV_1","x":"\xff"}'  # in a field the parse skips
TOO_LARGE = b'{"event":"room_started","id":"EV_1","x":"' + b"x" * 1_048_576 + b'"}'
CASES: dict[str, tuple[bytes, dict[str, str | None], int]] = {
    "ok": (EVENT, {}, 200),
    "ok-json-charset": (EVENT, {"content-type": "Application/JSON; charset=utf-8"}, 200),
    "unsigned": (EVENT, {"authorization": None}, 401),
    "bearer": (EVENT, {"authorization": "Bearer " + lk.sign(EVENT)}, 401),
    "wrong-secret": (EVENT, {"authorization": lk.sign(EVENT, api_secret="x" * 40)}, 401),
    "other-body": (EVENT, {"authorization": lk.sign(EVENT + b" ")}, 401),
    "wrong-content-type": (EVENT, {"content-type": "text/plain"}, 400),
    "no-content-type": (EVENT, {"content-type": None}, 400),
    "garbage": (b"not json at all", {}, 400),
    "not-an-event": (b'{"event":"room_started"}', {}, 400),
    "empty": (b"", {}, 400),
    "too-deep": (DEEP, {}, 400),
    "not-utf8": (NOT_UTF8, {}, 400),
    "too-large": (TOO_LARGE, {}, 413),
    "too-large-announced": (EVENT, {"content-length": "99999999"}, 413),
    "garbled-length": (EVENT, {"content-length": "12x"}, 400),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_fast_path_answers_as_litestar_does(
    app: Litestar, queue: _Queue, case: str
) -> None:
    body, changes, status = CASES[case]
    headers, messages = _request(body, changes)
    got_status, got_headers, got_body = await _both(app, queue, headers, messages)
    assert got_status == status
    assert (b"x-request-id", REQUEST_ID) in got_headers
    if status == 200:
        assert got_body == b"{}"
        assert got_headers[0] == (b"content-type", b"application/json")
        return
    assert (b"content-type", b"application/problem+json") in got_headers
    problem = json.loads(got_body)
    assert problem["status"] == status and problem["request_id"] == REQUEST_ID.decode()
    if status == 401:
        assert got_headers[0][0] == b"www-authenticate"


async def test_bodies_in_several_messages_and_ending_early(app: Litestar, queue: _Queue) -> None:
    headers, _ = _request(EVENT, {"content-length": None})  # as with chunked encoding
    parts: Messages = [
        {"type": "http.request", "body": EVENT[:10], "more_body": True},
        {"type": "http.request", "body": EVENT[10:], "more_body": True},
        {"type": "http.request", "body": b"", "more_body": False},
    ]
    assert (await _both(app, queue, headers, parts))[0] == 200
    # A malformed chunk or a client leaving mid-body: the server reports a disconnect.
    status, _, body = await _both(app, queue, headers, parts[:1])
    assert status == 400 and json.loads(body)["field"] == "body"
    # Over the limit, in parts.
    big: Messages = [
        {"type": "http.request", "body": TOO_LARGE[:600_000], "more_body": True},
        {"type": "http.request", "body": TOO_LARGE[600_000:]},
    ]
    assert (await _both(app, queue, _request(TOO_LARGE)[0], big))[0] == 413


async def test_the_first_of_repeated_headers_counts_on_both(app: Litestar, queue: _Queue) -> None:
    headers, messages = _request(EVENT)
    bad = [(b"authorization", b"not-a-jwt"), (b"content-type", b"text/plain")]
    assert (await _both(app, queue, headers + bad, messages))[0] == 200
    assert (await _both(app, queue, bad + headers, messages))[0] == 401


async def test_a_queue_that_is_down_is_the_same_503(app: Litestar, queue: _Queue) -> None:
    queue.fail_with = Unavailable("job queue backend (redis) is unavailable")
    status, headers, body = await _both(app, queue, *_request(EVENT))
    assert status == 503 and (b"content-type", b"application/problem+json") in headers
    assert json.loads(body)["code"] == "unavailable"


async def test_an_unexpected_error_is_the_same_logged_500(
    settings: Settings, clock: ManualClock, queue: _Queue, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(_container(_lk_settings(settings, log_format="json"), clock, queue))
    queue.fail_with = RuntimeError("boom")
    async with app.lifespan():
        status, _, body = await _both(app, queue, *_request(EVENT))
    assert status == 500 and b"boom" not in body
    assert json.loads(body)["code"] == "internal_error"
    output = capsys.readouterr().out
    errors = [json.loads(line) for line in output.splitlines() if "unhandled_error" in line]
    assert len(errors) == 2 and all(e["request_id"] == REQUEST_ID.decode() for e in errors)
    assert all("boom" in e.get("exception", "") for e in errors)


async def test_the_fast_path_serves_the_route_litestar_declares(
    app: Litestar, queue: _Queue
) -> None:
    # Litestar's handler is declared from the same facts (OpenAPI documents it).
    [handler] = [
        handler
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path == FAST
        for handler in route.route_handlers
        if LIVEKIT_WEBHOOK.method in handler.http_methods
    ]
    assert handler.status_code == LIVEKIT_WEBHOOK.status_code
    status, _, schema = await _call(app, "/schema/openapi.json", [], [], method="GET")
    assert status == 200 and "post" in json.loads(schema)["paths"][FAST]
    # A request to it is answered in front of Litestar, by the fast path.
    behind = _behind_fast_path(app)
    assert (await _call(app, FAST, *_request(EVENT)))[0] == 200
    assert behind.paths == [] and len(await queue.taken()) == 1
    # What is not its route goes on to Litestar: another method, another path.
    assert (await _call(app, FAST, [], [], method="GET"))[0] == 405
    assert (await _call(app, "/v1/livekit/webhooks", *_request(EVENT)))[0] == 404
    assert behind.paths == [FAST, "/v1/livekit/webhooks"]


async def test_browsers_get_litestars_cors_handling(
    settings: Settings, clock: ManualClock, queue: _Queue
) -> None:
    origin = "https://dashboard.acme.test"
    app = create_app(_container(_lk_settings(settings, cors_origins=(origin,)), clock, queue))
    async with app.lifespan():
        behind = _behind_fast_path(app)
        headers, messages = _request(EVENT, {"origin": origin})
        status, answer_headers, _ = await _call(app, FAST, headers, messages)
        assert status == 200
        assert (b"access-control-allow-origin", origin.encode()) in answer_headers
        assert behind.paths == [FAST]  # passed on by the fast path
        behind.paths.clear()
        assert (await _call(app, FAST, *_request(EVENT)))[0] == 200  # no Origin: fast
        assert behind.paths == []


async def test_the_access_log_line_of_an_accepted_event(
    settings: Settings, clock: ManualClock, queue: _Queue, capsys: pytest.CaptureFixture[str]
) -> None:
    changes = {"log_format": "json", "log_level": "info"}
    app = create_app(_container(_lk_settings(settings, **changes), clock, queue))
    async with app.lifespan():
        behind = _behind_fast_path(app)
        assert (await _call(app, FAST, *_request(EVENT)))[0] == 200
    assert behind.paths == []
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    [access] = [line for line in lines if line.get("event") == "request"]
    assert (access["method"], access["path"], access["status"]) == ("POST", FAST, 200)
    assert access["request_id"] == REQUEST_ID.decode()
