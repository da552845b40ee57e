"""FailoverRateLimiter: falls back on Unavailable, reports once per interval, recovers."""

from __future__ import annotations

import asyncio

import pytest

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryRateLimiter
from pulse_core.errors import InvalidInput, Unavailable
from pulse_core.ports.rate_limit import RateLimit, RateLimitDecision, RateLimiter
from pulse_core.services.rate_limiting import FailoverRateLimiter

POLICY = RateLimit(requests=10, period_seconds=1.0, burst=3)


class FlakyPrimary(RateLimiter):
    """A primary that can be switched down, counting the calls it receives."""

    def __init__(self, clock: ManualClock) -> None:
        self.inner = InMemoryRateLimiter(clock)
        self.down = False
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def acquire(self, key: str, limit: RateLimit, cost: int = 1) -> RateLimitDecision:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise Unavailable("primary down")
        return await self.inner.acquire(key, limit, cost)


class Harness:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.primary = FlakyPrimary(clock)
        self.fallback = InMemoryRateLimiter(clock)
        self.failovers: list[Exception] = []
        self.recoveries = 0
        self.limiter = FailoverRateLimiter(
            self.primary,
            self.fallback,
            clock,
            retry_primary_after_seconds=5.0,
            on_failover=self.failovers.append,
            on_recovery=self._recovered,
        )

    def _recovered(self) -> None:
        self.recoveries += 1

    async def acquire(self, key: str = "k") -> RateLimitDecision:
        return await self.limiter.acquire(key, POLICY)


@pytest.fixture
def h(clock: ManualClock) -> Harness:
    return Harness(clock)


async def test_healthy_primary_answers_and_fallback_stays_unused(h: Harness) -> None:
    assert [(await h.acquire()).allowed for _ in range(4)] == [True, True, True, False]
    assert h.primary.calls == 4
    assert len(h.fallback) == 0
    assert not h.limiter.degraded
    assert h.failovers == []


async def test_unavailable_primary_is_answered_by_the_fallback(h: Harness) -> None:
    h.primary.down = True

    got = [await h.acquire() for _ in range(4)]

    # The fallback enforces the same policy on its own.
    assert [d.allowed for d in got] == [True, True, True, False]
    assert got[0].remaining == 2
    assert h.limiter.degraded
    assert len(h.fallback) == 1


async def test_circuit_skips_the_down_primary_until_the_interval_passes(
    h: Harness, clock: ManualClock
) -> None:
    h.primary.down = True
    for _ in range(20):
        await h.acquire()
    assert h.primary.calls == 1  # only the request that discovered the outage

    clock.advance(4.999)
    await h.acquire()
    assert h.primary.calls == 1

    clock.advance(0.001)
    await h.acquire()
    assert h.primary.calls == 2  # one probe; still down, so the circuit reopens
    await h.acquire()
    assert h.primary.calls == 2


async def test_on_failover_is_called_once_per_interval(h: Harness, clock: ManualClock) -> None:
    h.primary.down = True
    for _ in range(10):
        await h.acquire()
    assert len(h.failovers) == 1
    assert isinstance(h.failovers[0], Unavailable)

    for _ in range(3):  # three more intervals, each probing the still-down primary
        clock.advance(5.0)
        for _ in range(10):
            await h.acquire()
    assert len(h.failovers) == 4


async def test_requests_in_flight_when_primary_dies_report_once(h: Harness) -> None:
    h.primary.gate = asyncio.Event()
    pending = [asyncio.create_task(h.acquire(f"k{i}")) for i in range(50)]
    await asyncio.sleep(0)
    h.primary.down = True
    h.primary.gate.set()

    got = await asyncio.gather(*pending)

    assert all(d.allowed for d in got)  # every one answered by the fallback
    assert len(h.failovers) == 1
    assert h.limiter.degraded


async def test_only_one_request_probes_the_primary(h: Harness, clock: ManualClock) -> None:
    h.primary.down = True
    await h.acquire()
    clock.advance(5.0)
    h.primary.gate = asyncio.Event()  # the probe hangs until released

    probe = asyncio.create_task(h.acquire("probe"))
    await asyncio.sleep(0)
    others = [await h.acquire(f"k{i}") for i in range(10)]
    assert h.primary.calls == 2  # the outage, then the single probe
    assert all(d.allowed for d in others)

    h.primary.down = False
    h.primary.gate.set()
    await probe
    assert not h.limiter.degraded


async def test_recovers_when_the_primary_answers_again(h: Harness, clock: ManualClock) -> None:
    h.primary.down = True
    await h.acquire()
    assert h.limiter.degraded

    h.primary.down = False
    clock.advance(5.0)
    decision = await h.acquire()

    assert not h.limiter.degraded
    assert h.recoveries == 1
    # It came from the primary: the primary's bucket for "k" is now one down.
    assert (await h.primary.inner.acquire("k", POLICY)).remaining == 1
    calls = h.primary.calls
    await h.acquire()
    assert h.primary.calls == calls + 1
    assert decision.allowed


async def test_other_errors_propagate_without_failing_over(h: Harness) -> None:
    with pytest.raises(InvalidInput):
        await h.limiter.acquire("k", POLICY, cost=99)
    assert not h.limiter.degraded
    assert h.failovers == []
