"""Start, stop and health-check the backends the container selected.

Only the chosen backends are registered (SQLite or Mongo, Redis when configured...), so
an embedded start never touches a server it was not told about. Which backend that is
was decided once, by the container's selectors; this module only asks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import structlog

from pulse_core.errors import Conflict, PulseError, Unavailable
from pulse_core.models.events import EVENT_RETENTION_DAYS
from pulse_core.models.usage import USAGE_RECORD_RETENTION_DAYS, USAGE_ROLLUP_RETENTION_DAYS
from pulse_core.ports.audit import AuditRepository
from pulse_core.ports.clock import Clock
from pulse_core.ports.events import DeliveryRepository, EventRepository
from pulse_core.ports.media import MediaEngine
from pulse_core.ports.meta import MetaRepository
from pulse_core.ports.repositories import ProjectRepository
from pulse_core.ports.rooms import RoomEngine
from pulse_core.ports.storage import ObjectStorage
from pulse_core.ports.usage import UsageRepository
from pulse_core.ports.users import SessionRepository
from pulse_core.ports.webhook_sender import WebhookSender
from pulse_core.services.keys import KeyUsage
from pulse_core.services.media_orphans import OrphanedMedia
from pulse_core.services.metering import UsageMeter
from pulse_core.services.pepper import verify_pepper
from pulse_core.services.quotas import QuotaService
from pulse_core.services.rate_limiting import FailoverRateLimiter
from pulse_core.services.usage_counter import UsageCounter
from pulse_core.services.webhooks import WebhookService
from pulse_http.observability import add_observability
from pulse_http.worker import Worker

if TYPE_CHECKING:
    from pulse_http.container import Container

Health = Literal["ok", "degraded", "down"]
# A check returns "ok"/"degraded", or raises (any exception) when the backend is down.
Check = Callable[[], Awaitable[Health]]
Hook = Callable[[], Awaitable[None]]

_log = structlog.get_logger("pulse.lifecycle")


@dataclass
class _Component:
    name: str
    start: Hook | None
    stop: Hook | None
    check: Check | None
    every: tuple[float, Hook] | None = None
    task: asyncio.Task[None] | None = None
    failing: Health = "down"


@dataclass
class Lifecycle:
    check_timeout_seconds: float = 2.0
    _components: list[_Component] = field(default_factory=list)
    _started: list[_Component] = field(default_factory=list)

    def add(
        self,
        name: str,
        *,
        start: Hook | None = None,
        stop: Hook | None = None,
        check: Check | None = None,
        every: tuple[float, Hook] | None = None,
        failing: Health = "down",
    ) -> None:
        """Register a backend. ``every=(seconds, hook)`` runs ``hook`` on that schedule
        between start and stop (a failing run is logged; the schedule goes on).
        ``failing`` is what a check that raises or does not answer in time reports: a
        backend the service can serve without says "degraded"."""
        self._components.append(_Component(name, start, stop, check, every, failing=failing))

    async def start(self) -> None:
        """Start in registration order; on a failure stop what was started and raise."""
        for component in self._components:
            if component.start is not None:
                try:
                    await component.start()
                except BaseException:
                    await self.stop()
                    raise
            if component.every is not None:
                component.task = asyncio.create_task(_repeat(component.name, *component.every))
            self._started.append(component)

    async def stop(self) -> None:
        """Stop in reverse order; a failing stop is logged and does not stop the others."""
        for component in self._started:
            if component.task is not None:
                component.task.cancel()
        while self._started:
            component = self._started.pop()
            if component.task is not None:
                await asyncio.gather(component.task, return_exceptions=True)
                component.task = None
            if component.stop is not None:
                try:
                    await component.stop()
                except Exception as exc:
                    _log.warning("stop_failed", component=component.name, error=repr(exc))

    async def check(self) -> tuple[dict[str, Health], bool]:
        """Each backend's health and whether the service is ready (nothing down)."""
        named = [c for c in self._components if c.check is not None]
        results = await asyncio.gather(*(self._check_one(c) for c in named))
        checks = {c.name: health for c, health in zip(named, results, strict=True)}
        return checks, "down" not in checks.values()

    async def _check_one(self, component: _Component) -> Health:
        assert component.check is not None
        try:
            async with asyncio.timeout(self.check_timeout_seconds):
                return await component.check()
        except Exception:
            _log.warning("health_check_failed", component=component.name, exc_info=True)
            return component.failing


async def _repeat(name: str, seconds: float, hook: Hook) -> None:
    task = asyncio.current_task()
    while True:
        await asyncio.sleep(seconds)
        try:
            await hook()
        except Exception:
            _log.warning("scheduled_task_failed", component=name, exc_info=True)
        # A driver may finish its call although the task was cancelled meanwhile (the
        # async pymongo client does, now and then): honour the cancellation here, or the
        # loop would go on and stop() would wait for ever.
        if task is not None and task.cancelling():
            raise asyncio.CancelledError


#: How often a degraded shared rate limiter pings Redis to come back on its own.
RATE_LIMITER_PROBE_SECONDS = 2.0


def build_lifecycle(container: Container) -> Lifecycle:
    """Register start/stop/health of the backends the container's selectors chose."""
    settings = container.settings()
    lifecycle = Lifecycle()
    # First, so that it stops last: the spans of the other stops are still sent.
    add_observability(lifecycle, container)
    database: Any = container.gateways.database()

    async def database_ok() -> Health:
        await database.ping()
        return "ok"

    # Mongo's connect() also creates the indexes, idempotently.
    lifecycle.add("database", start=database.connect, stop=database.close, check=database_ok)
    lifecycle.add("pepper", start=pepper_check(container))
    if settings.rate_limits == "redis":
        _add_shared_rate_limiter(lifecycle, container)
    _add_media(lifecycle, container)
    _add_usage(lifecycle, container)
    _add_access(lifecycle, container)
    _add_events(lifecycle, container)
    return lifecycle


def pepper_check(container: Container) -> Hook:
    """A start hook: store API_KEY_PEPPER's check value on the first start, and refuse
    (``Conflict``, one line naming the variable) a later start with another pepper."""
    meta: MetaRepository = container.adapters.meta()
    pepper = container.settings().api_key_pepper.encode("utf-8")

    async def check() -> None:
        try:
            await verify_pepper(meta, pepper)
        except Conflict as exc:
            raise Conflict(
                "API_KEY_PEPPER differs from the one this database was created with: every"
                " existing API key would fail with 401; set API_KEY_PEPPER back to that"
                " value (changing it on purpose: docs/configuration.md, Production)",
                code=exc.code,
            ) from exc

    return check


def _add_shared_rate_limiter(lifecycle: Lifecycle, container: Container) -> None:
    """Redis down is "degraded", not "down": limits fall back per process. The limiter
    is probed on its own schedule so that it, and readiness, recover without waiting
    for project traffic to try Redis again."""
    limiter: FailoverRateLimiter = container.adapters.shared_rate_limiter()
    client: Any = container.gateways.redis()

    async def cache_ok() -> Health:
        return "ok" if await limiter.probe() else "degraded"

    async def probe() -> None:
        await limiter.probe()

    lifecycle.add(
        "cache",
        stop=client.aclose,
        check=cache_ok,
        every=(RATE_LIMITER_PROBE_SECONDS, probe),
        failing="degraded",
    )


#: How often organizations that minted tokens are checked against their monthly minutes
#: (on the replica that metered them it happens at once), and old usage is purged.
QUOTA_REFRESH_SECONDS = 10.0
USAGE_PURGE_SECONDS = 600.0
USAGE_REPAIR_AFTER = timedelta(minutes=10)


#: How often the audit log's carried records are settled and old records, expired
#: sessions purged.
ACCESS_UPKEEP_SECONDS = 600.0


def _add_access(lifecycle: Lifecycle, container: Container) -> None:
    """Move audit records a crash left inside written documents into the log (at start
    and on a schedule), and expire audit records and sessions."""
    settings = container.settings()
    audit_log: AuditRepository = container.adapters.audit()
    sessions: SessionRepository = container.adapters.sessions()
    clock: Clock = container.adapters.clock()

    async def settle() -> None:
        await audit_log.settle()

    async def upkeep() -> None:
        await audit_log.settle()
        now = clock.now()
        await audit_log.purge_before(now - timedelta(days=settings.audit_retention_days))
        await sessions.purge_expired(now)

    lifecycle.add("access", start=settle, every=(ACCESS_UPKEEP_SECONDS, upkeep))


def _add_usage(lifecycle: Lifecycle, container: Container) -> None:
    """Flush the counts of the usage journal at start (what ended processes left), on a
    schedule and at stop (registered after the database and before the worker, so it
    stops after the worker's last count and before the database closes); refresh token
    allowances; repair and expire old usage; and, on LiveKit, reconcile open connections
    with the rooms LiveKit still has."""
    settings = container.settings()
    counter: UsageCounter = container.services.usage_counter()
    quotas: QuotaService = container.services.quotas()
    usage: UsageRepository = container.adapters.usage()
    clock: Clock = container.adapters.clock()

    async def flush() -> None:
        await counter.flush()

    async def recover() -> None:
        # A database that does not answer yet does not fail the start: the schedule
        # stores the pages when it does. (An unwritable DATA_DIR is refused before
        # this: pulse_http.cli.data_dir_problem.)
        try:
            await counter.flush()
        except Unavailable as exc:
            _log.warning("usage_recovery_deferred", error=str(exc))

    async def flush_and_close() -> None:
        try:
            await counter.flush()
        finally:
            counter.close()

    async def purge() -> None:
        now = clock.now()
        # Records a crashed write left half counted (Mongo): long enough ago that no
        # live write is still finishing them.
        await usage.repair(pending_before=now - USAGE_REPAIR_AFTER)
        await usage.purge(
            records_before=now - timedelta(days=USAGE_RECORD_RETENTION_DAYS),
            rollups_before=now - timedelta(days=USAGE_ROLLUP_RETENTION_DAYS),
        )

    key_usage: KeyUsage = container.services.key_usage()

    async def flush_keys() -> None:
        await key_usage.flush()

    lifecycle.add(
        "usage", start=recover, stop=flush_and_close, every=(settings.usage_flush_seconds, flush)
    )
    lifecycle.add("key-usage", stop=flush_keys, every=(settings.usage_flush_seconds, flush_keys))
    lifecycle.add("usage-retention", every=(USAGE_PURGE_SECONDS, purge))
    lifecycle.add("quotas", every=(QUOTA_REFRESH_SECONDS, quotas.refresh_allowance))
    if settings.media_engine == "livekit" and settings.usage_reconcile_seconds > 0:
        meter: UsageMeter = container.services.meter()
        rooms: RoomEngine = container.adapters.room_engine()

        async def reconcile() -> None:
            await meter.reconcile(rooms)

        lifecycle.add("usage-reconcile", every=(settings.usage_reconcile_seconds, reconcile))


#: How often the media server's egresses and ingresses are checked for ones no project
#: owns (a start that outlived its timeout): stopped when two sweeps in a row find them.
MEDIA_ORPHAN_SWEEP_SECONDS = 300.0


#: How often old events and their deliveries are purged (Mongo's events also have a TTL
#: index).
EVENT_PURGE_SECONDS = 3600.0


def _add_events(lifecycle: Lifecycle, container: Container) -> None:
    """The job queue (its own SQLite file when persistence is Mongo and there is no
    Redis), the event log's retention, and the in-process worker unless
    ``WEBHOOK_WORKER=off``. The worker starts last and stops first, so it never holds a
    job while the backends it needs are gone."""
    settings = container.settings()
    if settings.job_queue == "sqlite" and settings.persistence != "sqlite":
        sqlite: Any = container.gateways.sqlite()
        lifecycle.add("queue", start=sqlite.connect, stop=sqlite.close)
    elif settings.job_queue == "redis":
        client: Any = container.gateways.queue_redis()
        lifecycle.add("queue", stop=client.aclose)
    events: EventRepository = container.adapters.events()
    deliveries: DeliveryRepository = container.adapters.deliveries()
    clock: Clock = container.adapters.clock()

    async def purge() -> None:
        cut = clock.now() - timedelta(days=EVENT_RETENTION_DAYS)
        await events.purge_before(cut)
        await deliveries.purge_before(cut)

    sender: WebhookSender = container.adapters.webhook_sender()
    webhooks: WebhookService = container.services.webhooks()
    projects: ProjectRepository = container.adapters.projects()

    async def adopt_webhook_urls() -> None:
        await adopt_all_webhook_urls(projects, webhooks)

    lifecycle.add(
        "events",
        start=adopt_webhook_urls,
        stop=sender.aclose,
        every=(EVENT_PURGE_SECONDS, purge),
    )
    if settings.webhook_worker == "on":
        add_worker(lifecycle, container)


async def adopt_all_webhook_urls(projects: ProjectRepository, webhooks: WebhookService) -> int:
    """Every project's ``webhook_url`` (stored by earlier versions) as an endpoint; how
    many were created. A value that cannot be adopted is logged and left, and start-up
    goes on: one the address policy now refuses, one of a project at its most endpoints,
    one whose adoption cannot take its lock now (Redis down; the next start adopts it).
    One tenant's setting must never keep the service from starting."""
    created, after = 0, None
    while True:
        page = await projects.list_page(org_id=None, after=after, limit=200)
        for project in page:
            try:
                if await webhooks.adopt_webhook_url(project) is not None:
                    created += 1
            except PulseError as exc:
                _log.warning("webhook_url_not_adopted", project_id=project.id, reason=exc.detail)
        if len(page) < 200:
            return created
        after = page[-1].id


def add_worker(lifecycle: Lifecycle, container: Container) -> Worker:
    """A :class:`Worker` on the container's queue, run between start and stop."""
    settings = container.settings()
    worker = Worker(
        container.adapters.job_queue(),
        container.services.job_runner(),
        concurrency=settings.webhook_concurrency,
    )
    running: list[asyncio.Task[None]] = []

    async def start() -> None:
        running.append(asyncio.create_task(worker.run()))

    async def stop() -> None:
        worker.stop()
        await asyncio.gather(*running, return_exceptions=True)

    lifecycle.add("worker", start=start, stop=stop)
    return worker


def _add_media(lifecycle: Lifecycle, container: Container) -> None:
    """Storage, then the engine (the simulated one writes into the storage; stopping
    runs in reverse). Either being down, or too slow to answer the check, is
    "degraded", not "down": everything but media control keeps working, so a replica
    must stay in its load balancer."""
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

    lifecycle.add("storage", stop=storage.aclose, check=storage_ok, failing="degraded")
    lifecycle.add(
        "media", start=engine.start, stop=engine.aclose, check=media_ok, failing="degraded"
    )
    if container.settings().media_engine == "livekit":
        orphans: OrphanedMedia = container.services.media_orphans()

        async def sweep() -> None:
            await orphans.sweep()

        lifecycle.add("media-orphans", every=(MEDIA_ORPHAN_SWEEP_SECONDS, sweep))
