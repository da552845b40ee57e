"""``pulse_http_request_duration_seconds``: every request, by route template, method and
status, with its latency; observed once per request, token minting included.

That makes its cost the one that matters, so the label values are resolved once per
(route, method, status) and kept in nested dictionaries (three lookups per request, no
allocation), and what a request then costs depends on the mode:

- one process (the default): a :class:`~pulse_http.observability.plain_histogram.Latencies`
  (a plain count in the latency's bucket and a plain sum), updated here without even a
  call. ``Histogram.observe`` costs a token request about 3 µs more
  (``bench/in_process.py``'s request, measured in place);
- multiprocess mode: ``Histogram.observe`` (see :mod:`.plain_histogram`).

Requests run on the event loop's thread, and a scrape is answered there too (or reads
plain integers from another thread, which at worst sees a request's count before its
sum).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram

from pulse_http.observability.plain_histogram import Latencies, PlainHistogram

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


class RequestSeries:
    """The request series and the 429 counter, registered in ``registry``.
    :attr:`observe` is what the request middleware calls."""

    def __init__(
        self, registry: CollectorRegistry, bounds: tuple[float, ...], *, multiprocess: bool
    ) -> None:
        self._bounds = bounds
        self.refusals = Counter(
            "pulse_rate_limited_requests",
            "Requests refused with 429, by route template and the limit that refused them "
            "(project: a project's bucket; failed_auth: too many failed authentications)",
            ("route", "limit"),
            registry=registry,
        )
        # route template (None: no route) -> method -> status -> its Latencies (one
        # process) or its histogram child's observe (multiprocess mode).
        self._bound: dict[str | None, dict[str, dict[int, Any]]] = {}
        # A label set's Latencies (one process) or its histogram child's observe.
        self._child: Callable[[Labels], Any]
        self.observe: Callable[[Mapping[str, Any], int, float], None]
        if multiprocess:
            histogram = Histogram(NAME, DOC, LABELS, buckets=bounds, registry=registry)
            self._child = lambda labels: histogram.labels(*labels).observe
            self.observe = self._observe_histogram
        else:
            self._child = PlainHistogram(registry, NAME, DOC, LABELS, bounds).child
            self.observe = self._observe_latencies

    def _observe_latencies(self, scope: Mapping[str, Any], status: int, seconds: float) -> None:
        """One answered request: its ASGI scope (``path_template`` is set by Litestar's
        router or a fast path), status and duration."""
        route = scope.get("path_template")
        try:
            latencies: Latencies = self._bound[route][scope["method"]][status]
        except KeyError:
            latencies = self._bind(route, scope["method"], status)
        # Latencies.observe, inlined: this runs once per request.
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
        bound = self._child(labels)
        if known:  # a made-up method is never a key: the dictionaries stay bounded
            self._bound.setdefault(route, {}).setdefault(method, {})[status] = bound
        return bound
