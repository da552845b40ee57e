"""A project's webhook endpoints and their deliveries (API.md, "Events and webhooks").

Every method takes the calling :class:`~pulse_core.models.Project` first; an id of
another project is ``NotFound`` (the repositories are scoped by project). An endpoint's
URL passes the address policy when it is saved, and again at each delivery. Its inputs
and results live in :mod:`pulse_core.models.events`, and are importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Final

import msgspec

from pulse_core import ids
from pulse_core.crypto.webhook_signature import generate_webhook_secret
from pulse_core.errors import Conflict, NotFound
from pulse_core.models import Page, Project
from pulse_core.models.audit import SYSTEM, AuditRecord, Caller
from pulse_core.models.events import (
    Delivery,
    EndpointPatch,
    EndpointSpec,
    Event,
    NewEndpoint,
    SecretRotation,
    WebhookEndpoint,
)
from pulse_core.net.url_guard import UrlGuard
from pulse_core.ports.clock import Clock
from pulse_core.ports.events import DeliveryRepository, EventRepository, WebhookEndpointRepository
from pulse_core.ports.locks import Locks
from pulse_core.ports.repositories import ProjectRepository
from pulse_core.services import audit, pagination, validation
from pulse_core.services.delivery import TEST_EVENT
from pulse_core.services.event_log import EventLog, check_event_types
from pulse_core.services.webhook_deliveries import Replayed, WebhookDeliveries
from pulse_core.services.webhook_url_setting import LEGACY_DESCRIPTION, setting_follows

MAX_ENDPOINTS_PER_PROJECT: Final = 20
#: The per-project endpoints lock (WebhookService._endpoints_held): a read and a write.
ENDPOINTS_LOCK_LEASE_SECONDS: Final = 30.0
ENDPOINTS_LOCK_WAIT_SECONDS: Final = 10.0
MAX_DESCRIPTION: Final = 500
MAX_ROTATION_GRACE_SECONDS: Final = 7 * 86400
DEFAULT_ROTATION_GRACE_SECONDS: Final = 86400


class WebhookService:
    def __init__(
        self,
        endpoints: WebhookEndpointRepository,
        deliveries: DeliveryRepository,
        events: EventRepository,
        log: EventLog,
        clock: Clock,
        *,
        urls: UrlGuard,
        locks: Locks,
        require_https: bool = False,
        projects: ProjectRepository | None = None,
    ) -> None:
        self._projects = projects
        self._locks = locks
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._events = events
        self._log = log
        self._clock = clock
        self._log_of_deliveries = WebhookDeliveries(endpoints, deliveries, events, log, clock)
        self._urls = urls
        self._schemes = ("https",) if require_https else ("http", "https")

    # -- endpoints -------------------------------------------------------------------

    async def create_endpoint(
        self, project: Project, spec: EndpointSpec, *, by: Caller = SYSTEM
    ) -> NewEndpoint:
        endpoint = await self._new_endpoint(project, spec)
        async with self._endpoints_held(project.id):
            await self._add_counted(project, endpoint, by)
        return NewEndpoint(endpoint=endpoint, secret=endpoint.secret)

    async def adopt_webhook_url(self, project: Project) -> WebhookEndpoint | None:
        """The project's ``webhook_url`` setting (the Go service's one URL per project)
        as an endpoint for every event type, once: None when there is no such setting or
        an endpoint already has that URL. Runs for every project at start-up (values
        stored before endpoints existed, on every replica at once) and after each
        project write."""
        url = project.settings.webhook_url
        if not url or await self._has_endpoint_at(project.id, url):
            return None  # the common case at start-up, without checking the URL again
        spec = EndpointSpec(url=url, description=LEGACY_DESCRIPTION)
        endpoint = await self._new_endpoint(project, spec)
        async with self._endpoints_held(project.id):
            if await self._has_endpoint_at(project.id, url):
                return None
            await self._add_counted(project, endpoint, SYSTEM)
        return endpoint

    async def _has_endpoint_at(self, project_id: str, url: str) -> bool:
        return any(e.url == url for e in await self._endpoints.list_all(project_id))

    async def _new_endpoint(self, project: Project, spec: EndpointSpec) -> WebhookEndpoint:
        url = await self._checked_url(spec.url)
        now = self._clock.now()
        return WebhookEndpoint(
            id=ids.new_id(ids.WEBHOOK_ENDPOINT, now_ms=ids.ms_of(now)),
            project_id=project.id,
            url=url,
            description=_description(spec.description),
            event_types=check_event_types(spec.event_types),
            enabled=spec.enabled,
            secret=generate_webhook_secret(),
            created_at=now,
            updated_at=now,
        )

    def _endpoints_held(self, project_id: str) -> AbstractAsyncContextManager[None]:
        """Held while endpoints are counted (or their URLs compared) and one is added:
        two creations at the cap cannot both pass, and replicas starting at once adopt
        a ``webhook_url`` once."""
        return self._locks.hold(
            f"webhook_endpoints:{project_id}",
            lease_seconds=ENDPOINTS_LOCK_LEASE_SECONDS,
            wait_seconds=ENDPOINTS_LOCK_WAIT_SECONDS,
        )

    async def _add_counted(self, project: Project, endpoint: WebhookEndpoint, by: Caller) -> None:
        """Add ``endpoint`` unless the project has its most; under :meth:`_endpoints_held`."""
        if len(await self._endpoints.list_all(project.id)) >= MAX_ENDPOINTS_PER_PROJECT:
            raise Conflict(
                f"a project has at most {MAX_ENDPOINTS_PER_PROJECT} webhook endpoints",
                code="too_many_endpoints",
            )
        await self._endpoints.add(
            endpoint, audit=self._record(by, "webhook_endpoint.created", project, endpoint)
        )

    async def get_endpoint(self, project: Project, endpoint_id: str) -> WebhookEndpoint:
        endpoint = None
        if ids.is_valid_id(endpoint_id, ids.WEBHOOK_ENDPOINT):
            endpoint = await self._endpoints.get(project.id, endpoint_id)
        if endpoint is None:
            raise NotFound("webhook endpoint not found")
        return endpoint

    async def list_endpoints(
        self, project: Project, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[WebhookEndpoint]:
        size = pagination.check_limit(limit)
        before = pagination.check_cursor(cursor, ids.WEBHOOK_ENDPOINT)
        rows = await self._endpoints.list_page(project.id, before=before, limit=size + 1)
        return pagination.page_of(rows, size, lambda e: e.id)

    async def update_endpoint(
        self, project: Project, endpoint_id: str, patch: EndpointPatch, *, by: Caller = SYSTEM
    ) -> WebhookEndpoint:
        endpoint = await self.get_endpoint(project, endpoint_id)
        changes: dict[str, object] = {}
        if patch.url is not msgspec.UNSET:
            changes["url"] = await self._checked_url(patch.url)
        if patch.description is not msgspec.UNSET:
            changes["description"] = _description(patch.description)
        if patch.event_types is not msgspec.UNSET:
            changes["event_types"] = check_event_types(patch.event_types)
        if patch.enabled is not msgspec.UNSET:
            changes["enabled"] = patch.enabled
            if patch.enabled:
                # Turned back on by its owner: the reason and the failing streak are over.
                changes.update(disabled_reason=None, failing_since=None)
        if not changes:
            return endpoint
        now = self._clock.now()

        def apply(stored: WebhookEndpoint) -> WebhookEndpoint:
            if all(getattr(stored, name) == value for name, value in changes.items()):
                return stored
            return msgspec.structs.replace(stored, updated_at=now, **changes)

        changed = await self._change(project, endpoint, apply, by, "webhook_endpoint.updated")
        if "url" in changes:
            await setting_follows(
                self._projects, self._clock, project, endpoint, url=changed.url, by=by
            )
        return changed

    async def delete_endpoint(
        self, project: Project, endpoint_id: str, *, by: Caller = SYSTEM
    ) -> None:
        """Delete the endpoint and drop its deliveries still to be attempted (a queued
        job then finds nothing to deliver). Those that succeeded or died stay in the
        delivery log as long as their event."""
        endpoint = await self.get_endpoint(project, endpoint_id)
        await self._endpoints.delete(
            project.id,
            endpoint.id,
            audit=self._record(by, "webhook_endpoint.deleted", project, endpoint),
        )
        await self._deliveries.drop_unsent(project.id, endpoint.id)
        await setting_follows(self._projects, self._clock, project, endpoint, url=None, by=by)

    async def rotate_secret(
        self,
        project: Project,
        endpoint_id: str,
        *,
        grace_period_seconds: int = DEFAULT_ROTATION_GRACE_SECONDS,
        by: Caller = SYSTEM,
    ) -> SecretRotation:
        """A new secret; the current one keeps signing too for ``grace_period_seconds``
        (0: it stops at once). A secret still in an earlier grace period stops now."""
        validation.int_range(
            grace_period_seconds,
            "grace_period_seconds",
            low=0,
            high=MAX_ROTATION_GRACE_SECONDS,
        )
        endpoint = await self.get_endpoint(project, endpoint_id)
        now = self._clock.now()
        expires = now + timedelta(seconds=grace_period_seconds) if grace_period_seconds else None
        secret = generate_webhook_secret()

        def apply(stored: WebhookEndpoint) -> WebhookEndpoint:
            # The secret kept for the grace period is the one stored now.
            return msgspec.structs.replace(
                stored,
                secret=secret,
                previous_secret=stored.secret if expires else None,
                previous_secret_expires_at=expires,
                updated_at=now,
            )

        updated = await self._change(
            project, endpoint, apply, by, "webhook_endpoint.secret_rotated"
        )
        return SecretRotation(endpoint=updated, secret=secret, previous_secret_expires_at=expires)

    def grace_until(self, endpoint: WebhookEndpoint) -> datetime | None:
        """While a rotation's grace period runs, when it ends (the previous secret stops
        signing); None otherwise. Only one previous secret is kept: a rotation made
        before then ends it at once."""
        if len(endpoint.live_secrets(self._clock.now())) < 2:
            return None
        return endpoint.previous_secret_expires_at

    async def _change(
        self,
        project: Project,
        endpoint: WebhookEndpoint,
        apply: Callable[[WebhookEndpoint], WebhookEndpoint],
        by: Caller,
        action: str,
    ) -> WebhookEndpoint:
        """``apply`` to the endpoint as stored now (``WebhookEndpointRepository.change``);
        ``NotFound`` if it was deleted meanwhile."""
        changed = await self._endpoints.change(
            project.id, endpoint.id, apply, audit=self._record(by, action, project, endpoint)
        )
        if changed is None:
            raise NotFound("webhook endpoint not found")
        return changed

    async def send_test(self, project: Project, endpoint_id: str) -> Delivery:
        """A ``webhook.test`` event, to this endpoint only (enabled or not: it is a test)."""
        endpoint = await self.get_endpoint(project, endpoint_id)
        now = self._clock.now()
        event = Event(
            id=ids.new_id(ids.EVENT, now_ms=ids.ms_of(now)),
            project_id=project.id,
            type=TEST_EVENT,
            timestamp=now,
            data={"endpoint_id": endpoint.id, "message": "a test event from Pulse"},
        )
        await self._events.add(event)
        target = msgspec.structs.replace(endpoint, enabled=True, event_types=())
        delivery = await self._log_of_deliveries.start(event, target)
        if delivery is None:  # cannot happen for a fresh event; said for the type checker
            raise Conflict("the test event was already delivered")
        return delivery

    async def replay(
        self,
        project: Project,
        endpoint_id: str,
        *,
        since: datetime,
        until: datetime | None = None,
        cursor: str | None = None,
    ) -> Replayed:
        """Deliver again to this endpoint every event of ``[since, until)`` (``until``
        None: now) it subscribes to that did not succeed there:
        :meth:`WebhookDeliveries.replay`."""
        endpoint = await self.get_endpoint(project, endpoint_id)
        return await self._log_of_deliveries.replay(
            endpoint, since=since, until=until, cursor=cursor
        )

    # -- deliveries ------------------------------------------------------------------

    async def list_deliveries(
        self,
        project: Project,
        *,
        endpoint_id: str | None = None,
        event_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Delivery]:
        return await self._log_of_deliveries.list(
            project,
            endpoint_id=endpoint_id,
            event_id=event_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )

    async def get_delivery(self, project: Project, delivery_id: str) -> Delivery:
        return await self._log_of_deliveries.get(project, delivery_id)

    async def retry_delivery(self, project: Project, delivery_id: str) -> Delivery:
        """:meth:`WebhookDeliveries.retry`: the same delivery, attempted again now."""
        return await self._log_of_deliveries.retry(project, delivery_id)

    def _record(
        self, by: Caller, action: str, project: Project, endpoint: WebhookEndpoint
    ) -> AuditRecord:
        return audit.by(
            self._clock,
            by,
            action,
            resource_type="webhook_endpoint",
            resource_id=endpoint.id,
            org_id=project.org_id,
        )

    async def _checked_url(self, url: str) -> str:
        url = validation.webhook_url(url, "url", schemes=self._schemes)
        await self._urls.check(url, "url")
        return url


def _description(value: str) -> str:
    return validation.text(value, "description", max_length=MAX_DESCRIPTION, allow_empty=True)


# Named for the re-exports (module docstring); what this module defines is public anyway.
__all__ = [
    "EndpointPatch",
    "EndpointSpec",
    "NewEndpoint",
    "Replayed",
    "SecretRotation",
    "WebhookService",
]
