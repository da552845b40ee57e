"""Who may make how many requests: per-project buckets and failed-authentication throttling.

Buckets. Every project-authenticated request is charged to one of the calling project's
buckets, each sized by the project's ``rate_limit`` setting (or the platform default):

- ``tokens``: token creation and validation, the per-join path that spikes when an
  audience arrives;
- ``api``: everything else (media control, recordings, ``GET /v1/project``);
- ``validate``: validation with the key alone, without its secret.

Keeping them apart means a join storm cannot stop the customer's backend from starting
the recording of the very event everyone is joining, and vice versa. The key is not a
secret (a project's members read it, services that only check tokens hold it), so what
it alone can spend must not be what minting needs.

Failed authentication. Failures are counted per client address, never per key: an
attacker who guesses at a project's key from their own address only ever blocks that
address, so they cannot lock the real project out. Once an address is over the limit,
its requests are refused (``RateLimited``) before any credential lookup, which is what
protects the database from floods of made-up keys.
"""

from __future__ import annotations

import functools
from typing import Literal

from pulse_core.errors import RateLimited
from pulse_core.models import Project, RateLimitSettings
from pulse_core.ports.clock import Clock
from pulse_core.ports.rate_limit import RateLimit, RateLimitDecision, RateLimiter

Bucket = Literal["tokens", "api", "validate"]
#: Where a request presenting the key without its secret is charged.
KEY_ONLY_BUCKET: Bucket = "validate"


@functools.lru_cache(maxsize=1024)  # per request otherwise; few distinct settings exist
def policy_of(settings: RateLimitSettings) -> RateLimit:
    """The GCRA policy of a rate-limit setting; the burst defaults to the rate."""
    return RateLimit(
        requests=settings.requests,
        period_seconds=settings.period_seconds,
        burst=settings.burst if settings.burst is not None else settings.requests,
    )


@functools.lru_cache(maxsize=1024)  # as policy_of: one lookup per request, not two
def _policy_and_key(settings: RateLimitSettings) -> tuple[RateLimit, str]:
    """The policy, and what names it in a bucket's key."""
    policy = policy_of(settings)
    return policy, f"{policy.requests}/{policy.period_seconds:g}/{policy.burst}"


class ProjectRateLimits:
    """Charges project requests to the project's buckets."""

    def __init__(self, limiter: RateLimiter, *, default: RateLimitSettings) -> None:
        self._limiter = limiter
        self._default = _policy_and_key(default)

    def policy_for(self, project: Project) -> RateLimit:
        return self._policy_and_key(project)[0]

    def _policy_and_key(self, project: Project) -> tuple[RateLimit, str]:
        configured = project.settings.rate_limit
        return self._default if configured is None else _policy_and_key(configured)

    async def charge(self, project: Project, bucket: Bucket) -> tuple[RateLimit, RateLimitDecision]:
        """Take one request from ``bucket``; the caller refuses it when not allowed (and
        can still report the headers either way).

        A bucket is kept per policy: a bucket's state (how far ahead its theoretical
        arrival time runs) is only meaningful under the policy that filled it. Read under
        a raised limit, a bucket filled under the old one would refuse for up to the old
        window; so a changed limit starts a bucket of its own, full."""
        policy, named = self._policy_and_key(project)
        decision = await self._limiter.acquire(f"project:{project.id}:{bucket}:{named}", policy)
        return policy, decision


class FailedAuthThrottle:
    """Counts failed authentications per client address in the shared limiter.

    The block itself is remembered in-process (until the limiter's ``retry_after``), so
    a blocked address costs no backend call; every replica learns of the block on the
    first failure it sees from that address.
    """

    def __init__(self, limiter: RateLimiter, clock: Clock, *, limit: RateLimit) -> None:
        self._limiter = limiter
        self._clock = clock
        self._limit = limit
        self._blocked_until: dict[str, float] = {}

    def check(self, client: str, *, whose: str = "from this address") -> None:
        """``RateLimited`` if ``client`` is blocked now; its message says ``whose``
        failures they were (a client address's by default)."""
        until = self._blocked_until.get(client)
        if until is None:
            return
        remaining = until - self._clock.time()
        if remaining > 0:
            raise RateLimited(
                f"too many failed authentication attempts {whose}",
                retry_after=remaining,
                code="too_many_failed_attempts",
            )
        del self._blocked_until[client]

    async def failed(self, client: str) -> None:
        """Record one failure; over the limit, block ``client`` until it may retry."""
        decision = await self._limiter.acquire(f"authfail:{client}", self._limit)
        if decision.allowed and decision.remaining > 0:
            return
        # Refused, or this failure spent the last one allowed: the next attempt waits
        # (so the limit is the number of failures, not one more).
        wait = decision.retry_after or self._limit.period_seconds / self._limit.requests
        if len(self._blocked_until) > 100_000:
            self._forget_expired()
        self._blocked_until[client] = self._clock.time() + wait

    def _forget_expired(self) -> None:
        now = self._clock.time()
        for client in [c for c, until in self._blocked_until.items() if until <= now]:
            del self._blocked_until[client]
