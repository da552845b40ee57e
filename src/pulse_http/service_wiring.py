"""The domain's services wired onto the adapters the container chose (the
:class:`Services` layer of :mod:`pulse_http.container`). Nothing here picks a backend."""

from __future__ import annotations

from dependency_injector import containers, providers

from pulse_core.livekit_webhooks import LiveKitWebhookVerifier
from pulse_core.models import RateLimitSettings
from pulse_core.net import AddressPolicy, UrlGuard
from pulse_core.ports.rate_limit import RateLimit
from pulse_core.services import (
    CredentialCache,
    CredentialCachingProjectRepository,
    ManagementAuthenticator,
    MediaService,
    OrganizationService,
    ProjectAuthenticator,
    ProjectService,
)
from pulse_core.services.audit import AuditService
from pulse_core.services.credential_cache import CredentialCachingApiKeyRepository
from pulse_core.services.delivery import DeliveryService, RetrySchedule
from pulse_core.services.event_log import EventLog
from pulse_core.services.idempotency import IdempotencyService
from pulse_core.services.jobs import JobRunner
from pulse_core.services.keys import KeyService, KeyUsage
from pulse_core.services.livekit_events import LiveKitEventProcessor
from pulse_core.services.media_orphans import OrphanedMedia
from pulse_core.services.media_teardown import MediaTeardown
from pulse_core.services.metering import UsageMeter
from pulse_core.services.quota_notices import QuotaNotices
from pulse_core.services.quotas import QuotaService, TokenAllowance
from pulse_core.services.rooms import RoomService
from pulse_core.services.sessions import SessionGuard
from pulse_core.services.sign_in import SignInService
from pulse_core.services.throttling import FailedAuthThrottle, ProjectRateLimits
from pulse_core.services.tokens import TokenService
from pulse_core.services.usage import UsageService
from pulse_core.services.usage_counter import UsageCounter
from pulse_core.services.users import UserService
from pulse_core.services.webhook_url_setting import WebhookUrlSetting
from pulse_core.services.webhooks import WebhookService
from pulse_http.settings import Settings, read_plans


def _address_policy(allowed_networks: tuple[str, ...]) -> AddressPolicy:
    return AddressPolicy.from_cidrs(allowed_networks)


def _hours(hours: float) -> float:
    return hours * 3600


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


def _sign_in_failure_limit(settings: Settings) -> RateLimit:
    return RateLimit(
        requests=settings.sign_in_failure_limit,
        period_seconds=settings.sign_in_failure_window_seconds,
        burst=settings.sign_in_failure_limit,
    )


class Services(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    adapters = providers.DependenciesContainer()
    # Metrics and traces (pulse_http.observability): what services report.
    observability = providers.DependenciesContainer()

    pepper = providers.Callable(_pepper, settings)
    credential_cache = providers.Singleton(
        CredentialCache, adapters.clock, ttl_seconds=settings.provided.auth_cache_ttl_seconds
    )
    # Every project write goes through this repository, which drops the written
    # project's cached credentials; the authenticator reads through the same cache.
    projects_repository = providers.Singleton(
        CredentialCachingProjectRepository, adapters.projects, credential_cache
    )
    keys_repository = providers.Singleton(
        CredentialCachingApiKeyRepository, adapters.api_keys, credential_cache
    )
    project_auth = providers.Singleton(
        ProjectAuthenticator,
        projects_repository,
        adapters.clock,
        pepper=pepper,
        keys=keys_repository,
    )
    key_usage = providers.Singleton(KeyUsage, keys_repository, projects_repository, adapters.clock)
    session_guard = providers.Singleton(
        SessionGuard,
        adapters.sessions,
        adapters.clock,
        ttl_seconds=settings.provided.auth_cache_ttl_seconds,
    )
    management_auth = providers.Singleton(
        ManagementAuthenticator,
        settings.provided.jwt_secret,
        adapters.clock,
        max_ttl_seconds=settings.provided.management_token_max_ttl_seconds,
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
    # Usage and plans: counts kept in the journal and flushed; quotas read the catalog.
    plans = providers.Singleton(read_plans, settings.provided.plans_file)
    usage_counter = providers.Singleton(
        UsageCounter, adapters.usage, adapters.clock, adapters.usage_journal
    )
    token_allowance = providers.Singleton(TokenAllowance)
    media_urls = providers.Singleton(
        UrlGuard,
        providers.Callable(_address_policy, settings.provided.media_allowed_networks),
        adapters.resolver,
    )
    webhook_urls = providers.Singleton(
        UrlGuard,
        providers.Callable(_address_policy, settings.provided.webhook_allowed_networks),
        adapters.resolver,
    )
    event_log = providers.Singleton(
        EventLog,
        adapters.events,
        adapters.webhook_endpoints,
        adapters.deliveries,
        adapters.job_queue,
        adapters.clock,
    )
    webhooks = providers.Singleton(
        WebhookService,
        adapters.webhook_endpoints,
        adapters.deliveries,
        adapters.events,
        event_log,
        adapters.clock,
        urls=webhook_urls,
        locks=adapters.locks,
        require_https=settings.provided.is_production,
        projects=projects_repository,
    )
    delivery = providers.Singleton(
        DeliveryService,
        adapters.events,
        adapters.webhook_endpoints,
        adapters.deliveries,
        adapters.webhook_sender,
        adapters.clock,
        urls=webhook_urls,
        schedule=providers.Callable(RetrySchedule.parse, settings.provided.webhook_retry_schedule),
        timeout_seconds=settings.provided.webhook_timeout_seconds,
        disable_after_seconds=providers.Callable(
            _hours, settings.provided.webhook_disable_after_hours
        ),
        usage=usage_counter,
        telemetry=observability.telemetry,
    )
    quotas = providers.Singleton(
        QuotaService,
        plans,
        organizations=adapters.organizations,
        projects=projects_repository,
        egress=adapters.egress_records,
        ingress=adapters.ingress_records,
        usage=adapters.usage,
        locks=adapters.locks,
        clock=adapters.clock,
        allowance=token_allowance,
        notices=providers.Singleton(QuotaNotices, event_log, adapters.events, adapters.clock),
    )
    tokens = providers.Singleton(
        TokenService,
        adapters.clock,
        livekit_api_key=settings.provided.livekit_api_key,
        livekit_api_secret=settings.provided.livekit_api_secret,
        livekit_url=settings.provided.livekit_client_url,
        usage=usage_counter,
        # As the quota service keeps it: building that service is what lets the
        # allowance look plans up (TokenService.prepare).
        allowance=quotas.provided.allowance,
        on_minted=observability.metrics.provided.token_minted,
    )
    meter = providers.Singleton(
        UsageMeter,
        adapters.usage,
        adapters.connections,
        adapters.clock,
        on_recorded=quotas.provided.after_recorded,
    )
    usage = providers.Singleton(UsageService, adapters.usage, projects_repository, adapters.clock)
    # What a deleted project left running on the media server is ended by a job.
    media_teardown = providers.Singleton(
        MediaTeardown,
        adapters.media_engine,
        adapters.egress_records,
        adapters.ingress_records,
        adapters.job_queue,
        rooms=adapters.room_engine,
    )
    livekit_events = providers.Singleton(
        LiveKitEventProcessor,
        adapters.projects,
        adapters.egress_records,
        adapters.ingress_records,
        event_log,
        meter,
        teardown=media_teardown,
    )
    job_runner = providers.Singleton(
        JobRunner,
        livekit_events,
        delivery,
        event_log,
        teardown=media_teardown,
        telemetry=observability.telemetry,
    )
    # Idempotency-Key answers of writes, kept where the container chose.
    idempotency = providers.Singleton(IdempotencyService, adapters.idempotency)
    livekit_verifier = providers.Singleton(
        LiveKitWebhookVerifier,
        settings.provided.livekit_api_key,
        settings.provided.livekit_api_secret,
    )
    webhook_url_setting = providers.Singleton(
        WebhookUrlSetting, webhooks, adapters.webhook_endpoints
    )
    projects = providers.Factory(
        ProjectService,
        adapters.organizations,
        projects_repository,
        adapters.clock,
        pepper=pepper,
        webhook_urls=webhook_urls,
        webhook_url=webhook_url_setting,
        quotas=quotas,
        on_deleted=media_teardown.provided.schedule,
    )
    media = providers.Factory(
        MediaService,
        adapters.media_engine,
        adapters.egress_records,
        adapters.ingress_records,
        adapters.storage,
        adapters.clock,
        url_guard=media_urls,
        upload_target=adapters.upload_target,
        url_expiry_seconds=settings.provided.recording_url_ttl_seconds,
        quotas=quotas,
        meter=meter,
        audit=adapters.audit,
        locks=adapters.locks,
    )
    media_orphans = providers.Singleton(
        OrphanedMedia, adapters.media_engine, adapters.egress_records, adapters.ingress_records
    )
    rooms = providers.Factory(RoomService, adapters.room_engine, quotas)
    # Access: users, sign-in, keys, the audit log.
    audit = providers.Singleton(AuditService, adapters.audit)
    users = providers.Factory(
        UserService,
        adapters.users,
        adapters.organizations,
        session_guard,
        adapters.passwords,
        adapters.clock,
        locks=adapters.locks,
        pepper=pepper,
    )
    sign_in = providers.Singleton(
        SignInService,
        adapters.users,
        session_guard,
        adapters.passwords,
        organizations=adapters.organizations,
        tokens=management_auth,
        records=adapters.audit,
        throttle=providers.Singleton(
            FailedAuthThrottle,
            adapters.rate_limiter,
            adapters.clock,
            limit=providers.Callable(_sign_in_failure_limit, settings),
        ),
        clock=adapters.clock,
        session_seconds=settings.provided.session_seconds,
    )
    keys = providers.Factory(
        KeyService,
        keys_repository,
        projects,
        adapters.clock,
        locks=adapters.locks,
        pepper=pepper,
    )
    organizations = providers.Factory(
        OrganizationService,
        adapters.organizations,
        projects_repository,
        adapters.clock,
        plans,
        on_deleted=users.provided.end_organization,
        on_projects_deleted=media_teardown.provided.schedule,
        on_plan_changed=quotas.provided.refresh_organization,
    )
