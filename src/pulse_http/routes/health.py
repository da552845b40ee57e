from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from pulse_core import __version__
from pulse_http.lifecycle import Health, Lifecycle
from pulse_http.schemas import doc
from pulse_http.settings import Settings


class Liveness(msgspec.Struct, frozen=True):
    """The process is up."""

    status: Annotated[Literal["ok"], doc("Always `ok`.", "ok")] = "ok"


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the process can serve, and each backend's state."""

    status: Annotated[
        Literal["ok", "degraded"],
        doc("`ok` when every backend is, `degraded` otherwise.", "ok"),
    ]
    checks: Annotated[
        dict[str, Health],
        doc(
            "Each backend (`database`, `storage`, `media`, `redis`, …): `ok`, `degraded` or "
            "`down`.",
            {"database": "ok", "storage": "ok", "media": "ok"},
        ),
    ]


class Status(msgspec.Struct, frozen=True, kw_only=True):
    """What is running."""

    service: Annotated[str, doc("Always `pulse`.", "pulse")]
    version: Annotated[str, doc("Pulse's version.", "0.1.0")]
    environment: Annotated[str, doc("`ENVIRONMENT`: `development`, `production`, …", "production")]


@get("/health", tags=["health"])
async def health() -> Liveness:
    """Liveness: answers without touching any backend."""
    return Liveness()


@get(
    "/health/ready",
    tags=["health"],
    responses={
        503: ResponseSpec(Readiness, description="A backend Pulse cannot work without is down.")
    },
)
async def ready(lifecycle: NamedDependency[Lifecycle]) -> Response[Readiness]:
    """Readiness: whether this process can serve, with each backend's state.

    503 when a backend the service cannot work without is down; 200 with ``status:
    degraded`` when one is impaired but Pulse still serves (Redis down: rate limits fall
    back per process)."""
    checks, ready = await lifecycle.check()
    healthy = all(state == "ok" for state in checks.values())
    body = Readiness(status="ok" if healthy else "degraded", checks=checks)
    return Response(body, status_code=200 if ready else 503)


@get("/v1/status", tags=["health"])
async def status(settings: NamedDependency[Settings]) -> Status:
    """The service's name, version and environment."""
    return Status(service="pulse", version=__version__, environment=settings.environment)
