"""OpenTelemetry traces: a span per HTTP request, per job and webhook delivery, and per
call to a backend (database, Redis, LiveKit) inside them.

Only imported when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (or a test builds a
:class:`Tracing` of its own): without it, Pulse never loads the tracing SDK, and a request
pays nothing for tracing. The SDK is the optional ``otel`` extra
(``pip install 'pulse-control-plane[otel]'``).

Spans go to the collector over OTLP/HTTP (``<endpoint>/v1/traces``) in batches, from the
SDK's own thread. The SDK's standard variables apply (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_EXPORTER_OTLP_HEADERS``...);
the service is named ``pulse`` unless they say otherwise. An incoming W3C
``traceparent`` header makes the request's span a child of the caller's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pulse_core import __version__
from pulse_core.ports.telemetry import CallEnd, DeliveryOutcome, Telemetry

#: The attribute holding the request id (``X-Request-ID``) on request spans.
REQUEST_ID: Final = "pulse.request_id"
_DATABASES: Final = frozenset({"sqlite", "mongodb", "redis"})
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_TRACE_HEADERS: Final = frozenset({b"traceparent", b"tracestate"})


class Tracing:
    """A tracer provider of Pulse's own (never the process-global one: each app has its
    own, and tests build many) and what is built on it."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("pulse", __version__)

    @classmethod
    def to_collector(cls, endpoint: str) -> Tracing:
        """Spans batched to the OTLP/HTTP collector at ``endpoint``."""
        resource = Resource.create({SERVICE_VERSION: __version__})
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: "pulse"}))
        provider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def telemetry(self, inner: Telemetry) -> TracingTelemetry:
        return TracingTelemetry(inner, self.tracer)

    def middleware(self, app: ASGIApp) -> TracingMiddleware:
        return TracingMiddleware(app, self.tracer)

    async def shutdown(self) -> None:
        """Send the spans still batched and stop (blocking I/O: in a thread)."""
        await asyncio.to_thread(self.provider.shutdown)


def _call_attributes(system: str, operation: str) -> dict[str, str]:
    attributes = {"pulse.system": system, "pulse.operation": operation}
    if system in _DATABASES:
        attributes["db.system.name"] = system
        attributes["db.operation.name"] = operation
    return attributes


class _TracedCall:
    """A backend call's span around the inner telemetry's report of it."""

    __slots__ = ("_inner", "_name", "_span", "_system", "_tracer")

    def __init__(
        self, inner: AbstractContextManager[None], tracer: Tracer, system: str, operation: str
    ) -> None:
        self._inner = inner
        self._tracer = tracer
        self._system = system
        self._name = operation
        self._span: Span | None = None

    def __enter__(self) -> None:
        self._span = self._tracer.start_span(
            f"{self._system} {self._name}",
            kind=SpanKind.CLIENT,
            attributes=_call_attributes(self._system, self._name),
        )
        self._inner.__enter__()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._inner.__exit__(kind, error, traceback)
        span = self._span
        assert span is not None
        if isinstance(error, Exception):
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


class TracingTelemetry(Telemetry):
    """Spans for what is reported, and every report passed on to ``inner`` (metrics)."""

    def __init__(self, inner: Telemetry, tracer: Tracer) -> None:
        self._inner = inner
        self._tracer = tracer

    def call(self, system: str, operation: str) -> AbstractContextManager[None]:
        return _TracedCall(self._inner.call(system, operation), self._tracer, system, operation)

    def begin_call(self, system: str, operation: str) -> CallEnd:
        span = self._tracer.start_span(
            f"{system} {operation}",
            kind=SpanKind.CLIENT,
            attributes=_call_attributes(system, operation),
        )
        inner = self._inner.begin_call(system, operation)

        def end(error: str | None) -> None:
            inner(error)
            if error is not None:
                span.set_attribute("error.type", error)
                span.set_status(Status(StatusCode.ERROR, error))
            span.end()

        return end

    @contextmanager
    def span(self, name: str, attributes: Mapping[str, str] | None = None) -> Iterator[None]:
        with self._tracer.start_as_current_span(name, attributes=attributes):
            yield

    def delivered(self, outcome: DeliveryOutcome, seconds: float | None) -> None:
        self._inner.delivered(outcome, seconds)
        trace.get_current_span().set_attribute("pulse.delivery.outcome", outcome)


def _parent(headers: Iterable[tuple[bytes, bytes]]) -> Context | None:
    """The caller's trace context from ``traceparent`` / ``tracestate``, if sent."""
    carrier = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in headers
        if name in _TRACE_HEADERS
    }
    return _PROPAGATOR.extract(carrier) if carrier else None


class TracingMiddleware:
    """A server span around each HTTP request, current while the request runs (so the
    backend calls it makes are its children), named ``METHOD /route/{template}``, with
    the request id (mounted inside :class:`~pulse_http.middleware.RequestContextMiddleware`,
    which assigns it)."""

    __slots__ = ("_tracer", "app")

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self._tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        http_scope: HTTPScope = scope
        method: str = http_scope["method"]
        state: dict[str, Any] = scope.setdefault("state", {})
        attributes = {"http.request.method": method, "url.path": http_scope["path"]}
        request_id = state.get("request_id")
        if request_id is not None:
            attributes[REQUEST_ID] = request_id
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self._tracer.start_as_current_span(
            method,
            context=_parent(scope["headers"]),
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                route = scope.get("path_template")
                if route is not None:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
