"""RedisRateLimiter against a real server that goes away and comes back.

Also the Redis-specific parts of the adapter: key expiry and the NOSCRIPT reload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryRateLimiter
from pulse_adapters.redis import RedisRateLimiter, create_redis_client, ping
from pulse_core.errors import Unavailable
from pulse_core.ports.rate_limit import RateLimit
from pulse_core.services.rate_limiting import FailoverRateLimiter
from tests.support.redis_server import RedisServer

POLICY = RateLimit(requests=10, period_seconds=1.0, burst=3)
TIMEOUT = 0.25
# A hang check, not a performance assertion: a failing call takes about TIMEOUT (often
# far less: a refused connection fails at once); 2 s only catches "never returns".
HANG_BOUND = 2.0


@pytest.fixture
async def client(disposable_redis: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = create_redis_client(disposable_redis.url, timeout_seconds=TIMEOUT)
    try:
        yield client
    finally:
        await client.aclose()


async def test_down_redis_raises_unavailable_within_the_timeout(
    disposable_redis: RedisServer, client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    limiter = RedisRateLimiter(client, clock, timeout_seconds=TIMEOUT)
    assert (await limiter.acquire("k", POLICY)).allowed  # the pool holds a live connection

    disposable_redis.stop()
    for _ in range(3):  # the stale pooled connection, then fresh connection attempts
        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            await limiter.acquire("k", POLICY)
        assert time.monotonic() - started < HANG_BOUND
        assert caught.value.__cause__ is not None  # raised from the driver's error
    with pytest.raises(Unavailable):
        await ping(client, timeout_seconds=TIMEOUT)

    disposable_redis.start()
    await ping(client, timeout_seconds=TIMEOUT)
    # The restart lost the key (no persistence): a full bucket, served by the new server.
    assert (await limiter.acquire("k", POLICY)).remaining == 2


async def test_unresponsive_redis_times_out(
    disposable_redis: RedisServer, client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    limiter = RedisRateLimiter(client, clock, timeout_seconds=TIMEOUT)
    await limiter.acquire("k", POLICY)
    # A server that accepts the command and never answers: the asyncio.timeout path.
    async with create_redis_client(disposable_redis.url, timeout_seconds=5.0) as admin:
        await admin.client_pause(1500, all=True)

    started = time.monotonic()
    with pytest.raises(Unavailable):
        await limiter.acquire("k", POLICY)
    assert time.monotonic() - started < 1.0


async def test_failover_keeps_answering_and_recovers(
    disposable_redis: RedisServer, client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    failovers: list[Exception] = []
    limiter = FailoverRateLimiter(
        RedisRateLimiter(client, clock, timeout_seconds=TIMEOUT),
        InMemoryRateLimiter(clock),
        clock,
        retry_primary_after_seconds=5.0,
        on_failover=failovers.append,
    )
    assert (await limiter.acquire("k", POLICY)).remaining == 2
    assert not limiter.degraded

    disposable_redis.stop()
    started = time.monotonic()
    got = [await limiter.acquire("k", POLICY) for _ in range(4)]
    assert time.monotonic() - started < HANG_BOUND
    # The per-process fallback starts its own bucket for "k" and enforces the policy.
    assert [d.allowed for d in got] == [True, True, True, False]
    assert limiter.degraded
    assert len(failovers) == 1
    assert isinstance(failovers[0].__cause__, Exception)

    disposable_redis.start()
    clock.advance(5.0)
    decision = await limiter.acquire("k", POLICY)
    assert not limiter.degraded
    # Served by Redis again: the restarted (empty) server holds the key now.
    assert decision.remaining == 2
    async with create_redis_client(disposable_redis.url, timeout_seconds=5.0) as admin:
        assert await admin.exists("pulse:rl:k") == 1
    assert len(failovers) == 1


async def test_redis_slower_than_the_timeout_is_answered_by_the_fallback(
    disposable_redis: RedisServer, client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    """A slow Redis counts as an outage: the per-process fallback answers at once. (The
    shared-allowance test over HTTP uses a timeout no machine reaches for that reason.)"""
    failovers: list[Exception] = []
    limiter = FailoverRateLimiter(
        RedisRateLimiter(client, clock, timeout_seconds=TIMEOUT),
        InMemoryRateLimiter(clock),
        clock,
        retry_primary_after_seconds=5.0,
        on_failover=failovers.append,
    )
    assert (await limiter.acquire("k", POLICY)).remaining == 2  # Redis's bucket
    async with create_redis_client(disposable_redis.url, timeout_seconds=5.0) as admin:
        await admin.client_pause(1500, all=True)  # Redis takes every command, answers late

    started = time.monotonic()
    decision = await limiter.acquire("k", POLICY)
    assert time.monotonic() - started < HANG_BOUND
    # The fallback's own bucket for "k" is full: it never saw Redis's spent unit.
    assert decision.allowed and decision.remaining == 2
    assert limiter.degraded
    assert len(failovers) == 1 and isinstance(failovers[0], Unavailable)


async def test_keys_expire_when_the_bucket_is_full_again(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    limiter = RedisRateLimiter(redis_client, clock, key_prefix="t:", expiry_grace_seconds=2.0)
    policy = RateLimit(requests=1, period_seconds=60.0, burst=5)
    await limiter.acquire("k", policy)
    await limiter.acquire("k", policy)

    # Full again in 120 s; the key lives that long plus the 2 s grace (and 1 ms of
    # rounding up), never less.
    ttl_ms = await redis_client.pttl("t:k")
    assert 121_000 < ttl_ms <= 122_001


async def test_script_is_reloaded_after_script_flush(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    limiter = RedisRateLimiter(redis_client, clock)
    assert (await limiter.acquire("k", POLICY)).remaining == 2

    await redis_client.script_flush()  # what a restart or failover to a replica does
    assert (await limiter.acquire("k", POLICY)).remaining == 1


async def test_refusal_does_not_touch_the_key(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    limiter = RedisRateLimiter(redis_client, clock)
    for _ in range(3):
        await limiter.acquire("k", POLICY)
    before = (await redis_client.get("pulse:rl:k"), await redis_client.pttl("pulse:rl:k"))

    clock.advance(0.05)
    assert not (await limiter.acquire("k", POLICY)).allowed

    assert await redis_client.get("pulse:rl:k") == before[0]
    assert await redis_client.pttl("pulse:rl:k") <= before[1]


async def test_a_foreign_value_counts_as_a_full_bucket(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    await redis_client.set("pulse:rl:k", "not a tat")
    limiter = RedisRateLimiter(redis_client, clock)
    assert (await limiter.acquire("k", POLICY)).remaining == 2


def test_client_helper_accepts_redis_and_rediss_only() -> None:
    plain = create_redis_client("redis://localhost:6379/0", timeout_seconds=1.0)
    assert isinstance(plain, redis.asyncio.Redis)
    pool = plain.connection_pool
    # A burst waits up to the timeout for one of at most 100 connections.
    assert isinstance(pool, redis.asyncio.BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (100, 1.0)
    assert pool.connection_class is redis.asyncio.Connection  # no TLS for redis://
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("localhost", 6379, 0)
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 1.0
    assert kwargs["retry"].get_retries() == 1  # one immediate retry, not redis-py's ten
    assert pool.get_encoder().decode_responses is False  # bytes
    tls = create_redis_client("rediss://localhost:6380/0", timeout_seconds=1.0)
    kwargs = tls.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 1.0
    assert kwargs["socket_connect_timeout"] == 1.0
    assert "SSL" in tls.connection_pool.connection_class.__name__
    with pytest.raises(ValueError, match="redis://"):
        create_redis_client("http://localhost:6379", timeout_seconds=1.0)
    with pytest.raises(ValueError, match="positive"):
        create_redis_client("redis://localhost:6379/0", timeout_seconds=0)


async def test_concurrent_decisions_share_a_round_trip_and_survive_script_flush(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    limiter = RedisRateLimiter(redis_client, clock, key_prefix="batch:")
    policy = RateLimit(requests=10, period_seconds=1.0, burst=50)
    await redis_client.script_flush()  # the batch meets NOSCRIPT and reloads the script
    decisions = await asyncio.gather(*(limiter.acquire(f"k{i % 3}", policy) for i in range(30)))
    assert all(d.allowed for d in decisions)
    for key in range(3):  # ten per key, in the order they were asked
        remaining = [d.remaining for i, d in enumerate(decisions) if i % 3 == key]
        assert remaining == list(range(49, 39, -1))


async def test_a_connection_its_server_closed_is_an_outage_not_a_crash(
    disposable_redis: RedisServer,
    client: redis.asyncio.Redis,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvloop's answer to a write on a connection whose server died (kill -9) is a
    RuntimeError: it must reach callers as Redis being down (a 503, or the fallback)."""
    original = redis.asyncio.connection.AbstractConnection.send_packed_command

    async def closed(self: object, *args: object, **kwargs: object) -> None:
        raise RuntimeError(
            "unable to perform operation on <TCPTransport closed=True>; the handler is closed"
        )

    monkeypatch.setattr(redis.asyncio.connection.AbstractConnection, "send_packed_command", closed)
    with pytest.raises(redis.exceptions.ConnectionError):
        await client.incr("k")
    limiter = RedisRateLimiter(client, clock, timeout_seconds=TIMEOUT)
    with pytest.raises(Unavailable):
        await limiter.acquire("project:p:tokens", POLICY)
    failover = FailoverRateLimiter(limiter, InMemoryRateLimiter(clock), clock)
    assert (await failover.acquire("project:p:tokens", POLICY)).allowed
    assert failover.degraded
    monkeypatch.setattr(
        redis.asyncio.connection.AbstractConnection, "send_packed_command", original
    )
    assert await client.incr("k") == 1
