"""One Lua script, called by many at once, sent to Redis in one round trip.

Under load many callers run the same script at the same time (every accepted webhook
enqueues a job). One ``EVALSHA`` each through redis-py costs a pooled connection, an
``asyncio.timeout``, a send and a reply parse per call: most of the caller's time, and
most of the server process's CPU. :class:`ScriptBatcher` sends the calls asked for during
one event-loop iteration together, at its end, on one connection, as one pipeline of
``EVALSHA``s. The pipeline is not a transaction: each call is still its own atomic
script, run in the order asked, with its own reply.

Used by the rate limiter (one GCRA decision per request) and the job queue (one enqueue
per accepted webhook, one ack per finished job, the reserves): any script, any keys and
arguments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import redis.asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from pulse_adapters.redis.resp_pipe import RespPipe, pack
from pulse_core.ports.telemetry import NO_TELEMETRY, Telemetry

Arg = str | bytes | int
_Pending = tuple[Sequence[str], Sequence[Arg], "asyncio.Future[object]"]


class ScriptBatcher:
    """Runs ``script`` for every call submitted during one event-loop iteration in one
    pipelined round trip. Nothing waits for a batch to fill: a batch is whatever is
    ready. The batches go over the client's side pipe (``side_pipe``, one connection of
    this batcher's own) when it has one; otherwise through redis-py's pipeline, a lone
    call through its script object.

    Each caller's future resolves to its own reply, only once Redis has answered its
    call (so whatever the script did is done, and as durable as Redis makes it). A
    failure of the round trip (connection, timeout) is every caller's failure, raised as
    the driver raised it; an error reply is its own caller's. ``NOSCRIPT`` (after a
    restart or ``SCRIPT FLUSH``) loads the script and re-sends the calls that hit it; the
    first batch of a process loads it beforehand, so that starting under load does not
    add a ``NOSCRIPT`` error reply per call to the server's error counters.
    One ``timeout_seconds`` bounds each round trip, reload included, so a caller waits
    at most that plus one loop iteration (its batch leaves at the end of the iteration
    it asked in).
    """

    __slots__ = (
        "_client",
        "_loaded",
        "_pipe",
        "_queue",
        "_script",
        "_tasks",
        "_telemetry",
        "_timeout",
    )

    def __init__(
        self, client: redis.asyncio.Redis, script: AsyncScript, *, timeout_seconds: float
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self._client = client
        self._script = script
        self._timeout = timeout_seconds
        self._loaded = False  # known to the server, as far as this process has seen
        self._queue: list[_Pending] = []
        self._tasks: set[asyncio.Task[None]] = set()
        side_pipe = getattr(client, "side_pipe", None)  # clients from create_redis_client
        self._pipe: RespPipe | None = side_pipe() if side_pipe is not None else None
        self._telemetry: Telemetry = getattr(client, "telemetry", NO_TELEMETRY)

    def submit(self, keys: Sequence[str], args: Sequence[Arg]) -> asyncio.Future[object]:
        """The script's reply to ``keys`` and ``args``, once its batch is answered."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        if not self._queue:
            # After every callback already scheduled: the callers ready in this iteration.
            loop.call_soon(self._send)
        self._queue.append((keys, args, future))
        return future

    def _send(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)  # a reference until it is done
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Pending]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                replies = await self._execute(batch)
            for (_, _, future), reply in zip(batch, replies, strict=True):
                if future.done():  # its caller gave up (cancelled)
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except asyncio.CancelledError:
            for _, _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            # Anything, even a reply count that does not match: no caller is left waiting.
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _execute(self, batch: list[_Pending]) -> list[object]:
        if self._pipe is None and len(batch) == 1:
            keys, args, _ = batch[0]
            reply = await self._script(keys=keys, args=args)  # loads it on NOSCRIPT
            self._loaded = True
            return [reply]
        send = self._pipeline if self._pipe is None else self._over_pipe
        if not self._loaded:
            await self._client.script_load(self._script.script)
            self._loaded = True
        replies = await send(batch)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self._client.script_load(self._script.script)
            retried = await send([batch[i] for i in missing])
            for i, reply in zip(missing, retried, strict=True):
                replies[i] = reply
        return replies

    async def _over_pipe(self, batch: list[_Pending]) -> list[object]:
        assert self._pipe is not None
        sha = self._script.sha
        commands = [pack("EVALSHA", sha, len(keys), *keys, *args) for keys, args, _ in batch]
        # Reported as redis-py would report it: a lone script call, or a pipeline.
        with self._telemetry.call("redis", "EVALSHA" if len(batch) == 1 else "PIPELINE"):
            return await self._pipe.call(commands)

    async def _pipeline(self, batch: list[_Pending]) -> list[object]:
        pipe = self._client.pipeline(transaction=False)
        sha = self._script.sha
        for keys, args, _ in batch:
            pipe.evalsha(sha, len(keys), *keys, *args)
        replies: list[object] = await pipe.execute(raise_on_error=False)
        return replies
