"""The worker loop: take jobs from the queue, run them, acknowledge or reschedule them.

The same loop runs as ``pulse worker`` (a process of its own, N of them sharing a Redis
queue) and inside ``pulse serve`` (an in-process task, the embedded default). It holds at
most ``concurrency`` jobs at a time. On stop it takes no new job, gives the ones it holds
``grace_seconds`` to finish, and hands back the rest (they run again at once elsewhere);
a worker that dies without stopping loses nothing either: its jobs come back after the
queue's visibility timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Awaitable
from typing import Any, Final

import structlog

from pulse_core.errors import Unavailable
from pulse_core.models.jobs import QUEUE
from pulse_core.ports.queue import JobQueue, ReservedJob
from pulse_core.services.jobs import JobRunner, PoisonJob

#: A job that failed unexpectedly this many times is dead-lettered, not retried forever.
MAX_UNEXPECTED_FAILURES: Final = 10

_log = structlog.get_logger("pulse.worker")


def consumer_name() -> str:
    """Unique per process: a consumer that dies is never mistaken for a live one."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _backoff(attempts: int) -> float:
    return float(min(300, 2 ** min(attempts, 9)))


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        runner: JobRunner,
        *,
        concurrency: int = 50,  # as WEBHOOK_CONCURRENCY's default
        consumer: str | None = None,
        wait_seconds: float = 1.0,
        grace_seconds: float = 10.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._queue = queue
        self._runner = runner
        self._concurrency = concurrency
        self._consumer = consumer or consumer_name()
        self._wait = wait_seconds
        self._grace = grace_seconds
        self._stopping = asyncio.Event()
        self._held: set[asyncio.Task[None]] = set()

    @property
    def consumer(self) -> str:
        return self._consumer

    def stop(self) -> None:
        """Take no new job; :meth:`run` returns once the held ones are settled."""
        self._stopping.set()

    async def run(self) -> None:
        _log.info("worker_started", consumer=self._consumer, concurrency=self._concurrency)
        stop: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
        try:
            await self._loop(stop)
        finally:
            stop.cancel()
        await self._settle()
        _log.info("worker_stopped", consumer=self._consumer)

    async def _loop(self, stop: asyncio.Future[Any]) -> None:
        outage = 0
        while not self._stopping.is_set():
            free = self._concurrency - len(self._held)
            if free <= 0:
                waiting: set[asyncio.Future[Any]] = {*self._held, stop}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                continue
            reserving: asyncio.Future[Any] = asyncio.ensure_future(
                self._queue.reserve(QUEUE, self._consumer, max_jobs=free, wait_seconds=self._wait)
            )
            await asyncio.wait({reserving, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not reserving.done():
                # Stopping while waiting for work: stop now, not when the wait ends. What
                # the reserve had claimed by then is handed back (JobQueue.reserve).
                reserving.cancel()
                await asyncio.gather(reserving, return_exceptions=True)
                return
            try:
                jobs = reserving.result()
            except Unavailable as exc:
                outage += 1
                _log.warning("queue_unavailable", error=exc.detail, consumer=self._consumer)
                await self._pause(min(5.0, 0.1 * 2**outage))
                continue
            outage = 0
            if self._stopping.is_set():
                # Reserved as the stop came: new jobs all the same, so another worker
                # runs them now rather than this one during its grace.
                await self._hand_back(jobs)
                return
            for job in jobs:
                task = asyncio.create_task(self._handle(job))
                self._held.add(task)
                task.add_done_callback(self._held.discard)

    async def _hand_back(self, jobs: list[ReservedJob]) -> None:
        for job in jobs:
            await self._settle_job(self._queue.retry_later(QUEUE, job.id, delay_seconds=0))

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _settle(self) -> None:
        if not self._held:
            return
        _, unfinished = await asyncio.wait(set(self._held), timeout=self._grace)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    async def _handle(self, job: ReservedJob) -> None:
        try:
            delay = await self._runner.run(job.payload, attempts=job.attempts)
        except asyncio.CancelledError:
            # Stopped mid-job: hand it back so that another worker runs it now.
            with contextlib.suppress(Unavailable):
                await asyncio.shield(self._queue.retry_later(QUEUE, job.id, delay_seconds=0))
            raise
        except PoisonJob as exc:
            await self._settle_job(self._queue.dead_letter(QUEUE, job.id, reason=str(exc)))
            return
        except Unavailable as exc:
            _log.warning("job_backend_unavailable", job_id=job.id, error=exc.detail)
            await self._settle_job(
                self._queue.retry_later(QUEUE, job.id, delay_seconds=_backoff(job.attempts))
            )
            return
        except Exception as exc:
            _log.exception("job_failed", job_id=job.id, attempts=job.attempts)
            if job.attempts >= MAX_UNEXPECTED_FAILURES:
                reason = f"failed {job.attempts} times: {type(exc).__name__}"
                await self._settle_job(self._queue.dead_letter(QUEUE, job.id, reason=reason))
            else:
                await self._settle_job(
                    self._queue.retry_later(QUEUE, job.id, delay_seconds=_backoff(job.attempts))
                )
            return
        if delay is None:
            await self._settle_job(self._queue.ack(QUEUE, job.id))
        else:
            await self._settle_job(self._queue.retry_later(QUEUE, job.id, delay_seconds=delay))

    async def _settle_job(self, operation: Awaitable[None]) -> None:
        try:
            await operation
        except Unavailable as exc:
            # The job stays reserved and comes back after the visibility timeout.
            _log.warning("job_not_settled", error=exc.detail)
