"""Observability: Prometheus metrics and OpenTelemetry traces (API.md and
docs/deployment.md, "Observability").

- :mod:`.metrics`: the series; :mod:`.telemetry`: the core's
  :class:`~pulse_core.ports.telemetry.Telemetry` port as those series;
  :mod:`.exposition`: ``/metrics``, ``METRICS_PORT``, the queue's sampling;
- :mod:`.tracing`: spans, only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

This module is what the rest of the shell imports, and it imports neither
``prometheus_client`` nor ``opentelemetry``: the container (and so the CLI) loads them
only when an app or a worker is built. Multiprocess mode must be chosen before
``prometheus_client`` is first imported (:func:`prepare_multiprocess`), and the tracing
SDK is not loaded at all when tracing is off.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from dependency_injector import containers, providers
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp

from pulse_core.errors import PulseError
from pulse_core.ports.telemetry import Telemetry
from pulse_http.settings import Settings

if TYPE_CHECKING:
    from pulse_http.container import Container
    from pulse_http.lifecycle import Lifecycle
    from pulse_http.observability.metrics import Metrics
    from pulse_http.observability.tracing import Tracing

# Lazy imports below (PLC0415) are the point of this module: see its docstring.
# ruff: noqa: PLC0415

#: prometheus-client's own variable for multiprocess mode.
MULTIPROC_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"

Stop = Callable[[], None]


class MetricsPortError(PulseError):
    """``METRICS_PORT`` cannot be listened on."""

    code = "metrics_port_unavailable"


def _nothing() -> None:
    return None


def _metrics() -> Metrics:
    from pulse_http.observability.metrics import Metrics

    return Metrics.create()


def _tracing(settings: Settings) -> Tracing | None:
    if not settings.otel_exporter_otlp_endpoint:
        return None
    from pulse_http.observability.tracing import Tracing

    return Tracing.to_collector(settings.otel_exporter_otlp_endpoint)


def _telemetry(metrics: Metrics, tracing: Tracing | None) -> Telemetry:
    from pulse_http.observability.telemetry import PrometheusTelemetry

    telemetry = PrometheusTelemetry(metrics)
    return telemetry if tracing is None else tracing.telemetry(telemetry)


class Observability(containers.DeclarativeContainer):
    """The container's observability layer: the series, the tracer when tracing is on
    (tests override ``tracing`` with one on an in-memory exporter), and the telemetry
    the adapters and services report to."""

    settings = providers.Dependency(instance_of=Settings)
    metrics = providers.Singleton(_metrics)
    tracing = providers.Singleton(_tracing, settings)
    telemetry = providers.Singleton(_telemetry, metrics, tracing)


def metrics_routes(container: Container) -> list[HTTPRouteHandler]:
    """``GET /metrics`` on the API port, unless ``METRICS_PORT`` serves it elsewhere."""
    if container.settings().metrics_port:
        return []
    from pulse_http.observability.exposition import Sampler, metrics_route

    metrics = container.observability.metrics()
    return [metrics_route(metrics, Sampler(container.adapters.job_queue(), metrics))]


def traced_requests(container: Container, app: ASGIApp) -> ASGIApp:
    """``app`` with a span around each request when tracing is on; ``app`` itself
    otherwise (a request then pays nothing for tracing)."""
    tracing = container.observability.tracing()
    return app if tracing is None else tracing.middleware(app)


def add_observability(lifecycle: Lifecycle, container: Container) -> None:
    """Sample on a schedule (:class:`~pulse_http.observability.exposition.Sampler`), and
    at stop flush the last counts and send the last spans. Register it first, so that it
    stops last: the other components' stops are still counted and traced."""
    from pulse_http.observability.exposition import SAMPLE_SECONDS, Sampler

    metrics = container.observability.metrics()
    tracing = container.observability.tracing()
    sampler = Sampler(container.adapters.job_queue(), metrics)

    async def stop() -> None:
        metrics.flush()
        if tracing is not None:
            await tracing.shutdown()

    lifecycle.add("telemetry", stop=stop, every=(SAMPLE_SECONDS, sampler.sample))


def prepare_multiprocess() -> Stop:
    """Count in multiprocess mode from now on, in this process and the processes it
    starts: in ``PROMETHEUS_MULTIPROC_DIR`` as the operator set it (emptied of an earlier
    run's files, as prometheus-client requires), or in a new temporary directory, removed
    by the returned function. Before ``prometheus_client`` is first imported."""
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        os.makedirs(given, exist_ok=True)
        for name in os.listdir(given):
            if name.endswith(".db"):
                os.unlink(os.path.join(given, name))
        return _nothing
    created = tempfile.mkdtemp(prefix="pulse-metrics-")
    os.environ[MULTIPROC_DIR] = created
    return lambda: shutil.rmtree(created, ignore_errors=True)


def serve_beside(settings: Settings, *, host: str, port: int, workers: int) -> Stop:
    """What ``pulse serve`` sets up before starting its worker processes: multiprocess
    mode when they are several or ``METRICS_PORT`` is set (or the operator chose it),
    and then the ``METRICS_PORT`` listener, in this parent process. Returns what undoes
    it (in this process only: a forked worker that runs it does nothing). Raises
    :class:`MetricsPortError` when ``METRICS_PORT`` cannot be listened on."""
    if workers <= 1 and not settings.metrics_port and not os.environ.get(MULTIPROC_DIR):
        return _nothing
    if settings.metrics_port == port:
        raise MetricsPortError(f"METRICS_PORT: {port} is the API port; choose another")
    cleanup = prepare_multiprocess()
    stop = _nothing
    if settings.metrics_port:
        from pulse_http.observability.exposition import serve_aggregate

        try:
            stop = serve_aggregate(host, settings.metrics_port)
        except BaseException:
            cleanup()
            raise
    owner = os.getpid()

    def undo() -> None:
        if os.getpid() == owner:
            stop()
            cleanup()

    return undo


def serve_worker_metrics(container: Container) -> Stop:
    """``pulse worker``'s ``METRICS_PORT`` listener (its own series), if set."""
    settings = container.settings()
    if not settings.metrics_port:
        return _nothing
    from pulse_http.observability.exposition import serve_process

    return serve_process(container.observability.metrics(), settings.host, settings.metrics_port)
