from __future__ import annotations

import abc

import msgspec


class ReservedJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job handed to one consumer until it is acked, retried or dead-lettered."""

    id: str
    payload: bytes
    attempts: int


class JobQueue(abc.ABC):
    """A durable queue of jobs (webhook deliveries): at-least-once, with retry and a dead
    letter. A reserved job that is never acked is handed out again after the queue's
    visibility timeout, so a crashed worker loses nothing."""

    @abc.abstractmethod
    async def enqueue(self, queue: str, payload: bytes, *, delay_seconds: float = 0) -> str:
        """Add a job, runnable after ``delay_seconds``; return its id."""

    @abc.abstractmethod
    async def reserve(
        self, queue: str, consumer: str, *, max_jobs: int, wait_seconds: float
    ) -> list[ReservedJob]:
        """Up to ``max_jobs`` runnable jobs, waiting at most ``wait_seconds`` for one."""

    @abc.abstractmethod
    async def ack(self, queue: str, job_id: str) -> None:
        """The job is done; it is never handed out again."""

    @abc.abstractmethod
    async def retry_later(self, queue: str, job_id: str, *, delay_seconds: float) -> None:
        """Hand the job out again after ``delay_seconds``, with ``attempts`` + 1."""

    @abc.abstractmethod
    async def dead_letter(self, queue: str, job_id: str, *, reason: str) -> None:
        """Give up on the job; keep it, with ``reason``, where an operator can see it."""
