"""The in-process job queue: for unit tests and embedders who need no durability.

Every method runs without awaiting anything between reading and changing the state, so
under asyncio each is atomic: two reservers can never take the same job. Jobs live in
this process and die with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count

from pulse_core.errors import Unavailable
from pulse_core.ids import new_id
from pulse_core.ports.clock import Clock
from pulse_core.ports.queue import JOB_ID_PREFIX, DeadJob, JobQueue, QueueStats, ReservedJob

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class _Job:
    id: str
    payload: bytes
    seq: int  # enqueue order: FIFO among jobs runnable from the same instant
    run_at: int  # µs: when the job is (or was) due
    attempts: int = 0
    reserved_by: str | None = None
    reserved_until: int = 0  # µs; meaningful only while reserved_by is set

    @property
    def runnable_at(self) -> int:
        return self.reserved_until if self.reserved_by is not None else self.run_at


@dataclass(slots=True)
class _Queue:
    jobs: dict[str, _Job] = field(default_factory=dict)
    dead: list[DeadJob] = field(default_factory=list)  # oldest first
    # The reservers waiting, woken when a job may have become runnable. One future per
    # wait, made by the running loop: nothing outlives a wait, so the object may serve
    # one event loop after another.
    waiters: set[asyncio.Future[None]] = field(default_factory=set)

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class InMemoryJobQueue(JobQueue):
    """The :class:`~pulse_core.ports.queue.JobQueue` contract in a dict per queue.

    A reserver waiting for work is woken at once by an enqueue (or a retry due at once);
    a delay or a reservation that runs out is noticed within ``poll_interval_seconds``,
    since time is the ``Clock``'s, which may be a test's manual clock. Reserving scans
    the queue's live jobs (fine for tests and modest embedded loads). Dead-lettered jobs
    are kept until the process ends.

    :meth:`close` stands for a stopped backend: every later call, and every reserver
    waiting at that moment, raises ``Unavailable``.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        visibility_timeout_seconds: float = 60.0,
        poll_interval_seconds: float = 0.25,
    ) -> None:
        if visibility_timeout_seconds <= 0:
            raise ValueError("visibility_timeout_seconds must be positive")
        if poll_interval_seconds <= 0:
            raise ValueError("poll_interval_seconds must be positive")
        self._clock = clock
        self._visibility_us = round(visibility_timeout_seconds * 1_000_000)
        self._poll = poll_interval_seconds
        self._queues: dict[str, _Queue] = {}
        self._seq = count()
        self._closed = False

    @property
    def visibility_timeout_seconds(self) -> float:
        return self._visibility_us / 1_000_000

    async def close(self) -> None:
        """Refuse every call from now on and wake every waiting reserver (to refuse it)."""
        self._closed = True
        for state in self._queues.values():
            state.wake()

    async def enqueue(self, queue: str, payload: bytes, *, delay_seconds: float = 0) -> str:
        _check_delay(delay_seconds)
        state = self._open(queue)
        now = self._clock.micros()
        job = _Job(
            id=new_id(JOB_ID_PREFIX, now_ms=now // 1000),
            payload=bytes(payload),
            seq=next(self._seq),
            run_at=now + _micros(delay_seconds),
        )
        state.jobs[job.id] = job
        if delay_seconds == 0:
            state.wake()
        return job.id

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
            state = self._open(queue)
            jobs = self._take(state, consumer, max_jobs)
            remaining = deadline - loop.time()
            if jobs or remaining <= 0:
                return jobs
            # Registered after the scan with no await in between: no wake-up is missed.
            waiter: asyncio.Future[None] = loop.create_future()
            state.waiters.add(waiter)
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, self._poll)):
                        await waiter
            finally:
                state.waiters.discard(waiter)

    async def ack(self, queue: str, job_id: str) -> None:
        state = self._open(queue)
        job = state.jobs.get(job_id)
        if job is not None and job.reserved_by is not None:
            del state.jobs[job_id]

    async def retry_later(self, queue: str, job_id: str, *, delay_seconds: float) -> None:
        _check_delay(delay_seconds)
        state = self._open(queue)
        job = state.jobs.get(job_id)
        if job is None or job.reserved_by is None:
            return
        job.reserved_by = None
        job.run_at = self._clock.micros() + _micros(delay_seconds)
        if delay_seconds == 0:
            state.wake()

    async def dead_letter(self, queue: str, job_id: str, *, reason: str) -> None:
        state = self._open(queue)
        job = state.jobs.get(job_id)
        if job is None or job.reserved_by is None:
            return
        del state.jobs[job_id]
        dead_at = _EPOCH + timedelta(microseconds=self._clock.micros())
        state.dead.append(
            DeadJob(
                id=job.id,
                payload=job.payload,
                reason=reason,
                attempts=job.attempts,
                dead_at=dead_at,
            )
        )

    async def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadJob]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        dead = self._open(queue).dead
        return dead[: -limit - 1 : -1]

    async def stats(self, queue: str) -> QueueStats:
        state = self._open(queue)
        now = self._clock.micros()
        due = [job.run_at for job in state.jobs.values() if job.run_at <= now]
        return QueueStats(
            depth=len(state.jobs),
            oldest_age_seconds=(now - min(due)) / 1_000_000 if due else None,
            dead=len(state.dead),
        )

    def _open(self, queue: str) -> _Queue:
        if self._closed:
            raise Unavailable("the in-memory job queue is closed")
        state = self._queues.get(queue)
        if state is None:
            state = self._queues[queue] = _Queue()
        return state

    def _take(self, state: _Queue, consumer: str, max_jobs: int) -> list[ReservedJob]:
        now = self._clock.micros()
        runnable = (job for job in state.jobs.values() if job.runnable_at <= now)
        taken = heapq.nsmallest(max_jobs, runnable, key=lambda job: (job.runnable_at, job.seq))
        for job in taken:
            job.attempts += 1
            job.reserved_by = consumer
            job.reserved_until = now + self._visibility_us
        return [ReservedJob(id=job.id, payload=job.payload, attempts=job.attempts) for job in taken]


def _check_delay(delay_seconds: float) -> None:
    if delay_seconds < 0:
        raise ValueError("delay_seconds must not be negative")


def _micros(seconds: float) -> int:
    return round(seconds * 1_000_000)
