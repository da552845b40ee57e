"""The :class:`~pulse_core.ports.telemetry.Telemetry` port as Prometheus series."""

from __future__ import annotations

from contextlib import AbstractContextManager
from time import perf_counter
from types import TracebackType

from pulse_core.ports.telemetry import CallEnd, DeliveryOutcome, Telemetry
from pulse_http.observability.metrics import BackendSeries, Metrics


class _TimedCall:
    """One backend call: its latency, and its error type when an exception leaves it (a
    cancelled call is neither)."""

    __slots__ = ("_series", "_started")

    def __init__(self, series: BackendSeries) -> None:
        self._series = series
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = perf_counter()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self._series.observe(perf_counter() - self._started)
        elif isinstance(error, Exception):
            self._series.done(perf_counter() - self._started, type(error).__name__)


class PrometheusTelemetry(Telemetry):
    """Backend calls and webhook deliveries into :class:`Metrics`; spans are not kept
    (see :class:`~pulse_http.observability.tracing.TracingTelemetry`)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def call(self, system: str, operation: str) -> AbstractContextManager[None]:
        return _TimedCall(self._metrics.backend(system, operation))

    def begin_call(self, system: str, operation: str) -> CallEnd:
        series = self._metrics.backend(system, operation)
        started = perf_counter()

        def end(error: str | None) -> None:
            series.done(perf_counter() - started, error)

        return end

    def delivered(self, outcome: DeliveryOutcome, seconds: float | None) -> None:
        self._metrics.delivered(outcome, seconds)
