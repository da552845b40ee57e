"""The job queue: durable, at-least-once work (webhook deliveries, queued LiveKit events).

Vocabulary used by every docstring below:

- a job is *handed out* when :meth:`JobQueue.reserve` returns it; it is then *reserved* by
  that consumer until it is acked, retried or dead-lettered, or until the queue's
  visibility timeout passes (the reservation *expires*), whichever comes first;
- a job is *due* once its delay (of :meth:`~JobQueue.enqueue` or
  :meth:`~JobQueue.retry_later`) has passed, and *runnable* when it is due and not
  reserved, or its reservation expired;
- a job is *live* from enqueue until it is acked or dead-lettered.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

import msgspec

from pulse_core.errors import Unavailable

T = TypeVar("T")

JOB_ID_PREFIX: Final = "job"
"""Adapters give jobs ids of :func:`pulse_core.ids.new_id` with this prefix."""


class ReservedJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job handed to one consumer until it is acked, retried or dead-lettered, or its
    reservation expires.

    ``id`` is the id :meth:`JobQueue.enqueue` returned, the same on every hand-out.
    ``attempts`` counts the hand-outs of this job, this one included: 1 the first time,
    one more after each :meth:`~JobQueue.retry_later` and each expired reservation.
    """

    id: str
    payload: bytes
    attempts: int


class DeadJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job given up on (:meth:`JobQueue.dead_letter`), kept for an operator.

    ``attempts`` is how many times it had been handed out; ``dead_at`` when it was given
    up (the queue's clock).
    """

    id: str
    payload: bytes
    reason: str
    attempts: int
    dead_at: datetime


class QueueStats(msgspec.Struct, frozen=True, kw_only=True):
    """A queue's numbers, for metrics.

    - ``depth``: live jobs (waiting, delayed or reserved);
    - ``oldest_age_seconds``: how long the live job that has been due the longest has
      been due (its wait, handed out or not), ``None`` when no live job is due;
    - ``dead``: dead-lettered jobs kept.
    """

    depth: int
    oldest_age_seconds: float | None
    dead: int


class JobQueue(abc.ABC):
    """A durable queue of jobs: at-least-once, with delays, retry and a dead letter.

    Queues are named; each is independent of the others. Every job handed out stays
    reserved for the adapter's ``visibility_timeout_seconds`` (a constructor parameter,
    ``WEBHOOK_VISIBILITY_TIMEOUT_SECONDS``): neither acked nor retried by then, it is
    handed out again, to any consumer, so a worker that crashed loses nothing. Hence
    at-least-once: a job may run more than once (after an expiry, or a crash between
    the work and the ack), so the work must be idempotent.

    No job is ever reserved by two consumers at the same time, even when several
    processes share the backend. Jobs due at the same time are handed out in the order
    they were enqueued (FIFO-ish: delays, retries and expired reservations reorder).

    :meth:`ack`, :meth:`retry_later` and :meth:`dead_letter` act on a job as long as it
    is reserved, by anyone, even if the reservation has expired; otherwise (the job is
    waiting to be handed out or waiting out a delay, was acked or dead-lettered, or the
    id is unknown) they do nothing and raise nothing. So the first of them decides for a
    job handed out twice: a consumer whose reservation expired and whose job went to
    another can still ack it (the job is done; the other consumer may be running it at
    that moment, the duplicate at-least-once allows) or retry it (then the other
    consumer's ack does nothing and the job runs once more after the delay). Nothing
    is lost by a late call; at worst a job runs once more.

    Time (delays, reservations, ``dead_at``, ages) comes from the adapter's ``Clock``,
    except where an adapter says otherwise; ``wait_seconds`` is real time. Every method
    raises ``Unavailable`` when the backend is down, closed or slower than the adapter's
    timeout, and never hangs; an ``Unavailable`` from :meth:`enqueue` leaves it unknown
    whether the job was added. Negative delays and waits and ``max_jobs`` / ``limit``
    below 1 raise ``ValueError``.
    """

    @abc.abstractmethod
    async def enqueue(self, queue: str, payload: bytes, *, delay_seconds: float = 0) -> str:
        """Add a job, due after ``delay_seconds``; return its id once it is stored (a
        durable adapter has made it durable by then)."""

    @abc.abstractmethod
    async def reserve(
        self, queue: str, consumer: str, *, max_jobs: int, wait_seconds: float
    ) -> list[ReservedJob]:
        """Hand up to ``max_jobs`` runnable jobs to ``consumer``, oldest due first.

        When none is runnable, wait up to ``wait_seconds`` (real time) for one, and
        return as soon as there is: an enqueue wakes the wait, an enqueue by another
        process too (within the adapter's poll interval at worst). An empty list means
        nothing became runnable in time. ``consumer`` names the caller (one per worker);
        it shows in the backend and is what a reservation is held by.

        A reserve cancelled by its caller (a worker stopping) leaves nothing reserved:
        what it had already claimed is handed back at once, as by :meth:`retry_later`
        with no delay (the backend permitting; else after the visibility timeout).
        Adapters whose claim is a round trip run it through :meth:`_claim`.
        """

    @abc.abstractmethod
    async def ack(self, queue: str, job_id: str) -> None:
        """The reserved job is done: it is never handed out again (see the class
        docstring for a job that is not reserved)."""

    @abc.abstractmethod
    async def retry_later(self, queue: str, job_id: str, *, delay_seconds: float) -> None:
        """Release the reserved job, due again after ``delay_seconds`` (0: at once); its
        next hand-out has ``attempts`` + 1."""

    @abc.abstractmethod
    async def dead_letter(self, queue: str, job_id: str, *, reason: str) -> None:
        """Give up on the reserved job: never handed out again, kept with ``reason`` for
        :meth:`dead_letters`."""

    @abc.abstractmethod
    async def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadJob]:
        """The queue's dead-lettered jobs, the most recently given up first, at most
        ``limit``."""

    @abc.abstractmethod
    async def stats(self, queue: str) -> QueueStats:
        """The queue's depth, oldest due job's age and dead-letter count (see
        :class:`QueueStats`)."""

    async def ping(self) -> None:
        """Return when the backend answers; raise ``Unavailable`` within the adapter's
        timeout when it does not. An in-process queue always answers (the default)."""
        return None

    async def _claim(
        self,
        queue: str,
        claiming: Coroutine[Any, Any, T],
        jobs_of: Callable[[T], Sequence[ReservedJob]],
    ) -> T:
        """What ``claiming`` (an adapter's step that reserves jobs) returns; its jobs are
        ``jobs_of`` that. Should the caller be cancelled while it runs, the step still
        ends and the jobs it claimed are handed back before the cancellation goes on:
        the backend may have reserved jobs whose answer the caller will never read."""
        step = asyncio.ensure_future(claiming)
        try:
            return await asyncio.shield(step)
        except asyncio.CancelledError:
            with contextlib.suppress(Unavailable):  # then they come back after the timeout
                for job in jobs_of(await step):
                    await self.retry_later(queue, job.id, delay_seconds=0)
            raise
