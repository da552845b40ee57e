"""The in-process GCRA rate limiter (the embedded default, and the failover fallback).

Each decision runs without awaiting anything, so under asyncio it is atomic. State lives
in this process only: N replicas each using one enforce the limit N times over.
"""

from __future__ import annotations

from pulse_core.ports.clock import Clock
from pulse_core.ports.rate_limit import RateLimit, RateLimitDecision, RateLimiter
from pulse_core.services.rate_limiting import Tat, gcra_acquire

# Below this many keys a sweep is not worth its O(n) walk.
_MIN_SWEEP_SIZE = 1024


class InMemoryRateLimiter(RateLimiter):
    """GCRA per key in a dict, computed by :func:`~pulse_core.services.rate_limiting.gcra_acquire`.

    Memory is bounded: an entry whose TAT has passed is equivalent to no entry (a full
    bucket), so expired entries are swept whenever the table has doubled since the last
    sweep. That keeps the cost amortized O(1) per call and the table at most about twice
    the number of keys whose bucket was not full at the last sweep (and never below
    1024 entries' worth of slack).
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tats: dict[str, Tat] = {}
        self._sweep_at = _MIN_SWEEP_SIZE

    def __len__(self) -> int:
        """How many keys currently hold state (expired ones included until the next sweep)."""
        return len(self._tats)

    async def acquire(self, key: str, limit: RateLimit, cost: int = 1) -> RateLimitDecision:
        now_us = self._clock.micros()
        outcome = gcra_acquire(limit, self._tats.get(key), now_us, cost)
        if outcome.tat is not None:
            self._tats[key] = outcome.tat
            if len(self._tats) >= self._sweep_at:
                self.sweep(now_us)
        return outcome.decision

    def sweep(self, now_us: int | None = None) -> None:
        """Drop every entry whose bucket is full again at ``now_us`` (default: the clock's now)."""
        if now_us is None:
            now_us = self._clock.micros()
        self._tats = {k: t for k, t in self._tats.items() if t.expires_at_us > now_us}
        self._sweep_at = max(_MIN_SWEEP_SIZE, 2 * len(self._tats))
