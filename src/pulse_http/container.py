"""The one place where concrete adapters are chosen and wired (dependency-injector).

Layers: ``settings`` → :class:`Gateways` (clients and connections) → :class:`Adapters`
(port implementations chosen by settings) → :class:`Services` (the domain). Tests
override providers (``container.adapters.clock.override(...)``) instead of patching.
"""

from __future__ import annotations

import hashlib
import hmac

import structlog
from dependency_injector import containers, providers
from redis.asyncio import Redis

from pulse_adapters.clock import SystemClock
from pulse_adapters.livekit import LiveKitMediaEngine
from pulse_adapters.local import LocalObjectStorage
from pulse_adapters.memory import InMemoryMediaEngine, InMemoryRateLimiter
from pulse_adapters.mongo import (
    MongoDatabase,
    MongoOrganizationRepository,
    MongoProjectRepository,
    MongoUsageRepository,
    MongoUserRepository,
)
from pulse_adapters.mongo.media_records import (
    MongoEgressRecordRepository,
    MongoIngressRecordRepository,
)
from pulse_adapters.redis import RedisRateLimiter
from pulse_adapters.redis.client import create_redis_client
from pulse_adapters.redis.client import ping as redis_ping
from pulse_adapters.s3 import S3Config, S3ObjectStorage
from pulse_adapters.sqlite import (
    SqliteDatabase,
    SqliteEgressRecordRepository,
    SqliteIngressRecordRepository,
    SqliteOrganizationRepository,
    SqliteProjectRepository,
    SqliteUsageRepository,
    SqliteUserRepository,
)
from pulse_core.errors import Unavailable
from pulse_core.models import RateLimitSettings
from pulse_core.ports.clock import Clock
from pulse_core.ports.media import MediaEngine
from pulse_core.ports.rate_limit import RateLimit, RateLimiter
from pulse_core.ports.storage import EgressUploadTarget, ObjectStorage
from pulse_core.services import (
    CredentialCache,
    ManagementAuthenticator,
    MediaService,
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


#: HKDF ``info`` of the key that signs local-storage download URLs.
DOWNLOAD_KEY_INFO = b"pulse local-storage download URLs v1"


def download_signing_key(jwt_secret: str) -> bytes:
    """The key signing download URLs of local recordings: HKDF-SHA256 (RFC 5869) of
    ``JWT_SECRET`` with an empty salt and :data:`DOWNLOAD_KEY_INFO`, 32 bytes.

    Derived rather than configured: every replica that knows ``JWT_SECRET`` signs and
    checks the same URLs with nothing more to set, and the fixed label keeps the key
    independent of the JWT key (neither can forge the other's signatures).
    """
    prk = hmac.new(b"\0" * hashlib.sha256().digest_size, jwt_secret.encode(), hashlib.sha256)
    return hmac.new(prk.digest(), DOWNLOAD_KEY_INFO + b"\x01", hashlib.sha256).digest()


def _local_storage(settings: Settings, clock: Clock) -> LocalObjectStorage:
    return LocalObjectStorage(
        settings.recordings_dir,
        signing_key=download_signing_key(settings.jwt_secret),
        base_url=settings.resolved_public_url,
        clock=clock,
    )


def _s3_storage(settings: Settings) -> S3ObjectStorage:
    return S3ObjectStorage(
        S3Config(
            bucket=settings.s3_bucket,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url or None,
            force_path_style=settings.s3_force_path_style,
            prefix=settings.s3_prefix,
            presign_endpoint_url=settings.s3_public_endpoint_url or None,
            egress_endpoint_url=settings.s3_egress_endpoint_url or None,
        )
    )


def _livekit_engine(settings: Settings) -> LiveKitMediaEngine:
    return LiveKitMediaEngine(
        settings.livekit_host,
        settings.livekit_api_key,
        settings.livekit_api_secret,
        timeout_seconds=settings.livekit_timeout_seconds,
    )


def _simulated_engine(clock: Clock, storage: ObjectStorage) -> InMemoryMediaEngine:
    # The simulated engine "uploads" its placeholder files into the configured storage,
    # so recordings of the embedded default can be listed and downloaded.
    return InMemoryMediaEngine(clock, file_sink=storage.put)


def _upload_target(storage: ObjectStorage) -> EgressUploadTarget | None:
    return storage if isinstance(storage, EgressUploadTarget) else None


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
    egress_records = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteEgressRecordRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoEgressRecordRepository, gateways.mongo),
    )
    ingress_records = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteIngressRecordRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoIngressRecordRepository, gateways.mongo),
    )
    storage = providers.Selector(
        settings.provided.object_storage,
        local=providers.Singleton(_local_storage, settings, clock),
        s3=providers.Singleton(_s3_storage, settings),
    )
    media_engine = providers.Selector(
        settings.provided.media_engine,
        memory=providers.Singleton(_simulated_engine, clock, storage),
        livekit=providers.Singleton(_livekit_engine, settings),
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
    media = providers.Factory(
        MediaService,
        adapters.media_engine,
        adapters.egress_records,
        adapters.ingress_records,
        adapters.storage,
        adapters.clock,
        upload_target=providers.Callable(_upload_target, adapters.storage),
        url_expiry_seconds=settings.provided.recording_url_ttl_seconds,
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
    _add_media(lifecycle, container)
    return lifecycle


def _add_media(lifecycle: Lifecycle, container: Container) -> None:
    """Storage, then the engine (the simulated one writes into the storage; stopping
    runs in reverse). Either being down is "degraded", not "down": everything but media
    control keeps working, so a replica must stay in its load balancer."""
    storage: ObjectStorage = container.adapters.storage()
    engine: MediaEngine = container.adapters.media_engine()

    async def storage_ok() -> Health:
        try:
            await storage.ping()
        except Unavailable:
            return "degraded"
        return "ok"

    async def media_ok() -> Health:
        try:
            await engine.ping()
        except Unavailable:
            return "degraded"
        return "ok"

    lifecycle.add("storage", stop=storage.aclose, check=storage_ok)
    lifecycle.add("media", start=engine.start, stop=engine.aclose, check=media_ok)
