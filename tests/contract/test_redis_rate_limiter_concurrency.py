"""Atomicity across replicas: two limiters, two clients, one Redis, one key.

With the clock frozen no allowance is ever refilled, so GCRA's bound
``burst + elapsed / T`` is exactly ``burst``: of any number of concurrent acquisitions,
exactly ``burst`` pass, however the calls of the two replicas interleave. A
read-modify-write done outside one atomic script would let more through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from pulse_adapters.clock import ManualClock
from pulse_adapters.redis import RedisRateLimiter, create_redis_client
from pulse_core.ports.rate_limit import RateLimit

CALLS = 500
POLICY = RateLimit(requests=100, period_seconds=60.0, burst=37)


@pytest.fixture
async def two_clients(redis_url: str) -> AsyncIterator[tuple[redis.asyncio.Redis, ...]]:
    # Generous timeouts: 500 calls open many connections at once; this test is about
    # atomicity, not latency.
    clients = tuple(create_redis_client(redis_url, timeout_seconds=10.0) for _ in range(2))
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()


async def test_concurrent_acquisitions_let_exactly_burst_through(
    two_clients: tuple[redis.asyncio.Redis, ...], clock: ManualClock
) -> None:
    replicas = [RedisRateLimiter(c, clock, timeout_seconds=10.0) for c in two_clients]

    decisions = await asyncio.gather(
        *(replicas[i % 2].acquire("shared", POLICY) for i in range(CALLS))
    )

    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == POLICY.burst  # exactly 37 of 500, not one more or less
    # Each remaining value 36..0 was handed out once: the decisions were serialized.
    assert sorted(d.remaining for d in allowed) == list(range(POLICY.burst))
    assert {d.retry_after for d in decisions if not d.allowed} == {0.6}  # T = 60/100 s


async def test_concurrent_costs_never_overdraw(
    two_clients: tuple[redis.asyncio.Redis, ...], clock: ManualClock
) -> None:
    replicas = [RedisRateLimiter(c, clock, timeout_seconds=10.0) for c in two_clients]
    costs = [1 + i % 5 for i in range(CALLS)]

    decisions = await asyncio.gather(
        *(replicas[i % 2].acquire("shared", POLICY, cost) for i, cost in enumerate(costs))
    )

    spent = sum(c for c, d in zip(costs, decisions, strict=True) if d.allowed)
    # Never more than burst units. And exactly burst: a cost-1 call is refused only when
    # nothing at all is left, at least 63 of the 100 cost-1 calls must be refused, and the
    # frozen clock never refills what was spent.
    assert any(c == 1 and not d.allowed for c, d in zip(costs, decisions, strict=True))
    assert spent == POLICY.burst
