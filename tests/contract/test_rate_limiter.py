"""The RateLimiter contract, run against every adapter.

Written against the port only. Time is a ManualClock starting at 2030-01-01: it moves
only when a test advances it, so every expected number below is exact. Float literals
such as ``0.3`` are compared with ``==`` on purpose: a decision's durations are whole
microseconds divided by 10**6, which is the double nearest to the decimal literal.
"""

from __future__ import annotations

import pytest
import redis.asyncio

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryRateLimiter
from pulse_adapters.redis import RedisRateLimiter
from pulse_core.errors import InvalidInput
from pulse_core.ports.rate_limit import RateLimit, RateLimitDecision, RateLimiter

RATE_LIMITER_BACKENDS = ["memory", "redis"]

TEN_PER_SECOND = RateLimit(requests=10, period_seconds=1.0, burst=5)  # T = 0.1 s
SIXTY_PER_MINUTE = RateLimit(requests=60, period_seconds=60.0, burst=10)  # T = 1 s
SEVEN_PER_MINUTE = RateLimit(requests=7, period_seconds=60.0, burst=2)  # T = 8.571428571... s


@pytest.fixture
def memory_rate_limiter(clock: ManualClock) -> RateLimiter:
    return InMemoryRateLimiter(clock)


@pytest.fixture
def redis_rate_limiter(redis_client: redis.asyncio.Redis, clock: ManualClock) -> RateLimiter:
    # Redis expires keys in real time while the ManualClock stands still: a long grace
    # keeps a slow machine from seeing a key vanish in the middle of a test.
    return RedisRateLimiter(redis_client, clock, timeout_seconds=2.0, expiry_grace_seconds=60.0)


@pytest.fixture(params=RATE_LIMITER_BACKENDS)
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    rate_limiter: RateLimiter = request.getfixturevalue(f"{request.param}_rate_limiter")
    return rate_limiter


def decision(
    allowed: bool, remaining: int, reset_after: float, retry_after: float = 0.0, limit: int = 5
) -> RateLimitDecision:
    return RateLimitDecision(
        allowed=allowed,
        limit=limit,
        remaining=remaining,
        reset_after=reset_after,
        retry_after=retry_after,
    )


async def take(limiter: RateLimiter, n: int, limit: RateLimit, key: str = "k") -> int:
    """How many of ``n`` acquisitions at the current instant pass."""
    return sum([(await limiter.acquire(key, limit)).allowed for _ in range(n)])


async def test_exactly_burst_pass_at_once_then_refused(limiter: RateLimiter) -> None:
    got = [await limiter.acquire("k", TEN_PER_SECOND) for _ in range(7)]

    assert got == [
        decision(True, 4, 0.1),
        decision(True, 3, 0.2),
        decision(True, 2, 0.3),
        decision(True, 1, 0.4),
        decision(True, 0, 0.5),
        # Refused: nothing consumed, so the bucket is still full in 0.5 s; one more
        # request would pass in T = 0.1 s.
        decision(False, 0, 0.5, retry_after=0.1),
        decision(False, 0, 0.5, retry_after=0.1),
    ]


async def test_one_more_passes_exactly_one_interval_later(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    assert await take(limiter, 5, TEN_PER_SECOND) == 5

    clock.advance(0.099999)
    assert await limiter.acquire("k", TEN_PER_SECOND) == decision(
        False, 0, 0.400001, retry_after=0.000001
    )
    clock.advance(0.000001)
    assert await limiter.acquire("k", TEN_PER_SECOND) == decision(True, 0, 0.5)
    assert not (await limiter.acquire("k", TEN_PER_SECOND)).allowed


async def test_partial_refill_shows_in_remaining_and_reset(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    assert await take(limiter, 5, TEN_PER_SECOND) == 5

    clock.advance(0.25)  # 2.5 intervals: two requests' worth is back, and half of a third.
    assert await limiter.acquire("k", TEN_PER_SECOND) == decision(True, 1, 0.35)
    assert await limiter.acquire("k", TEN_PER_SECOND) == decision(True, 0, 0.45)
    assert await limiter.acquire("k", TEN_PER_SECOND) == decision(False, 0, 0.45, retry_after=0.05)


async def test_bucket_is_full_again_after_reset_after(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    last = None
    for _ in range(3):
        last = await limiter.acquire("k", TEN_PER_SECOND)
    assert last is not None and last.reset_after == 0.3

    clock.advance(last.reset_after)
    assert await take(limiter, 6, TEN_PER_SECOND) == 5


async def test_sustained_rate_is_one_per_interval(limiter: RateLimiter, clock: ManualClock) -> None:
    assert await take(limiter, 5, TEN_PER_SECOND) == 5

    passed = 0
    for _ in range(50):
        clock.advance(0.1)
        passed += await take(limiter, 3, TEN_PER_SECOND)
    assert passed == 50  # 5 s at 10/s, on top of the initial burst


async def test_refused_requests_consume_nothing(limiter: RateLimiter, clock: ManualClock) -> None:
    assert await take(limiter, 5, TEN_PER_SECOND) == 5
    assert await take(limiter, 100, TEN_PER_SECOND) == 0

    clock.advance(0.1)
    # Had any of the 100 refusals consumed, the bucket would be 10 s in debt.
    assert await take(limiter, 2, TEN_PER_SECOND) == 1


async def test_cost_above_one_takes_that_many_units(limiter: RateLimiter) -> None:
    policy = RateLimit(requests=10, period_seconds=1.0, burst=10)

    assert await limiter.acquire("k", policy, cost=4) == decision(True, 6, 0.4, limit=10)
    assert await limiter.acquire("k", policy, cost=4) == decision(True, 2, 0.8, limit=10)
    # 2 units left, 4 asked: refused until 2 more units are back, 0.2 s.
    assert await limiter.acquire("k", policy, cost=4) == decision(
        False, 2, 0.8, retry_after=0.2, limit=10
    )
    # The refusal took nothing: the 2 remaining units are still there.
    assert await limiter.acquire("k", policy, cost=2) == decision(True, 0, 1.0, limit=10)


async def test_cost_equal_to_burst_needs_a_full_bucket(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    assert (await limiter.acquire("k", TEN_PER_SECOND, cost=5)).allowed
    clock.advance(0.4)
    assert await limiter.acquire("k", TEN_PER_SECOND, cost=5) == decision(
        False, 4, 0.1, retry_after=0.1
    )
    clock.advance(0.1)
    assert (await limiter.acquire("k", TEN_PER_SECOND, cost=5)).allowed


@pytest.mark.parametrize("cost", [0, -1, 6])
async def test_impossible_cost_is_invalid_input(limiter: RateLimiter, cost: int) -> None:
    with pytest.raises(InvalidInput):
        await limiter.acquire("k", TEN_PER_SECOND, cost=cost)


@pytest.mark.parametrize(
    "policy",
    [
        RateLimit(requests=0, period_seconds=1.0, burst=1),
        RateLimit(requests=1, period_seconds=0.0, burst=1),
        RateLimit(requests=1, period_seconds=1.0, burst=0),
    ],
)
async def test_impossible_policy_is_invalid_input(limiter: RateLimiter, policy: RateLimit) -> None:
    with pytest.raises(InvalidInput):
        await limiter.acquire("k", policy)


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    assert await take(limiter, 6, TEN_PER_SECOND, key="project-a") == 5

    assert await limiter.acquire("project-b", TEN_PER_SECOND) == decision(True, 4, 0.1)
    assert not (await limiter.acquire("project-a", TEN_PER_SECOND)).allowed


async def test_per_second_policy(limiter: RateLimiter, clock: ManualClock) -> None:
    policy = RateLimit(requests=5, period_seconds=1.0, burst=1)  # T = 0.2 s

    assert await limiter.acquire("k", policy) == decision(True, 0, 0.2, limit=1)
    assert await limiter.acquire("k", policy) == decision(False, 0, 0.2, 0.2, limit=1)
    clock.advance(1.0)
    assert await take(limiter, 2, policy) == 1


async def test_per_minute_policy(limiter: RateLimiter, clock: ManualClock) -> None:
    assert await take(limiter, 10, SIXTY_PER_MINUTE) == 10
    assert await limiter.acquire("k", SIXTY_PER_MINUTE) == decision(
        False, 0, 10.0, retry_after=1.0, limit=10
    )

    clock.advance(30.0)  # more than the 10 s the bucket needs to fill
    assert await take(limiter, 11, SIXTY_PER_MINUTE) == 10
    clock.advance(60.0)
    assert await take(limiter, 70, SIXTY_PER_MINUTE) == 10  # a burst, not 60 at once


async def test_interval_that_is_not_a_whole_microsecond(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    # T = 60/7 s = 8_571_428.57... µs: durations round up to 8.571429 s, and the
    # fractional part is not lost from one request to the next.
    assert await limiter.acquire("k", SEVEN_PER_MINUTE) == decision(True, 1, 8.571429, limit=2)
    assert await limiter.acquire("k", SEVEN_PER_MINUTE) == decision(True, 0, 17.142858, limit=2)
    assert await limiter.acquire("k", SEVEN_PER_MINUTE) == decision(
        False, 0, 17.142858, retry_after=8.571429, limit=2
    )

    clock.advance(8.571428)
    assert not (await limiter.acquire("k", SEVEN_PER_MINUTE)).allowed
    clock.advance(0.000001)
    assert (await limiter.acquire("k", SEVEN_PER_MINUTE)).allowed

    # Seven intervals are exactly 60 s, so the 7th request of the next minute passes at
    # exactly +60 s (rounding T up to a whole microsecond would make that 6).
    passed = 0
    start = clock.now()
    while (clock.now() - start).total_seconds() < 60.0:
        clock.advance(0.5)
        passed += await take(limiter, 1, SEVEN_PER_MINUTE)
    assert passed == 7


@pytest.mark.parametrize(
    ("loose", "taken"),
    [
        (RateLimit(requests=1, period_seconds=60.0, burst=5), 5),  # TAT 300 s ahead
        (RateLimit(requests=2, period_seconds=1.0, burst=1), 1),  # TAT 0.5 s ahead
    ],
)
async def test_tightened_policy_waits_at_most_one_interval(
    limiter: RateLimiter, clock: ManualClock, loose: RateLimit, taken: int
) -> None:
    tight = RateLimit(requests=10, period_seconds=1.0, burst=1)
    assert await take(limiter, taken, loose) == taken

    # The backlog left by the loose policy is capped at the tight one's tolerance.
    got = await limiter.acquire("k", tight)
    assert got == decision(False, 0, 0.1, retry_after=0.1, limit=1)
    # And the promise is kept: one interval of the new policy later, one passes (the
    # stored TAT clamped by the refusal, not left minutes ahead).
    clock.advance(0.1)
    assert (await limiter.acquire("k", tight)).allowed
