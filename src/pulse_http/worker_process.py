"""``pulse worker``: the worker loop as a process of its own, with the backends it needs
started and stopped around it, and signals that stop it gracefully."""

from __future__ import annotations

import asyncio
import gc
import signal

import msgspec
import structlog
import uvloop

from pulse_http.container import build_container
from pulse_http.lifecycle import add_worker, build_lifecycle
from pulse_http.logging import configure_logging
from pulse_http.observability import serve_worker_metrics
from pulse_http.settings import Settings

_log = structlog.get_logger("pulse.worker")

#: Allocations (net of deallocations) between collections of the youngest generation.
YOUNG_GC_THRESHOLD = 7_000


def run_worker_process(settings: Settings) -> None:
    """Run :func:`run_worker` on uvloop, the loop ``pulse serve`` runs on (through
    granian). A worker spends much of its time in the loop's own machinery (a wake-up
    per answer, per database hop, per queue call), which uvloop does for less:
    ``bench/README.md``, "Webhooks".

    The modules loaded so far live as long as the process: frozen, as ``pulse serve``
    freezes its app (:mod:`pulse_http.asgi`), a full collection no longer walks them.
    And what a job allocates is almost all freed by reference counting, so the youngest
    generation's threshold is raised: at the default (700) it was collected once per
    ~25 events, 11 to 13 µs of CPU per event; at :data:`YOUNG_GC_THRESHOLD` not once in
    6 000 (``bench/README.md``). Cyclic garbage waits at most that many allocations
    more to be freed."""
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
    uvloop.run(run_worker(settings))


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT. The lifecycle is `pulse serve`'s without its own
    in-process worker; this process's worker is added last, so it stops first. With
    ``METRICS_PORT``, this process's metrics are served there."""
    configure_logging(settings)
    container = build_container(msgspec.structs.replace(settings, webhook_worker="off"))
    lifecycle = build_lifecycle(container)
    worker = add_worker(lifecycle, container)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    stop_metrics = serve_worker_metrics(container)
    try:
        await lifecycle.start()
        _log.info(
            "worker_process_started",
            consumer=worker.consumer,
            queue=settings.job_queue,
            loop=type(loop).__module__.partition(".")[0],  # uvloop or asyncio
        )
        try:
            await stopping.wait()
        finally:
            await lifecycle.stop()
    finally:
        stop_metrics()
