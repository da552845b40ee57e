"""Random GCRA scenarios (a policy and a sequence of (advance, cost) steps) shared by the
pure-function properties (tests/unit/test_gcra.py) and the Redis adapter's agreement with
the in-memory one (tests/contract/test_redis_rate_limiter_agreement.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import hypothesis.strategies as st

from pulse_core.ports.rate_limit import RateLimit
from pulse_core.services.rate_limiting import MICROS_PER_SECOND, to_micros

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START_US = to_micros(datetime(2030, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class Scenario:
    limit: RateLimit
    period_us: int
    steps: list[tuple[int, int]]  # (microseconds to advance first, cost)


@st.composite
def scenarios(draw: st.DrawFn, max_steps: int = 60) -> Scenario:
    requests = draw(st.integers(1, 100))
    period_us = draw(
        st.one_of(
            st.sampled_from([1_000_000, 60_000_000, 3_600_000_000]),
            st.integers(1_000, 120_000_000),
        )
    )
    burst = draw(st.integers(1, 20))
    interval_us = max(1, period_us // requests)
    advance = st.one_of(
        st.just(0),
        st.integers(0, 3 * interval_us),  # around one interval: where decisions flip
        st.integers(0, (burst + 2) * interval_us),  # up to a full refill
    )
    steps = draw(st.lists(st.tuples(advance, st.integers(1, burst)), max_size=max_steps))
    limit = RateLimit(requests=requests, period_seconds=period_us / MICROS_PER_SECOND, burst=burst)
    return Scenario(limit=limit, period_us=period_us, steps=steps)


def at(now_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=now_us)
