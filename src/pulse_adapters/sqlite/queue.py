"""The durable job queue in Pulse's SQLite file: tables ``queue_jobs`` and
``queue_dead_jobs`` (migration 3 of :mod:`pulse_adapters.sqlite.schema`).

A reservation is one ``BEGIN IMMEDIATE`` transaction that selects the runnable jobs and
stamps them ``reserved_by`` / ``reserved_until_us``: the file's write lock makes it
atomic against every other process sharing the file, so no job is ever held twice. An
expired reservation needs no sweeper: ``runnable_at_us`` (the reservation's end while
reserved) simply passes, and the next reserve takes the job again.

Waiting reservers poll with a cheap read (WAL readers never wait for the writer) every
``poll_interval_seconds``, and an enqueue through this object wakes the ones waiting on
it at once; an enqueue by another process is seen at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta

from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_core.ids import new_id
from pulse_core.ports.clock import Clock
from pulse_core.ports.queue import JOB_ID_PREFIX, DeadJob, JobQueue, QueueStats, ReservedJob

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Named so tests can check each is served by an index.
JOB_INSERT = (
    "INSERT INTO queue_jobs (id, queue, payload, attempts, run_at_us) VALUES (?, ?, ?, 0, ?)"
)
JOB_ANY_RUNNABLE = "SELECT 1 FROM queue_jobs WHERE queue = ? AND runnable_at_us <= ? LIMIT 1"
JOB_RUNNABLE = (
    "SELECT seq, id, payload, attempts FROM queue_jobs"
    " WHERE queue = ? AND runnable_at_us <= ? ORDER BY runnable_at_us, seq LIMIT ?"
)
JOB_RESERVE = (
    "UPDATE queue_jobs SET attempts = attempts + 1, reserved_by = ?, reserved_until_us = ?"
    " WHERE seq = ?"
)
# Ack, retry and dead-letter act on a reserved job only (the port's rule for late calls).
JOB_ACK = "DELETE FROM queue_jobs WHERE id = ? AND queue = ? AND reserved_by IS NOT NULL"
JOB_RELEASE = (
    "UPDATE queue_jobs SET run_at_us = ?, reserved_by = NULL, reserved_until_us = NULL"
    " WHERE id = ? AND queue = ? AND reserved_by IS NOT NULL"
)
JOB_BURY = (
    "INSERT INTO queue_dead_jobs (id, queue, payload, reason, attempts, dead_at_us)"
    " SELECT id, queue, payload, ?, attempts, ? FROM queue_jobs"
    " WHERE id = ? AND queue = ? AND reserved_by IS NOT NULL"
)
JOB_DEPTH = "SELECT count(*) FROM queue_jobs WHERE queue = ?"
JOB_OLDEST_DUE = "SELECT min(run_at_us) FROM queue_jobs WHERE queue = ? AND run_at_us <= ?"
DEAD_LIST = (
    "SELECT id, payload, reason, attempts, dead_at_us FROM queue_dead_jobs"
    " WHERE queue = ? ORDER BY seq DESC LIMIT ?"
)
DEAD_COUNT = "SELECT count(*) FROM queue_dead_jobs WHERE queue = ?"


class SqliteJobQueue(JobQueue):
    """The :class:`~pulse_core.ports.queue.JobQueue` contract on a :class:`SqliteDatabase`.

    Durable: a job is committed (WAL, ``synchronous = NORMAL``: safe against a crash of
    the process) before :meth:`enqueue` returns; after a restart, reserved jobs that
    were not acked are handed out again once their reservation expires, acked ones
    never. Time comes from ``clock``; errors and timeouts are the database's
    (``Unavailable``, within its ``timeout_seconds``; at once once it is closed, and a
    waiting reserver notices within one poll interval). Dead-lettered jobs are kept
    until an operator deletes them from ``queue_dead_jobs``.
    """

    def __init__(
        self,
        db: SqliteDatabase,
        clock: Clock,
        *,
        visibility_timeout_seconds: float = 60.0,
        poll_interval_seconds: float = 0.5,
    ) -> None:
        if visibility_timeout_seconds <= 0:
            raise ValueError("visibility_timeout_seconds must be positive")
        if poll_interval_seconds <= 0:
            raise ValueError("poll_interval_seconds must be positive")
        self._db = db
        self._clock = clock
        self._visibility_us = round(visibility_timeout_seconds * 1_000_000)
        self._poll = poll_interval_seconds
        # Per queue, the reservers waiting here; an enqueue through this object wakes
        # them. One future per wait, made by the running loop: nothing outlives a wait,
        # so the object may serve one event loop after another.
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    @property
    def visibility_timeout_seconds(self) -> float:
        return self._visibility_us / 1_000_000

    async def ping(self) -> None:
        await self._db.ping()

    async def enqueue(self, queue: str, payload: bytes, *, delay_seconds: float = 0) -> str:
        _check_delay(delay_seconds)
        now = self._clock.micros()
        job_id = new_id(JOB_ID_PREFIX, now_ms=now // 1000)
        row = (job_id, queue, bytes(payload), now + _micros(delay_seconds))

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(JOB_INSERT, row)

        await self._db.write(work)
        if delay_seconds == 0:
            self._wake(queue)
        return job_id

    async def reserve(
        self, queue: str, consumer: str, *, max_jobs: int, wait_seconds: float
    ) -> list[ReservedJob]:
        if max_jobs < 1:
            raise ValueError("max_jobs must be at least 1")
        if wait_seconds < 0:
            raise ValueError("wait_seconds must not be negative")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            # Registered before looking: an enqueue while we look wakes this very wait.
            waiter: asyncio.Future[None] = loop.create_future()
            waiters = self._waiters.setdefault(queue, set())
            waiters.add(waiter)
            try:
                claiming = self._claim_jobs(queue, consumer, max_jobs)
                jobs = await self._claim(queue, claiming, lambda claimed: claimed)
                remaining = deadline - loop.time()
                if jobs or remaining <= 0:
                    return jobs
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, self._poll)):
                        await waiter
            finally:
                waiters.discard(waiter)

    async def ack(self, queue: str, job_id: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(JOB_ACK, (job_id, queue))

        await self._db.write(work)

    async def retry_later(self, queue: str, job_id: str, *, delay_seconds: float) -> None:
        _check_delay(delay_seconds)
        run_at = self._clock.micros() + _micros(delay_seconds)

        def work(conn: sqlite3.Connection) -> int:
            return conn.execute(JOB_RELEASE, (run_at, job_id, queue)).rowcount

        if await self._db.write(work) and delay_seconds == 0:
            self._wake(queue)

    async def dead_letter(self, queue: str, job_id: str, *, reason: str) -> None:
        dead_at = self._clock.micros()

        def work(conn: sqlite3.Connection) -> None:
            if conn.execute(JOB_BURY, (reason, dead_at, job_id, queue)).rowcount:
                conn.execute(JOB_ACK, (job_id, queue))

        await self._db.write(work)

    async def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadJob]:
        if limit < 1:
            raise ValueError("limit must be at least 1")

        def work(conn: sqlite3.Connection) -> list[DeadJob]:
            return [
                DeadJob(
                    id=job_id,
                    payload=bytes(payload),
                    reason=reason,
                    attempts=attempts,
                    dead_at=_EPOCH + timedelta(microseconds=dead_at_us),
                )
                for job_id, payload, reason, attempts, dead_at_us in conn.execute(
                    DEAD_LIST, (queue, limit)
                )
            ]

        return await self._db.read(work)

    async def stats(self, queue: str) -> QueueStats:
        now = self._clock.micros()

        def work(conn: sqlite3.Connection) -> QueueStats:
            (depth,) = conn.execute(JOB_DEPTH, (queue,)).fetchone()
            (oldest,) = conn.execute(JOB_OLDEST_DUE, (queue, now)).fetchone()
            (dead,) = conn.execute(DEAD_COUNT, (queue,)).fetchone()
            return QueueStats(
                depth=depth,
                oldest_age_seconds=None if oldest is None else (now - oldest) / 1_000_000,
                dead=dead,
            )

        return await self._db.read(work)

    async def _claim_jobs(self, queue: str, consumer: str, max_jobs: int) -> list[ReservedJob]:
        now = self._clock.micros()

        def peek(conn: sqlite3.Connection) -> bool:
            return conn.execute(JOB_ANY_RUNNABLE, (queue, now)).fetchone() is not None

        # Most polls find nothing: a read costs no write lock, so idle workers polling
        # do not queue up behind (or in front of) the writers.
        if not await self._db.read(peek):
            return []
        reserved_until = now + self._visibility_us

        def claim(conn: sqlite3.Connection) -> list[ReservedJob]:
            rows = conn.execute(JOB_RUNNABLE, (queue, now, max_jobs)).fetchall()
            conn.executemany(JOB_RESERVE, [(consumer, reserved_until, seq) for seq, *_ in rows])
            return [
                ReservedJob(id=job_id, payload=bytes(payload), attempts=attempts + 1)
                for _, job_id, payload, attempts in rows
            ]

        return await self._db.write(claim)

    def _wake(self, queue: str) -> None:
        for waiter in self._waiters.pop(queue, set()):
            if not waiter.done():
                waiter.set_result(None)


def _check_delay(delay_seconds: float) -> None:
    if delay_seconds < 0:
        raise ValueError("delay_seconds must not be negative")


def _micros(seconds: float) -> int:
    return round(seconds * 1_000_000)
