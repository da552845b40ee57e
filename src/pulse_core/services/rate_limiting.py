"""Rate limiting: the GCRA arithmetic, and a limiter that survives its backend going down.

GCRA (generic cell rate algorithm)
==================================

A policy :class:`~pulse_core.ports.rate_limit.RateLimit` says ``requests`` per
``period_seconds`` sustained, ``burst`` at once. GCRA keeps, per key, one number: the
*theoretical arrival time* (TAT), the instant at which the key's bucket will be full again.
With

- emission interval ``T = period_seconds / requests`` (the time one request "costs"),
- tolerance ``τ = T * burst`` (how far ahead of now the TAT may run),

a request of ``cost`` units arriving at ``now`` is handled as follows::

    backlog  = clamp(TAT - now, 0, τ)        # a missing key, or TAT <= now: backlog 0 (full)
    after    = backlog + cost * T
    allowed  = after <= τ
    TAT'     = now + after   if allowed      # a refused request consumes nothing
               TAT           otherwise

and the decision reports, with ``b = after`` when allowed and ``b = backlog`` when refused:

- ``limit       = burst``                           (the bucket size)
- ``remaining   = floor((τ - b) / T)``              (how many cost-1 requests would still pass now)
- ``reset_after = b``                               (seconds until the bucket is full again)
- ``retry_after = 0`` if allowed, else ``after - τ`` (seconds until this request would pass)

So from a full bucket exactly ``burst`` requests pass at once (``remaining`` goes
``burst - 1, …, 0``), the next is refused with ``retry_after = T``, and after each further
``T`` one more passes. Over any window of length ``L`` at most ``burst + L / T`` units pass.

Exactness
---------

Floats would drift (``60 / 7`` is not a binary fraction, and Redis Lua numbers are
doubles), so everything is integer arithmetic on *ticks*, where one tick is
``1 / requests`` microsecond:

- ``now`` is taken in whole microseconds (:func:`to_micros`); ``period_seconds`` is
  rounded to whole microseconds (``period_us``);
- ``T = period_us`` ticks exactly, ``τ = burst * period_us`` ticks exactly;
- the TAT is stored as :class:`Tat` ``(micros, remainder)`` meaning
  ``micros + remainder / requests`` microseconds, so no absolute time is ever multiplied
  by ``requests`` (that product would exceed 2**53, the largest exact integer of a double);
- only differences from ``now`` are scaled, and these are bounded by ``2τ``; a policy is
  rejected when ``τ > 2**52`` so the Redis script (which mirrors these functions line by
  line) computes the same integers as Python.

The durations in a decision are rounded **up** to whole microseconds, the clock's
resolution: ``reset_after = ceil(b / requests) µs`` and
``retry_after = ceil((after - τ) / requests) µs``, each divided by 10**6. Waiting exactly
``retry_after`` is therefore always enough.

Clamping the backlog at ``τ`` only matters when the stored TAT runs further ahead than
the tolerance, which a fixed policy on a clock that does not go backwards never produces;
it happens when a key's policy is tightened or a clock steps back, and then it caps the
wait at one full bucket instead of locking the key out for the old, longer time. When a
key's ``requests`` changes, the sub-microsecond ``remainder`` is read in the new policy's
ticks: an error below one microsecond.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

from pulse_core.errors import InvalidInput, Unavailable
from pulse_core.ports.clock import Clock
from pulse_core.ports.rate_limit import RateLimit, RateLimitDecision, RateLimiter

MICROS_PER_SECOND = 1_000_000
# Largest tolerance (in ticks) for which ``backlog + cost * T <= 2τ`` stays an exact
# integer in an IEEE double, i.e. in the Redis Lua script.
MAX_TOLERANCE_TICKS = 2**52

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(when: datetime) -> int:
    """``when`` as whole microseconds since the Unix epoch, exactly (no float round trip)."""
    if when.tzinfo is None:
        raise ValueError("to_micros needs a timezone-aware datetime")
    return (when - _EPOCH) // _MICROSECOND


class GcraPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A validated :class:`RateLimit` in integer form: one tick is ``1 / requests`` µs."""

    requests: int
    period_us: int
    burst: int

    @property
    def interval(self) -> int:
        """The emission interval ``T`` in ticks (``period_us``)."""
        return self.period_us

    @property
    def tolerance(self) -> int:
        """The tolerance ``τ = burst * T`` in ticks."""
        return self.burst * self.period_us


class Tat(msgspec.Struct, frozen=True):
    """A stored theoretical arrival time: ``micros + remainder / requests`` µs since the epoch.

    ``0 <= remainder < requests`` when written. The entry is expired (equivalent to no
    entry: the bucket is full) from :attr:`expires_at_us` on.
    """

    micros: int
    remainder: int

    @property
    def expires_at_us(self) -> int:
        """The first whole microsecond at which ``TAT <= now``."""
        return self.micros + (1 if self.remainder > 0 else 0)


class GcraOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One decision and the TAT to store (``None`` when refused: nothing changes)."""

    decision: RateLimitDecision
    tat: Tat | None


# Every decision needs its policy in ticks, and a deployment has a handful of distinct
# policies: memoized, the validation and conversion run once per policy, not per request.
@functools.lru_cache(maxsize=1024)
def gcra_policy(limit: RateLimit, cost: int = 1) -> GcraPolicy:
    """Validate ``limit`` and ``cost`` and convert them to integer ticks.

    Raises ``InvalidInput`` unless ``requests >= 1``, ``period_seconds`` is at least one
    microsecond, ``burst >= 1``, ``1 <= cost <= burst`` (a larger cost could never pass)
    and ``burst * period_us <= 2**52`` (see *Exactness*: burst * period may reach ~142 years).
    """
    if limit.requests < 1:
        raise InvalidInput("rate limit requests must be at least 1", field="requests")
    if limit.burst < 1:
        raise InvalidInput("rate limit burst must be at least 1", field="burst")
    period_us = round(limit.period_seconds * MICROS_PER_SECOND)
    if period_us < 1:
        raise InvalidInput("rate limit period must be at least 1 µs", field="period_seconds")
    if limit.burst * period_us > MAX_TOLERANCE_TICKS:
        raise InvalidInput("rate limit burst * period is too large", field="burst")
    if not 1 <= cost <= limit.burst:
        raise InvalidInput(f"cost must be between 1 and the burst ({limit.burst})", field="cost")
    return GcraPolicy(requests=limit.requests, period_us=period_us, burst=limit.burst)


def backlog_at(policy: GcraPolicy, tat: Tat | None, now_us: int) -> int:
    """``clamp(TAT - now, 0, τ)`` in ticks: how far the stored TAT runs ahead of ``now``."""
    if tat is None:
        return 0
    ahead = (tat.micros - now_us) * policy.requests + tat.remainder
    return min(max(ahead, 0), policy.tolerance)


def gcra_step(policy: GcraPolicy, backlog: int, cost: int) -> tuple[bool, int]:
    """``(allowed, backlog after the decision)``: ``backlog + cost * T`` if it fits in ``τ``.

    A refused request leaves the backlog as it was.
    """
    after = backlog + cost * policy.interval
    if after > policy.tolerance:
        return False, backlog
    return True, after


def tat_after(policy: GcraPolicy, now_us: int, backlog: int) -> Tat:
    """The TAT ``now + backlog`` ticks, normalized so that ``0 <= remainder < requests``."""
    whole_us, remainder = divmod(backlog, policy.requests)
    return Tat(now_us + whole_us, remainder)


def _ceil_micros(policy: GcraPolicy, ticks: int) -> int:
    return -(-ticks // policy.requests)


def gcra_decision(
    policy: GcraPolicy, *, allowed: bool, backlog: int, cost: int
) -> RateLimitDecision:
    """The decision for a request of ``cost`` given ``backlog`` *after* it (see module doc)."""
    remaining = max(0, (policy.tolerance - backlog) // policy.interval)
    reset_us = _ceil_micros(policy, backlog)
    if allowed:
        retry_us = 0
    else:
        retry_us = _ceil_micros(policy, backlog + cost * policy.interval - policy.tolerance)
    return RateLimitDecision(
        allowed=allowed,
        limit=policy.burst,
        remaining=remaining,
        reset_after=reset_us / MICROS_PER_SECOND,
        retry_after=retry_us / MICROS_PER_SECOND,
    )


def gcra_acquire(limit: RateLimit, tat: Tat | None, now_us: int, cost: int = 1) -> GcraOutcome:
    """One GCRA decision from the stored ``tat`` (``None``: no entry) at ``now_us``.

    The reference implementation: the in-memory adapter is exactly this, the Redis script
    mirrors it, and the tests use it as their oracle.
    """
    policy = gcra_policy(limit, cost)
    allowed, backlog = gcra_step(policy, backlog_at(policy, tat, now_us), cost)
    decision = gcra_decision(policy, allowed=allowed, backlog=backlog, cost=cost)
    if allowed or beyond_tolerance(policy, tat, now_us):
        return GcraOutcome(decision=decision, tat=tat_after(policy, now_us, backlog))
    return GcraOutcome(decision=decision, tat=None)


def beyond_tolerance(policy: GcraPolicy, tat: Tat | None, now_us: int) -> bool:
    """Whether ``tat`` runs further ahead than ``policy`` allows: left by a stricter
    policy before the project's limit was raised. A refusal then stores the TAT clamped
    to ``now + τ``; otherwise the old TAT would stand until real time caught up with it
    (minutes, for a per-minute policy) while every decision promised a retry within one
    interval of the new one."""
    if tat is None:
        return False
    return (tat.micros - now_us) * policy.requests + tat.remainder > policy.tolerance


class FailoverRateLimiter(RateLimiter):
    """A shared limiter (Redis) with a per-process one to fall back on when it is down.

    Policy, in order:

    - Normally every decision comes from ``primary``; the fleet shares one allowance.
    - When ``primary`` raises ``Unavailable`` the same request is answered by ``fallback``
      and the circuit opens: for ``retry_primary_after_seconds`` no request touches the
      primary (so a down backend is not hammered, and requests do not each wait for its
      timeout); ``degraded`` is true.
    - When that interval has passed, exactly one request probes the primary while the
      others keep using the fallback. If the probe answers, the circuit closes and every
      request goes to the primary again; if it fails, the circuit stays open for another
      interval.
    - :meth:`probe`, called on a schedule of its own and by readiness checks (the
      shell's lifecycle does both), pings the primary and opens or closes the circuit by
      its answer, so neither an outage nor a recovery waits for project traffic.
    - ``on_failover(exc)`` is called at most once per ``retry_primary_after_seconds``, so
      the shell logs an outage once per interval rather than once per request;
      ``on_recovery()`` is called when the primary answers again.
    - Only ``Unavailable`` fails over. Other errors (``InvalidInput``…) propagate.

    **During an outage each replica enforces the limit on its own, so the fleet-wide
    allowance is up to N * the limit for N replicas.** Keys also start over at each switch
    (the fallback's buckets and the primary's are separate), so a client may get up to one
    extra burst when the limiter fails over and again when it recovers. This trades
    strictness for availability: a rate limiter outage never turns into refusing (or
    failing) every request.
    """

    def __init__(
        self,
        primary: RateLimiter,
        fallback: RateLimiter,
        clock: Clock,
        *,
        retry_primary_after_seconds: float = 5.0,
        on_failover: Callable[[Exception], None] | None = None,
        on_recovery: Callable[[], None] | None = None,
    ) -> None:
        if retry_primary_after_seconds < 0:
            raise ValueError("retry_primary_after_seconds must not be negative")
        self._primary = primary
        self._fallback = fallback
        self._clock = clock
        self._retry_after = retry_primary_after_seconds
        self._on_failover = on_failover
        self._on_recovery = on_recovery
        self._degraded = False
        self._probe_at = 0.0
        self._probing = False
        self._notified_at: float | None = None

    @property
    def degraded(self) -> bool:
        """Whether decisions currently come from the per-process fallback."""
        return self._degraded

    async def ping(self) -> None:
        await self._primary.ping()

    async def probe(self) -> bool:
        """Ping the primary (unless a request is probing it already): open the circuit
        when it does not answer, close it when it does. Whether decisions now come from
        the primary."""
        if self._probing:
            return not self._degraded
        self._probing = True
        try:
            await self._primary.ping()
        except Unavailable as exc:
            self._open_circuit(exc)
            return False
        finally:
            self._probing = False
        self._close_circuit()
        return True

    async def acquire(self, key: str, limit: RateLimit, cost: int = 1) -> RateLimitDecision:
        if self._degraded:
            if self._probing or self._clock.time() < self._probe_at:
                return await self._fallback.acquire(key, limit, cost)
            # This request is the probe. The flag is set before the first await, so under
            # asyncio no other request can also decide to probe.
            self._probing = True
            try:
                return await self._from_primary(key, limit, cost)
            finally:
                self._probing = False
        return await self._from_primary(key, limit, cost)

    async def _from_primary(self, key: str, limit: RateLimit, cost: int) -> RateLimitDecision:
        try:
            decision = await self._primary.acquire(key, limit, cost)
        except Unavailable as exc:
            self._open_circuit(exc)
            return await self._fallback.acquire(key, limit, cost)
        self._close_circuit()
        return decision

    def _close_circuit(self) -> None:
        if self._degraded:
            self._degraded = False
            if self._on_recovery is not None:
                self._on_recovery()

    def _open_circuit(self, exc: Unavailable) -> None:
        now = self._clock.time()
        self._degraded = True
        self._probe_at = now + self._retry_after
        # Requests already in flight when the primary died all fail together; only the
        # first of them (per interval) reports it.
        if self._on_failover is not None and (
            self._notified_at is None or now - self._notified_at >= self._retry_after
        ):
            self._notified_at = now
            self._on_failover(exc)
