"""RedisRateLimiter decides exactly as the in-memory adapter (whose arithmetic
tests/unit/test_gcra.py checks against GCRA's definition), on random scenarios run
against a real ``redis-server``."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryRateLimiter
from pulse_adapters.redis import RedisRateLimiter, create_redis_client
from tests.support.gcra import START_US, Scenario, at, scenarios


async def _agree(redis_url: str, *phases: Scenario) -> None:
    """Run the phases' steps in turn on one key (each with its own policy), asserting
    that Redis decides every step as the in-memory adapter does."""
    clock = ManualClock(at(START_US))
    client = create_redis_client(redis_url, timeout_seconds=2.0)
    try:
        # Redis expires keys in real time while this clock is manual: a long grace keeps
        # a key from vanishing under a slow machine.
        in_redis = RedisRateLimiter(client, clock, expiry_grace_seconds=60.0)
        in_memory = InMemoryRateLimiter(clock)
        key = uuid.uuid4().hex
        for scenario in phases:
            for advance_us, cost in scenario.steps:
                clock.set(clock.now() + timedelta(microseconds=advance_us))
                expected = await in_memory.acquire(key, scenario.limit, cost)
                assert await in_redis.acquire(key, scenario.limit, cost) == expected
    finally:
        await client.aclose()


# One Redis server for all examples; each example uses a key of its own.
_EXAMPLES = settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(scenarios(max_steps=25))
@_EXAMPLES
async def test_redis_adapter_agrees_with_the_in_memory_one(
    redis_url: str, scenario: Scenario
) -> None:
    await _agree(redis_url, scenario)


@given(scenarios(max_steps=12), scenarios(max_steps=12))
@_EXAMPLES
async def test_they_agree_when_the_policy_changes_midway(
    redis_url: str, before: Scenario, after: Scenario
) -> None:
    # A project's limit changed by its owner: the key's state was left by another policy.
    await _agree(redis_url, before, after)
