"""Traces (API.md, "Observability"): a span per request with its request id, and the
database, Redis and LiveKit calls and webhook deliveries inside it; sent over OTLP/HTTP
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, and nothing at all (not even the SDK loaded)
when it is not."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from pulse_adapters.clock import ManualClock
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.observability.tracing import REQUEST_ID, Tracing
from pulse_http.settings import Settings
from tests.http.conftest import make_container, make_tenant
from tests.support.livekit_twirp_server import LiveKitTwirpServer
from tests.support.webhook_receiver import WebhookReceiver

Client = AsyncTestClient[Any]
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
LK_KEY, LK_SECRET = "APItraces", "t" * 40


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def traced(container: Container, exporter: InMemorySpanExporter) -> Container:
    """``container`` tracing into ``exporter`` (as OTEL_EXPORTER_OTLP_ENDPOINT would turn
    on, with an in-memory exporter instead of the OTLP one)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    container.observability.tracing.override(providers.Object(Tracing(provider)))
    return container


def of_trace(spans: tuple[ReadableSpan, ...], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def named(spans: list[ReadableSpan] | tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name]
    return span


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


async def test_a_request_is_a_span_with_its_request_id_and_its_database_calls_inside(
    container: Container,
    exporter: InMemorySpanExporter,
    admin_headers: dict[str, str],
    settings: Settings,
) -> None:
    async with AsyncTestClient(app=create_app(traced(container, exporter))) as client:
        exporter.clear()  # start-up's own calls
        response = await client.post(
            "/v1/organizations",
            json={"name": "Traced", "admin_email": "t@traced.test"},
            headers=admin_headers,
        )
        assert response.status_code == 201, response.text
    request = named(exporter.get_finished_spans(), "POST /v1/organizations")
    assert request.kind == SpanKind.SERVER
    assert request.parent is None
    attributes = dict(request.attributes or {})
    assert attributes[REQUEST_ID] == response.headers["x-request-id"]
    assert attributes["http.route"] == "/v1/organizations"
    assert attributes["http.request.method"] == "POST"
    assert attributes["http.response.status_code"] == 201

    assert request.context is not None
    inside = [
        s
        for s in of_trace(exporter.get_finished_spans(), request.context.trace_id)
        if s is not request
    ]
    system = "sqlite" if settings.persistence == "sqlite" else "mongodb"
    calls = [s for s in inside if s.name.startswith(f"{system} ")]
    assert calls, [s.name for s in inside]
    for call in calls:
        assert call.kind == SpanKind.CLIENT
        assert call.parent is not None and call.parent.span_id == span_id(request)
        assert dict(call.attributes or {})["db.system.name"] == system
        # Inside the request's time.
        assert request.start_time is not None and call.start_time is not None
        assert request.end_time is not None and call.end_time is not None
        assert request.start_time <= call.start_time <= call.end_time <= request.end_time
    writes = {"sqlite": "sqlite write", "mongodb": "mongodb insert"}[system]
    assert writes in {c.name for c in calls}


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_the_token_fast_path_continues_the_callers_trace(
    container: Container, exporter: InMemorySpanExporter, admin_headers: dict[str, str]
) -> None:
    async with AsyncTestClient(app=create_app(traced(container, exporter))) as client:
        tenant = await make_tenant(client, container, admin_headers, "Tokens")
        response = await client.post(
            "/v1/tokens/create",
            json={"identity": "ada", "room": "demo"},
            headers={**tenant.project_headers, "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
        assert response.status_code == 201, response.text
    request = named(exporter.get_finished_spans(), "POST /v1/tokens/create")
    assert request.context is not None and request.context.trace_id == int(TRACE_ID, 16)
    assert request.parent is not None and request.parent.span_id == int(PARENT_ID, 16)
    attributes = dict(request.attributes or {})
    assert attributes[REQUEST_ID] == response.headers["x-request-id"]
    assert attributes["http.response.status_code"] == 201


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_webhook_delivery_is_a_span_inside_its_job_with_its_calls_inside(
    settings: Settings, exporter: InMemorySpanExporter, webhook_receiver: WebhookReceiver
) -> None:
    hooked = msgspec.structs.replace(
        settings,
        webhook_allowed_networks=("127.0.0.0/8",),
        rate_limit_requests=100_000,
        rate_limit_burst=100_000,
    )
    container = traced(make_container(hooked, ManualClock(datetime.now(tz=UTC))), exporter)
    async with AsyncTestClient(app=create_app(container)) as client:
        admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
        tenant = await make_tenant(client, container, admin, "Hooked")
        created = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": webhook_receiver.url},
            headers=tenant.project_headers,
        )
        webhook_receiver.secret = created.json()["secret"]
        sent = await client.post(
            f"/v1/webhooks/endpoints/{created.json()['id']}/test", headers=tenant.project_headers
        )
        assert sent.status_code == 202, sent.text
        await asyncio.to_thread(webhook_receiver.wait_for, 1)
        for _ in range(200):
            if any(s.name == "pulse.job deliver" for s in exporter.get_finished_spans()):
                break
            await asyncio.sleep(0.05)
    spans = exporter.get_finished_spans()
    job = named(spans, "pulse.job deliver")
    delivery = named(spans, "pulse.webhook.delivery")
    assert delivery.parent is not None and delivery.parent.span_id == span_id(job)
    attributes = dict(delivery.attributes or {})
    assert attributes["pulse.delivery.outcome"] == "succeeded"
    assert attributes["pulse.project_id"] == tenant.project_id
    calls = [s for s in spans if s.parent is not None and s.parent.span_id == span_id(delivery)]
    assert {c.name for c in calls} >= {"sqlite read", "sqlite write"}


class _Collector:
    """An OTLP/HTTP collector on loopback: keeps each export request it receives."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                collector.requests.append((self.path, self.headers["Content-Type"], body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def collector() -> Iterator[_Collector]:
    running = _Collector()
    yield running
    running.close()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_with_the_endpoint_set_spans_are_exported_over_otlp_http(
    settings: Settings, clock: ManualClock, collector: _Collector
) -> None:
    with_endpoint = msgspec.structs.replace(
        settings, otel_exporter_otlp_endpoint=collector.endpoint
    )
    container = make_container(with_endpoint, clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        response = await client.get("/health")
        assert response.status_code == 200
    # Stopping the app sent what was batched.
    assert collector.requests
    spans = []
    for path, content_type, body in collector.requests:
        assert path == "/v1/traces" and content_type == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert service["service.name"] == "pulse"
            spans += [s for scope in resource_spans.scope_spans for s in scope.spans]
    [health] = [s for s in spans if s.name == "GET /health"]
    attributes = {a.key: a.value.string_value for a in health.attributes}
    assert attributes[REQUEST_ID] == response.headers["x-request-id"]


# -- off by default, and free -----------------------------------------------------------

_BUILD_APP = """
import sys, tempfile
from litestar.testing import TestClient
from pulse_http.app import create_app
from pulse_http.container import build_container
from pulse_http.settings import Settings

with TestClient(app=create_app(build_container(Settings(data_dir=tempfile.mkdtemp())))) as c:
    assert c.get("/health").status_code == 200
    assert c.get("/metrics").status_code == 200
"""

_BLOCK_OPENTELEMETRY = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""


def _python(code: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env, timeout=120)


def test_without_the_extra_nothing_loads_opentelemetry(tmp_path: Path) -> None:
    """Installed without the ``otel`` extra, Pulse builds, serves and answers /metrics, and
    ``opentelemetry`` is not in ``sys.modules``; asking for traces then is a clear
    configuration error."""
    _python(
        _BLOCK_OPENTELEMETRY
        + _BUILD_APP
        + "assert not [m for m in sys.modules if m.startswith('opentelemetry')]\n"
        + "from pulse_http.settings import ConfigError, load_settings\n"
        + "try:\n"
        + "    endpoint = {'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://127.0.0.1:4318'}\n"
        + "    load_settings(endpoint, env_file=None)\n"
        + "except ConfigError as exc:\n"
        + "    assert 'pulse-control-plane[otel]' in str(exc), exc\n"
        + "else:\n"
        + "    raise AssertionError('no ConfigError')\n",
        tmp_path,
    )


def test_with_the_extra_installed_and_no_endpoint_pulse_loads_no_tracing(tmp_path: Path) -> None:
    """With the SDK installed but no endpoint, building and serving the app loads no
    opentelemetry module of its own. Its libraries load some by themselves when they find
    OpenTelemetry installed (redis-py 8's metrics hooks; Litestar's plugin check in every
    ``Litestar()``; dependency-injector's wiring through FastAPI's telemetry when FastAPI
    is installed): what they load alone is the baseline. The tracing SDK, the exporter and
    Pulse's tracing module are never loaded."""
    _python(
        "import sys\n"
        "import aiohttp, dependency_injector.containers, granian, litestar, livekit.api\n"
        "import prometheus_client, pymongo, redis.asyncio, structlog\n"
        "litestar.Litestar(route_handlers=[])\n"
        "before = {m for m in sys.modules if m.startswith('opentelemetry')}\n"
        + _BUILD_APP
        + "after = {m for m in sys.modules if m.startswith('opentelemetry')}\n"
        + "assert after == before, sorted(after - before)\n"
        + "for module in ('opentelemetry.sdk.trace', 'opentelemetry.exporter', "
        + "'pulse_http.observability.tracing'):\n"
        + "    assert module not in sys.modules, module\n",
        tmp_path,
    )


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_redis_and_livekit_calls_are_spans_inside_their_request(
    settings: Settings, clock: ManualClock, exporter: InMemorySpanExporter, redis_url: str
) -> None:
    with LiveKitTwirpServer(LK_KEY, LK_SECRET) as livekit:
        backends = msgspec.structs.replace(
            settings,
            redis_url=redis_url,
            livekit_host=livekit.url,
            livekit_api_key=LK_KEY,
            livekit_api_secret=LK_SECRET,
        )
        container = traced(make_container(backends, clock), exporter)
        async with AsyncTestClient(app=create_app(container)) as client:
            admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
            tenant = await make_tenant(client, container, admin, "Backends")
            minted = await client.post(
                "/v1/tokens/create",
                json={"identity": "ada", "room": "demo"},
                headers=tenant.project_headers,
            )
            assert minted.status_code == 201, minted.text
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text
    spans = exporter.get_finished_spans()

    def children(parent: ReadableSpan) -> set[str]:
        return {
            s.name for s in spans if s.parent is not None and s.parent.span_id == span_id(parent)
        }

    # The token's rate-limit decision is one Redis script call (alone, or batched).
    assert children(named(spans, "POST /v1/tokens/create")) & {"redis EVALSHA", "redis PIPELINE"}
    assert "livekit ping" in children(named(spans, "GET /health/ready"))
