"""Lifecycle: ordered start and stop, health checks, and tasks on a schedule of their own."""

from __future__ import annotations

import asyncio

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryRateLimiter
from pulse_core.errors import Unavailable
from pulse_core.ports.rate_limit import RateLimit, RateLimitDecision, RateLimiter
from pulse_core.services.rate_limiting import FailoverRateLimiter
from pulse_http.lifecycle import Health, Lifecycle


async def test_a_scheduled_task_runs_between_start_and_stop_and_survives_failures() -> None:
    runs = 0
    ran_twice = asyncio.Event()

    async def tick() -> None:
        nonlocal runs
        runs += 1
        if runs >= 2:
            ran_twice.set()
        raise RuntimeError("a failing run is logged; the schedule goes on")

    lifecycle = Lifecycle()
    lifecycle.add("ticker", every=(0.001, tick))
    await lifecycle.start()
    await asyncio.wait_for(ran_twice.wait(), timeout=30)
    await lifecycle.stop()
    stopped_at = runs
    await asyncio.sleep(0.01)
    assert runs == stopped_at  # cancelled with the stop


class _Switchable(RateLimiter):
    def __init__(self, clock: ManualClock) -> None:
        self.inner = InMemoryRateLimiter(clock)
        self.down = False

    async def ping(self) -> None:
        if self.down:
            raise Unavailable("down")

    async def acquire(self, key: str, limit: RateLimit, cost: int = 1) -> RateLimitDecision:
        await self.ping()
        return await self.inner.acquire(key, limit, cost)


async def test_probe_closes_the_circuit_when_the_primary_answers(clock: ManualClock) -> None:
    primary = _Switchable(clock)
    recovered: list[bool] = []
    limiter = FailoverRateLimiter(
        primary, InMemoryRateLimiter(clock), clock, on_recovery=lambda: recovered.append(True)
    )
    assert await limiter.probe()
    primary.down = True
    assert not await limiter.probe()  # the probe alone opens the circuit
    assert limiter.degraded
    decision = await limiter.acquire("k", RateLimit(requests=1, period_seconds=1, burst=1))
    assert decision.allowed  # from the fallback
    assert not await limiter.probe()  # still down: stays open
    primary.down = False
    assert await limiter.probe()  # back, with no request and no time passing
    assert not limiter.degraded and recovered == [True]


async def test_a_check_too_slow_to_answer_reports_what_its_failure_means() -> None:
    """A hung backend is down, unless the service works without it: then degraded, and
    the replica stays ready (a slow S3 or LiveKit must not empty a load balancer)."""

    async def hangs() -> Health:
        await asyncio.sleep(3600)
        return "ok"

    lifecycle = Lifecycle(check_timeout_seconds=0.05)
    lifecycle.add("storage", check=hangs, failing="degraded")
    assert await lifecycle.check() == ({"storage": "degraded"}, True)
    lifecycle.add("database", check=hangs)
    assert await lifecycle.check() == ({"storage": "degraded", "database": "down"}, False)
