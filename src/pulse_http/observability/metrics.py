"""Pulse's Prometheus series (API.md, "Observability"), with ``prometheus-client``.

Every label value comes from a bounded set: route *templates* (``/v1/rooms/{name}``, or
``unmatched`` for a request no route took), the HTTP methods (others are ``other``),
status codes, backend systems and the operations named in the code, outcomes, error
type names. Project ids, keys, room names and raw paths never become labels.

What happens on every request costs next to nothing: the request series is
:mod:`~pulse_http.observability.request_series`'s, and the tokens minted are counted in a
plain integer (:class:`PendingCount`) added to their counter at each sample (every few
seconds, and before each scrape of the API port). Backend calls are timed into
:mod:`~pulse_http.observability.plain_histogram` series, as requests are. Deliveries and
queue samples go through prometheus-client's own objects, their label children bound once.

Multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set, as ``pulse serve`` does for several
workers or ``METRICS_PORT``): values live in that directory's files, and what is exposed
is every process's, aggregated (:meth:`Metrics.collecting_registry`). The directory must
be set before ``prometheus_client`` is first imported, which is why nothing imports this
module until the app is built (see :mod:`pulse_http.observability`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.multiprocess import MultiProcessCollector

from pulse_core.ports.queue import QueueStats
from pulse_core.ports.telemetry import DeliveryOutcome
from pulse_http.observability.plain_histogram import PlainHistogram
from pulse_http.observability.request_series import RequestSeries

MULTIPROC_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"
BACKEND_DURATION: Final = "pulse_backend_call_duration_seconds"

# Seconds. Requests and backend calls are fast (tens of microseconds to milliseconds);
# webhook deliveries wait on someone else's server, up to WEBHOOK_TIMEOUT_SECONDS.
FAST_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
DELIVERY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)

Observe = Callable[[float], None]


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, or None when this process counts alone."""
    return os.environ.get(MULTIPROC_DIR) or None


class PendingCount:
    """A count kept in a plain integer where it happens (no lock, no call into
    prometheus-client) and added to ``counter`` by :meth:`flush`. Counted and flushed on
    the event loop's thread."""

    __slots__ = ("_counter", "pending")

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self.pending = 0

    def add(self) -> None:
        self.pending += 1

    def flush(self) -> None:
        count, self.pending = self.pending, 0
        if count:
            self._counter.inc(count)


class BackendSeries:
    """The bound series of one (system, operation): its latency and its errors."""

    __slots__ = ("_errors", "_labels", "observe")

    def __init__(self, observe: Observe, errors: Counter, system: str, operation: str):
        self.observe = observe
        self._errors = errors
        self._labels = (system, operation)

    def done(self, seconds: float, error: str | None) -> None:
        self.observe(seconds)
        if error is not None:
            self._errors.labels(*self._labels, error).inc()


class Metrics:
    """Every series, registered in ``registry`` (one per app: tests build many)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._multiprocess = multiprocess_dir()
        self.requests = RequestSeries(
            registry, FAST_BUCKETS, multiprocess=self._multiprocess is not None
        )
        #: What :class:`~pulse_http.middleware.RequestContextMiddleware` calls once per
        #: request, after the response: the scope, the status, the seconds it took.
        self.observe_request: Callable[[Mapping[str, Any], int, float], None] = (
            self.requests.observe
        )
        self.tokens = Counter(
            "pulse_tokens_minted", "LiveKit access tokens minted", registry=registry
        )
        self.deliveries = Counter(
            "pulse_webhook_deliveries",
            "Webhook delivery attempts by outcome (succeeded, failed: another attempt is "
            "scheduled, dead: given up)",
            ("outcome",),
            registry=registry,
        )
        self.delivery_duration = Histogram(
            "pulse_webhook_delivery_duration_seconds",
            "Duration of the webhook POSTs, by outcome",
            ("outcome",),
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        # Sampled from the queue (every process sees the same shared queue): the most
        # recent sample wins when processes are aggregated.
        self.queue_depth = Gauge(
            "pulse_queue_depth",
            "Live jobs in the queue (waiting, delayed or being worked on)",
            ("queue",),
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.queue_oldest_age = Gauge(
            "pulse_queue_oldest_job_age_seconds",
            "How long the job that has been due the longest has waited (0: none due)",
            ("queue",),
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.queue_dead = Gauge(
            "pulse_queue_dead_jobs",
            "Dead-lettered jobs kept",
            ("queue",),
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        # Seven observations per webhook event in a worker: kept in plain numbers
        # (plain_histogram) but where only prometheus-client's own values count.
        backend_labels = ("system", "operation")
        backend_doc = (
            "Calls to backends (system: sqlite, mongodb, redis, livekit) by operation, and "
            "their latency (a blocking read's includes its wait)"
        )
        self._backend_observe: Callable[[tuple[str, str]], Observe]
        if self._multiprocess is None:
            plain = PlainHistogram(
                registry, BACKEND_DURATION, backend_doc, backend_labels, FAST_BUCKETS
            )
            self._backend_observe = lambda labels: plain.child(labels).observe
        else:
            histogram = Histogram(
                BACKEND_DURATION,
                backend_doc,
                backend_labels,
                buckets=FAST_BUCKETS,
                registry=registry,
            )
            self._backend_observe = lambda labels: histogram.labels(*labels).observe
        self.backend_errors = Counter(
            "pulse_backend_call_errors",
            "Calls to backends that failed, by system, operation and error type",
            ("system", "operation", "error"),
            registry=registry,
        )
        self._minted = PendingCount(self.tokens)
        #: What token minting calls, once per token.
        self.token_minted: Callable[[], None] = self._minted.add
        self._backends: dict[tuple[str, str], BackendSeries] = {}
        self._collecting: CollectorRegistry | None = None

    @classmethod
    def create(cls) -> Metrics:
        """The series in a registry of their own, with the process's own series
        (CPU, memory, GC) unless in multiprocess mode, where only the files count."""
        registry = CollectorRegistry(auto_describe=True)
        if multiprocess_dir() is None:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        return cls(registry)

    def collecting_registry(self) -> CollectorRegistry:
        """What a scrape exposes: this registry, or in multiprocess mode every process's
        values read from the directory."""
        if self._multiprocess is None:
            return self.registry
        if self._collecting is None:
            collecting = CollectorRegistry()
            MultiProcessCollector(collecting, path=self._multiprocess)  # type: ignore[no-untyped-call]
            self._collecting = collecting
        return self._collecting

    # -- services and adapters ---------------------------------------------------------

    def backend(self, system: str, operation: str) -> BackendSeries:
        key = (system, operation)
        series = self._backends.get(key)
        if series is None:
            series = BackendSeries(self._backend_observe(key), self.backend_errors, *key)
            self._backends[key] = series
        return series

    def delivered(self, outcome: DeliveryOutcome, seconds: float | None) -> None:
        self.deliveries.labels(outcome).inc()
        if seconds is not None:
            self.delivery_duration.labels(outcome).observe(seconds)

    def flush(self) -> None:
        """Add the counts kept aside to their series (before a scrape, and on a
        schedule for the scrapes this process does not answer)."""
        self._minted.flush()

    def queue_sampled(self, queue: str, stats: QueueStats) -> None:
        self.queue_depth.labels(queue).set(stats.depth)
        self.queue_oldest_age.labels(queue).set(stats.oldest_age_seconds or 0.0)
        self.queue_dead.labels(queue).set(stats.dead)
