"""Building the redis-py client, and the readiness check.

Every call an adapter makes is bounded twice: by ``asyncio.timeout`` around the call in
the adapter, and by the socket timeouts configured here. The first bounds the whole call
including redis-py's own retries; the second makes sure a dead peer also breaks the
socket read itself (so the connection is dropped instead of being reused half-read).
Whoever builds a client for an adapter should use :func:`create_redis_client` or set
``socket_connect_timeout`` and ``socket_timeout`` themselves.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from pulse_core.errors import Unavailable

_SCHEMES = ("redis", "rediss")


def create_redis_client(
    url: str, *, timeout_seconds: float, max_connections: int = 100, retries: int = 1
) -> redis.asyncio.Redis:
    """A client for ``url`` (``redis://``, or ``rediss://`` for TLS), without connecting.

    - ``socket_connect_timeout`` and ``socket_timeout`` are both ``timeout_seconds``.
    - The pool holds at most ``max_connections``; a call that finds them all busy waits
      up to ``timeout_seconds`` for one (``BlockingConnectionPool``) instead of failing
      at once, so a burst of requests queues rather than reading as an outage.
    - redis-py's default retry policy (10 retries with backoff) would outlast any sane
      request budget, so it is replaced by ``retries`` immediate retries: one is enough
      to replace a pooled connection that died with a Redis restart.
    - Responses are bytes (``decode_responses=False``).

    Raises ``ValueError`` for another scheme. Close the client with ``await aclose()``.
    """
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(f"redis URL must start with redis:// or rediss://, not {scheme}://")
    if timeout_seconds <= 0:
        raise ValueError("timeout_seconds must be positive")
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), retries),
    )
    return redis.asyncio.Redis.from_pool(pool)


async def ping(client: redis.asyncio.Redis, *, timeout_seconds: float = 1.0) -> None:
    """Return when Redis answers PING within ``timeout_seconds``; else raise ``Unavailable``."""
    try:
        async with asyncio.timeout(timeout_seconds):
            await client.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        raise Unavailable("redis is unavailable") from exc
