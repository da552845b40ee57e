"""RedisJobQueue against a real server that crashes, restarts, stalls or loses its
scripts; and the key layout the module docstring promises.

The restart test runs Redis with an append-only file fsynced before every reply (what
API.md's "restarts of Redis (with persistence on)" means): every enqueue that returned
must be delivered after the crash. Without persistence, a restarted Redis is empty and
the queue must simply work again (its group is created anew).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio

from pulse_adapters.clock import ManualClock
from pulse_adapters.redis import RedisJobQueue, create_redis_client
from pulse_core.errors import Unavailable
from pulse_core.ports.queue import QueueStats, ReservedJob
from tests.support.job_queues import PersistentRedisServer, drain, reserve_soon
from tests.support.redis_server import RedisServer
from tests.support.require import require_binary

TIMEOUT = 0.25
# A hang check, not a performance assertion: a failing call takes about TIMEOUT (often
# far less: a refused connection fails at once); this only catches "never returns" on
# a machine as loaded as it likes.
HANG_BOUND = 10.0
SHORT = 0.5


@pytest.fixture
def persistent_redis() -> Iterator[PersistentRedisServer]:
    binary = require_binary("redis-server")
    server = PersistentRedisServer(binary).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def client(disposable_redis: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = create_redis_client(disposable_redis.url, timeout_seconds=TIMEOUT)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.slow
async def test_a_crash_mid_burst_loses_no_acknowledged_job(
    persistent_redis: PersistentRedisServer, clock: ManualClock
) -> None:
    client = create_redis_client(persistent_redis.url, timeout_seconds=1.0)
    try:
        jobs = RedisJobQueue(client, clock, visibility_timeout_seconds=SHORT, timeout_seconds=1.0)
        # Held by a worker when Redis dies, never acked: the pending list survives too.
        held = {await jobs.enqueue("q", b"held") for _ in range(5)}
        delayed = await jobs.enqueue("q", b"delayed", delay_seconds=30)
        assert {j.id for j in await jobs.reserve("q", "w0", max_jobs=5, wait_seconds=0)} == held

        acknowledged: set[str] = set()
        refused = 0
        crashed = asyncio.Event()
        hundred = asyncio.Event()
        after_crash: set[str] = set()

        async def burst() -> None:
            nonlocal refused
            for i in range(300):
                try:
                    job_id = await jobs.enqueue("q", f"burst {i}".encode())
                except Unavailable:  # not acknowledged: unknown whether it was added
                    refused += 1
                    await asyncio.sleep(0.01)
                    continue
                acknowledged.add(job_id)
                if len(acknowledged) == 100:
                    hundred.set()
                if crashed.is_set():
                    after_crash.add(job_id)

        async def crash() -> None:
            await hundred.wait()
            persistent_redis.stop()  # SIGKILL
            await asyncio.sleep(0.3)
            await asyncio.to_thread(persistent_redis.start)
            crashed.set()

        await asyncio.gather(burst(), crash())
        assert refused and after_crash  # the crash did fall in the middle of the burst

        clock.advance(30)
        expected = acknowledged | held | {delayed}
        delivered = await drain(jobs, "q", "w1", until=expected)
        assert {j.id for j in delivered} >= expected
        assert {j.attempts for j in delivered if j.id in held} == {2}
        assert await jobs.stats("q") == QueueStats(depth=0, oldest_age_seconds=None, dead=0)
    finally:
        await client.aclose()


async def test_down_redis_raises_unavailable_within_the_timeout(
    disposable_redis: RedisServer, client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    jobs = RedisJobQueue(client, clock, timeout_seconds=TIMEOUT)
    old = await jobs.enqueue("q", b"before")
    assert len(await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0)) == 1

    disposable_redis.stop()
    calls = [
        lambda: jobs.enqueue("q", b"x"),
        lambda: jobs.enqueue("q", b"x", delay_seconds=5),
        lambda: jobs.reserve("q", "w", max_jobs=1, wait_seconds=0),
        lambda: jobs.reserve("q", "w", max_jobs=1, wait_seconds=30),
        lambda: jobs.ack("q", old),
        lambda: jobs.retry_later("q", old, delay_seconds=1),
        lambda: jobs.dead_letter("q", old, reason="r"),
        lambda: jobs.dead_letters("q"),
        lambda: jobs.stats("q"),
        jobs.ping,
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            await call()
        assert time.monotonic() - started < HANG_BOUND
        assert caught.value.__cause__ is not None  # raised from the driver's error

    # Back, but empty (no persistence): the group is created again on first use, and
    # calls about jobs the old server knew do nothing.
    disposable_redis.start()
    await jobs.ack("q", old)
    new = await jobs.enqueue("q", b"after")
    assert await jobs.reserve("q", "w", max_jobs=5, wait_seconds=0) == [
        ReservedJob(id=new, payload=b"after", attempts=1)
    ]


async def test_a_waiting_reserve_fails_when_redis_dies(
    disposable_redis: RedisServer, client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    jobs = RedisJobQueue(client, clock, timeout_seconds=TIMEOUT)
    waiting = asyncio.create_task(jobs.reserve("q", "w", max_jobs=1, wait_seconds=60))
    await asyncio.sleep(0.3)
    disposable_redis.stop()
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await asyncio.wait_for(waiting, timeout=60)
    assert time.monotonic() - started < HANG_BOUND


async def test_unresponsive_redis_times_out(
    disposable_redis: RedisServer, client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    jobs = RedisJobQueue(client, clock, timeout_seconds=TIMEOUT)
    await jobs.enqueue("q", b"x")
    # A server that takes every command and answers none: the asyncio.timeout path.
    async with create_redis_client(disposable_redis.url, timeout_seconds=5.0) as admin:
        await admin.client_pause(3000, all=True)
    for call in (
        lambda: jobs.enqueue("q", b"y"),
        lambda: jobs.reserve("q", "w", max_jobs=1, wait_seconds=0),
    ):
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await call()
        assert time.monotonic() - started < HANG_BOUND


async def test_scripts_are_reloaded_after_script_flush(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    jobs = RedisJobQueue(redis_client, clock)
    first = await jobs.enqueue("q", b"1")
    await redis_client.script_flush()  # what a restart or a failover to a replica does
    second = await jobs.enqueue("q", b"2")
    await redis_client.script_flush()
    got = await jobs.reserve("q", "w", max_jobs=5, wait_seconds=0)
    assert [j.id for j in got] == [first, second]
    await redis_client.script_flush()
    await jobs.ack("q", first)
    assert (await jobs.stats("q")).depth == 1


async def test_key_layout(redis_client: redis.asyncio.Redis, clock: ManualClock) -> None:
    jobs = RedisJobQueue(redis_client, clock, key_prefix="t:", group="g")
    keys = jobs.keys("q")
    assert keys == {
        "jobs": "t:{q}:jobs",
        "delayed": "t:{q}:delayed",
        "entries": "t:{q}:entries",
        "dead": "t:{q}:dead",
        "reclaim": "t:{q}:reclaim",
    }
    now = await jobs.enqueue("q", b"now")
    later = await jobs.enqueue("q", b"later", delay_seconds=10)
    await jobs.reserve("q", "worker-1", max_jobs=5, wait_seconds=0)
    await jobs.dead_letter("q", now, reason="r")

    assert await redis_client.type("t:{q}:delayed") == b"zset"
    assert await redis_client.zrange("t:{q}:delayed", 0, -1) == [f"{later}|0|later".encode()]
    assert await redis_client.type("t:{q}:dead") == b"stream"
    assert await redis_client.type("t:{q}:jobs") == b"stream"
    assert await redis_client.xlen("t:{q}:jobs") == 0  # dead-lettered: deleted
    assert await redis_client.hlen("t:{q}:entries") == 0
    groups = await redis_client.xinfo_groups("t:{q}:jobs")
    assert [(g["name"], g["pending"]) for g in groups] == [(b"g", 0)]
    consumers = await redis_client.xinfo_consumers("t:{q}:jobs", "g")
    assert [c["name"] for c in consumers] == [b"worker-1"]

    clock.advance(10)
    (job,) = await jobs.reserve("q", "worker-2", max_jobs=5, wait_seconds=0)
    assert job.id == later
    assert await redis_client.exists("t:{q}:delayed") == 0
    entries = await redis_client.xrange("t:{q}:jobs")
    assert entries is not None
    (entry,) = entries
    due = str(clock.micros()).encode()  # enqueued 10 s ago with a 10 s delay
    assert entry[1] == {
        b"job": later.encode(),
        b"attempts": b"0",
        b"due": due,
        b"payload": b"later",
    }
    assert await redis_client.hget("t:{q}:entries", later) == entry[0]


async def test_a_reclaimed_job_counts_its_deliveries(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    """Attempts across both sources: a retry carries its count on the new entry, and the
    new entry's deliveries (reclaims included) add to it."""
    jobs = RedisJobQueue(redis_client, clock, visibility_timeout_seconds=0.2)
    job_id = await jobs.enqueue("q", b"x")
    await jobs.reserve("q", "a", max_jobs=1, wait_seconds=0)
    await jobs.retry_later("q", job_id, delay_seconds=0)
    assert (await jobs.reserve("q", "a", max_jobs=1, wait_seconds=0))[0].attempts == 2
    got = await reserve_soon(jobs, "q", "b")  # after 0.2 s of Redis's time
    assert [(j.id, j.attempts) for j in got] == [(job_id, 3)]
    await jobs.dead_letter("q", job_id, reason="enough")
    assert (await jobs.dead_letters("q"))[0].attempts == 3


async def test_normal_operation_leaves_no_error_replies(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    """Operators alert on Redis's error counters: a healthy queue adds nothing to them
    (past the NOSCRIPT that loads each script once per server)."""

    async def one_round(queue: str) -> None:
        await jobs.ack(queue, "job_unknown")  # before the group exists
        done, retried, dead = [await jobs.enqueue(queue, b"x") for _ in range(3)]
        await jobs.enqueue(queue, b"later", delay_seconds=5)
        assert len(await jobs.reserve(queue, "w", max_jobs=3, wait_seconds=0)) == 3
        await jobs.ack(queue, done)
        await jobs.retry_later(queue, retried, delay_seconds=0)
        await jobs.retry_later(queue, retried, delay_seconds=0)  # not reserved any more
        await jobs.dead_letter(queue, dead, reason="r")
        await jobs.reserve(queue, "w", max_jobs=3, wait_seconds=0.2)
        await jobs.reserve(queue, "w", max_jobs=3, wait_seconds=0.2)  # idle: blocks
        await jobs.stats(queue)
        await jobs.dead_letters(queue)

    jobs = RedisJobQueue(redis_client, clock)
    await one_round("warm-up")
    await redis_client.config_resetstat()
    await one_round("q")
    stats = await redis_client.info("stats")
    assert stats["total_error_replies"] == 0, await redis_client.info("errorstats")
