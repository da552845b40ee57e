"""The one place where concrete adapters are chosen and wired (dependency-injector).

Layers: ``settings`` → :class:`Gateways` (clients and connections) → :class:`Adapters`
(port implementations chosen by settings) → :class:`Services` (the domain). Tests
override providers (``container.adapters.clock.override(...)``) instead of patching.
"""

from __future__ import annotations

import structlog
from dependency_injector import containers, providers
from redis.asyncio import Redis

from pulse_adapters.clock import SystemClock
from pulse_adapters.memory import InMemoryRateLimiter
from pulse_adapters.mongo import (
    MongoDatabase,
    MongoOrganizationRepository,
    MongoProjectRepository,
    MongoUsageRepository,
    MongoUserRepository,
)
from pulse_adapters.redis import RedisRateLimiter
from pulse_adapters.redis.client import create_redis_client
from pulse_adapters.redis.client import ping as redis_ping
from pulse_adapters.sqlite import (
    SqliteDatabase,
    SqliteOrganizationRepository,
    SqliteProjectRepository,
    SqliteUsageRepository,
    SqliteUserRepository,
)
from pulse_core.errors import Unavailable
from pulse_core.models import RateLimitSettings
from pulse_core.ports.clock import Clock
from pulse_core.ports.rate_limit import RateLimit, RateLimiter
from pulse_core.services import (
    CredentialCache,
    ManagementAuthenticator,
    OrganizationService,
    ProjectAuthenticator,
    ProjectService,
)
from pulse_core.services.rate_limiting import FailoverRateLimiter
from pulse_core.services.throttling import FailedAuthThrottle, ProjectRateLimits
from pulse_core.services.tokens import TokenService
from pulse_http.lifecycle import Health, Lifecycle
from pulse_http.settings import Settings, load_settings


def _sqlite(settings: Settings) -> SqliteDatabase:
    return SqliteDatabase(
        settings.resolved_sqlite_path, timeout_seconds=settings.database_timeout_seconds
    )


def _mongo(settings: Settings) -> MongoDatabase:
    return MongoDatabase(
        settings.mongo_uri,
        settings.mongo_db_name,
        timeout_seconds=settings.database_timeout_seconds,
    )


def _redis(settings: Settings) -> Redis:
    return create_redis_client(settings.redis_url, timeout_seconds=settings.redis_timeout_seconds)


class Gateways(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    sqlite = providers.Singleton(_sqlite, settings)
    mongo = providers.Singleton(_mongo, settings)
    redis = providers.Singleton(_redis, settings)


_rate_log = structlog.get_logger("pulse.rate_limit")


def _shared_rate_limiter(
    settings: Settings, client: Redis, fallback: RateLimiter, clock: Clock
) -> FailoverRateLimiter:
    """Redis shared by every replica; while Redis is down, each replica's own limiter."""
    return FailoverRateLimiter(
        RedisRateLimiter(client, clock, timeout_seconds=settings.redis_timeout_seconds),
        fallback,
        clock,
        on_failover=lambda exc: _rate_log.warning(
            "rate_limiter_degraded", error=str(exc), policy="per-process fallback"
        ),
        on_recovery=lambda: _rate_log.info("rate_limiter_recovered"),
    )


class Adapters(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    gateways = providers.DependenciesContainer()

    clock = providers.Singleton(SystemClock)
    organizations = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteOrganizationRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoOrganizationRepository, gateways.mongo),
    )
    projects = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteProjectRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoProjectRepository, gateways.mongo),
    )
    users = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteUserRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoUserRepository, gateways.mongo),
    )
    usage = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteUsageRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoUsageRepository, gateways.mongo),
    )
    local_rate_limiter = providers.Singleton(InMemoryRateLimiter, clock)
    rate_limiter = providers.Selector(
        settings.provided.rate_limits,
        memory=local_rate_limiter,
        redis=providers.Singleton(
            _shared_rate_limiter, settings, gateways.redis, local_rate_limiter, clock
        ),
    )


def _pepper(settings: Settings) -> bytes:
    return settings.api_key_pepper.encode("utf-8")


def _default_rate_limit(settings: Settings) -> RateLimitSettings:
    return RateLimitSettings(
        requests=settings.rate_limit_requests,
        period=settings.rate_limit_period,
        burst=settings.rate_limit_burst,
    )


def _auth_failure_limit(settings: Settings) -> RateLimit:
    return RateLimit(
        requests=settings.auth_failure_limit,
        period_seconds=settings.auth_failure_window_seconds,
        burst=settings.auth_failure_limit,
    )


class Services(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    adapters = providers.DependenciesContainer()

    pepper = providers.Callable(_pepper, settings)
    credential_cache = providers.Singleton(
        CredentialCache, adapters.clock, ttl_seconds=settings.provided.auth_cache_ttl_seconds
    )
    project_auth = providers.Singleton(
        ProjectAuthenticator, adapters.projects, credential_cache, adapters.clock, pepper=pepper
    )
    management_auth = providers.Singleton(
        ManagementAuthenticator, settings.provided.jwt_secret, adapters.clock
    )
    project_rate_limits = providers.Singleton(
        ProjectRateLimits,
        adapters.rate_limiter,
        default=providers.Callable(_default_rate_limit, settings),
    )
    auth_throttle = providers.Singleton(
        FailedAuthThrottle,
        adapters.rate_limiter,
        adapters.clock,
        limit=providers.Callable(_auth_failure_limit, settings),
    )
    tokens = providers.Singleton(
        TokenService,
        adapters.clock,
        livekit_api_key=settings.provided.livekit_api_key,
        livekit_api_secret=settings.provided.livekit_api_secret,
        livekit_url=settings.provided.livekit_client_url,
    )
    organizations = providers.Factory(
        OrganizationService,
        adapters.organizations,
        adapters.projects,
        credential_cache,
        adapters.clock,
    )
    projects = providers.Factory(
        ProjectService,
        adapters.organizations,
        adapters.projects,
        credential_cache,
        adapters.clock,
        pepper=pepper,
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(load_settings)
    gateways = providers.Container(Gateways, settings=settings)
    adapters = providers.Container(Adapters, settings=settings, gateways=gateways)
    services = providers.Container(Services, settings=settings, adapters=adapters)


def build_container(settings: Settings | None = None) -> Container:
    """A container on ``settings`` (default: from the environment and ``.env``)."""
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    return container


def build_lifecycle(container: Container) -> Lifecycle:
    """Register start/stop/health of the backends the settings selected."""
    settings: Settings = container.settings()
    lifecycle = Lifecycle()
    database: SqliteDatabase | MongoDatabase = (
        container.gateways.sqlite()
        if settings.persistence == "sqlite"
        else container.gateways.mongo()
    )

    async def database_ok() -> Health:
        await database.ping()
        return "ok"

    # Mongo's connect() also creates the indexes, idempotently.
    lifecycle.add("database", start=database.connect, stop=database.close, check=database_ok)
    if settings.rate_limits == "redis":
        client: Redis = container.gateways.redis()
        limiter = container.adapters.rate_limiter()

        async def cache_ok() -> Health:
            # Redis down is "degraded", not "down": limits fall back per process.
            try:
                await redis_ping(client, timeout_seconds=settings.redis_timeout_seconds)
            except Unavailable:
                return "degraded"
            return "degraded" if getattr(limiter, "degraded", False) else "ok"

        lifecycle.add("cache", stop=client.aclose, check=cache_ok)
    return lifecycle
