"""RedisJobQueue's batched enqueues: the enqueues of one event-loop iteration share one
pipelined round trip, and each caller keeps every guarantee of a lone enqueue.

- each job lands exactly once, in the order asked, and its caller gets its own id only
  once Redis has run that job's script (a crash right after loses no acknowledged job);
- an error reply is its own caller's ``Unavailable``, nobody else's;
- a failed round trip (server gone, server silent) is every caller's ``Unavailable``,
  raised from the driver's error, within the timeout;
- ``NOSCRIPT`` in a batch loads the script and re-sends, each job still once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio

from pulse_adapters.clock import ManualClock
from pulse_adapters.redis import RedisJobQueue, create_redis_client
from pulse_adapters.redis.resp_pipe import RespPipe
from pulse_core.errors import Unavailable
from tests.support.job_queues import PersistentRedisServer, drain
from tests.support.redis_server import RedisServer
from tests.support.require import require_binary

TIMEOUT = 0.25
# A hang check, not a performance assertion (as in test_redis_job_queue_faults.py).
HANG_BOUND = 10.0


class _RoundTrips:
    """Counts the batches written to Redis (``RespPipe.call``): one per round trip."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made = 0
        original = RespPipe.call

        async def call(pipe: RespPipe, commands: Any) -> Any:
            self.made += 1
            return await original(pipe, commands)

        monkeypatch.setattr(RespPipe, "call", call)


async def _stream_jobs(client: redis.asyncio.Redis, jobs: RedisJobQueue, queue: str) -> list[str]:
    """The job ids in ``queue``'s stream, in stream order."""
    ids: list[str] = []
    for _, fields in await client.xrange(jobs.keys(queue)["jobs"]) or []:
        assert fields is not None
        job = fields[b"job"]
        ids.append(job.decode() if isinstance(job, bytes) else job)
    return ids


async def test_concurrent_enqueues_share_a_round_trip_and_land_once_in_order(
    redis_client: redis.asyncio.Redis, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = RedisJobQueue(redis_client, clock)
    await redis_client.script_flush()  # a server that never saw the script
    trips = _RoundTrips(monkeypatch)
    await redis_client.config_resetstat()

    ids = await asyncio.gather(*(jobs.enqueue("q", f"{i}".encode()) for i in range(100)))

    assert trips.made == 1  # all 100 asked in one iteration: one round trip
    stats = await redis_client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 100  # one script run per job, no more
    # The script was loaded before the first batch, not discovered missing 100 times.
    assert (await redis_client.info("stats"))["total_error_replies"] == 0
    assert await _stream_jobs(redis_client, jobs, "q") == ids  # in the order asked
    handed = await drain(jobs, "q", "w", until=set(ids))
    assert [job.payload for job in handed] == [f"{i}".encode() for i in range(100)]
    # A lone enqueue is a round trip of its own.
    trips.made = 0
    await jobs.enqueue("q", b"alone")
    assert trips.made == 1


async def test_concurrent_acks_share_a_round_trip_and_ack_only_reserved_jobs(
    redis_client: redis.asyncio.Redis, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a worker's concurrent jobs finishing together do.
    jobs = RedisJobQueue(redis_client, clock)
    ids = await asyncio.gather(*(jobs.enqueue("q", f"{i}".encode()) for i in range(30)))
    reserved = await jobs.reserve("q", "w", max_jobs=20, wait_seconds=0)
    assert len(reserved) == 20
    trips = _RoundTrips(monkeypatch)
    await redis_client.config_resetstat()

    # The 20 reserved ones, and 10 that were never handed out: acking those does nothing.
    await asyncio.gather(*(jobs.ack("q", job_id) for job_id in ids))

    assert trips.made == 1
    stats = await redis_client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 30
    assert stats["cmdstat_xdel"]["calls"] == 20  # only entries that were pending
    left = await _stream_jobs(redis_client, jobs, "q")
    assert left == ids[20:]
    assert await redis_client.hlen(jobs.keys("q")["entries"]) == 10
    handed = await drain(jobs, "q", "w", until=set(ids[20:]))
    assert sorted(job.id for job in handed) == sorted(ids[20:])


async def test_an_error_reply_fails_only_its_own_caller(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    jobs = RedisJobQueue(redis_client, clock)
    await redis_client.set(jobs.keys("broken")["jobs"], b"not a stream")  # XADD: WRONGTYPE

    results = await asyncio.gather(
        *(jobs.enqueue("broken" if i == 5 else "q", b"x") for i in range(10)),
        return_exceptions=True,
    )

    failed = results.pop(5)
    assert isinstance(failed, Unavailable)
    assert isinstance(failed.__cause__, redis.ResponseError)
    assert all(isinstance(job_id, str) for job_id in results)
    assert await _stream_jobs(redis_client, jobs, "q") == results


async def test_a_batch_meeting_noscript_reloads_and_lands_each_job_once(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    jobs = RedisJobQueue(redis_client, clock)
    await jobs.enqueue("q", b"loaded")
    await redis_client.script_flush()  # what a restart or a failover to a replica does

    ids = await asyncio.gather(*(jobs.enqueue("q", f"{i}".encode()) for i in range(20)))

    assert (await _stream_jobs(redis_client, jobs, "q"))[1:] == ids
    assert await redis_client.hlen(jobs.keys("q")["entries"]) == 21


async def test_a_cancelled_caller_leaves_the_others_their_answers(
    redis_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    jobs = RedisJobQueue(redis_client, clock)
    tasks = [asyncio.create_task(jobs.enqueue("q", f"{i}".encode())) for i in range(10)]
    await asyncio.sleep(0)  # every task has asked; the batch leaves at the iteration's end
    tasks[3].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(results.pop(3), asyncio.CancelledError)
    assert set(results) <= set(await _stream_jobs(redis_client, jobs, "q"))


@pytest.fixture
async def fragile_client(disposable_redis: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = create_redis_client(disposable_redis.url, timeout_seconds=TIMEOUT)
    try:
        yield client
    finally:
        await client.aclose()


async def _all_unavailable(jobs: RedisJobQueue, count: int) -> None:
    started = time.monotonic()
    results = await asyncio.gather(
        *(jobs.enqueue("q", b"x") for _ in range(count)), return_exceptions=True
    )
    assert time.monotonic() - started < HANG_BOUND
    for result in results:
        assert isinstance(result, Unavailable), result
        assert result.__cause__ is not None  # raised from the driver's error


async def test_a_failed_round_trip_fails_every_caller(
    disposable_redis: RedisServer, fragile_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    jobs = RedisJobQueue(fragile_client, clock, timeout_seconds=TIMEOUT)
    await jobs.enqueue("q", b"before")
    disposable_redis.stop()
    await _all_unavailable(jobs, 20)

    disposable_redis.start()  # back (empty): batches work again
    ids = await asyncio.gather(*(jobs.enqueue("q", b"after") for _ in range(5)))
    assert await _stream_jobs(fragile_client, jobs, "q") == ids


async def test_a_silent_server_fails_every_caller_within_the_timeout(
    disposable_redis: RedisServer, fragile_client: redis.asyncio.Redis, clock: ManualClock
) -> None:
    jobs = RedisJobQueue(fragile_client, clock, timeout_seconds=TIMEOUT)
    await jobs.enqueue("q", b"before")
    # Takes every command and answers none: the asyncio.timeout path.
    async with create_redis_client(disposable_redis.url, timeout_seconds=5.0) as admin:
        await admin.client_pause(3000, all=True)
    await _all_unavailable(jobs, 20)


@pytest.fixture
def persistent_redis() -> Iterator[PersistentRedisServer]:
    server = PersistentRedisServer(require_binary("redis-server")).start()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.slow
async def test_a_crash_among_concurrent_enqueues_loses_no_acknowledged_job(
    persistent_redis: PersistentRedisServer, clock: ManualClock
) -> None:
    """Redis fsyncs before it replies, and a caller returns only on its own reply: every
    id handed out survives a SIGKILL that lands in the middle of batches."""
    client = create_redis_client(persistent_redis.url, timeout_seconds=1.0)
    try:
        jobs = RedisJobQueue(client, clock, timeout_seconds=1.0)
        acknowledged: set[str] = set()
        after_crash: set[str] = set()
        refused = 0
        crashed = asyncio.Event()
        enough = asyncio.Event()

        async def producer(n: int) -> None:
            nonlocal refused
            i = 0
            while len(after_crash) < 100:
                i += 1
                try:
                    job_id = await jobs.enqueue("q", f"{n}-{i}".encode())
                except Unavailable:  # not acknowledged: unknown whether it was added
                    refused += 1
                    await asyncio.sleep(0.01)
                    continue
                acknowledged.add(job_id)
                if crashed.is_set():
                    after_crash.add(job_id)
                if len(acknowledged) >= 200:
                    enough.set()

        async def crash() -> None:
            await enough.wait()
            persistent_redis.stop()  # SIGKILL
            await asyncio.sleep(0.3)
            await asyncio.to_thread(persistent_redis.start)
            crashed.set()

        await asyncio.wait_for(
            asyncio.gather(*(producer(n) for n in range(20)), crash()), timeout=120
        )
        assert refused  # the crash did fall among the enqueues

        delivered = await drain(jobs, "q", "w", until=acknowledged)
        assert acknowledged <= {job.id for job in delivered}
    finally:
        await client.aclose()
