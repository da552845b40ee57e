"""``GET /metrics`` (API.md, "Observability"): the series, their bounded labels, and what
each part of Pulse reports into them, through the real app on real backends."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from pulse_adapters.clock import ManualClock
from pulse_core.models.jobs import QUEUE
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.observability.metrics import Metrics
from pulse_http.observability.request_series import METHODS
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_container, make_tenant
from tests.support.livekit_twirp_server import LiveKitTwirpServer
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.webhook_receiver import WebhookReceiver

Client = AsyncTestClient[Any]
TOKEN = {"identity": "ada", "room": "the-secret-board-meeting"}
LK_KEY, LK_SECRET = "APImetrics", "m" * 40


async def scrape(client: Client) -> list[Sample]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def requests(samples: Iterable[Sample], route: str, method: str, status: int) -> float:
    return value(
        samples,
        "pulse_http_request_duration_seconds_count",
        route=route,
        method=method,
        status=str(status),
    )


async def mint(client: Client, tenant: Tenant, **body: Any) -> Any:
    return await client.post(
        "/v1/tokens/create", json={**TOKEN, **body}, headers=tenant.project_headers
    )


# -- requests ---------------------------------------------------------------------------


async def test_requests_are_counted_by_route_template_with_the_fast_paths(
    client: Client, tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    for _ in range(2):
        assert (
            await client.get(f"/v1/projects/{tenant_a.project_id}", headers=admin_headers)
        ).status_code == 200
    assert (await client.get("/v1/projects/prj_missing", headers=admin_headers)).status_code == 404
    for _ in range(3):
        assert (await mint(client, tenant_a)).status_code == 201
    assert (await mint(client, tenant_a, identity="")).status_code == 400
    assert (await client.post("/v1/livekit/webhook", content=b"{}")).status_code == 401
    assert (await client.get(f"/nowhere/{tenant_a.project_id}")).status_code == 404

    samples = await scrape(client)
    assert requests(samples, "/v1/projects/{project_id}", "GET", 200) == 2
    assert requests(samples, "/v1/projects/{project_id}", "GET", 404) == 1
    assert requests(samples, "/v1/tokens/create", "POST", 201) == 3
    assert requests(samples, "/v1/tokens/create", "POST", 400) == 1
    assert requests(samples, "/v1/livekit/webhook", "POST", 401) == 1
    assert requests(samples, "unmatched", "GET", 404) == 1
    # The latency histogram: every request in the +Inf bucket, a positive sum.
    route = {"route": "/v1/tokens/create", "method": "POST", "status": "201"}
    assert value(samples, "pulse_http_request_duration_seconds_bucket", le="+Inf", **route) == 3
    assert value(samples, "pulse_http_request_duration_seconds_sum", **route) > 0
    assert value(samples, "pulse_tokens_minted_total") == 3
    # The scrape itself is a request like any other (counted once it is answered).
    assert requests(await scrape(client), "/metrics", "GET", 200) == 1


async def test_every_label_value_comes_from_a_bounded_set(
    client: Client, tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    """Whatever the traffic (ids in paths, made-up methods and paths, room names, failed
    credentials), the labels only take values from small fixed sets: never an id, a key,
    a room name or a raw path."""
    data = {
        tenant_a.project_id,
        tenant_a.org_id,
        tenant_a.api_key,
        TOKEN["room"],
        "zz-made-up-segment",
        "BREW",
    }
    await mint(client, tenant_a)
    await client.get(f"/v1/projects/{tenant_a.project_id}", headers=admin_headers)
    await client.get(f"/v1/organizations/{tenant_a.org_id}", headers=admin_headers)
    await client.get("/v1/rooms/the-secret-board-meeting", headers=tenant_a.project_headers)
    await client.get("/zz-made-up-segment/1/2/3")
    await client.request("BREW", f"/v1/projects/{tenant_a.project_id}")
    await client.post(
        "/v1/tokens/create",
        json=TOKEN,
        headers={"X-Pulse-Key": tenant_a.api_key, "X-Pulse-Secret": "no"},
    )
    await client.post("/v1/livekit/webhook", content=b"{}")

    samples = await scrape(client)
    allowed = bounded_label_values(client.app)
    assert samples
    for sample in samples:
        for label, label_value in sample.labels.items():
            assert label in allowed, f"{sample.name}: unexpected label {label}"
            assert allowed[label](label_value), f"{sample.name}: {label}={label_value!r}"
            assert not any(d in label_value for d in data), (
                f"{sample.name}: {label}={label_value!r}"
            )


def bounded_label_values(app: Litestar) -> dict[str, Any]:
    """Every label name the scrape may hold, with what its values may be."""
    templates = {re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path) for route in app.routes}
    identifier = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*").fullmatch
    operations = {
        "sqlite": {"read", "write"}.__contains__,
        "mongodb": re.compile(r"[a-zA-Z]+").fullmatch,
        "redis": re.compile(r"[A-Z]+( [A-Z]+)?").fullmatch,
        "livekit": re.compile(r"[a-z]+( [a-z]+)*").fullmatch,
    }

    def number(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return True

    return {
        "route": (templates | {"unmatched"}).__contains__,
        "method": (METHODS | {"other"}).__contains__,
        "status": re.compile(r"[1-5][0-9][0-9]").fullmatch,
        "limit": {"project", "failed_auth"}.__contains__,
        "outcome": {"succeeded", "failed", "dead"}.__contains__,
        "queue": {QUEUE}.__contains__,
        "system": operations.keys().__contains__,
        "operation": lambda op: any(check(op) for check in operations.values()),
        "error": identifier,
        "le": number,
        # The process's own series (prometheus-client's): fixed for the process.
        "generation": {"0", "1", "2"}.__contains__,
        "implementation": identifier,
        "major": str.isdigit,
        "minor": str.isdigit,
        "patchlevel": str.isdigit,
        "version": re.compile(r"[0-9][0-9a-z.+]*").fullmatch,
    }


# -- rate limits ------------------------------------------------------------------------


@pytest.fixture
def strict(settings: Settings, clock: ManualClock) -> Container:
    """Three failed authentications per address, and the clock stands still."""
    return make_container(msgspec.structs.replace(settings, auth_failure_limit=3), clock)


@pytest.fixture
async def strict_client(strict: Container) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(strict)) as test_client:
        yield test_client


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_rate_limit_refusals_are_counted_by_route_and_limit(
    strict_client: Client, strict: Container
) -> None:
    client = strict_client
    admin = {"Authorization": "Bearer " + strict.services.management_auth().mint("a")}
    owner = await make_tenant(client, strict, admin, "Limited")
    once = {"requests": 1, "period": "minute", "burst": 1}
    created = await client.post(
        "/v1/projects",
        json={"org_id": owner.org_id, "name": "Once a minute", "rate_limit": once},
        headers=owner.owner_headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    tenant = dataclasses.replace(owner, api_key=body["api_key"], api_secret=body["api_secret"])
    assert (await mint(client, tenant)).status_code == 201
    assert (await mint(client, tenant)).status_code == 429
    wrong = {"X-Pulse-Key": tenant.api_key, "X-Pulse-Secret": "wrong"}
    statuses = [(await client.get("/v1/project", headers=wrong)).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]

    samples = await scrape(client)
    refused = "pulse_rate_limited_requests_total"
    assert value(samples, refused, route="/v1/tokens/create", limit="project") == 1
    assert value(samples, refused, route="/v1/project", limit="failed_auth") == 1
    assert value(samples, refused) == 2
    assert requests(samples, "/v1/tokens/create", "POST", 429) == 1
    assert value(samples, "pulse_tokens_minted_total") == 1


# -- webhooks and the queue -------------------------------------------------------------


def _hooked_settings(settings: Settings, **more: Any) -> Settings:
    return msgspec.structs.replace(
        settings,
        webhook_allowed_networks=("127.0.0.0/8",),
        webhook_retry_schedule="0,30,60",
        rate_limit_requests=100_000,
        rate_limit_burst=100_000,
        **more,
    )


async def _endpoint(client: Client, tenant: Tenant, receiver: WebhookReceiver) -> str:
    response = await client.post(
        "/v1/webhooks/endpoints", json={"url": receiver.url}, headers=tenant.project_headers
    )
    assert response.status_code == 201, response.text
    receiver.secret = response.json()["secret"]
    endpoint_id: str = response.json()["id"]
    return endpoint_id


async def _eventually(client: Client, name: str, expected: float, **labels: str) -> list[Sample]:
    for _ in range(200):
        samples = await scrape(client)
        if value(samples, name, **labels) == expected:
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"{name}{labels} never reached {expected}: {value(samples, name, **labels)}"
    )


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_webhook_deliveries_are_counted_by_outcome_with_their_latency(
    settings: Settings, webhook_receiver: WebhookReceiver
) -> None:
    container = make_container(_hooked_settings(settings), ManualClock(datetime.now(tz=UTC)))
    async with AsyncTestClient(app=create_app(container)) as client:
        admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
        tenant = await make_tenant(client, container, admin, "Hooked")
        endpoint = await _endpoint(client, tenant, webhook_receiver)
        webhook_receiver.script.extend([200, 500, 410])
        for count, outcome in enumerate(("succeeded", "failed", "dead"), start=1):
            sent = await client.post(
                f"/v1/webhooks/endpoints/{endpoint}/test", headers=tenant.project_headers
            )
            assert sent.status_code in (200, 201, 202), sent.text
            await asyncio.to_thread(webhook_receiver.wait_for, count)
            await _eventually(client, "pulse_webhook_deliveries_total", 1, outcome=outcome)
        samples = await scrape(client)
    # Each POST's duration, as the delivery's attempt records it (the service's clock).
    for outcome in ("succeeded", "failed", "dead"):
        name = "pulse_webhook_delivery_duration_seconds_count"
        assert value(samples, name, outcome=outcome) == 1


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_queue_depth_and_oldest_job_age_are_sampled_at_scrape(
    settings: Settings, clock: ManualClock, webhook_receiver: WebhookReceiver
) -> None:
    container = make_container(_hooked_settings(settings, webhook_worker="off"), clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
        tenant = await make_tenant(client, container, admin, "Queued")
        samples = await scrape(client)
        assert value(samples, "pulse_queue_depth", queue=QUEUE) == 0
        endpoint = await _endpoint(client, tenant, webhook_receiver)
        for _ in range(2):
            sent = await client.post(
                f"/v1/webhooks/endpoints/{endpoint}/test", headers=tenant.project_headers
            )
            assert sent.status_code in (200, 201, 202), sent.text
        clock.advance(42)
        samples = await scrape(client)
    assert value(samples, "pulse_queue_depth", queue=QUEUE) == 2
    assert value(samples, "pulse_queue_oldest_job_age_seconds", queue=QUEUE) == pytest.approx(
        42, abs=1
    )
    assert value(samples, "pulse_queue_dead_jobs", queue=QUEUE) == 0


# -- backends ---------------------------------------------------------------------------


async def test_database_calls_are_timed_by_system_and_operation(
    client: Client, tenant_a: Tenant, settings: Settings
) -> None:
    samples = await scrape(client)
    name = "pulse_backend_call_duration_seconds_count"
    if settings.persistence == "sqlite":
        assert value(samples, name, system="sqlite", operation="write") > 0
        assert value(samples, name, system="sqlite", operation="read") > 0
    else:
        assert value(samples, name, system="mongodb", operation="insert") > 0
        assert value(samples, name, system="mongodb", operation="find") > 0
    assert value(samples, "pulse_backend_call_errors_total") == 0


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_redis_calls_and_their_errors(
    settings: Settings, clock: ManualClock, disposable_redis: RedisServer
) -> None:
    redis_settings = msgspec.structs.replace(settings, redis_url=disposable_redis.url)
    container = make_container(redis_settings, clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
        tenant = await make_tenant(client, container, admin, "Shared")
        assert (await mint(client, tenant)).status_code == 201
        samples = await scrape(client)
        name = "pulse_backend_call_duration_seconds_count"
        assert value(samples, name, system="redis") > 0
        assert value(samples, "pulse_backend_call_errors_total", system="redis") == 0
        disposable_redis.stop()
        # The rate limiter falls back to the process's own limits: the token is minted,
        # and the failed Redis call is counted.
        assert (await mint(client, tenant)).status_code == 201
        samples = await scrape(client)
    assert value(samples, "pulse_backend_call_errors_total", system="redis") >= 1


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_livekit_calls_and_their_errors(settings: Settings, clock: ManualClock) -> None:
    with LiveKitTwirpServer(LK_KEY, LK_SECRET) as livekit:
        lk_settings = msgspec.structs.replace(
            settings, livekit_host=livekit.url, livekit_api_key=LK_KEY, livekit_api_secret=LK_SECRET
        )
        container = make_container(lk_settings, clock)
        async with AsyncTestClient(app=create_app(container)) as client:
            assert (await client.get("/health/ready")).status_code == 200
            livekit.set_unavailable()
            assert (await client.get("/health/ready")).json()["checks"]["media"] == "degraded"
            samples = await scrape(client)
    name = "pulse_backend_call_duration_seconds_count"
    # Both pings are timed, the one that succeeded and the one that failed.
    assert value(samples, name, system="livekit", operation="ping") == 2
    errors = "pulse_backend_call_errors_total"
    assert value(samples, errors, system="livekit", operation="ping", error="Unavailable") == 1


# -- where /metrics is ------------------------------------------------------------------


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_with_metrics_port_the_api_port_has_no_metrics(
    settings: Settings, clock: ManualClock
) -> None:
    container = make_container(msgspec.structs.replace(settings, metrics_port=free_port()), clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        response = await client.get("/metrics")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_made_up_methods_share_one_label_and_are_never_kept() -> None:
    metrics = Metrics.create()
    for method in ("BREW", "PROPFIND", "X" * 50):
        metrics.observe_request({"path_template": None, "method": method, "state": {}}, 405, 0.001)
    samples = [s for f in metrics.registry.collect() for s in f.samples]
    assert (
        value(
            samples, "pulse_http_request_duration_seconds_count", method="other", route="unmatched"
        )
        == 3
    )
    assert not metrics.requests._bound  # nothing kept per made-up method


def test_the_cli_imports_no_prometheus_client_before_it_chooses_multiprocess_mode() -> None:
    """``pulse serve`` must set PROMETHEUS_MULTIPROC_DIR before prometheus_client is first
    imported (its value class is chosen at import): importing the CLI loads neither it
    nor the tracing SDK."""
    code = (
        "import sys, pulse_http.cli\n"
        "early = ('prometheus_client', 'pulse_http.observability.')\n"
        "loaded = [m for m in sys.modules if m.startswith(early)]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ}, timeout=60)
