"""Rate limits over HTTP: headers, 429s, failed-auth throttling, shared Redis, outages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import msgspec
import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http.app import create_app
from pulse_http.container import Container, build_container
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_tenant
from tests.support.redis_server import RedisServer

HEADERS = (
    "ratelimit-policy",
    "ratelimit",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
)


async def _limited_project(
    client: AsyncTestClient[Any], tenant: Tenant, *, requests: int, period: str, burst: int
) -> dict[str, str]:
    response = await client.post(
        "/v1/projects",
        json={
            "org_id": tenant.org_id,
            "name": "Limited",
            "rate_limit": {"requests": requests, "period": period, "burst": burst},
        },
        headers=tenant.owner_headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"X-Pulse-Key": body["api_key"], "X-Pulse-Secret": body["api_secret"]}


async def test_headers_count_down_then_429_with_matching_retry_after(
    client: AsyncTestClient[Any], tenant_a: Tenant, clock: ManualClock
) -> None:
    headers = await _limited_project(client, tenant_a, requests=3, period="minute", burst=3)
    for remaining in (2, 1, 0):
        response = await client.get("/v1/project", headers=headers)
        assert response.status_code == 200
        assert all(name in response.headers for name in HEADERS)
        assert response.headers["x-ratelimit-limit"] == "3"
        assert response.headers["x-ratelimit-remaining"] == str(remaining)
        assert response.headers["ratelimit-policy"] == '"api";q=3;w=60'
        assert response.headers["ratelimit"].startswith(f'"api";r={remaining};t=')
    refused = await client.get("/v1/project", headers=headers)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "rate_limited"
    # One request is earned back every 20 s: that is what every field announces.
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["x-ratelimit-reset"] == "20"
    assert refused.headers["ratelimit"] == '"api";r=0;t=20'
    clock.advance(19)
    assert (await client.get("/v1/project", headers=headers)).status_code == 429
    clock.advance(1)
    assert (await client.get("/v1/project", headers=headers)).status_code == 200


async def test_the_key_alone_cannot_spend_what_minting_needs(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    """The key is no secret (members read it, token-checking services hold it): whoever
    holds only the key spends a bucket of its own, even with a key lacking the scope."""
    headers = await _limited_project(client, tenant_a, requests=2, period="minute", burst=2)
    key_only = {"X-Pulse-Key": headers["X-Pulse-Key"]}
    mint = {"identity": "alice", "room": "demo"}
    for _ in range(2):
        checked = await client.post("/v1/tokens/validate", json={"token": "x"}, headers=key_only)
        assert checked.status_code == 200, checked.text
        assert checked.headers["ratelimit-policy"] == '"validate";q=2;w=60'
    assert (
        await client.post("/v1/tokens/validate", json={"token": "x"}, headers=key_only)
    ).status_code == 429
    minted = await client.post("/v1/tokens/create", json=mint, headers=headers)
    assert minted.status_code == 201, minted.text
    assert minted.headers["x-ratelimit-remaining"] == "1"
    # With the secret, validation is the backend's own and spends the tokens bucket.
    checked = await client.post("/v1/tokens/validate", json={"token": "x"}, headers=headers)
    assert checked.status_code == 200
    assert checked.headers["ratelimit"].startswith('"tokens";r=0;')


async def test_a_raised_limit_is_not_held_back_by_the_old_ones_bucket(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    """A bucket spent under 1/minute ran a minute ahead; read under 100/second it refused
    for that minute. A changed policy starts a bucket of its own, full."""
    headers = await _limited_project(client, tenant_a, requests=1, period="minute", burst=1)
    assert (await client.get("/v1/project", headers=headers)).status_code == 200
    assert (await client.get("/v1/project", headers=headers)).status_code == 429
    raised = {"rate_limit": {"requests": 100, "period": "second", "burst": 100}}
    projects = await client.get(
        "/v1/projects", params={"org_id": tenant_a.org_id}, headers=tenant_a.owner_headers
    )
    [limited] = [p for p in projects.json()["items"] if p["name"] == "Limited"]
    changed = await client.put(
        f"/v1/projects/{limited['id']}", json=raised, headers=tenant_a.owner_headers
    )
    assert changed.status_code == 200, changed.text
    after = await client.get("/v1/project", headers=headers)
    assert after.status_code == 200, after.text
    assert after.headers["x-ratelimit-limit"] == "100"


async def test_platform_default_applies_and_projects_are_independent(
    client: AsyncTestClient[Any], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    limited = await _limited_project(client, tenant_a, requests=1, period="minute", burst=1)
    assert (await client.get("/v1/project", headers=limited)).status_code == 200
    assert (await client.get("/v1/project", headers=limited)).status_code == 429
    other = await client.get("/v1/project", headers=tenant_b.project_headers)
    assert other.status_code == 200
    assert other.headers["x-ratelimit-limit"] == "100"  # RATE_LIMIT_BURST default


async def test_management_routes_carry_no_project_headers(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    response = await client.get("/v1/organizations", headers=tenant_a.owner_headers)
    assert response.status_code == 200 and "x-ratelimit-limit" not in response.headers


@pytest.fixture
def throttled_settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(
        settings, auth_failure_limit=3, auth_failure_window_seconds=60, trust_x_forwarded_for=True
    )


async def test_failed_auth_is_throttled_per_address_without_locking_out_the_project(
    throttled_settings: Settings, clock: ManualClock
) -> None:
    container = build_container(throttled_settings)
    container.adapters.clock.override(providers.Object(clock))
    admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await make_tenant(client, container, admin, "Target")
        attacker = {"X-Forwarded-For": "203.0.113.9"}
        real = {"X-Forwarded-For": "198.51.100.7", **tenant.project_headers}
        guess = {
            **attacker,
            "X-Pulse-Key": tenant.api_key,
            "X-Pulse-Secret": tenant.api_secret[:-1]
            + ("Y" if tenant.api_secret.endswith("Z") else "Z"),
        }
        statuses = [(await client.get("/v1/project", headers=guess)).status_code for _ in range(5)]
        assert statuses[:3] == [401, 401, 401] and statuses[-1] == 429
        blocked = await client.get("/v1/project", headers={**attacker, **tenant.project_headers})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert blocked.json()["code"] == "too_many_failed_attempts"
        # The real project, elsewhere, is unaffected.
        assert (await client.get("/v1/project", headers=real)).status_code == 200
        clock.advance(61)
        assert (
            await client.get("/v1/project", headers={**attacker, **tenant.project_headers})
        ).status_code == 200


# -- Redis -------------------------------------------------------------------------------

# Redis's timeout where a test proves the shared allowance. On a loaded machine a Redis call
# can take longer than the 0.25 s default, and a call slower than the timeout sends that
# replica to its own per-process limiter (by design: see the fallback tests below and in
# tests/contract/test_redis_rate_limiter_faults.py), which lets more through. No machine
# takes 30 s for one Redis call, so such a test only ever sees the shared limit.
UNREACHABLE_REDIS_TIMEOUT_SECONDS = 30.0


def _redis_container(
    settings: Settings, url: str, clock: ManualClock, *, timeout_seconds: float | None = None
) -> Container:
    timeout = settings.redis_timeout_seconds if timeout_seconds is None else timeout_seconds
    container = build_container(
        msgspec.structs.replace(settings, redis_url=url, redis_timeout_seconds=timeout)
    )
    container.adapters.clock.override(providers.Object(clock))
    return container


@pytest.fixture
async def two_replicas(
    settings: Settings, redis_url: str, clock: ManualClock
) -> AsyncIterator[tuple[list[Container], AsyncTestClient[Any], AsyncTestClient[Any]]]:
    """Two API processes' worth of app: one SQLite file, one Redis, separate memory."""
    replicas = [
        _redis_container(
            settings, redis_url, clock, timeout_seconds=UNREACHABLE_REDIS_TIMEOUT_SECONDS
        )
        for _ in range(2)
    ]
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(AsyncTestClient(app=create_app(replicas[0])))
        two = await stack.enter_async_context(AsyncTestClient(app=create_app(replicas[1])))
        yield replicas, one, two


async def test_two_replicas_sharing_redis_never_exceed_the_allowance(
    two_replicas: tuple[list[Container], AsyncTestClient[Any], AsyncTestClient[Any]],
) -> None:
    replicas, one, two = two_replicas
    container = replicas[0]
    admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
    tenant = await make_tenant(one, container, admin, "Shared")
    burst = 25
    headers = await _limited_project(one, tenant, requests=1, period="minute", burst=burst)
    # The clock is frozen, so nothing is earned back: the exact bound is the burst.
    clients = [one, two] * 60
    responses = await asyncio.gather(*(c.get("/v1/project", headers=headers) for c in clients))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == burst
    assert statuses.count(429) == len(clients) - burst
    # Every decision was Redis's: neither replica fell back to its own limiter.
    for replica, client in zip(replicas, (one, two), strict=True):
        assert not replica.adapters.rate_limiter().degraded
        ready = (await client.get("/health/ready")).json()
        assert ready["checks"]["cache"] == "ok"


async def test_redis_outage_falls_back_and_recovers(
    settings: Settings, disposable_redis: RedisServer, clock: ManualClock
) -> None:
    container = _redis_container(settings, disposable_redis.url, clock)
    admin = {"Authorization": "Bearer " + container.services.management_auth().mint("a")}
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await make_tenant(client, container, admin, "Outage")
        assert (await client.get("/v1/project", headers=tenant.project_headers)).status_code == 200

        disposable_redis.stop()
        started = time.monotonic()
        during = await client.get("/v1/project", headers=tenant.project_headers)
        assert time.monotonic() - started < 3  # bounded by REDIS_TIMEOUT_SECONDS, no hang
        assert during.status_code == 200 and "x-ratelimit-remaining" in during.headers
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "degraded",
            "checks": {"database": "ok", "cache": "degraded", "storage": "ok", "media": "ok"},
        }

        disposable_redis.start()
        clock.advance(6)  # past the fallback's retry interval: the next request probes Redis
        after = await client.get("/v1/project", headers=tenant.project_headers)
        assert after.status_code == 200
        ready = await client.get("/health/ready")
        assert ready.json() == {
            "status": "ok",
            "checks": {"database": "ok", "cache": "ok", "storage": "ok", "media": "ok"},
        }


async def test_headers_are_on_project_error_responses_too(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    bad_token = await client.post(
        "/v1/tokens/create", json={"identity": "", "room": "demo"}, headers=tenant_a.project_headers
    )
    missing = await client.get(
        "/v1/media/egress/eg_01J00000000000000000000000", headers=tenant_a.project_headers
    )
    malformed = await client.post(
        "/v1/media/egress/start",
        json={"room": "demo", "kind": "hologram"},
        headers=tenant_a.project_headers,
    )
    for response, status, bucket in (
        (bad_token, 400, "tokens"),
        (missing, 404, "api"),
        (malformed, 400, "api"),
    ):
        assert response.status_code == status, response.text
        assert all(name in response.headers for name in HEADERS)
        assert response.headers["ratelimit-policy"].startswith(f'"{bucket}";')
