from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency

from pulse_core import __version__
from pulse_http.lifecycle import Health, Lifecycle
from pulse_http.settings import Settings


class Liveness(msgspec.Struct, frozen=True):
    status: Literal["ok"] = "ok"


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ok", "degraded"]
    checks: dict[str, Health]


class Status(msgspec.Struct, frozen=True, kw_only=True):
    service: str
    version: str
    environment: str


@get("/health", tags=["health"])
async def health() -> Liveness:
    """Liveness: answers without touching any backend."""
    return Liveness()


@get("/health/ready", tags=["health"])
async def ready(lifecycle: NamedDependency[Lifecycle]) -> Response[Readiness]:
    """Readiness: 503 when a backend the service cannot work without is down; 200 with
    ``status: degraded`` when one is impaired but Pulse still serves (Redis down: rate
    limits fall back per process)."""
    checks, ready = await lifecycle.check()
    healthy = all(state == "ok" for state in checks.values())
    body = Readiness(status="ok" if healthy else "degraded", checks=checks)
    return Response(body, status_code=200 if ready else 503)


@get("/v1/status", tags=["health"])
async def status(settings: NamedDependency[Settings]) -> Status:
    return Status(service="pulse", version=__version__, environment=settings.environment)
