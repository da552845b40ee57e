"""Properties of the GCRA arithmetic, and of the in-memory adapter against it (the Redis
adapter's agreement with the in-memory one is in
tests/contract/test_redis_rate_limiter_agreement.py).

The oracle for "which requests pass" is not the implementation but the definition:
GCRA admits a request iff, for every window that starts at an earlier *admitted*
request (or is the request alone), the units admitted in it plus this request stay
within ``burst + elapsed / T``. In exact integers (ticks of 1/requests µs)::

    (sum of costs + cost) * period_us <= burst * period_us + elapsed_us * requests
"""

from __future__ import annotations

import pytest
from hypothesis import given

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryRateLimiter
from pulse_core.errors import InvalidInput
from pulse_core.ports.rate_limit import RateLimit, RateLimitDecision
from pulse_core.services.rate_limiting import (
    MICROS_PER_SECOND,
    Tat,
    gcra_acquire,
    gcra_policy,
)
from tests.support.gcra import START_US, Scenario, at, scenarios


def admissible(scenario: Scenario, admitted: list[tuple[int, int]], now_us: int, cost: int) -> bool:
    """Whether GCRA's definition admits ``cost`` at ``now_us`` after ``admitted``."""
    limit, period_us = scenario.limit, scenario.period_us
    units = cost
    for at_us, admitted_cost in reversed(admitted):
        units += admitted_cost
        if units * period_us > limit.burst * period_us + (now_us - at_us) * limit.requests:
            return False
    return cost <= limit.burst


def run_pure(scenario: Scenario) -> list[tuple[int, int, RateLimitDecision, Tat | None]]:
    """Feed the steps through gcra_acquire: (now_us, cost, decision, tat before)."""
    tat: Tat | None = None
    now_us = START_US
    out = []
    for advance_us, cost in scenario.steps:
        now_us += advance_us
        outcome = gcra_acquire(scenario.limit, tat, now_us, cost)
        out.append((now_us, cost, outcome.decision, tat))
        if outcome.tat is not None:
            tat = outcome.tat
    return out


def micros(seconds: float) -> int:
    return round(seconds * MICROS_PER_SECOND)


@given(scenarios())
def test_admits_exactly_what_the_window_bound_allows(scenario: Scenario) -> None:
    admitted: list[tuple[int, int]] = []
    for now_us, cost, decision, _ in run_pure(scenario):
        assert decision.allowed == admissible(scenario, admitted, now_us, cost)
        if decision.allowed:
            admitted.append((now_us, cost))

    # The headline bound, on every window between two admitted requests.
    requests, burst, period_us = scenario.limit.requests, scenario.limit.burst, scenario.period_us
    for i, (start_us, _) in enumerate(admitted):
        units = 0
        for end_us, cost in admitted[i:]:
            units += cost
            assert units * period_us <= burst * period_us + (end_us - start_us) * requests


@given(scenarios())
def test_decision_fields_are_consistent(scenario: Scenario) -> None:
    burst = scenario.limit.burst
    for now_us, cost, decision, tat_before in run_pure(scenario):
        assert decision.limit == burst
        assert 0 <= decision.remaining <= burst - 1
        assert (decision.retry_after > 0) == (not decision.allowed)
        assert decision.reset_after >= 0

        state = gcra_acquire(scenario.limit, tat_before, now_us, cost).tat or tat_before
        # ``remaining`` is exactly how many cost-1 requests pass at this instant.
        passed = 0
        for _ in range(burst + 1):
            outcome = gcra_acquire(scenario.limit, state, now_us, 1)
            if not outcome.decision.allowed:
                break
            passed += 1
            state = outcome.tat
        assert passed == decision.remaining

        state = gcra_acquire(scenario.limit, tat_before, now_us, cost).tat or tat_before
        # ``reset_after`` is exactly when the bucket is full again (a full burst passes).
        reset_us = micros(decision.reset_after)
        assert gcra_acquire(scenario.limit, state, now_us + reset_us, burst).decision.allowed
        if reset_us > 0:
            early = gcra_acquire(scenario.limit, state, now_us + reset_us - 1, burst)
            assert not early.decision.allowed

        # ``retry_after`` is exactly when the refused request would pass.
        if not decision.allowed:
            retry_us = micros(decision.retry_after)
            assert gcra_acquire(
                scenario.limit, tat_before, now_us + retry_us, cost
            ).decision.allowed
            early = gcra_acquire(scenario.limit, tat_before, now_us + retry_us - 1, cost)
            assert not early.decision.allowed


@given(scenarios())
async def test_in_memory_adapter_agrees_with_the_pure_functions(scenario: Scenario) -> None:
    clock = ManualClock(at(START_US))
    limiter = InMemoryRateLimiter(clock)
    for now_us, cost, expected, _ in run_pure(scenario):
        clock.set(at(now_us))
        assert await limiter.acquire("k", scenario.limit, cost) == expected


async def test_in_memory_adapter_drops_expired_keys(clock: ManualClock) -> None:
    limiter = InMemoryRateLimiter(clock)
    limit = RateLimit(requests=10, period_seconds=1.0, burst=5)
    for i in range(5000):
        await limiter.acquire(f"key-{i}", limit)
        clock.advance(0.01)  # each key's bucket is full again 0.1 s after its request
    # Sweeps run when the table doubles; at most ~11 keys are live at any instant.
    assert len(limiter) < 2048
    clock.advance(1.0)
    limiter.sweep()
    assert len(limiter) == 0


def test_policy_too_large_for_exact_lua_arithmetic_is_refused() -> None:
    with pytest.raises(InvalidInput):
        gcra_policy(RateLimit(requests=1, period_seconds=86_400.0 * 366 * 100, burst=2_000))
    assert gcra_policy(RateLimit(requests=1, period_seconds=86_400.0, burst=1_000)).burst == 1_000
