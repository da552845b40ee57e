"""Locks by name on Redis, shared by every replica: one key per held name.

Taking ``name`` is ``SET <prefix><name> <token> NX PX <lease>``: the key exists while
someone holds the name, its value is that holder's random token, and Redis deletes it
when the lease runs out (so a holder that died frees the name by itself). Leaving runs
one Lua script that deletes the key only if it still holds this holder's token: a holder
whose lease ran out and whose name someone else took since must not free the new
holder's lock.

A single Redis is assumed (no Redlock across independent masters): with a replica set
and failover, a lock may be lost in a failover, as any data written to Redis since the
last replication can be. The quota checks that use these locks accept that.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Final

import redis.asyncio
from redis.exceptions import RedisError

from pulse_core.errors import Unavailable
from pulse_core.ports.locks import Locks

# KEYS[1]: the lock's key. ARGV[1]: the token of the holder that is leaving.
# Returns 1 if the key was this holder's and is deleted, else 0 (expired, or another's).
RELEASE_SCRIPT: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Everything a redis-py call can raise when the server is down, slow or confused.
_BACKEND_ERRORS = (RedisError, OSError, TimeoutError)


class RedisLocks(Locks):
    """The :class:`~pulse_core.ports.locks.Locks` contract on one Redis (layout in the
    module docstring), keys under ``key_prefix`` (default ``pulse:lock:``).

    A waiter polls with ``SET NX``: first after about ``poll_min_seconds``, then twice
    as long each time up to ``poll_max_seconds`` (each sleep randomized between half
    and all of it, so waiters that started together do not poll together), and once
    more when ``wait_seconds`` is over. There is no wake-up on release, so a waiter may
    get in up to ``poll_max_seconds`` after the holder left; in exchange, waiting costs
    no connection and works the same whichever replica the holder is on.

    Each Redis call takes at most ``timeout_seconds``, so entering takes at most
    ``wait_seconds`` plus that. A Redis failure (refused or reset connection, timeout,
    error reply) while entering raises ``Unavailable`` from the driver's exception at
    once, without waiting out ``wait_seconds``. A failure while leaving is not raised:
    the block's work is done (reporting it as failed would invite a retry that does it
    twice), and the lease frees the name. Likewise a holder whose ``SET`` reply was
    lost (timeout) keeps the name until its lease runs out, like a holder that died.
    The client should have socket timeouts
    (:func:`~pulse_adapters.redis.client.create_redis_client` sets them).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        key_prefix: str = "pulse:lock:",
        timeout_seconds: float = 1.0,
        poll_min_seconds: float = 0.005,
        poll_max_seconds: float = 0.1,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if not 0 < poll_min_seconds <= poll_max_seconds:
            raise ValueError("poll intervals must be positive, the minimum not above the maximum")
        self._client = client
        self._prefix = key_prefix
        self._timeout = timeout_seconds
        self._poll_min = poll_min_seconds
        self._poll_max = poll_max_seconds
        self._release = client.register_script(RELEASE_SCRIPT)

    def key(self, name: str) -> str:
        """The Redis key of the lock ``name`` (for operators and tests)."""
        return self._prefix + name

    @asynccontextmanager
    async def hold(
        self, name: str, *, lease_seconds: float, wait_seconds: float
    ) -> AsyncIterator[None]:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        if wait_seconds < 0:
            raise ValueError("wait_seconds must not be negative")
        key = self.key(name)
        # 128 random bits: no other holder, on any replica, ever has the same token.
        token = secrets.token_hex(16)
        # Rounded up: a lease is never shorter than asked for.
        lease_ms = max(1, math.ceil(lease_seconds * 1000))
        await self._acquire(name, key, token, lease_ms, wait_seconds)
        try:
            yield
        finally:
            with suppress(Unavailable):
                await self._call(self._release(keys=[key], args=[token]))

    async def _acquire(
        self, name: str, key: str, token: str, lease_ms: int, wait_seconds: float
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        delay = self._poll_min
        while True:
            if await self._call(self._client.set(key, token, nx=True, px=lease_ms)):
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Unavailable(f"lock {name!r} is held by someone else")
            jittered = random.uniform(delay / 2, delay)  # noqa: S311 - spreading load, not secrecy
            await asyncio.sleep(min(jittered, remaining))
            delay = min(delay * 2, self._poll_max)

    async def _call(self, pending: Any) -> Any:
        """Await a redis-py call within the timeout, translating its failures."""
        try:
            async with asyncio.timeout(self._timeout):
                return await pending
        except _BACKEND_ERRORS as exc:
            raise Unavailable("lock backend (redis) is unavailable") from exc
