"""``pulse_http_request_duration_seconds``: every request, by route template, method and
status, with its latency; observed once per request, token minting included.

That makes its cost the one that matters, so the label values are resolved once per
(route, method, status) and kept in nested dictionaries (three lookups per request, no
allocation), and what a request then costs depends on the mode:

- one process (the default): a plain count in the latency's bucket and a plain sum
  (:class:`Latencies`: a C bisection, two additions, no lock, no call), exposed as a
  histogram by a collector of its own (:class:`RequestSeries` is one) at each scrape.
  ``Histogram.observe`` (two locked increments, a Python loop, five calls) costs a token
  request about 3 µs more (``bench/in_process.py``'s request, measured in place);
- multiprocess mode: ``Histogram.observe``, since only prometheus-client's own values
  reach the shared files every process's scrape reads.

Requests run on the event loop's thread, and a scrape is answered there too (or reads
plain integers from another thread, which at worst sees a request's count before its
sum).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from itertools import accumulate
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

NAME: Final = "pulse_http_request_duration_seconds"
DOC: Final = (
    "HTTP requests by route template, method and status, and their latency "
    "(_count: the number of requests)"
)
LABELS: Final = ("route", "method", "status")
#: The label value of requests no route took (404, 405 before routing).
UNMATCHED: Final = "unmatched"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD: Final = "other"
#: Which limit refused a request (a 429): a project's bucket (the answer carries its
#: rate-limit headers) or the failed-authentication allowance of the client's address.
PROJECT_LIMIT: Final = "project"
FAILED_AUTH_LIMIT: Final = "failed_auth"

Observe = Callable[[float], None]
Labels = tuple[str, str, str]


class Latencies:
    """One (route, method, status)'s requests: how many fell in each bucket (the last one:
    +Inf), and the sum of their seconds."""

    __slots__ = ("counts", "total")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * (buckets + 1)
        self.total = 0.0


class RequestSeries:
    """The request series and the 429 counter, registered in ``registry``.
    :attr:`observe` is what the request middleware calls."""

    def __init__(
        self, registry: CollectorRegistry, bounds: tuple[float, ...], *, multiprocess: bool
    ) -> None:
        self._bounds = bounds
        # As prometheus-client's Histogram writes them (the multiprocess mode's).
        self._les = [*(floatToGoString(b) for b in bounds), "+Inf"]  # type: ignore[no-untyped-call]
        self.refusals = Counter(
            "pulse_rate_limited_requests",
            "Requests refused with 429, by route template and the limit that refused them "
            "(project: a project's bucket; failed_auth: too many failed authentications)",
            ("route", "limit"),
            registry=registry,
        )
        self._latencies: dict[Labels, Latencies] = {}
        # route template (None: no route) -> method -> status -> its Latencies (one
        # process) or its histogram child's observe (multiprocess mode).
        self._bound: dict[str | None, dict[str, dict[int, Any]]] = {}
        self._histogram: Histogram | None = None
        self.observe: Callable[[Mapping[str, Any], int, float], None]
        if multiprocess:
            self._histogram = Histogram(NAME, DOC, LABELS, buckets=bounds, registry=registry)
            self.observe = self._observe_histogram
        else:
            registry.register(self)
            self.observe = self._observe_latencies

    def _observe_latencies(self, scope: Mapping[str, Any], status: int, seconds: float) -> None:
        """One answered request: its ASGI scope (``path_template`` is set by Litestar's
        router or a fast path), status and duration."""
        route = scope.get("path_template")
        try:
            latencies: Latencies = self._bound[route][scope["method"]][status]
        except KeyError:
            latencies = self._bind(route, scope["method"], status)
        # bisect_left: the first bucket whose bound is >= seconds, as Prometheus's le.
        latencies.counts[bisect_left(self._bounds, seconds)] += 1
        latencies.total += seconds
        if status == 429:
            self._refused(scope, route)

    def _observe_histogram(self, scope: Mapping[str, Any], status: int, seconds: float) -> None:
        route = scope.get("path_template")
        try:
            observe: Observe = self._bound[route][scope["method"]][status]
        except KeyError:
            observe = self._bind(route, scope["method"], status)
        observe(seconds)
        if status == 429:
            self._refused(scope, route)

    def _refused(self, scope: Mapping[str, Any], route: str | None) -> None:
        limit = PROJECT_LIMIT if "rate_limit_headers" in scope["state"] else FAILED_AUTH_LIMIT
        self.refusals.labels(route or UNMATCHED, limit).inc()

    def _bind(self, route: str | None, method: str, status: int) -> Any:
        known = method in METHODS
        labels = (route or UNMATCHED, method if known else OTHER_METHOD, str(status))
        bound: Any
        if self._histogram is not None:
            bound = self._histogram.labels(*labels).observe
        else:
            bound = self._latencies.get(labels)
            if bound is None:
                bound = self._latencies[labels] = Latencies(len(self._bounds))
        if known:  # a made-up method is never a key: the dictionaries stay bounded
            self._bound.setdefault(route, {}).setdefault(method, {})[status] = bound
        return bound

    # -- the collector of the one-process mode -----------------------------------------

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(NAME, DOC, labels=LABELS)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(NAME, DOC, labels=LABELS)
        for labels, latencies in list(self._latencies.items()):
            cumulative = accumulate(latencies.counts)
            family.add_metric(
                labels, list(zip(self._les, cumulative, strict=True)), latencies.total
            )
        yield family
