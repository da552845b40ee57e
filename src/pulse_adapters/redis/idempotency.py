"""Idempotency records on Redis, shared by every replica: one hash per ``(scope, key)``.

The key is ``<prefix><sha256 of scope, newline, key>`` (bounded length, and no caller
identity in key names). Its fields: ``f`` the fingerprint, ``t`` the holder's token,
``l`` the lease's end and ``e`` the expiry (integer microseconds since the epoch, from
the injected clock), and ``r`` the response (msgspec MessagePack) once completed. Each
operation is one Lua script, so a claim's read-decide-write is atomic: of concurrent
claims of a free key, on any replicas, exactly one is let in (the ``SET NX`` of a lock,
with the record's state beside it).

Redis deletes the hash ``ttl_seconds`` after its claim (``PEXPIRE``); the scripts also
compare ``e`` with the clock's time passed in, so expiry follows the clock (tests move
it by hand) and replicas' clocks are assumed NTP-synchronized, as for the rate limiter.

Like the locks, a single Redis is assumed: a failover may lose the last records written,
and a repeat would then run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
from typing import Any, Final

import msgspec
import redis.asyncio
from redis.exceptions import RedisError

from pulse_core.errors import Unavailable
from pulse_core.ports.clock import Clock
from pulse_core.ports.idempotency import (
    Claimed,
    ClaimOutcome,
    IdempotencyStore,
    InProgress,
    Mismatch,
    Replay,
    StoredResponse,
)

# KEYS[1]: the record. ARGV: now_us, fingerprint, token, lease_until_us, expires_at_us,
# ttl_ms. Returns {"claimed"}, {"busy"}, {"mismatch"} or {"replay", response}.
# Times are integers below 2^53 microseconds (until the year 2255): exact as Lua doubles.
CLAIM_SCRIPT: Final = """
local now = tonumber(ARGV[1])
local r = redis.call('HMGET', KEYS[1], 'f', 'l', 'e', 'r')
if r[1] and tonumber(r[3]) > now then
  if r[1] ~= ARGV[2] then return {'mismatch'} end
  if r[4] then return {'replay', r[4]} end
  if tonumber(r[2]) > now then return {'busy'} end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'f', ARGV[2], 't', ARGV[3], 'l', ARGV[4], 'e', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {'claimed'}
"""

# KEYS[1]: the record. ARGV: token, now_us, response. Returns 1 if stored, else 0.
COMPLETE_SCRIPT: Final = """
local r = redis.call('HMGET', KEYS[1], 't', 'e', 'r')
if r[1] == ARGV[1] and not r[3] and tonumber(r[2]) > tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'r', ARGV[3])
  return 1
end
return 0
"""

# KEYS[1]: the record. ARGV: token. Deletes it if this token holds it, in progress.
RELEASE_SCRIPT: Final = """
local r = redis.call('HMGET', KEYS[1], 't', 'r')
if r[1] == ARGV[1] and not r[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_ENCODE = msgspec.msgpack.Encoder().encode
_RESPONSE = msgspec.msgpack.Decoder(StoredResponse)
# Everything a redis-py call can raise when the server is down, slow or confused.
_BACKEND_ERRORS = (RedisError, OSError, TimeoutError)


def _us(seconds: float) -> int:
    return max(1, round(seconds * 1_000_000))


class RedisIdempotencyStore(IdempotencyStore):
    """The :class:`~pulse_core.ports.idempotency.IdempotencyStore` contract on one Redis
    (layout in the module docstring), keys under ``key_prefix`` (default
    ``pulse:idempotency:``).

    Each Redis call takes at most ``timeout_seconds``; a failure (refused or reset
    connection, timeout, error reply) raises ``Unavailable`` from the driver's
    exception. The client should have socket timeouts
    (:func:`~pulse_adapters.redis.client.create_redis_client` sets them).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        clock: Clock,
        *,
        key_prefix: str = "pulse:idempotency:",
        timeout_seconds: float = 1.0,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self._clock = clock
        self._prefix = key_prefix
        self._timeout = timeout_seconds
        self._claim = client.register_script(CLAIM_SCRIPT)
        self._complete = client.register_script(COMPLETE_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)

    def key(self, scope: str, key: str) -> str:
        """The Redis key of the record of ``(scope, key)`` (for operators and tests)."""
        digest = hashlib.sha256(f"{scope}\n{key}".encode("utf-8", "surrogateescape"))
        return self._prefix + digest.hexdigest()

    async def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        ttl_seconds: float,
        lease_seconds: float,
    ) -> ClaimOutcome:
        now = self._clock.micros()
        token = secrets.token_hex(16)
        args: list[bytes | str | int] = [
            now,
            fingerprint,
            token,
            now + _us(lease_seconds),
            now + _us(ttl_seconds),
            max(1, math.ceil(ttl_seconds * 1000)),
        ]
        reply = await self._call(self._claim(keys=[self.key(scope, key)], args=args))
        verdict = reply[0]
        if verdict == b"claimed":
            return Claimed(token=token)
        if verdict == b"replay":
            return Replay(response=_RESPONSE.decode(reply[1]))
        if verdict == b"busy":
            return InProgress()
        return Mismatch()

    async def complete(self, scope: str, key: str, token: str, response: StoredResponse) -> bool:
        args: list[bytes | str | int] = [token, self._clock.micros(), _ENCODE(response)]
        stored = await self._call(self._complete(keys=[self.key(scope, key)], args=args))
        return bool(stored)

    async def release(self, scope: str, key: str, token: str) -> None:
        await self._call(self._release(keys=[self.key(scope, key)], args=[token]))

    async def _call(self, pending: Any) -> Any:
        """Await a redis-py call within the timeout, translating its failures."""
        try:
            async with asyncio.timeout(self._timeout):
                return await pending
        except _BACKEND_ERRORS as exc:
            raise Unavailable("idempotency store (redis) is unavailable") from exc
