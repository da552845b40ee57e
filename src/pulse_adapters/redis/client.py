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
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from pulse_adapters.redis.resp_pipe import RespPipe, pipe_for
from pulse_core.errors import Unavailable
from pulse_core.ports.telemetry import NO_TELEMETRY, Telemetry

_SCHEMES = ("redis", "rediss")


def _connection_lost(exc: RuntimeError) -> RedisConnectionError:
    """uvloop raises ``RuntimeError`` ("the handler is closed"), not an ``OSError``, when
    redis-py writes on a pooled connection whose server has died: the same outage as a
    refused connection, so the same error, which every adapter translates (a 503, or the
    rate limiter's fallback) instead of a 500."""
    return RedisConnectionError(f"connection to Redis lost: {exc}")


class _ObservedPipeline(Pipeline):
    telemetry: Telemetry = NO_TELEMETRY

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        name = "MULTI" if self.is_transaction or self.explicit_transaction else "PIPELINE"
        with self.telemetry.call("redis", name):
            try:
                return await super().execute(raise_on_error)
            except RuntimeError as exc:
                raise _connection_lost(exc) from exc


class _ObservedRedis(redis.asyncio.Redis):
    """A client reporting every command (scripts are ``EVALSHA``) and every pipeline
    (``PIPELINE``, or ``MULTI`` for a transaction) to its ``telemetry``, and reporting a
    connection its server closed as a ``ConnectionError`` (:func:`_connection_lost`)."""

    telemetry: Telemetry = NO_TELEMETRY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pipes: list[RespPipe] = []

    def side_pipe(self) -> RespPipe | None:
        """A :class:`~pulse_adapters.redis.resp_pipe.RespPipe` of its own to this
        client's server, closed with the client; ``None`` when the client's settings need
        more than a plain connection (TLS, a Unix socket, …)."""
        pipe = pipe_for(self)
        if pipe is not None:
            self._pipes.append(pipe)
        return pipe

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        pipes, self._pipes = self._pipes, []
        for pipe in pipes:
            await pipe.aclose()
        await super().aclose(close_connection_pool)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        with self.telemetry.call("redis", str(args[0])):
            try:
                return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
            except NoScriptError as exc:
                # How redis-py learns that a script must be loaded first (then it
                # loads it and calls again): an answer, not a failed call.
                missing = exc
            except RuntimeError as exc:
                raise _connection_lost(exc) from exc
        raise missing

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = _ObservedPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.telemetry = self.telemetry
        return pipe


def create_redis_client(
    url: str,
    *,
    timeout_seconds: float,
    max_connections: int = 100,
    retries: int = 1,
    telemetry: Telemetry = NO_TELEMETRY,
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
    - Each command and each pipeline is reported to ``telemetry`` (``redis``, the
      command's name, ``PIPELINE`` or ``MULTI``); a blocking read's time includes its wait.

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
    client = _ObservedRedis.from_pool(pool)
    client.telemetry = telemetry  # type: ignore[attr-defined]  # from_pool says Redis
    return client


async def ping(client: redis.asyncio.Redis, *, timeout_seconds: float = 1.0) -> None:
    """Return when Redis answers PING within ``timeout_seconds``; else raise ``Unavailable``."""
    try:
        async with asyncio.timeout(timeout_seconds):
            await client.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        raise Unavailable("redis is unavailable") from exc
