"""A project's webhook endpoints and their deliveries (API.md, "Events and webhooks").

Every method takes the calling :class:`~pulse_core.models.Project` first; an id of
another project is ``NotFound`` (the repositories are scoped by project). An endpoint's
URL passes the address policy when it is saved, and again at each delivery.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import msgspec

from pulse_core import ids
from pulse_core.crypto.webhook_signature import generate_webhook_secret
from pulse_core.errors import Conflict, InvalidInput, NotFound
from pulse_core.models import Page, Project
from pulse_core.models.audit import SYSTEM, AuditRecord, Caller
from pulse_core.models.events import (
    DELIVERY_STATUSES,
    Delivery,
    DeliveryStatus,
    Event,
    WebhookEndpoint,
)
from pulse_core.net.url_guard import UrlGuard
from pulse_core.ports.clock import Clock
from pulse_core.ports.events import DeliveryRepository, EventRepository, WebhookEndpointRepository
from pulse_core.services import audit, pagination, validation
from pulse_core.services.event_log import EventLog, check_event_types, delivery_id_of

MAX_ENDPOINTS_PER_PROJECT: Final = 20
MAX_DESCRIPTION: Final = 500
MAX_ROTATION_GRACE_SECONDS: Final = 7 * 86400
DEFAULT_ROTATION_GRACE_SECONDS: Final = 86400
#: Events a replay walks at most (a replay window is at most the 30 days kept).
MAX_REPLAY_EVENTS: Final = 10_000
LEGACY_DESCRIPTION: Final = "the project's webhook_url setting"


class EndpointSpec(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    description: str = ""
    event_types: tuple[str, ...] = ()
    enabled: bool = True


class EndpointPatch(msgspec.Struct, frozen=True, kw_only=True):
    url: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    event_types: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class NewEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A new endpoint and its signing secret (shown here and on rotation only)."""

    endpoint: WebhookEndpoint
    secret: str


class SecretRotation(msgspec.Struct, frozen=True, kw_only=True):
    endpoint: WebhookEndpoint
    secret: str
    previous_secret_expires_at: datetime | None


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
        require_https: bool = False,
    ) -> None:
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._events = events
        self._log = log
        self._clock = clock
        self._urls = urls
        self._schemes = ("https",) if require_https else ("http", "https")

    # -- endpoints -------------------------------------------------------------------

    async def create_endpoint(
        self, project: Project, spec: EndpointSpec, *, by: Caller = SYSTEM
    ) -> NewEndpoint:
        url = await self._checked_url(spec.url)
        existing = await self._endpoints.list_all(project.id)
        if len(existing) >= MAX_ENDPOINTS_PER_PROJECT:
            raise Conflict(
                f"a project has at most {MAX_ENDPOINTS_PER_PROJECT} webhook endpoints",
                code="too_many_endpoints",
            )
        now = self._clock.now()
        endpoint = WebhookEndpoint(
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
        await self._endpoints.add(
            endpoint, audit=self._record(by, "webhook_endpoint.created", project, endpoint)
        )
        return NewEndpoint(endpoint=endpoint, secret=endpoint.secret)

    async def adopt_webhook_url(self, project: Project) -> WebhookEndpoint | None:
        """The project's ``webhook_url`` setting (the Go service's one URL per project)
        as an endpoint for every event type, once: None when there is no such setting or
        an endpoint already has that URL. Runs for every project at start-up (values
        stored before endpoints existed) and after each project write."""
        url = project.settings.webhook_url
        if not url:
            return None
        if any(e.url == url for e in await self._endpoints.list_all(project.id)):
            return None
        spec = EndpointSpec(url=url, description=LEGACY_DESCRIPTION)
        return (await self.create_endpoint(project, spec)).endpoint

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
        updated = msgspec.structs.replace(endpoint, updated_at=self._clock.now(), **changes)
        await self._endpoints.update(
            updated, audit=self._record(by, "webhook_endpoint.updated", project, endpoint)
        )
        return updated

    async def delete_endpoint(
        self, project: Project, endpoint_id: str, *, by: Caller = SYSTEM
    ) -> None:
        """Delete the endpoint and its deliveries (queued ones are dropped when their
        job finds nothing to deliver)."""
        endpoint = await self.get_endpoint(project, endpoint_id)
        await self._endpoints.delete(
            project.id,
            endpoint.id,
            audit=self._record(by, "webhook_endpoint.deleted", project, endpoint),
        )
        await self._deliveries.delete_for_endpoint(project.id, endpoint.id)

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
        updated = msgspec.structs.replace(
            endpoint,
            secret=generate_webhook_secret(),
            previous_secret=endpoint.secret if expires else None,
            previous_secret_expires_at=expires,
            updated_at=now,
        )
        await self._endpoints.update(
            updated, audit=self._record(by, "webhook_endpoint.secret_rotated", project, endpoint)
        )
        return SecretRotation(
            endpoint=updated, secret=updated.secret, previous_secret_expires_at=expires
        )

    async def send_test(self, project: Project, endpoint_id: str) -> Delivery:
        """A ``webhook.test`` event, to this endpoint only (enabled or not: it is a test)."""
        endpoint = await self.get_endpoint(project, endpoint_id)
        now = self._clock.now()
        event = Event(
            id=ids.new_id(ids.EVENT, now_ms=ids.ms_of(now)),
            project_id=project.id,
            type="webhook.test",
            timestamp=now,
            data={"endpoint_id": endpoint.id, "message": "a test event from Pulse"},
        )
        await self._events.add(event)
        target = msgspec.structs.replace(endpoint, enabled=True, event_types=())
        delivery = await self._log.deliver(event, target)
        if delivery is None:  # cannot happen for a fresh event; said for the type checker
            raise Conflict("the test event was already delivered")
        return delivery

    async def replay(
        self, project: Project, endpoint_id: str, *, since: datetime, until: datetime | None
    ) -> int:
        """Deliver again to this endpoint every event of ``[since, until)`` it subscribes
        to that did not succeed there; how many were queued."""
        endpoint = await self.get_endpoint(project, endpoint_id)
        until = until or self._clock.now()
        if until <= since:
            raise InvalidInput("until must be after since", field="until")
        count, before = 0, None
        for _ in range(MAX_REPLAY_EVENTS // 200):
            page = await self._events.list_page(
                project.id,
                types=endpoint.event_types,
                since=since,
                until=until,
                before=before,
                limit=200,
            )
            for event in page:
                if await self._replay_one(event, endpoint):
                    count += 1
            if len(page) < 200:
                break
            before = page[-1].id
        return count

    async def _replay_one(self, event: Event, endpoint: WebhookEndpoint) -> bool:
        queued = await self._log.deliver(event, endpoint)
        if queued is not None:
            return True
        delivery = await self._deliveries.get(event.project_id, queued_id(event, endpoint))
        if delivery is None or delivery.status == "succeeded":
            return False
        await self._restart(delivery)
        return True

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
        size = pagination.check_limit(limit)
        before = pagination.check_cursor(cursor, ids.DELIVERY)
        if status is not None and status not in DELIVERY_STATUSES:
            raise InvalidInput(
                f"status must be one of {', '.join(DELIVERY_STATUSES)}", field="status"
            )
        for value, prefix, field in (
            (endpoint_id, ids.WEBHOOK_ENDPOINT, "endpoint_id"),
            (event_id, ids.EVENT, "event_id"),
        ):
            if value is not None and not ids.is_valid_id(value, prefix):
                raise InvalidInput(f"{field} is not a valid id", field=field)
        rows = await self._deliveries.list_page(
            project.id,
            endpoint_id=endpoint_id,
            event_id=event_id,
            status=_status(status),
            before=before,
            limit=size + 1,
        )
        return pagination.page_of(rows, size, lambda d: d.id)

    async def get_delivery(self, project: Project, delivery_id: str) -> Delivery:
        delivery = None
        if ids.is_valid_id(delivery_id, ids.DELIVERY):
            delivery = await self._deliveries.get(project.id, delivery_id)
        if delivery is None:
            raise NotFound("delivery not found")
        return delivery

    async def retry_delivery(self, project: Project, delivery_id: str) -> Delivery:
        """Attempt the same delivery again now, with a fresh retry schedule."""
        return await self._restart(await self.get_delivery(project, delivery_id))

    async def _restart(self, delivery: Delivery) -> Delivery:
        restarted = msgspec.structs.replace(
            delivery,
            status="pending",
            round_start=len(delivery.attempts),
            next_attempt_at=None,
            updated_at=self._clock.now(),
        )
        await self._deliveries.update(restarted)
        await self._log.queue(restarted)
        return restarted

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
        url = validation.url(
            url.strip() if isinstance(url, str) else url, "url", schemes=self._schemes
        )
        await self._urls.check(url, "url")
        return url


def queued_id(event: Event, endpoint: WebhookEndpoint) -> str:
    return delivery_id_of(event.id, endpoint.id, now_ms=ids.ms_of(event.timestamp))


def _description(value: str) -> str:
    return validation.text(value, "description", max_length=MAX_DESCRIPTION, allow_empty=True)


def _status(value: str | None) -> DeliveryStatus | None:
    return value  # type: ignore[return-value]  # checked against DELIVERY_STATUSES above
