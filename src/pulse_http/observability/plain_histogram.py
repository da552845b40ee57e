"""A labelled Prometheus histogram kept in plain numbers, for series observed on a hot
path in one process (requests, backend calls).

``Histogram.observe`` takes two locks and walks its buckets in Python (five calls, about
2 µs); a worker observes seven backend calls per event and a token request one request.
Here an observation is a C bisection and two additions, with no lock: each series is
observed on its event loop's thread, and a scrape reading them from another thread at
worst sees a count before its sum. The family is exposed at each scrape, written as
prometheus-client writes its own histograms (its tests compare the two).

In multiprocess mode only prometheus-client's own values reach the files every process's
scrape reads, so the series there stay ``Histogram``\\ s.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString


class Latencies:
    """One label set's observations: how many fell in each bucket (the last one: +Inf),
    and the sum of their seconds."""

    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left: the first bucket whose bound is >= seconds, as Prometheus's le.
        self.counts[bisect_left(self._bounds, seconds)] += 1
        self.total += seconds


class PlainHistogram:
    """The collector of one histogram family, registered in ``registry``; a label set's
    :class:`Latencies` is made by :meth:`child` on first use."""

    def __init__(
        self,
        registry: CollectorRegistry,
        name: str,
        doc: str,
        labels: tuple[str, ...],
        bounds: tuple[float, ...],
    ) -> None:
        self._bounds = bounds
        self._name, self._doc, self._labels = name, doc, labels
        self._les = [*(floatToGoString(b) for b in bounds), "+Inf"]  # type: ignore[no-untyped-call]
        self._children: dict[tuple[str, ...], Latencies] = {}
        registry.register(self)

    def child(self, labels: tuple[str, ...]) -> Latencies:
        latencies = self._children.get(labels)
        if latencies is None:
            latencies = self._children[labels] = Latencies(self._bounds)
        return latencies

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self._name, self._doc, labels=self._labels)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._doc, labels=self._labels)
        for labels, latencies in list(self._children.items()):
            cumulative = accumulate(latencies.counts)
            family.add_metric(
                labels, list(zip(self._les, cumulative, strict=True)), latencies.total
            )
        yield family
