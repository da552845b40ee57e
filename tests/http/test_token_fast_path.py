"""POST /v1/tokens/create is served by a raw-ASGI fast path (pulse_http.fast_tokens).

It must answer exactly as the Litestar route does. Litestar still serves the same route
under ``/v1/tokens/create/`` (trailing slash), which makes it the oracle: every case
below is sent both ways and the answers compared (status, body, header names and
values), request ids aside. And each time, a spy between the fast path and Litestar
checks that the first request never reached Litestar and the second did: were the fast
path unwired, or serving another path, both would come from Litestar and compare equal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from dependency_injector import providers
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_core.models import Project
from pulse_core.models.token import MintedToken, TokenRequest
from pulse_core.services.tokens import TokenService
from pulse_http.app import create_app
from pulse_http.container import Container, build_container
from pulse_http.fast_tokens import TokenFastPath
from pulse_http.routes.tokens import CREATE_TOKEN, VALIDATE_TOKEN
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_tenant

FAST = CREATE_TOKEN.path
LITESTAR = FAST + "/"
PER_REQUEST = {"x-request-id", "date"}


@pytest.fixture(autouse=True)
def _real_time(clock: ManualClock) -> None:
    clock.set(datetime.now(UTC))


def _comparable(response: Any) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in PER_REQUEST}
    body = response.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
    return response.status_code, headers, body


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


def _fast_path(app: Litestar) -> TokenFastPath:
    layer = app.asgi_handler
    while not isinstance(layer, TokenFastPath):
        layer = getattr(layer, "app", None)
        assert layer is not None, "TokenFastPath is not in the application's ASGI stack"
    return layer


def _behind_fast_path(app: Litestar) -> _Behind:
    """The spy behind the app's fast path (put there on first use)."""
    fast_path = _fast_path(app)
    if not isinstance(fast_path.app, _Behind):
        fast_path.app = _Behind(fast_path.app)
    return fast_path.app


async def _both(
    client: AsyncTestClient[Any], *, content: bytes, headers: dict[str, str]
) -> tuple[Any, Any]:
    behind = _behind_fast_path(client.app)
    fast = await client.post(FAST, content=content, headers=headers)
    assert behind.paths == [], "the fast path passed its own route on to Litestar"
    slow = await client.post(LITESTAR, content=content, headers=headers)
    assert behind.paths == [LITESTAR]
    behind.paths.clear()
    return fast, slow


async def test_the_fast_path_serves_the_route_litestar_declares(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    app = client.app
    # Litestar's handler is declared from the same facts (OpenAPI documents it).
    [handler] = [
        handler
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path == CREATE_TOKEN.path
        for handler in route.route_handlers
        if CREATE_TOKEN.method in handler.http_methods
    ]
    assert handler.opt["auth"] == "project" and handler.opt["bucket"] == CREATE_TOKEN.bucket
    # And a request to it is answered in front of Litestar, by the fast path.
    behind = _behind_fast_path(app)
    response = await client.post(
        FAST, json={"identity": "u", "room": "demo"}, headers=tenant_a.project_headers
    )
    assert response.status_code == 201
    assert response.headers["ratelimit-policy"].startswith(f'"{CREATE_TOKEN.bucket}";')
    assert behind.paths == []
    # What is not its route goes on to Litestar: another method, the validate route.
    await client.get(FAST, headers=tenant_a.project_headers)
    await client.post(VALIDATE_TOKEN.path, json={"token": "x"}, headers=tenant_a.project_headers)
    assert behind.paths == [FAST, VALIDATE_TOKEN.path]


def _json(**body: Any) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "content",
    [
        _json(identity="u", room="demo", ttl_seconds=600),
        _json(identity="u", room="demo", grants={"room_list": True}),
        _json(identity="u", room="demo", surprise=1),
        _json(identity=5, room="demo"),
        _json(identity="u", room="demo", grants={"can_publish": "yes"}),
        _json(identity="u", room="a/b"),
        b'{"identity": "u", ',
        b"[]",
        b"",
        b'{"identity": "\xff", "room": "demo"}',
        b'{"identity": "x' + b"x" * 2_000_000 + b'", "room": "demo"}',
    ],
    ids=[
        "ok",
        "refused-grant",
        "unknown-field",
        "wrong-type",
        "nested-type",
        "bad-room",
        "truncated",
        "array",
        "empty",
        "not-utf8",
        "too-large",
    ],
)
async def test_the_fast_path_answers_as_litestar_does(
    client: AsyncTestClient[Any], tenant_a: Tenant, content: bytes
) -> None:
    headers = {**tenant_a.project_headers, "Content-Type": "application/json"}
    fast, slow = await _both(client, content=content, headers=headers)
    assert fast.headers["x-request-id"] and slow.headers["x-request-id"]
    if fast.status_code == 201:
        assert slow.status_code == 201
        fast_body, slow_body = fast.json(), slow.json()
        assert fast_body.keys() == slow_body.keys()
        for field in ("identity", "room", "livekit_url"):
            assert fast_body[field] == slow_body[field]
        assert fast.headers.keys() == slow.headers.keys()
        assert fast.headers["content-type"] == slow.headers["content-type"]
        # One request more was charged for the second one.
        remaining = int(fast.headers["x-ratelimit-remaining"])
        assert int(slow.headers["x-ratelimit-remaining"]) == remaining - 1
        return
    fast_status, fast_headers, fast_body = _comparable(fast)
    slow_status, slow_headers, slow_body = _comparable(slow)
    assert (fast_status, fast_body) == (slow_status, slow_body)
    assert fast_headers.keys() == slow_headers.keys()
    assert fast.json()["request_id"] == fast.headers["x-request-id"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Pulse-Key": "pulse_key_nope", "X-Pulse-Secret": "pulse_secret_nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not-a-jwt"},
    ],
    ids=["none", "garbage", "basic", "bad-jwt"],
)
async def test_authentication_failures_match(
    client: AsyncTestClient[Any], headers: dict[str, str]
) -> None:
    fast, slow = await _both(client, content=_json(identity="u", room="demo"), headers=headers)
    assert _comparable(fast) == _comparable(slow)
    assert fast.status_code == 401 and fast.headers["www-authenticate"]


async def test_wrong_secret_and_management_token_match(
    client: AsyncTestClient[Any], tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    body = _json(identity="u", room="demo")
    wrong = {
        "X-Pulse-Key": tenant_a.api_key,
        "X-Pulse-Secret": tenant_a.api_secret[:-1]
        + ("1" if tenant_a.api_secret.endswith("0") else "0"),
    }
    for headers, status in ((wrong, 401), (admin_headers, 403), (tenant_a.owner_headers, 403)):
        fast, slow = await _both(client, content=body, headers=headers)
        assert fast.status_code == status
        assert _comparable(fast) == _comparable(slow)


async def test_rate_limited_answers_match(
    client: AsyncTestClient[Any], tenant_a: Tenant, clock: ManualClock
) -> None:
    created = await client.post(
        "/v1/projects",
        json={
            "org_id": tenant_a.org_id,
            "name": "Tight",
            "rate_limit": {"requests": 1, "period": "minute", "burst": 1},
        },
        headers=tenant_a.owner_headers,
    )
    project = created.json()
    headers = {"X-Pulse-Key": project["api_key"], "X-Pulse-Secret": project["api_secret"]}
    body = _json(identity="u", room="demo")
    assert (await client.post(FAST, content=body, headers=headers)).status_code == 201
    fast, slow = await _both(client, content=body, headers=headers)
    assert fast.status_code == 429 and fast.headers["retry-after"] == "60"
    assert _comparable(fast) == _comparable(slow)


async def test_failed_authentications_are_throttled_on_the_fast_path(
    settings: Settings, clock: ManualClock
) -> None:
    container = _container(msgspec.structs.replace(settings, auth_failure_limit=2), clock)
    admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await make_tenant(client, container, admin, "Throttled")
        behind = _behind_fast_path(client.app)
        bad = {"X-Pulse-Key": tenant.api_key, "X-Pulse-Secret": "pulse_secret_wrong"}
        statuses = [
            (await client.post(FAST, content=b"{}", headers=bad)).status_code for _ in range(4)
        ]
        # Two failures are the limit of 2: the address is blocked from the third attempt.
        assert statuses == [401, 401, 429, 429]
        # Blocked before any credential lookup, real credentials included.
        blocked = await client.post(FAST, content=b"{}", headers=tenant.project_headers)
        assert blocked.status_code == 429
        assert blocked.json()["code"] == "too_many_failed_attempts"
        assert behind.paths == []


def _container(settings: Settings, clock: ManualClock) -> Container:
    container = build_container(settings)
    container.adapters.clock.override(providers.Object(clock))
    return container


async def test_browsers_get_litestars_cors_handling(settings: Settings, clock: ManualClock) -> None:
    origin = "https://dashboard.acme.test"
    container = _container(msgspec.structs.replace(settings, cors_origins=(origin,)), clock)
    admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await make_tenant(client, container, admin, "Cors")
        behind = _behind_fast_path(client.app)
        response = await client.post(
            FAST,
            json={"identity": "u", "room": "demo"},
            headers={**tenant.project_headers, "Origin": origin},
        )
        assert response.status_code == 201
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["x-ratelimit-limit"]
        assert behind.paths == [FAST]  # passed on by the fast path


class _Failing(TokenService):
    """A real TokenService (Litestar's signature model checks the dependency's type) whose
    ``mint`` fails as no PulseError does."""

    __slots__ = ()

    def mint(self, project: Project, request: TokenRequest) -> MintedToken:
        raise RuntimeError("boom")


async def test_an_unexpected_error_is_the_same_logged_500(
    settings: Settings, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    container = _container(settings, clock)
    failing = _Failing(
        clock,
        livekit_api_key=settings.livekit_api_key,
        livekit_api_secret=settings.livekit_api_secret,
        livekit_url=settings.livekit_client_url,
    )
    container.services.tokens.override(providers.Object(failing))
    admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await make_tenant(client, container, admin, "Broken")
        fast, slow = await _both(
            client, content=_json(identity="u", room="demo"), headers=tenant.project_headers
        )
    assert fast.status_code == 500
    assert fast.headers["content-type"] == "application/problem+json"
    fast_status, fast_headers, fast_body = _comparable(fast)
    slow_status, slow_headers, slow_body = _comparable(slow)
    assert (fast_status, fast_body) == (slow_status, slow_body)
    # The same headers, but for the second request being charged one more to the bucket.
    remaining = int(fast_headers["x-ratelimit-remaining"])
    assert slow_headers == {
        **fast_headers,
        "x-ratelimit-remaining": str(remaining - 1),
        "ratelimit": fast_headers["ratelimit"].replace(f";r={remaining};", f";r={remaining - 1};"),
    }
    output = capsys.readouterr().out
    for response in (fast, slow):
        body = response.json()
        assert body["code"] == "internal_error" and "boom" not in response.text
        assert body["request_id"] == response.headers["x-request-id"]
        assert body["request_id"] in output
    assert output.count("unhandled_error") == 2


async def test_the_access_log_line_of_a_minted_token(
    settings: Settings, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    container = _container(
        msgspec.structs.replace(settings, log_format="json", log_level="info"), clock
    )
    admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await make_tenant(client, container, admin, "Logged")
        behind = _behind_fast_path(client.app)
        response = await client.post(
            FAST,
            json={"identity": "u", "room": "demo"},
            headers={**tenant.project_headers, "X-Request-ID": "trace-7"},
        )
    assert response.status_code == 201 and response.headers["x-request-id"] == "trace-7"
    assert behind.paths == []
    output = capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "request" and line["path"] == FAST]
    assert len(access) == 1
    line = access[0]
    assert list(line) == [
        "method",
        "path",
        "status",
        "duration_ms",
        "event",
        "request_id",
        "level",
        "timestamp",
    ]
    assert (line["method"], line["path"], line["status"]) == ("POST", FAST, 201)
    assert line["request_id"] == "trace-7" and line["level"] == "info"
    assert datetime.fromisoformat(line["timestamp"]).tzinfo is not None
    assert tenant.api_secret not in output and tenant.api_key not in output


# -- the ASGI edges a test client does not produce ---------------------------------------


async def _raw_call(
    app: Any,
    headers: list[tuple[bytes, bytes]],
    messages: list[dict[str, Any]],
    *,
    method: str = "POST",
    path: str = FAST,
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

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
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }
    await app(scope, receive, send)
    return sent


async def _raw_json(app: Any, path: str, body: dict[str, Any], token: str) -> Any:
    headers = [(b"authorization", f"Bearer {token}".encode())]
    sent = await _raw_call(
        app, headers, [{"type": "http.request", "body": _json(**body)}], path=path
    )
    assert sent[0]["status"] == 201, sent
    return json.loads(sent[1]["body"])


async def test_raw_asgi_edges(settings: Settings, clock: ManualClock) -> None:
    container = _container(settings, clock)
    admin = container.services.management_auth().mint("a")
    app = create_app(container)
    async with app.lifespan():
        org = await _raw_json(
            app, "/v1/organizations", {"name": "Raw", "admin_email": "a@b.co"}, admin
        )
        project = await _raw_json(app, "/v1/projects", {"org_id": org["id"], "name": "raw"}, admin)
        credentials = [
            (b"x-pulse-key", project["api_key"].encode()),
            (b"x-pulse-secret", project["api_secret"].encode()),
        ]
        body = _json(identity="u", room="demo")
        behind = _behind_fast_path(app)

        # A body in several messages.
        chunks = [
            {"type": "http.request", "body": body[:7], "more_body": True},
            {"type": "http.request", "body": body[7:], "more_body": True},
            {"type": "http.request", "body": b"", "more_body": False},
        ]
        sent = await _raw_call(app, credentials, list(chunks))
        assert sent[0]["status"] == 201 and json.loads(sent[1]["body"])["room"] == "demo"

        # A garbled Content-Length, and one announcing more than the limit.
        for declared, status in ((b"12x", 400), (b"999999999", 413)):
            sent = await _raw_call(
                app, [*credentials, (b"content-length", declared)], [dict(chunks[-1])]
            )
            assert sent[0]["status"] == status
            problem = json.loads(sent[1]["body"])
            assert problem["status"] == status
            assert problem["type"].startswith("urn:pulse:problem:")

        # The client leaving mid-body: its body is incomplete.
        sent = await _raw_call(app, credentials, [dict(chunks[0])])
        assert sent[0]["status"] == 400
        assert json.loads(sent[1]["body"])["field"] == "body"

        # Header names are matched whatever their case.
        shouting = [(name.upper(), value) for name, value in credentials]
        sent = await _raw_call(app, shouting, [{"type": "http.request", "body": body}])
        assert sent[0]["status"] == 201
        assert behind.paths == []
