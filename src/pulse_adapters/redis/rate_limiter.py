"""GCRA on Redis: one atomic Lua script per decision, shared by every replica.

The script mirrors :mod:`pulse_core.services.rate_limiting` line by line (same integer
ticks, same clamping), so this adapter and the in-memory one return identical decisions
for identical inputs; ``tests/contract/test_redis_rate_limiter_agreement.py`` checks
that they do.

Time comes from the injected :class:`~pulse_core.ports.clock.Clock` and is passed to the
script as an argument rather than read with Redis ``TIME``: tests control it with a
manual clock, and the script stays a pure function of its key and arguments. The price is
that replicas' clocks are assumed NTP-synchronized; a replica whose clock is ``s``
seconds behind sees buckets ``s`` seconds emptier (it lets fewer requests through), one
ahead sees them fuller (up to ``s / T`` extra requests). Keys expire ``expiry_grace_seconds``
after their bucket is full again, so a slightly slow clock cannot find a key gone early.
"""

from __future__ import annotations

import asyncio
from typing import Final

import redis.asyncio
from redis.exceptions import RedisError

from pulse_adapters.redis.script_batch import ScriptBatcher
from pulse_core.errors import Unavailable
from pulse_core.ports.clock import Clock
from pulse_core.ports.rate_limit import RateLimit, RateLimitDecision, RateLimiter
from pulse_core.services.rate_limiting import gcra_decision, gcra_policy

# KEYS[1]: the bucket, a string "<tat_us>:<remainder>" meaning a TAT of
#          tat_us + remainder / requests microseconds since the epoch.
# ARGV:    now_us, requests, period_us, burst, cost, ttl_grace_ms (all integers).
# Returns: {allowed (0 or 1), backlog in ticks after the decision}.
#
# Lua numbers are doubles. Every value below is an integer: tat_us and now_us are below
# 2^53 (until the year 2255), and backlog + cost * interval <= 2 * tolerance <= 2^53
# (gcra_policy rejects larger policies), so additions, subtractions and products stay
# exact. The only products that can leave that range are clamped away before they count.
GCRA_SCRIPT: Final = """
local now_us = tonumber(ARGV[1])
local requests = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local tolerance = interval * tonumber(ARGV[4])
local cost = tonumber(ARGV[5])
local grace_ms = tonumber(ARGV[6])

-- backlog = clamp(TAT - now, 0, tolerance) in ticks (1 tick = 1/requests us); beyond:
-- the stored TAT ran past the tolerance (left by a stricter policy, see gcra_acquire).
local backlog = 0
local beyond = false
local stored = redis.call('GET', KEYS[1])
if stored then
  local sep = string.find(stored, ':', 1, true)
  local tat_us, remainder
  if sep then
    tat_us = tonumber(string.sub(stored, 1, sep - 1))
    remainder = tonumber(string.sub(stored, sep + 1))
  end
  -- A value this script did not write is treated as no entry (a full bucket).
  if tat_us and remainder then
    local ahead_us = tat_us - now_us
    if ahead_us > tolerance then
      -- (ahead_us * requests + remainder) > tolerance anyway; skipping the product keeps
      -- it from leaving the exact range.
      backlog = tolerance
      beyond = true
    else
      backlog = ahead_us * requests + remainder
      if backlog < 0 then
        backlog = 0
      elseif backlog > tolerance then
        backlog = tolerance
        beyond = true
      end
    end
  end
end

-- Stores TAT' = now + ticks = (now_us + whole) us + rest ticks, 0 <= rest < requests.
local function store(ticks)
  -- ticks / requests is a rounded double. With ticks <= 2^52 it cannot round across an
  -- integer, but the exact fix-up below is cheap and does not depend on that argument.
  local whole = math.floor(ticks / requests)
  local rest = ticks - whole * requests
  if rest < 0 then
    whole = whole - 1
    rest = rest + requests
  elseif rest >= requests then
    whole = whole + 1
    rest = rest - requests
  end
  -- The key may go when the bucket is full again (ticks/requests us), plus the grace.
  -- floor(...) + 1 is never below the exact ceiling, so it never expires early.
  local ttl_ms = math.floor(ticks / (requests * 1000)) + 1 + grace_ms
  -- %.0f prints an integral double exactly; tostring() would use %.14g and round.
  redis.call('SET', KEYS[1], string.format('%.0f:%.0f', now_us + whole, rest),
    'PX', string.format('%.0f', ttl_ms))
end

local after = backlog + cost * interval
if after > tolerance then
  -- Refused: nothing is consumed; the key is touched only to clamp a TAT beyond.
  if beyond then
    store(backlog)
  end
  return {0, backlog}
end
store(after)
return {1, after}
"""

# Everything a redis-py call can raise when the server is down, slow or confused.
_BACKEND_ERRORS = (RedisError, OSError, TimeoutError)


class RedisRateLimiter(RateLimiter):
    """GCRA per key in Redis: one ``EVALSHA`` per decision, atomic across all replicas.

    The script is sent by SHA1 (``EVALSHA``) and loaded with ``SCRIPT LOAD`` when the
    server answers ``NOSCRIPT`` (after a restart or ``SCRIPT FLUSH``). Decisions asked
    for together (concurrent requests) share one pipelined round trip (the same
    :class:`~pulse_adapters.redis.script_batch.ScriptBatcher` as the job queue's
    enqueues). Each key holds the TAT and expires (``PX``) ``expiry_grace_seconds``
    after its bucket is full again, so idle keys cost nothing.

    Every Redis failure (connection refused or reset, timeout, error reply) raises
    ``Unavailable`` from the driver's exception, and a call never takes longer than
    ``timeout_seconds`` (plus one event-loop iteration): ``asyncio.timeout`` bounds each
    round trip here, and the client should also
    have socket timeouts (:func:`~pulse_adapters.redis.client.create_redis_client` sets
    them) so a dead connection is dropped rather than reused.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        clock: Clock,
        *,
        key_prefix: str = "pulse:rl:",
        timeout_seconds: float = 0.25,
        expiry_grace_seconds: float = 1.0,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if expiry_grace_seconds < 0:
            raise ValueError("expiry_grace_seconds must not be negative")
        self._clock = clock
        self._key_prefix = key_prefix
        self._grace_ms = round(expiry_grace_seconds * 1000)
        self._client = client
        self._timeout = timeout_seconds
        self._batcher = ScriptBatcher(
            client, client.register_script(GCRA_SCRIPT), timeout_seconds=timeout_seconds
        )

    async def ping(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.ping()
        except _BACKEND_ERRORS as exc:
            raise Unavailable("rate limiter backend (redis) is unavailable") from exc

    async def acquire(self, key: str, limit: RateLimit, cost: int = 1) -> RateLimitDecision:
        policy = gcra_policy(limit, cost)
        now_us = self._clock.micros()
        args = (now_us, policy.requests, policy.period_us, policy.burst, cost, self._grace_ms)
        try:
            reply = await self._batcher.submit((self._key_prefix + key,), args)
        except _BACKEND_ERRORS as exc:
            raise Unavailable("rate limiter backend (redis) is unavailable") from exc
        allowed, backlog = _parse_reply(reply)
        return gcra_decision(policy, allowed=allowed, backlog=backlog, cost=cost)


def _parse_reply(reply: object) -> tuple[bool, int]:
    match reply:
        case [int(allowed), int(backlog)] if allowed in (0, 1) and backlog >= 0:
            return bool(allowed), backlog
    raise Unavailable(f"rate limiter backend (redis) answered {reply!r}")
