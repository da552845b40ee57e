"""Readiness follows Redis back up on its own: no project traffic is needed to notice."""

from __future__ import annotations

import msgspec
import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http.app import create_app
from pulse_http.container import build_container
from pulse_http.settings import Settings
from tests.support.redis_server import RedisServer


@pytest.mark.slow
async def test_readiness_recovers_when_redis_returns_without_project_traffic(
    settings: Settings, disposable_redis: RedisServer, clock: ManualClock
) -> None:
    # A stopped Redis refuses connections at once; the generous timeout only keeps a
    # slow answer on a loaded machine from reading as an outage.
    container = build_container(
        msgspec.structs.replace(
            settings, redis_url=disposable_redis.url, redis_timeout_seconds=10.0
        )
    )
    container.adapters.clock.override(providers.Object(clock))
    limiter = container.adapters.shared_rate_limiter()
    async with AsyncTestClient(app=create_app(container)) as client:
        assert (await client.get("/health/ready")).json()["checks"]["cache"] == "ok"

        disposable_redis.stop()
        down = (await client.get("/health/ready")).json()
        assert down["status"] == "degraded" and down["checks"]["cache"] == "degraded"
        assert limiter.degraded  # the readiness probe itself opened the circuit

        disposable_redis.start()
        # No project request in between, and the clock has not moved: the probe alone
        # brings the shared limiter and readiness back.
        back = (await client.get("/health/ready")).json()
        assert back == {
            "status": "ok",
            "checks": {"database": "ok", "cache": "ok", "storage": "ok", "media": "ok"},
        }
        assert not limiter.degraded
