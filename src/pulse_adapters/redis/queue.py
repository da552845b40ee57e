"""The job queue on Redis Streams: one consumer group, so N workers share the work.

Keys of a queue ``q`` (``{q}`` is a hash tag: every key of a queue lives in one slot, as
the scripts need on a cluster), under ``key_prefix`` (default ``pulse:q:``):

- ``{q}:jobs``: the stream of due jobs, ready or reserved. Entry fields: ``job`` (the
  job id), ``attempts`` (hand-outs before this entry), ``due`` (µs, when it became
  due), ``payload``. A reservation is the entry's place in the group's pending list:
  its delivery count is this entry's hand-outs, so a hand-out's ``attempts`` is the
  field plus that count. Acked entries are deleted (``XACK`` + ``XDEL``), so the stream
  holds only live jobs.
- ``{q}:delayed``: sorted set of jobs not due yet (``enqueue`` with a delay,
  ``retry_later``), scored by due time (µs); member ``<job id>|<attempts>|<payload>``.
- ``{q}:entries``: hash, job id -> its current stream entry id (ack takes a job id).
- ``{q}:dead``: stream of dead letters (``job``, ``payload``, ``reason``, ``attempts``,
  ``at``), read newest first.
- ``{q}:reclaim``: the ``XAUTOCLAIM`` cursor, so reclaiming walks the whole pending
  list over successive calls instead of rescanning its head.

Every change is one Lua script (:mod:`pulse_adapters.redis.queue_scripts`), atomic in
Redis. Enqueues asked for during one event-loop iteration (the webhooks of concurrent
requests) go to Redis together, as one pipeline of the enqueue script
(:class:`~pulse_adapters.redis.script_batch.ScriptBatcher`): still one atomic script and
one reply per job, and each ``enqueue`` returns only once its own job is in. Acks (a
worker's concurrent jobs finishing) are batched the same way.

Reserving runs one script that moves the due delayed jobs into the stream, creates the
group when missing (``MKSTREAM``; a Redis that lost its data gets it back), reclaims
reservations idle for longer than the visibility timeout (``XAUTOCLAIM``) and reads new
entries (``XREADGROUP``). When that finds nothing, the reserver blocks on ``XREAD`` (a
wake-up only: any new entry ends it, then the script runs again) for at most
``poll_interval_seconds``, so delays and expired reservations are noticed within that
interval.

Delays and the ``due``/``at`` times use the injected ``Clock`` (passed to the scripts, as
the rate limiter does), so tests can move them with a manual clock; replicas' clocks are
assumed NTP-synchronized. The visibility timeout is Redis's own idle time (server time),
which no ``Clock`` controls.

Durability is Redis's: with ``appendonly yes`` and ``appendfsync always`` an enqueue that
returned survives a crash or restart of Redis, and so do reservations (the pending list).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError

from pulse_adapters.redis.queue_scripts import (
    ACK,
    BURY,
    DEAD_LIST,
    ENQUEUE,
    RESERVE,
    RETRY,
    STATS,
)
from pulse_adapters.redis.script_batch import ScriptBatcher
from pulse_core.errors import Unavailable
from pulse_core.ids import new_id
from pulse_core.ports.clock import Clock
from pulse_core.ports.queue import JOB_ID_PREFIX, DeadJob, JobQueue, QueueStats, ReservedJob

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BACKEND_ERRORS = (RedisError, OSError, TimeoutError)


class RedisJobQueue(JobQueue):
    """The :class:`~pulse_core.ports.queue.JobQueue` contract on Redis Streams (layout
    in the module docstring).

    Every Redis failure (refused or reset connection, timeout, error reply) raises
    ``Unavailable`` from the driver's exception; a call takes at most ``timeout_seconds``
    (an enqueue: plus one event-loop iteration, its batch leaving at the end of it; a
    blocking wait of :meth:`reserve`: each of its slices, plus that). The client
    should have socket timeouts (:func:`~pulse_adapters.redis.client.create_redis_client`
    sets them); a wait blocks in slices shorter than half of the socket timeout, so a
    quiet queue never reads as a dead connection. Dead letters are kept until an
    operator trims ``{q}:dead``; consumers stay listed in the group (``XINFO``) until an
    operator deletes them.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        clock: Clock,
        *,
        visibility_timeout_seconds: float = 60.0,
        key_prefix: str = "pulse:q:",
        group: str = "pulse-workers",
        timeout_seconds: float = 2.0,
        poll_interval_seconds: float = 1.0,
    ) -> None:
        if visibility_timeout_seconds <= 0:
            raise ValueError("visibility_timeout_seconds must be positive")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if poll_interval_seconds <= 0:
            raise ValueError("poll_interval_seconds must be positive")
        self._client = client
        self._clock = clock
        self._visibility_ms = max(1, round(visibility_timeout_seconds * 1000))
        self._prefix = key_prefix
        self._group = group
        self._timeout = timeout_seconds
        socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        self._slice = poll_interval_seconds
        if socket_timeout:
            self._slice = min(self._slice, socket_timeout / 2)
        # Enqueues made together (concurrent requests) share one pipelined round trip.
        self._enqueues = ScriptBatcher(
            client, client.register_script(ENQUEUE), timeout_seconds=timeout_seconds
        )
        # So do the acks of jobs finished together (a worker's concurrent jobs).
        self._acks = ScriptBatcher(
            client, client.register_script(ACK), timeout_seconds=timeout_seconds
        )
        # And the reserves (one at a time per worker, but a worker reserves often).
        self._reserves = ScriptBatcher(
            client, client.register_script(RESERVE), timeout_seconds=timeout_seconds
        )
        self._retry = client.register_script(RETRY)
        self._bury = client.register_script(BURY)
        self._dead_list = client.register_script(DEAD_LIST)
        self._stats = client.register_script(STATS)

    @property
    def visibility_timeout_seconds(self) -> float:
        return self._visibility_ms / 1000

    def keys(self, queue: str) -> dict[str, str]:
        """The Redis keys of ``queue`` by role (for operators and tests)."""
        base = f"{self._prefix}{{{queue}}}:"
        return {role: base + role for role in ("jobs", "delayed", "entries", "dead", "reclaim")}

    async def ping(self) -> None:
        await self._call(self._client.ping())

    async def enqueue(self, queue: str, payload: bytes, *, delay_seconds: float = 0) -> str:
        if delay_seconds < 0:
            raise ValueError("delay_seconds must not be negative")
        k = self.keys(queue)
        now = self._clock.micros()
        job_id = new_id(JOB_ID_PREFIX, now_ms=now // 1000)
        if delay_seconds == 0:
            keys = (k["jobs"], k["delayed"], k["entries"])
            try:
                # Returns once Redis has run this job's own script (not just its batch's).
                await self._enqueues.submit(keys, (job_id, bytes(payload), now))
            except _BACKEND_ERRORS as exc:
                raise Unavailable("job queue backend (redis) is unavailable") from exc
        else:
            due = now + round(delay_seconds * 1_000_000)
            member = f"{job_id}|0|".encode() + bytes(payload)
            await self._call(self._client.zadd(k["delayed"], {member: due}))
        return job_id

    async def reserve(
        self, queue: str, consumer: str, *, max_jobs: int, wait_seconds: float
    ) -> list[ReservedJob]:
        if max_jobs < 1:
            raise ValueError("max_jobs must be at least 1")
        if wait_seconds < 0:
            raise ValueError("wait_seconds must not be negative")
        k = self.keys(queue)
        keys = [k["jobs"], k["delayed"], k["entries"], k["reclaim"]]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            now = self._clock.micros()
            args = (self._group, consumer, now, self._visibility_ms, max_jobs)
            last_entry, jobs = await self._claim_entries(queue, keys, args)
            remaining = deadline - loop.time()
            if jobs or remaining <= 0:
                return jobs
            block = min(remaining, self._slice)
            # Ends at the first entry added after the last one the script saw (at once
            # if one came in between); the script then decides who gets it.
            wait = self._client.xread({k["jobs"]: last_entry}, count=1, block=_ms(block))
            await self._call(wait, extra_seconds=block)

    async def _claim_entries(
        self, queue: str, keys: list[str], args: tuple[Any, ...]
    ) -> tuple[bytes, list[ReservedJob]]:
        """One run of the reserve script: the last entry it saw, and the jobs it claimed
        (handed back should the caller be cancelled meanwhile: ``JobQueue._claim``)."""

        async def claiming() -> tuple[bytes, list[ReservedJob]]:
            return _parse_reserved(await self._call(self._reserves.submit(keys, args)))

        return await self._claim(queue, claiming(), lambda claimed: claimed[1])

    async def ack(self, queue: str, job_id: str) -> None:
        k = self.keys(queue)
        try:
            await self._acks.submit((k["jobs"], k["entries"]), (self._group, job_id))
        except _BACKEND_ERRORS as exc:
            raise Unavailable("job queue backend (redis) is unavailable") from exc

    async def retry_later(self, queue: str, job_id: str, *, delay_seconds: float) -> None:
        if delay_seconds < 0:
            raise ValueError("delay_seconds must not be negative")
        k = self.keys(queue)
        now = self._clock.micros()
        due = now + round(delay_seconds * 1_000_000)
        keys = [k["jobs"], k["entries"], k["delayed"]]
        await self._call(self._retry(keys=keys, args=[self._group, job_id, now, due]))

    async def dead_letter(self, queue: str, job_id: str, *, reason: str) -> None:
        k = self.keys(queue)
        keys = [k["jobs"], k["entries"], k["dead"]]
        args = (self._group, job_id, reason, self._clock.micros())
        await self._call(self._bury(keys=keys, args=args))

    async def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadJob]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        reply = await self._call(self._dead_list(keys=[self.keys(queue)["dead"]], args=[limit]))
        match reply:
            case list() if len(reply) % 5 == 0:
                rows = [reply[i : i + 5] for i in range(0, len(reply), 5)]
                try:
                    return [
                        DeadJob(
                            id=job.decode(),
                            payload=payload,
                            reason=reason.decode(),
                            attempts=int(attempts),
                            dead_at=_EPOCH + timedelta(microseconds=int(at)),
                        )
                        for job, payload, reason, attempts, at in rows
                    ]
                except (AttributeError, TypeError, ValueError):
                    pass
        raise Unavailable(f"job queue backend (redis) answered {reply!r}")

    async def stats(self, queue: str) -> QueueStats:
        k = self.keys(queue)
        now = self._clock.micros()
        reply = await self._call(self._stats(keys=[k["jobs"], k["delayed"], k["dead"]], args=[now]))
        match reply:
            case [int(depth), int(dead), bytes(oldest)]:
                age = None if not oldest else max(0, now - int(oldest)) / 1_000_000
                return QueueStats(depth=depth, oldest_age_seconds=age, dead=dead)
        raise Unavailable(f"job queue backend (redis) answered {reply!r}")

    async def _call(self, pending: Any, *, extra_seconds: float = 0.0) -> Any:
        """Await a redis-py call within the timeout, translating its failures."""
        try:
            async with asyncio.timeout(self._timeout + extra_seconds):
                return await pending
        except _BACKEND_ERRORS as exc:
            raise Unavailable("job queue backend (redis) is unavailable") from exc


def _parse_reserved(reply: Any) -> tuple[bytes, list[ReservedJob]]:
    match reply:
        case [bytes(last_entry), list(flat)] if len(flat) % 3 == 0:
            jobs = [_reserved_job(flat[i : i + 3]) for i in range(0, len(flat), 3)]
            if all(job is not None for job in jobs):
                return last_entry, [job for job in jobs if job is not None]
    raise Unavailable(f"job queue backend (redis) answered {reply!r}")


def _reserved_job(item: list[Any]) -> ReservedJob | None:
    match item:
        case [bytes(job), bytes(payload), int(attempts)]:
            return ReservedJob(id=job.decode(), payload=payload, attempts=attempts)
    return None


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
