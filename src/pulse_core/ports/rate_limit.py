from __future__ import annotations

import abc

import msgspec


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """A GCRA policy: ``requests`` per ``period_seconds`` sustained, ``burst`` at once.

    One request costs the emission interval ``T = period_seconds / requests``; a full
    bucket lets ``burst`` requests through at once and then one more every ``T``. The
    arithmetic, exact to the microsecond, is in :mod:`pulse_core.services.rate_limiting`.
    """

    requests: int
    period_seconds: float
    burst: int


class RateLimitDecision(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one acquisition.

    ``limit``: the bucket size (the policy's ``burst``), what ``remaining`` counts against;
    ``remaining``: requests of cost 1 that could still pass right now, after this one
    (``0 <= remaining <= limit - 1``); ``reset_after``: seconds until the bucket is full
    again; ``retry_after``: seconds until a refused request would pass (0 when allowed,
    > 0 when refused). Durations are rounded up to whole microseconds, so waiting
    ``retry_after`` is always enough.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float


class RateLimiter(abc.ABC):
    """Atomic GCRA (generic cell rate algorithm) per key.

    Each call is one atomic decision: concurrent callers sharing a backend never let
    more than the policy allows through. Keys are independent. Time comes from the
    adapter's ``Clock``.
    """

    @abc.abstractmethod
    async def acquire(self, key: str, limit: RateLimit, cost: int = 1) -> RateLimitDecision:
        """Take ``cost`` units from ``key``'s allowance if available.

        A refused acquisition consumes nothing. From a full bucket exactly ``burst``
        units pass at once; under one policy, over any window of ``L`` seconds at most
        ``burst + L / T`` units pass. A refused request's ``retry_after`` never exceeds
        ``cost * T`` (rounded up to the microsecond), even right after the key's policy
        was tightened.

        Raises ``InvalidInput`` for an impossible policy or a ``cost`` outside
        ``1..burst`` (such a request could never pass), and ``Unavailable`` when the
        backend cannot answer within its timeout.
        """

    async def ping(self) -> None:
        """Return when the backend answers; raise ``Unavailable`` within the adapter's
        timeout when it does not. An in-process limiter always answers (the default)."""
        return None
