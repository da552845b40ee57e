"""Where a Pulse worker's time goes: CPU per LiveKit event (applied, then delivered), in
one process, with parts of the worker swapped for in-memory stand-ins.

    .venv/bin/python bench/webhooks_worker_in_process.py               # ~30 s
    .venv/bin/python bench/webhooks_worker_in_process.py --events 1000 full mem-storage

The real container (``build_container``: SQLite under a temporary ``DATA_DIR``, the
Redis job queue on a ``redis-server`` started here, the webhook sender), an organization,
a project and an endpoint made through the API (the ASGI app called directly), then
``--events`` ``ApplyLiveKitEvent`` jobs queued and one :class:`pulse_http.worker.Worker`
(``--concurrency``) run in this process until every delivery was answered. The figure is
this process's CPU time (every thread: the SQLite thread included) per event, the
SQLite thread's own share of it, and the events/s it took. This process runs on core 0;
Redis and the receiver (``webhook_receiver.py``) on core 1. Variants:

- ``full``: as ``pulse worker`` runs;
- ``no-http``: the sender answers 200 without a request;
- ``mem-storage``: events, endpoints, deliveries, projects and organizations in memory
  (``pulse_adapters.memory``) instead of SQLite;
- ``mem-queue``: the in-memory job queue instead of Redis;
- ``mem-storage+queue``, ``mem-all+no-http``: together; the last is Pulse's own Python.

The differences between variants are what each backend costs the worker per event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
import webhook_support as ws
from dependency_injector import providers

from pulse_adapters.memory.events import (
    InMemoryDeliveryRepository,
    InMemoryEventRepository,
    InMemoryWebhookEndpointRepository,
)
from pulse_adapters.memory.queue import InMemoryJobQueue
from pulse_adapters.memory.repositories import (
    InMemoryOrganizationRepository,
    InMemoryProjectRepository,
)
from pulse_core import rooms
from pulse_core.models.jobs import QUEUE, ApplyLiveKitEvent, encode_job
from pulse_core.ports.webhook_sender import WebhookRequest, WebhookResponse
from pulse_http.app import create_app
from pulse_http.container import build_container
from pulse_http.settings import Settings
from pulse_http.worker import Worker

VARIANTS: dict[str, dict[str, bool]] = {
    "full": {},
    "no-http": {"no_http": True},
    "mem-storage": {"memory_storage": True},
    "mem-queue": {"memory_queue": True},
    "mem-storage+queue": {"memory_storage": True, "memory_queue": True},
    "mem-all+no-http": {"memory_storage": True, "memory_queue": True, "no_http": True},
}
_MEMORY = (
    ("events", InMemoryEventRepository),
    ("webhook_endpoints", InMemoryWebhookEndpointRepository),
    ("deliveries", InMemoryDeliveryRepository),
    ("projects", InMemoryProjectRepository),
    ("organizations", InMemoryOrganizationRepository),
)


async def _call(app: Any, method: str, path: str, headers: list[Any], body: Any) -> Any:
    raw = json.dumps(body).encode()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            *headers,
            (b"content-length", str(len(raw)).encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }
    await app(scope, receive, send)
    if sent[0]["status"] != 201:
        raise ws.BenchError(f"{method} {path}: {sent[0]['status']} {sent[1]['body']!r}")
    return json.loads(sent[1]["body"])


class CountingSender:
    """The real sender (or none: 200 at once), counting answers up to ``target``."""

    def __init__(self, inner: Any, target: int) -> None:
        self.inner, self.target, self.count = inner, target, 0
        self.done = asyncio.Event()

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        if self.inner is not None:
            answer: WebhookResponse = await self.inner.send(request)
        else:
            answer = WebhookResponse(status_code=200, excerpt="{}")
        self.count += 1
        if self.count >= self.target:
            self.done.set()
        return answer

    async def aclose(self) -> None:
        if self.inner is not None:
            await self.inner.aclose()


async def measure(
    name: str,
    args: argparse.Namespace,
    redis_url: str,
    receiver_port: int,
    *,
    memory_storage: bool = False,
    memory_queue: bool = False,
    no_http: bool = False,
) -> dict[str, float]:
    key, secret = "APIbenchworker", "worker-bench-secret-" + "x" * 32
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            data_dir=data_dir,
            log_level="warning",
            log_format="json",
            livekit_api_key=key,
            livekit_api_secret=secret,
            redis_url=redis_url,
            webhook_worker="off",
            webhook_allowed_networks=("127.0.0.0/8",),
        )
        container = build_container(settings)
        if memory_storage:
            for attr, cls in _MEMORY:
                getattr(container.adapters, attr).override(providers.Singleton(cls))
        if memory_queue:
            container.adapters.job_queue.override(
                providers.Singleton(
                    InMemoryJobQueue, container.adapters.clock, poll_interval_seconds=0.05
                )
            )
        real = container.adapters.webhook_sender()
        sender = CountingSender(None if no_http else real, args.events)
        container.adapters.webhook_sender.override(providers.Object(sender))
        app = create_app(container)
        token = container.services.management_auth().mint("bench", role="admin")
        admin = [(b"authorization", f"Bearer {token}".encode())]
        async with app.lifespan():
            org = await _call(
                app, "POST", "/v1/organizations", admin, {"name": "B", "admin_email": "a@b.co"}
            )
            project = await _call(
                app, "POST", "/v1/projects", admin, {"org_id": org["id"], "name": "bench"}
            )
            keys = [
                (b"x-pulse-key", project["api_key"].encode()),
                (b"x-pulse-secret", project["api_secret"].encode()),
            ]
            url = f"http://127.0.0.1:{receiver_port}/hook"
            await _call(app, "POST", "/v1/webhooks/endpoints", keys, {"url": url})
            room = rooms.to_livekit(project["id"], "demo")
            queue = container.adapters.job_queue()
            if not memory_queue:
                await container.gateways.queue_redis().flushall()
            for i in range(args.events):
                event = ws.participant_joined(room, f"d-{i}", key, secret)
                job = ApplyLiveKitEvent(body=event.body.decode(), received_at=datetime.now(UTC))
                await queue.enqueue(QUEUE, encode_job(job))
            gc.collect()
            gc.freeze()
            concurrency = args.concurrency or settings.webhook_concurrency
            worker = Worker(queue, container.services.job_runner(), concurrency=concurrency)
            threads = _thread_cpu()
            cpu, wall = time.process_time(), time.perf_counter()
            running = asyncio.create_task(worker.run())
            await asyncio.wait_for(sender.done.wait(), args.timeout)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            sqlite_cpu = sum(
                spent - threads.get(name, 0.0)
                for name, spent in _thread_cpu().items()
                if name.startswith("pulse-sqlite")
            )
            worker.stop()
            await running
            gc.unfreeze()
    result = {
        "cpu_us_per_event": cpu / args.events * 1e6,
        "sqlite_thread_us_per_event": sqlite_cpu / args.events * 1e6,
        "events_per_second": args.events / wall,
    }
    print(
        f"  {name:<20} {result['cpu_us_per_event']:>7.0f} us CPU/event"
        f" ({result['sqlite_thread_us_per_event']:>4.0f} on the SQLite thread)"
        f"  {result['events_per_second']:>6.0f} events/s",
        flush=True,
    )
    return result


def _thread_cpu() -> dict[str, float]:
    """CPU seconds spent so far by each live thread of this process, by name."""
    spent = {}
    for thread in threading.enumerate():
        if thread.ident is not None:
            with contextlib.suppress(OSError):  # ended meanwhile
                clock = time.pthread_getcpuclockid(thread.ident)
                spent[thread.name] = time.clock_gettime(clock)
    return spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("variants", nargs="*", default=list(VARIANTS), help="default: all")
    parser.add_argument("--events", type=int, default=2000, help="events per variant")
    parser.add_argument("--concurrency", type=int, help="default: WEBHOOK_CONCURRENCY's")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per variant")
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop", help="uvloop: as pulse worker"
    )
    args = parser.parse_args()
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    os.sched_setaffinity(0, {int(ws.SERVER_CORE)})
    work = Path(tempfile.mkdtemp(prefix="pulse-bench-worker-"))
    print(f"machine: {ws.machine()}; {args.events} events per variant")
    env = ws.base_env(work, ("unused", "unused"))
    with ws.redis_server(work, env) as redis_port:
        port = ws.free_port()
        argv = [sys.executable, str(ws.ROOT / "bench" / "webhook_receiver.py"), str(port)]
        log = work / "receiver.log"
        with ws.process(ws.pinned(ws.LOAD_CORE, argv), env=env, cwd=work, log=log) as proc:
            ws.wait_until_serving(port, proc, log)
            for name in args.variants:
                run = measure(
                    name, args, f"redis://127.0.0.1:{redis_port}/0", port, **VARIANTS[name]
                )
                (uvloop.run if args.loop == "uvloop" else asyncio.run)(run)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
