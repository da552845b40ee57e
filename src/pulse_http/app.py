"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide

from pulse_core import __version__
from pulse_http.auth import (
    Authenticators,
    authenticate,
    provide_caller,
    provide_principal,
    provide_project,
)
from pulse_http.container import Container, build_container
from pulse_http.dashboard import dashboard_exception_handlers, dashboard_routes, template_config
from pulse_http.fast_livekit import LiveKitWebhookFastPath
from pulse_http.fast_tokens import TokenFastPath
from pulse_http.head_requests import HeadAsGet
from pulse_http.idempotency import REPLAYED, IdempotentResponses, with_idempotency
from pulse_http.lifecycle import build_lifecycle
from pulse_http.logging import configure_logging
from pulse_http.middleware import RequestContextMiddleware
from pulse_http.observability import metrics_routes, traced_requests
from pulse_http.openapi import docs_routes, openapi_config
from pulse_http.problems import EXCEPTION_HANDLERS
from pulse_http.routes import health
from pulse_http.routes.access import (
    AuditController,
    AuthController,
    KeysController,
    UsersController,
)
from pulse_http.routes.livekit import livekit_webhook
from pulse_http.routes.managed_webhooks import ProjectWebhooksController
from pulse_http.routes.media import MediaController, download_routes
from pulse_http.routes.organizations import OrganizationsController
from pulse_http.routes.projects import CurrentProjectController, ProjectsController
from pulse_http.routes.rooms import RoomsController
from pulse_http.routes.tokens import TokensController
from pulse_http.routes.usage import ManagedUsageController, UsageController
from pulse_http.routes.webhooks import EventsController, WebhooksController
from pulse_http.strict_body import check_json_body


def _constant(value: Any) -> Provide:
    """A dependency that hands out one already-built object (no per-request work)."""

    def provide() -> Any:
        return value

    return Provide(provide, use_cache=True, sync_to_thread=False)


def _factory(provider: Callable[[], Any]) -> Provide:
    """A dependency resolved by a container provider on each request."""

    def provide() -> Any:
        return provider()

    return Provide(provide, sync_to_thread=False)


def create_app(container: Container | None = None) -> Litestar:
    """Build the API on ``container`` (default: configured from the environment)."""
    container = container or build_container()
    settings = container.settings()
    configure_logging(settings)
    lifecycle = build_lifecycle(container)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await lifecycle.start()
        try:
            yield
        finally:
            await lifecycle.stop()

    services = container.services
    idempotency = services.idempotency()
    authenticators = Authenticators(
        services.management_auth(),
        services.project_auth(),
        throttle=services.auth_throttle(),
        limits=services.project_rate_limits(),
        usage=services.usage_counter(),
        key_usage=services.key_usage(),
        sessions=services.session_guard(),
        trust_x_forwarded_for=settings.trust_x_forwarded_for,
    )
    dependencies = {
        "settings": _constant(settings),
        "lifecycle": _constant(lifecycle),
        "organizations": _factory(services.organizations),
        "projects": _factory(services.projects),
        "tokens": _constant(services.tokens()),
        "media": _factory(services.media),
        "rooms": _factory(services.rooms),
        "usage": _constant(services.usage()),
        "quotas": _constant(services.quotas()),
        "users": _factory(services.users),
        "plans": _constant(services.plans()),
        "sign_in": _constant(services.sign_in()),
        "keys": _factory(services.keys),
        "audit": _constant(services.audit()),
        "event_log": _constant(services.event_log()),
        "webhooks": _constant(services.webhooks()),
        "livekit_verifier": _constant(services.livekit_verifier()),
        "job_queue": _constant(container.adapters.job_queue()),
        "clock": _constant(container.adapters.clock()),
        "principal": Provide(provide_principal, sync_to_thread=False),
        "project": Provide(provide_project, sync_to_thread=False),
        "caller": Provide(provide_caller, sync_to_thread=False),
    }
    cors = (
        CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Pulse-Key",
                "X-Pulse-Secret",
                "Idempotency-Key",
            ],
            expose_headers=[
                "X-Request-ID",
                "RateLimit",
                "RateLimit-Policy",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
                "Retry-After",
                REPLAYED,
            ],
        )
        if settings.cors_origins
        else None
    )
    app = Litestar(
        route_handlers=[
            health.health,
            health.ready,
            health.status,
            OrganizationsController,
            ProjectsController,
            CurrentProjectController,
            TokensController,
            MediaController,
            RoomsController,
            EventsController,
            WebhooksController,
            ProjectWebhooksController,
            UsageController,
            UsersController,
            AuthController,
            KeysController,
            AuditController,
            ManagedUsageController,
            livekit_webhook,
            *download_routes(container.adapters.signed_downloads()),
            *metrics_routes(container),
            *docs_routes(),
            *dashboard_routes(settings),
        ],
        dependencies=dependencies,
        exception_handlers={**EXCEPTION_HANDLERS, **dashboard_exception_handlers()},
        guards=[authenticate],
        state=State({"authenticators": authenticators, "settings": settings}),
        before_request=with_idempotency(check_json_body, idempotency),
        cors_config=cors,
        request_max_body_size=settings.max_body_bytes,
        lifespan=[lifespan],
        openapi_config=openapi_config(__version__),
        template_config=template_config(),
        debug=False,
    )
    # Outside Litestar, so that it sees the answer as sent (see pulse_http.idempotency).
    app.asgi_handler = IdempotentResponses(app.asgi_handler, idempotency)
    # POST /v1/tokens/create and POST /v1/livekit/webhook are answered by fast paths (the
    # same code and errors as their Litestar routes) before Litestar; the middleware gives
    # them, like every request, an id, an access-log line and its metrics (and a span when
    # tracing is on). Tokens first: the hottest route passes through no other layer.
    # HEAD is read as GET behind both fast paths (neither serves a GET).
    livekit = LiveKitWebhookFastPath(
        HeadAsGet(app.asgi_handler),
        verifier=services.livekit_verifier(),
        queue=container.adapters.job_queue(),
        clock=container.adapters.clock(),
        max_body_bytes=settings.max_body_bytes,
        cors=bool(settings.cors_origins),
    )
    app.asgi_handler = RequestContextMiddleware(
        traced_requests(
            container,
            TokenFastPath(
                livekit,
                authenticators=authenticators,
                tokens=services.tokens(),
                max_body_bytes=settings.max_body_bytes,
                cors=bool(settings.cors_origins),
            ),
        ),
        observe=container.observability.metrics().observe_request,
    )
    return app
