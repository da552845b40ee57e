"""The JobQueue contract, run against every adapter; then what only SQLite promises
(durability across a restart, its queries' indexes) and the in-memory queue's close().

Written against the port only. Each backend opens adapters on one shared store:
``open()`` twice is two processes sharing it (two SQLite connections to one file, two
Redis clients; the in-process queue has one object). Time is a ManualClock: delays and,
on memory and SQLite, reservations follow it exactly. Redis measures reservations in
its own (real) time, so the tests that let one expire use a short visibility timeout,
advance the clock too, and poll with patience; no test asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis.asyncio

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryJobQueue
from pulse_adapters.redis import RedisJobQueue, create_redis_client
from pulse_adapters.sqlite import SqliteDatabase, SqliteJobQueue
from pulse_adapters.sqlite import queue as sqlite_queue
from pulse_core.errors import Unavailable
from pulse_core.ports.queue import DeadJob, JobQueue, QueueStats, ReservedJob
from tests.support.job_queues import drain, reserve_soon

JOB_QUEUE_BACKENDS = ["memory", "sqlite", "redis"]

# Long enough that no reservation expires during a test on any machine.
LONG = 3600.0
# Short, for the tests that let a reservation expire (real time on Redis).
SHORT = 0.3

Opener = Callable[..., Awaitable[JobQueue]]


@dataclass
class QueueBackend:
    """A store the tests open adapters on, and the clock they all read."""

    clock: ManualClock
    open: Opener
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Holds every claim at the backend until exit (None: a claim is never in flight).
    stall: Callable[[], contextlib.AbstractAsyncContextManager[None]] | None = None


@pytest.fixture
async def memory_queue_backend(clock: ManualClock) -> QueueBackend:
    queues: dict[float, InMemoryJobQueue] = {}

    async def open_queue(*, visibility_timeout_seconds: float = LONG) -> JobQueue:
        # One process, one object: every "other process" is this one.
        if visibility_timeout_seconds not in queues:
            queues[visibility_timeout_seconds] = InMemoryJobQueue(
                clock,
                visibility_timeout_seconds=visibility_timeout_seconds,
                poll_interval_seconds=0.05,
            )
        return queues[visibility_timeout_seconds]

    return QueueBackend(clock=clock, open=open_queue)


@pytest.fixture
async def sqlite_queue_backend(clock: ManualClock, tmp_path: Path) -> AsyncIterator[QueueBackend]:
    backend = QueueBackend(clock=clock, open=_never)

    async def open_queue(*, visibility_timeout_seconds: float = LONG) -> JobQueue:
        db = SqliteDatabase(tmp_path / "pulse.sqlite3")
        await db.connect()
        backend.closers.append(db.close)
        return SqliteJobQueue(
            db,
            clock,
            visibility_timeout_seconds=visibility_timeout_seconds,
            poll_interval_seconds=0.05,
        )

    @contextlib.asynccontextmanager
    async def stall() -> AsyncIterator[None]:
        # Another process holding the write lock: a claim waits for it.
        holder = sqlite3.connect(tmp_path / "pulse.sqlite3", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    backend.open, backend.stall = open_queue, stall
    yield backend
    for close in backend.closers:
        await close()


class ReplyGate:
    """A TCP proxy in front of Redis that can hold back Redis's replies (requests go
    through): a command has run by then, but its caller has not read the answer."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 6379
        self._path = parts.path
        self.open = asyncio.Event()
        self.open.set()
        self._server: asyncio.Server | None = None

    async def url(self) -> str:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}{self._path}"

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        server, to_server = await asyncio.open_connection(self._host, self._port)
        replies = self._pump(server, to_client, gated=True)
        await asyncio.gather(self._pump(client, to_server), replies)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, gated: bool = False
    ) -> None:
        try:
            while data := await source.read(65536):
                if gated:
                    await self.open.wait()
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            sink.close()


@pytest.fixture
async def redis_queue_backend(clock: ManualClock, redis_url: str) -> AsyncIterator[QueueBackend]:
    backend = QueueBackend(clock=clock, open=_never)
    gate = ReplyGate(redis_url)

    async def open_queue(*, visibility_timeout_seconds: float = LONG) -> JobQueue:
        client: redis.asyncio.Redis = create_redis_client(await gate.url(), timeout_seconds=5.0)
        backend.closers.append(client.aclose)
        return RedisJobQueue(
            client,
            clock,
            visibility_timeout_seconds=visibility_timeout_seconds,
            timeout_seconds=5.0,
            poll_interval_seconds=0.05,
        )

    @contextlib.asynccontextmanager
    async def stall() -> AsyncIterator[None]:
        gate.open.clear()
        try:
            yield
        finally:
            gate.open.set()

    backend.open, backend.stall = open_queue, stall
    yield backend
    for close in backend.closers:
        await close()
    gate.close()


async def _never(**_: float) -> JobQueue:
    raise AssertionError("backend not ready")


@pytest.fixture(params=JOB_QUEUE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> QueueBackend:
    chosen: QueueBackend = request.getfixturevalue(f"{request.param}_queue_backend")
    return chosen


@pytest.fixture
async def jobs(backend: QueueBackend) -> JobQueue:
    return await backend.open()


async def enqueue_all(queue: JobQueue, name: str, payloads: list[bytes]) -> list[str]:
    return [await queue.enqueue(name, payload) for payload in payloads]


# -- handing out -----------------------------------------------------------------------


async def test_jobs_are_handed_out_in_enqueue_order_with_their_ids(jobs: JobQueue) -> None:
    payloads = [f"job {i}".encode() for i in range(7)]
    ids = await enqueue_all(jobs, "q", payloads)
    assert len(set(ids)) == 7 and all(isinstance(i, str) and i for i in ids)

    first = await jobs.reserve("q", "w1", max_jobs=3, wait_seconds=0)
    rest = await jobs.reserve("q", "w1", max_jobs=10, wait_seconds=0)

    assert first == [ReservedJob(id=ids[i], payload=payloads[i], attempts=1) for i in range(3)]
    assert rest == [ReservedJob(id=ids[i], payload=payloads[i], attempts=1) for i in range(3, 7)]
    assert await jobs.reserve("q", "w2", max_jobs=10, wait_seconds=0) == []


async def test_an_empty_queue_waits_then_returns_nothing(jobs: JobQueue) -> None:
    assert await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0) == []
    started = time.monotonic()
    assert await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0.3) == []
    assert time.monotonic() - started >= 0.25  # it did wait (a lower bound only)


async def test_a_waiting_reserve_wakes_for_an_enqueue(jobs: JobQueue) -> None:
    waiting = asyncio.create_task(jobs.reserve("q", "w", max_jobs=5, wait_seconds=30))
    await asyncio.sleep(0.2)
    job_id = await jobs.enqueue("q", b"wake up")
    # Only an answer made after the enqueue can hold the job: the wait was woken.
    assert await waiting == [ReservedJob(id=job_id, payload=b"wake up", attempts=1)]


async def test_a_waiting_reserve_sees_another_process_enqueue(backend: QueueBackend) -> None:
    worker, producer = await backend.open(), await backend.open()
    waiting = asyncio.create_task(worker.reserve("q", "w", max_jobs=5, wait_seconds=30))
    await asyncio.sleep(0.2)
    job_id = await producer.enqueue("q", b"from elsewhere")
    assert await waiting == [ReservedJob(id=job_id, payload=b"from elsewhere", attempts=1)]


# Not the in-process queue: it claims and returns with no await in between.
@pytest.mark.parametrize("backend", ["sqlite", "redis"], indirect=True)
async def test_a_reserve_cancelled_while_claiming_hands_back_what_it_claimed(
    backend: QueueBackend,
) -> None:
    # What a worker stopping does to the reserve it is in. The claim has reached the
    # backend, which holds it (SQLite: another process has the write lock) or its answer
    # (Redis: a proxy) when the cancel comes: the job is handed back at once, and
    # another consumer gets it now, not after the visibility timeout.
    assert backend.stall is not None
    jobs, other = await backend.open(), await backend.open()
    # Connected, scripts loaded: the claim below is one round trip.
    assert await jobs.reserve("q", "w1", max_jobs=5, wait_seconds=0) == []
    job_id = await jobs.enqueue("q", b"job")
    async with backend.stall():
        reserving = asyncio.create_task(jobs.reserve("q", "w1", max_jobs=5, wait_seconds=LONG))
        await asyncio.sleep(0.2)  # the claim is sent, and waits at the backend
        reserving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reserving
    await jobs.ping()  # after whatever the first consumer's backend was still doing
    [again] = await other.reserve("q", "w2", max_jobs=5, wait_seconds=0)
    assert again.id == job_id


async def test_arguments_out_of_range_are_refused(jobs: JobQueue) -> None:
    with pytest.raises(ValueError):
        await jobs.enqueue("q", b"x", delay_seconds=-1)
    with pytest.raises(ValueError):
        await jobs.reserve("q", "w", max_jobs=0, wait_seconds=0)
    with pytest.raises(ValueError):
        await jobs.reserve("q", "w", max_jobs=1, wait_seconds=-0.1)
    with pytest.raises(ValueError):
        await jobs.dead_letters("q", limit=0)
    job_id = await jobs.enqueue("q", b"x")
    await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0)
    with pytest.raises(ValueError):
        await jobs.retry_later("q", job_id, delay_seconds=-1)


# -- reservations ----------------------------------------------------------------------


async def test_a_reserved_job_is_nobody_elses_until_the_visibility_timeout(
    jobs: JobQueue, clock: ManualClock
) -> None:
    job_id = await jobs.enqueue("q", b"mine")
    assert [j.id for j in await jobs.reserve("q", "w1", max_jobs=1, wait_seconds=0)] == [job_id]

    clock.advance(LONG - 1)
    assert await jobs.reserve("q", "w2", max_jobs=1, wait_seconds=0.2) == []
    assert await jobs.reserve("q", "w1", max_jobs=1, wait_seconds=0) == []


async def test_ack_removes_the_job_for_good(jobs: JobQueue, clock: ManualClock) -> None:
    job_id = await jobs.enqueue("q", b"done")
    await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0)
    await jobs.ack("q", job_id)

    clock.advance(LONG * 2)
    assert await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0) == []
    assert await jobs.stats("q") == QueueStats(depth=0, oldest_age_seconds=None, dead=0)
    await jobs.ack("q", job_id)  # again: nothing to do, no error


async def test_a_job_whose_consumer_died_goes_to_another(backend: QueueBackend) -> None:
    crashed = await backend.open(visibility_timeout_seconds=SHORT)
    survivor = await backend.open(visibility_timeout_seconds=SHORT)
    job_id = await crashed.enqueue("q", b"unfinished")
    assert len(await crashed.reserve("q", "doomed", max_jobs=1, wait_seconds=0)) == 1
    # ... and "doomed" never acks.

    backend.clock.advance(SHORT + 1)
    got = await reserve_soon(survivor, "q", "survivor")
    assert got == [ReservedJob(id=job_id, payload=b"unfinished", attempts=2)]

    await survivor.ack("q", job_id)
    backend.clock.advance(SHORT + 1)
    assert await survivor.reserve("q", "survivor", max_jobs=1, wait_seconds=SHORT * 3) == []


async def test_each_expiry_counts_as_an_attempt(backend: QueueBackend) -> None:
    jobs = await backend.open(visibility_timeout_seconds=SHORT)
    job_id = await jobs.enqueue("q", b"slow")
    attempts = []
    for _ in range(3):
        got = await reserve_soon(jobs, "q", "w")
        attempts.append([(j.id, j.attempts) for j in got])
        backend.clock.advance(SHORT + 1)
    assert attempts == [[(job_id, 1)], [(job_id, 2)], [(job_id, 3)]]


async def test_a_late_ack_from_the_first_holder_completes_the_job(backend: QueueBackend) -> None:
    """The documented outcome: acks are per job, not per reservation. The first holder's
    work is done, so the job is; the second holder's ack then has nothing to do."""
    jobs = await backend.open(visibility_timeout_seconds=SHORT)
    job_id = await jobs.enqueue("q", b"twice")
    await jobs.reserve("q", "first", max_jobs=1, wait_seconds=0)
    backend.clock.advance(SHORT + 1)
    assert [j.id for j in await reserve_soon(jobs, "q", "second")] == [job_id]

    await jobs.ack("q", job_id)  # "first", late
    await jobs.ack("q", job_id)  # "second": nothing left to do, no error

    backend.clock.advance(SHORT + 1)
    assert await jobs.reserve("q", "third", max_jobs=1, wait_seconds=SHORT * 3) == []
    assert (await jobs.stats("q")).depth == 0


async def test_a_late_retry_from_the_first_holder_runs_the_job_once_more(
    backend: QueueBackend,
) -> None:
    """The other documented outcome: the first call decides. A late retry_later releases
    the job, the second holder's ack then does nothing, and the job runs again after
    the delay: once more than needed, never lost."""
    jobs = await backend.open(visibility_timeout_seconds=SHORT)
    job_id = await jobs.enqueue("q", b"again")
    await jobs.reserve("q", "first", max_jobs=1, wait_seconds=0)
    backend.clock.advance(SHORT + 1)
    assert [j.id for j in await reserve_soon(jobs, "q", "second")] == [job_id]

    await jobs.retry_later("q", job_id, delay_seconds=60)  # "first", late
    await jobs.ack("q", job_id)  # "second": the job is waiting out its delay

    backend.clock.advance(60)
    assert await reserve_soon(jobs, "q", "third") == [
        ReservedJob(id=job_id, payload=b"again", attempts=3)
    ]


async def test_two_consumers_never_hold_the_same_job(backend: QueueBackend) -> None:
    producer = await backend.open()
    ids = set(await enqueue_all(producer, "q", [f"{i}".encode() for i in range(60)]))
    workers = [await backend.open() for _ in range(4)]
    handed: list[tuple[str, str]] = []
    rng = random.Random(7)

    async def work(queue: JobQueue, name: str) -> None:
        while True:
            got = await queue.reserve("q", name, max_jobs=rng.randint(1, 5), wait_seconds=0.2)
            if not got:
                return
            handed.extend((name, job.id) for job in got)
            await asyncio.sleep(0)  # let the others in while holding these
            for job in got:
                await queue.ack("q", job.id)

    await asyncio.wait_for(
        asyncio.gather(*(work(q, f"w{i}") for i, q in enumerate(workers))), timeout=120
    )
    handed_ids = [job_id for _, job_id in handed]
    assert sorted(handed_ids) == sorted(ids)  # each exactly once


# -- retry, delay, dead letter ---------------------------------------------------------


async def test_retry_later_hands_the_job_out_again_after_the_delay(
    jobs: JobQueue, clock: ManualClock
) -> None:
    job_id = await jobs.enqueue("q", b"flaky")
    assert (await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0))[0].attempts == 1
    await jobs.retry_later("q", job_id, delay_seconds=30)

    assert await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0) == []
    clock.advance(29.999)
    assert await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0) == []
    clock.advance(0.001)
    assert await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0) == [
        ReservedJob(id=job_id, payload=b"flaky", attempts=2)
    ]


async def test_retry_now_and_again_counts_attempts(jobs: JobQueue) -> None:
    job_id = await jobs.enqueue("q", b"n")
    seen = []
    for _ in range(3):
        (job,) = await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0)
        seen.append(job.attempts)
        await jobs.retry_later("q", job_id, delay_seconds=0)
    assert seen == [1, 2, 3]
    assert (await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0))[0].attempts == 4


async def test_a_delayed_job_waits_for_its_time(jobs: JobQueue, clock: ManualClock) -> None:
    later = await jobs.enqueue("q", b"later", delay_seconds=10)
    now = await jobs.enqueue("q", b"now")

    assert [j.id for j in await jobs.reserve("q", "w", max_jobs=5, wait_seconds=0)] == [now]
    clock.advance(9.999)
    assert await jobs.reserve("q", "w", max_jobs=5, wait_seconds=0) == []
    clock.advance(0.001)
    assert await jobs.reserve("q", "w", max_jobs=5, wait_seconds=0) == [
        ReservedJob(id=later, payload=b"later", attempts=1)
    ]


async def test_calls_on_a_job_that_is_not_reserved_do_nothing(
    jobs: JobQueue, clock: ManualClock
) -> None:
    waiting = await jobs.enqueue("q", b"waiting")
    delayed = await jobs.enqueue("q", b"delayed", delay_seconds=5)
    for job_id in (waiting, delayed, "job_unknown"):
        await jobs.ack("q", job_id)
        await jobs.retry_later("q", job_id, delay_seconds=100)
        await jobs.dead_letter("q", job_id, reason="no")

    clock.advance(5)
    got = await jobs.reserve("q", "w", max_jobs=5, wait_seconds=0)
    assert [(j.id, j.attempts) for j in got] == [(waiting, 1), (delayed, 1)]
    assert await jobs.dead_letters("q") == []


async def test_a_dead_lettered_job_is_kept_and_listed(jobs: JobQueue, clock: ManualClock) -> None:
    first = await jobs.enqueue("q", b"poison")
    second = await jobs.enqueue("q", b"\x00hopeless\xff")
    (job,) = await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0)
    await jobs.retry_later("q", job.id, delay_seconds=0)
    await jobs.reserve("q", "w", max_jobs=2, wait_seconds=0)  # second, and first again
    first_dead_at = clock.now()
    await jobs.dead_letter("q", first, reason="undecodable")
    clock.advance(1.5)
    await jobs.dead_letter("q", second, reason="HTTP 500, eight times")

    clock.advance(LONG * 2)
    assert await jobs.reserve("q", "w", max_jobs=5, wait_seconds=0) == []
    assert await jobs.dead_letters("q") == [
        DeadJob(
            id=second,
            payload=b"\x00hopeless\xff",
            reason="HTTP 500, eight times",
            attempts=1,
            dead_at=first_dead_at + timedelta(seconds=1.5),
        ),
        DeadJob(
            id=first, payload=b"poison", reason="undecodable", attempts=2, dead_at=first_dead_at
        ),
    ]
    assert [d.id for d in await jobs.dead_letters("q", limit=1)] == [second]
    assert await jobs.stats("q") == QueueStats(depth=0, oldest_age_seconds=None, dead=2)
    await jobs.ack("q", first)  # dead is final
    assert (await jobs.stats("q")).dead == 2


# -- stats, payloads, queues -----------------------------------------------------------


async def test_stats_count_live_jobs_and_age_the_oldest_due(
    jobs: JobQueue, clock: ManualClock
) -> None:
    assert await jobs.stats("q") == QueueStats(depth=0, oldest_age_seconds=None, dead=0)

    a = await jobs.enqueue("q", b"a")
    clock.advance(5)
    await jobs.enqueue("q", b"b")
    await jobs.enqueue("q", b"c", delay_seconds=100)
    assert await jobs.stats("q") == QueueStats(depth=3, oldest_age_seconds=5.0, dead=0)

    # Handed out, a is still live and still the oldest due.
    assert [j.id for j in await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0)] == [a]
    clock.advance(1)
    assert await jobs.stats("q") == QueueStats(depth=3, oldest_age_seconds=6.0, dead=0)

    await jobs.ack("q", a)
    assert await jobs.stats("q") == QueueStats(depth=2, oldest_age_seconds=1.0, dead=0)
    clock.advance(200)  # c has been due for 101 s, b for 201 s
    assert await jobs.stats("q") == QueueStats(depth=2, oldest_age_seconds=201.0, dead=0)


async def test_stats_ignore_delayed_jobs_until_due(jobs: JobQueue, clock: ManualClock) -> None:
    await jobs.enqueue("q", b"later", delay_seconds=10)
    assert await jobs.stats("q") == QueueStats(depth=1, oldest_age_seconds=None, dead=0)
    clock.advance(12)
    assert await jobs.stats("q") == QueueStats(depth=1, oldest_age_seconds=2.0, dead=0)


PAYLOADS = [
    b"",
    b"\x00",
    b"|0|\x00|",  # the separators the Redis adapter packs delayed jobs with
    b"\xff\xfe\x00\r\n\x80",
    "héllo wörld ✓ 🎉 \u0000 日本語".encode(),
    bytes(range(256)) * 64,
]


async def test_payloads_come_back_byte_for_byte(jobs: JobQueue, clock: ManualClock) -> None:
    ids = await enqueue_all(jobs, "q", PAYLOADS)
    got = await jobs.reserve("q", "w", max_jobs=len(PAYLOADS), wait_seconds=0)
    assert [(j.id, j.payload) for j in got] == list(zip(ids, PAYLOADS, strict=True))

    # Through a delayed retry and into the dead letter, too.
    for job_id in ids:
        await jobs.retry_later("q", job_id, delay_seconds=1)
    clock.advance(1)
    again = await jobs.reserve("q", "w", max_jobs=len(PAYLOADS), wait_seconds=0)
    assert {j.id: j.payload for j in again} == dict(zip(ids, PAYLOADS, strict=True))
    for job_id in ids:
        await jobs.dead_letter("q", job_id, reason="🙈 nope")
    dead = await jobs.dead_letters("q", limit=100)
    assert {d.id: (d.payload, d.reason) for d in dead} == {
        i: (p, "🙈 nope") for i, p in zip(ids, PAYLOADS, strict=True)
    }


async def test_queues_are_independent(jobs: JobQueue, clock: ManualClock) -> None:
    a = await jobs.enqueue("alpha", b"a")
    b = await jobs.enqueue("béta {x}", b"b")

    assert [j.id for j in await jobs.reserve("alpha", "w", max_jobs=5, wait_seconds=0)] == [a]
    await jobs.ack("béta {x}", a)  # the wrong queue: nothing happens
    await jobs.dead_letter("béta {x}", a, reason="wrong queue")
    clock.advance(1)
    assert await jobs.stats("alpha") == QueueStats(depth=1, oldest_age_seconds=1.0, dead=0)
    assert await jobs.stats("béta {x}") == QueueStats(depth=1, oldest_age_seconds=1.0, dead=0)

    assert [j.id for j in await jobs.reserve("béta {x}", "w", max_jobs=5, wait_seconds=0)] == [b]
    await jobs.dead_letter("béta {x}", b, reason="r")
    assert await jobs.dead_letters("alpha") == []
    assert [d.id for d in await jobs.dead_letters("béta {x}")] == [b]


async def test_concurrent_enqueues_each_land_exactly_once(backend: QueueBackend) -> None:
    """Enqueues made at once, from two processes and into two queues (the Redis adapter
    sends those of one event-loop iteration in one round trip): each caller gets its own
    id, and each job is handed out exactly once, with its own payload."""
    producers = [await backend.open() for _ in range(2)]
    calls = [(producers[i % 2], "q" if i % 3 else "other", f"job {i}".encode()) for i in range(300)]
    ids = await asyncio.gather(*(queue.enqueue(name, data) for queue, name, data in calls))
    assert len(set(ids)) == len(calls)

    consumer = await backend.open()
    for name in ("q", "other"):
        expected = {i: data for i, (_, n, data) in zip(ids, calls, strict=True) if n == name}
        handed = await drain(consumer, name, "w", until=set(expected))
        assert sorted(job.id for job in handed) == sorted(expected)  # none twice
        assert {job.id: job.payload for job in handed} == expected
        assert (await consumer.stats(name)).depth == 0  # and no copy left behind


# -- SQLite: durable across a restart, two processes, indexed --------------------------


async def test_sqlite_keeps_jobs_across_a_restart(clock: ManualClock, tmp_path: Path) -> None:
    path = tmp_path / "pulse.sqlite3"
    db = SqliteDatabase(path)
    await db.connect()
    jobs = SqliteJobQueue(db, clock, visibility_timeout_seconds=30)
    acked, held, waiting = [await jobs.enqueue("q", f"{i}".encode()) for i in range(3)]
    delayed = await jobs.enqueue("q", b"later", delay_seconds=60)
    await jobs.reserve("q", "w", max_jobs=2, wait_seconds=0)
    await jobs.ack("q", acked)
    await db.close()  # "held" is reserved and never acked: the process died

    with pytest.raises(Unavailable):
        await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0)

    db = SqliteDatabase(path)
    await db.connect()
    try:
        jobs = SqliteJobQueue(db, clock, visibility_timeout_seconds=30)
        got = await jobs.reserve("q", "w", max_jobs=10, wait_seconds=0)
        assert [j.id for j in got] == [waiting]
        await jobs.ack("q", waiting)
        clock.advance(30)
        got = await jobs.reserve("q", "w", max_jobs=10, wait_seconds=0)
        assert [(j.id, j.attempts) for j in got] == [(held, 2)]
        await jobs.ack("q", held)
        clock.advance(30)
        got = await jobs.reserve("q", "w", max_jobs=10, wait_seconds=0)
        assert [(j.id, j.attempts) for j in got] == [(delayed, 1)]
        await jobs.ack("q", delayed)
        clock.advance(LONG)
        assert await jobs.reserve("q", "w", max_jobs=10, wait_seconds=0) == []
    finally:
        await db.close()


async def test_sqlite_restart_in_the_middle_of_a_burst_loses_no_acknowledged_job(
    clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "pulse.sqlite3"
    db = SqliteDatabase(path)
    await db.connect()
    jobs = SqliteJobQueue(db, clock)
    acknowledged: set[str] = set()
    after_restart: set[str] = set()
    refused = 0
    restarted = False
    hundred = asyncio.Event()

    async def burst() -> None:
        nonlocal refused
        for i in range(300):
            try:
                job_id = await jobs.enqueue("q", f"{i}".encode())
            except Unavailable:  # not acknowledged: the producer would retry it
                refused += 1
                await asyncio.sleep(0.01)
                continue
            acknowledged.add(job_id)
            if len(acknowledged) == 100:
                hundred.set()
            if restarted:
                after_restart.add(job_id)
            await asyncio.sleep(0)

    async def restart() -> None:
        nonlocal restarted
        await hundred.wait()
        await db.close()
        await asyncio.sleep(0.05)
        await db.connect()
        restarted = True

    await asyncio.gather(burst(), restart())
    await db.close()
    assert refused and after_restart  # the restart did fall in the middle of the burst

    db = SqliteDatabase(path)
    await db.connect()
    try:
        jobs = SqliteJobQueue(db, clock)
        delivered = await drain(jobs, "q", "w", until=acknowledged)
        assert {j.id for j in delivered} >= acknowledged
        assert len(acknowledged) + refused == 300 and len(delivered) <= 300
        assert len(delivered) == len({j.id for j in delivered})
    finally:
        await db.close()


async def test_sqlite_closed_database_unblocks_a_waiting_reserve(
    clock: ManualClock, tmp_path: Path
) -> None:
    db = SqliteDatabase(tmp_path / "pulse.sqlite3")
    await db.connect()
    jobs = SqliteJobQueue(db, clock, poll_interval_seconds=0.05)
    waiting = asyncio.create_task(jobs.reserve("q", "w", max_jobs=1, wait_seconds=60))
    await asyncio.sleep(0.1)
    await db.close()
    with pytest.raises(Unavailable):
        await asyncio.wait_for(waiting, timeout=30)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: jobs.enqueue("q", b"x"),
        lambda: jobs.ack("q", "job_x"),
        lambda: jobs.stats("q"),
        lambda: jobs.dead_letters("q"),
        jobs.ping,
    ]
    for call in calls:
        with pytest.raises(Unavailable):
            await call()


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        (sqlite_queue.JOB_ANY_RUNNABLE, ("q", 0)),
        (sqlite_queue.JOB_RUNNABLE, ("q", 0, 10)),
        (sqlite_queue.JOB_ACK, ("job_x", "q")),
        (sqlite_queue.JOB_RELEASE, (0, "job_x", "q")),
        (sqlite_queue.JOB_BURY, ("r", 0, "job_x", "q")),
        (sqlite_queue.JOB_DEPTH, ("q",)),
        (sqlite_queue.JOB_OLDEST_DUE, ("q", 0)),
        (sqlite_queue.DEAD_LIST, ("q", 10)),
        (sqlite_queue.DEAD_COUNT, ("q",)),
    ],
)
async def test_sqlite_queue_queries_use_an_index_and_no_sort(
    tmp_path: Path, sql: str, params: tuple[object, ...]
) -> None:
    db = SqliteDatabase(tmp_path / "pulse.sqlite3")
    await db.connect()
    try:
        plan = await db.read(
            lambda c: [row[3] for row in c.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        )
    finally:
        await db.close()
    searches = [step for step in plan if step.startswith(("SEARCH", "SCAN"))]
    assert searches and all("USING" in step and "INDEX" in step for step in searches), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


# -- in memory: close() ----------------------------------------------------------------


async def test_a_closed_in_memory_queue_is_unavailable(clock: ManualClock) -> None:
    jobs = InMemoryJobQueue(clock)
    waiting = asyncio.create_task(jobs.reserve("q", "w", max_jobs=1, wait_seconds=60))
    await asyncio.sleep(0.05)
    await jobs.close()
    with pytest.raises(Unavailable):
        await asyncio.wait_for(waiting, timeout=30)
    with pytest.raises(Unavailable):
        await jobs.enqueue("q", b"x")


# -- in-process adapters: one object, one event loop after another -------------------


def test_in_process_queues_serve_one_event_loop_after_another(
    clock: ManualClock, tmp_path: Path
) -> None:
    """A wait leaves nothing bound to its loop behind (an app rebuilt per test, a CLI)."""
    db = SqliteDatabase(tmp_path / "pulse.sqlite3")
    asyncio.run(db.connect())
    try:
        for jobs in (InMemoryJobQueue(clock), SqliteJobQueue(db, clock)):
            for _ in range(2):
                assert asyncio.run(_wait_then_enqueue(jobs)) == [b"woken"]
    finally:
        asyncio.run(db.close())


async def _wait_then_enqueue(jobs: JobQueue) -> list[bytes]:
    waiting = asyncio.create_task(jobs.reserve("q", "w", max_jobs=1, wait_seconds=30))
    await asyncio.sleep(0.1)
    job_id = await jobs.enqueue("q", b"woken")
    got = await waiting
    await jobs.ack("q", job_id)
    # Ends with a wait that timed out: whatever it waited on stays behind.
    assert await jobs.reserve("q", "w", max_jobs=1, wait_seconds=0.1) == []
    return [j.payload for j in got]
