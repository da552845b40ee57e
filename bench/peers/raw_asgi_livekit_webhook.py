"""The inbound floor: Pulse's own accept work for ``POST /v1/livekit/webhook`` in a bare
ASGI callable, and nothing else.

The same steps as ``pulse_http/routes/livekit.py``, with the same code: Pulse's
``LiveKitWebhookVerifier`` (401 when it refuses), the content-type check, Pulse's
``parse_livekit_event`` (400 for garbage), an ``ApplyLiveKitEvent`` job queued with
Pulse's ``RedisJobQueue.enqueue`` (the enqueue script; the enqueues of one event-loop
iteration share one pipelined round trip), 200 ``{}``. No Litestar (routing, dependency
injection, request and response objects), no request id, no access log. It measures
what a raw-ASGI path for this route can reach; ``pulse_http/fast_livekit.py`` is that
path inside ``pulse serve``.

With ``FLOOR_BATCH=1`` the enqueues go through this file's own pipeline of the same
``EVALSHA``s (each still atomic, in order) instead: the prototype of the batching
``RedisJobQueue.enqueue`` now does, kept to compare the two. Served as ``pulse serve``
serves (``pulse_http.server.build_server``):

    LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... REDIS_URL=... PORT=8000 \\
        python bench/peers/raw_asgi_livekit_webhook.py
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from pulse_adapters.clock import SystemClock
from pulse_adapters.redis.client import create_redis_client
from pulse_adapters.redis.queue import RedisJobQueue
from pulse_adapters.redis.queue_scripts import ENQUEUE
from pulse_core.errors import InvalidInput
from pulse_core.ids import new_id
from pulse_core.livekit_webhooks import LiveKitWebhookVerifier, parse_livekit_event
from pulse_core.livekit_webhooks.signature import LiveKitWebhookRejected
from pulse_core.models.jobs import QUEUE, ApplyLiveKitEvent, encode_job
from pulse_core.ports.queue import JOB_ID_PREFIX

CLOCK = SystemClock()
VERIFIER = LiveKitWebhookVerifier(os.environ["LIVEKIT_API_KEY"], os.environ["LIVEKIT_API_SECRET"])
CLIENT = create_redis_client(os.environ["REDIS_URL"], timeout_seconds=5.0)
JOBS = RedisJobQueue(CLIENT, CLOCK)
CONTENT_TYPES = frozenset({b"application/webhook+json", b"application/json"})


class BatchedEnqueue:
    """``RedisJobQueue.enqueue`` (no delay) for every caller of one loop iteration in one
    round trip: a pipeline of the enqueue script's ``EVALSHA``, not a transaction."""

    def __init__(self) -> None:
        self._pending: list[tuple[bytes, asyncio.Future[str]]] = []
        self._sha: str | None = None
        keys = JOBS.keys(QUEUE)
        self._keys = (keys["jobs"], keys["delayed"], keys["entries"])

    async def enqueue(self, payload: bytes) -> str:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._pending.append((payload, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)  # after every request ready in this iteration
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._send(batch))
        task.add_done_callback(lambda t: t.exception())

    async def _send(self, batch: list[tuple[bytes, asyncio.Future[str]]]) -> None:
        try:
            if self._sha is None:
                self._sha = await CLIENT.script_load(ENQUEUE)
            pipe = CLIENT.pipeline(transaction=False)
            ids = []
            for payload, _ in batch:
                now = CLOCK.micros()
                job_id = new_id(JOB_ID_PREFIX, now_ms=now // 1000)
                ids.append(job_id)
                pipe.evalsha(self._sha, 3, *self._keys, job_id, payload, now)
            async with asyncio.timeout(5.0):
                await pipe.execute()
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), job_id in zip(batch, ids, strict=True):
            if not future.done():
                future.set_result(job_id)


BATCHED = BatchedEnqueue() if os.environ.get("FLOOR_BATCH") == "1" else None


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    headers = dict(scope["headers"])
    authorization = headers.get(b"authorization")
    try:
        VERIFIER.verify(body, authorization.decode() if authorization else None, now=CLOCK.time())
    except LiveKitWebhookRejected:
        await _answer(send, 401, b'{"status":401}')
        return
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    try:
        if content_type not in CONTENT_TYPES:
            raise InvalidInput("content-type", field="content-type")
        parse_livekit_event(body)
    except InvalidInput:
        await _answer(send, 400, b'{"status":400}')
        return
    job = ApplyLiveKitEvent(body=body.decode("utf-8"), received_at=CLOCK.now())
    if BATCHED is not None:
        await BATCHED.enqueue(encode_job(job))
    else:
        await JOBS.enqueue(QUEUE, encode_job(job))
    await _answer(send, 200, b"{}")


if __name__ == "__main__":
    from pulse_http.server import build_server

    # Run from bench/peers (or with it on PYTHONPATH): the server imports the module by name.
    port = int(os.environ.get("PORT", "8000"))
    build_server("raw_asgi_livekit_webhook:app", host="127.0.0.1", port=port).serve()
