"""The one place where concrete adapters are chosen and wired (dependency-injector).

Layers: ``settings`` → :class:`Gateways` (clients and connections) → :class:`Adapters`
(port implementations chosen by settings) → :class:`Services` (the domain, wired in
:mod:`pulse_http.service_wiring`). Tests
override providers (``container.adapters.clock.override(...)``) instead of patching.
"""

from __future__ import annotations

import structlog
from dependency_injector import containers, providers
from redis.asyncio import Redis

from pulse_adapters.argon2 import Argon2PasswordHasher
from pulse_adapters.clock import SystemClock
from pulse_adapters.dns import SystemHostResolver
from pulse_adapters.http import AsyncioWebhookSender
from pulse_adapters.livekit import LiveKitMediaEngine, LiveKitRoomEngine
from pulse_adapters.local import LocalObjectStorage, LocalUsageJournal, download_signing_key
from pulse_adapters.memory import (
    InMemoryLocks,
    InMemoryMediaEngine,
    InMemoryRateLimiter,
    InMemoryRoomEngine,
)
from pulse_adapters.mongo import (
    MongoApiKeyRepository,
    MongoAuditRepository,
    MongoConnectionRepository,
    MongoDatabase,
    MongoDeliveryRepository,
    MongoEventRepository,
    MongoMetaRepository,
    MongoOrganizationRepository,
    MongoProjectRepository,
    MongoSessionRepository,
    MongoUsageRepository,
    MongoUserRepository,
    MongoWebhookEndpointRepository,
)
from pulse_adapters.mongo.database import check_uri as check_mongo_uri
from pulse_adapters.mongo.idempotency import MongoIdempotencyStore
from pulse_adapters.mongo.media_records import (
    MongoEgressRecordRepository,
    MongoIngressRecordRepository,
)
from pulse_adapters.redis import RedisJobQueue, RedisLocks, RedisRateLimiter
from pulse_adapters.redis.client import create_redis_client
from pulse_adapters.redis.idempotency import RedisIdempotencyStore
from pulse_adapters.s3 import S3Config, S3ObjectStorage
from pulse_adapters.sqlite import (
    SqliteApiKeyRepository,
    SqliteAuditRepository,
    SqliteConnectionRepository,
    SqliteDatabase,
    SqliteDeliveryRepository,
    SqliteEgressRecordRepository,
    SqliteEventRepository,
    SqliteIngressRecordRepository,
    SqliteJobQueue,
    SqliteMetaRepository,
    SqliteOrganizationRepository,
    SqliteProjectRepository,
    SqliteSessionRepository,
    SqliteUsageRepository,
    SqliteUserRepository,
    SqliteWebhookEndpointRepository,
)
from pulse_adapters.sqlite.idempotency import SqliteIdempotencyStore
from pulse_core import __version__
from pulse_core.ports.clock import Clock
from pulse_core.ports.rate_limit import RateLimiter
from pulse_core.ports.storage import EgressUploadTarget, ObjectStorage, SignedDownloads
from pulse_core.ports.telemetry import Telemetry
from pulse_core.services.rate_limiting import FailoverRateLimiter
from pulse_http.observability import Observability
from pulse_http.service_wiring import Services
from pulse_http.settings import Settings, load_settings


def _sqlite(settings: Settings, telemetry: Telemetry) -> SqliteDatabase:
    return SqliteDatabase(
        settings.resolved_sqlite_path,
        timeout_seconds=settings.database_timeout_seconds,
        telemetry=telemetry,
    )


def _mongo(settings: Settings, telemetry: Telemetry) -> MongoDatabase:
    return MongoDatabase(
        settings.mongo_uri,
        settings.mongo_db_name,
        timeout_seconds=settings.database_timeout_seconds,
        telemetry=telemetry,
    )


def redis_client(settings: Settings, telemetry: Telemetry) -> Redis:
    return create_redis_client(
        settings.redis_url, timeout_seconds=settings.redis_timeout_seconds, telemetry=telemetry
    )


#: The job queue's Redis calls (a blocking read, a Lua script) get longer than the rate
#: limiter's, whose timeout is a fail-open budget on the request path.
QUEUE_REDIS_TIMEOUT_SECONDS = 5.0


def _queue_redis(settings: Settings, telemetry: Telemetry) -> Redis:
    timeout = max(settings.redis_timeout_seconds, QUEUE_REDIS_TIMEOUT_SECONDS)
    return create_redis_client(settings.redis_url, timeout_seconds=timeout, telemetry=telemetry)


class Gateways(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    # Every database, Redis (and LiveKit) call is reported to it (metrics, traces).
    telemetry: providers.Dependency[Telemetry] = providers.Dependency()
    sqlite = providers.Singleton(_sqlite, settings, telemetry)
    mongo = providers.Singleton(_mongo, settings, telemetry)
    redis = providers.Singleton(redis_client, settings, telemetry)
    queue_redis = providers.Singleton(_queue_redis, settings, telemetry)
    database = providers.Selector(settings.provided.persistence, sqlite=sqlite, mongo=mongo)


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


def _idempotency_backend(settings: Settings) -> str:
    """Where Idempotency-Key answers are kept: Redis when there is one (every replica
    sees every key), else the database."""
    return "redis" if settings.redis_url else settings.persistence


def _local_storage(settings: Settings, clock: Clock) -> LocalObjectStorage:
    return LocalObjectStorage(
        settings.recordings_dir,
        signing_key=download_signing_key(settings.jwt_secret),
        base_url=settings.resolved_public_url,
        clock=clock,
    )


def check_mongo_settings(settings: Settings) -> None:
    """``InvalidInput`` when pymongo refuses ``MONGO_URI``'s form (no connection)."""
    check_mongo_uri(settings.mongo_uri, timeout_seconds=settings.database_timeout_seconds)


def s3_config(settings: Settings) -> S3Config:
    """``ValueError`` naming the bad field (``S3Config``'s own checks)."""
    return S3Config(
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


def _s3_storage(settings: Settings) -> S3ObjectStorage:
    return S3ObjectStorage(s3_config(settings))


def livekit_engine(settings: Settings, telemetry: Telemetry) -> LiveKitMediaEngine:
    return LiveKitMediaEngine(
        settings.livekit_host,
        settings.livekit_api_key,
        settings.livekit_api_secret,
        timeout_seconds=settings.livekit_timeout_seconds,
        telemetry=telemetry,
    )


def _simulated_engine(clock: Clock, storage: ObjectStorage) -> InMemoryMediaEngine:
    # The simulated engine "uploads" its placeholder files into the configured storage,
    # so recordings of the embedded default can be listed and downloaded.
    return InMemoryMediaEngine(clock, file_sink=storage.put)


def _upload_target(storage: ObjectStorage) -> EgressUploadTarget | None:
    return storage if isinstance(storage, EgressUploadTarget) else None


def _signed_downloads(storage: ObjectStorage) -> SignedDownloads | None:
    return storage if isinstance(storage, SignedDownloads) else None


class Adapters(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    gateways = providers.DependenciesContainer()
    telemetry: providers.Dependency[Telemetry] = providers.Dependency()

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
    usage_journal = providers.Singleton(LocalUsageJournal, settings.provided.usage_journal_dir)
    sessions = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteSessionRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoSessionRepository, gateways.mongo),
    )
    api_keys = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteApiKeyRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoApiKeyRepository, gateways.mongo),
    )
    audit = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteAuditRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoAuditRepository, gateways.mongo),
    )
    passwords = providers.Singleton(Argon2PasswordHasher)
    meta = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteMetaRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoMetaRepository, gateways.mongo),
    )
    connections = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteConnectionRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoConnectionRepository, gateways.mongo),
    )
    # Quota checks lock across replicas through the Redis they share.
    locks = providers.Selector(
        settings.provided.rate_limits,
        memory=providers.Singleton(InMemoryLocks),
        redis=providers.Singleton(RedisLocks, gateways.queue_redis),
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
    signed_downloads = providers.Callable(_signed_downloads, storage)
    upload_target = providers.Callable(_upload_target, storage)
    media_engine = providers.Selector(
        settings.provided.media_engine,
        memory=providers.Singleton(_simulated_engine, clock, storage),
        livekit=providers.Singleton(livekit_engine, settings, telemetry),
    )
    # The room engine is the media engine's other half: on LiveKit it shares its session,
    # in the simulation it sees its egresses (a room's active_recording).
    room_engine = providers.Selector(
        settings.provided.media_engine,
        memory=providers.Singleton(InMemoryRoomEngine, clock, media=media_engine),
        livekit=providers.Singleton(LiveKitRoomEngine, media_engine),
    )
    resolver = providers.Singleton(
        SystemHostResolver, timeout_seconds=settings.provided.dns_timeout_seconds
    )
    events = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteEventRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoEventRepository, gateways.mongo),
    )
    webhook_endpoints = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteWebhookEndpointRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoWebhookEndpointRepository, gateways.mongo),
    )
    deliveries = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteDeliveryRepository, gateways.sqlite),
        mongo=providers.Singleton(MongoDeliveryRepository, gateways.mongo),
    )
    job_queue = providers.Selector(
        settings.provided.job_queue,
        sqlite=providers.Singleton(
            SqliteJobQueue,
            gateways.sqlite,
            clock,
            visibility_timeout_seconds=settings.provided.webhook_visibility_timeout_seconds,
        ),
        redis=providers.Singleton(
            RedisJobQueue,
            gateways.queue_redis,
            clock,
            visibility_timeout_seconds=settings.provided.webhook_visibility_timeout_seconds,
        ),
    )
    webhook_sender = providers.Singleton(
        AsyncioWebhookSender, user_agent=f"Pulse-Webhooks/{__version__}"
    )
    idempotency = providers.Selector(
        providers.Callable(_idempotency_backend, settings),
        redis=providers.Singleton(RedisIdempotencyStore, gateways.queue_redis, clock),
        sqlite=providers.Singleton(SqliteIdempotencyStore, gateways.sqlite, clock),
        mongo=providers.Singleton(MongoIdempotencyStore, gateways.mongo, clock),
    )
    local_rate_limiter = providers.Singleton(InMemoryRateLimiter, clock)
    shared_rate_limiter = providers.Singleton(
        _shared_rate_limiter, settings, gateways.redis, local_rate_limiter, clock
    )
    rate_limiter = providers.Selector(
        settings.provided.rate_limits, memory=local_rate_limiter, redis=shared_rate_limiter
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(load_settings)
    observability = providers.Container(Observability, settings=settings)
    gateways = providers.Container(Gateways, settings=settings, telemetry=observability.telemetry)
    adapters = providers.Container(
        Adapters, settings=settings, gateways=gateways, telemetry=observability.telemetry
    )
    services = providers.Container(
        Services, settings=settings, adapters=adapters, observability=observability
    )


def build_container(settings: Settings | None = None) -> Container:
    """A container on ``settings`` (default: from the environment and ``.env``)."""
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    return container
