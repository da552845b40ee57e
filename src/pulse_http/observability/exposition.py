"""Where the series are read: ``GET /metrics`` on the API port, or a port of its own
(``METRICS_PORT``); and the queue's numbers, sampled for them.

- ``pulse serve`` with several workers, or with ``METRICS_PORT``, counts in multiprocess
  mode (:func:`pulse_http.observability.prepare_multiprocess`, in the parent before the
  workers start) and, with
  ``METRICS_PORT``, the parent process answers scrapes on that port with every worker's
  values (:func:`serve_aggregate`); the workers' API port then has no ``/metrics``.
- ``pulse worker`` with ``METRICS_PORT`` answers on that port itself
  (:func:`serve_process`).
- Otherwise the app answers ``GET /metrics`` on the API port (:func:`metrics_route`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Final

import structlog
from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from pulse_core.errors import PulseError
from pulse_core.models.jobs import QUEUE
from pulse_core.ports.queue import JobQueue
from pulse_http.observability import MetricsPortError
from pulse_http.observability.metrics import MULTIPROC_DIR, Metrics

PATH: Final = "/metrics"
#: How often each process samples (and at each scrape of the API port).
SAMPLE_SECONDS: Final = 5.0
_SAMPLE_TIMEOUT_SECONDS: Final = 2.0

_log = structlog.get_logger("pulse.metrics")

Stop = Callable[[], None]


class Sampler:
    """Brings the series up to date: the counts kept aside (:meth:`Metrics.flush`) and
    the queue's :class:`~pulse_core.ports.queue.QueueStats`. A queue that does not answer
    keeps its last sample (and says so in the log)."""

    def __init__(self, queue: JobQueue, metrics: Metrics) -> None:
        self._queue = queue
        self._metrics = metrics

    async def sample(self) -> None:
        self._metrics.flush()
        try:
            async with asyncio.timeout(_SAMPLE_TIMEOUT_SECONDS):
                stats = await self._queue.stats(QUEUE)
        except (PulseError, TimeoutError) as exc:
            _log.warning("queue_not_sampled", error=repr(exc))
            return
        self._metrics.queue_sampled(QUEUE, stats)


def metrics_route(metrics: Metrics, sampler: Sampler) -> HTTPRouteHandler:
    """``GET /metrics``: the Prometheus text format, unauthenticated (keep it off a public
    port with ``METRICS_PORT``), not in the OpenAPI document."""
    registry = metrics.collecting_registry()

    @get(PATH, include_in_schema=False, name="prometheus_metrics")
    async def prometheus_metrics() -> Response[bytes]:
        await sampler.sample()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return prometheus_metrics


def _listen(registry: CollectorRegistry, host: str, port: int) -> Stop:
    try:
        server, thread = _start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise MetricsPortError(
            f"METRICS_PORT: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def serve_process(metrics: Metrics, host: str, port: int) -> Stop:
    """Answer scrapes of this process's series on ``host``:``port`` (a thread); returns
    what stops it."""
    return _listen(metrics.collecting_registry(), host, port)


def serve_aggregate(host: str, port: int) -> Stop:
    """Answer scrapes on ``host``:``port`` with every process's values (multiprocess
    mode, :func:`pulse_http.observability.prepare_multiprocess` first)."""
    directory = os.environ[MULTIPROC_DIR]
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return _listen(registry, host, port)
