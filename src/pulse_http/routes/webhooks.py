"""Events and webhooks (API.md): the project's own routes (key + secret). The same routes
under ``/v1/projects/{project_id}/`` for management callers are in
:mod:`pulse_http.routes.managed_webhooks`; both call the same services through the
helpers here. The management side first resolves the project the caller may see (404
otherwise) and, for writes, checks that it may change it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from pulse_core.models import Project
from pulse_core.models.audit import Caller
from pulse_core.services.event_log import EventLog
from pulse_core.services.webhooks import WebhookService
from pulse_http.auth import project_route
from pulse_http.routes.params import Since, Until, moment
from pulse_http.schemas.webhooks import (
    CreateEndpoint,
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    EndpointCreated,
    EndpointList,
    EndpointOut,
    EventList,
    EventOut,
    Replay,
    ReplayQueued,
    RotateSecret,
    SecretRotated,
    UpdateEndpoint,
)


def types(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


# -- what both kinds of caller do, given the project --------------------------------------


async def list_events(
    log: EventLog,
    project: Project,
    *,
    type_: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    cursor: str | None,
) -> EventList:
    page = await log.list(
        project, types=types(type_), since=since, until=until, limit=limit, cursor=cursor
    )
    return EventList(items=[EventOut.of(e) for e in page.items], next_cursor=page.next_cursor)


async def create(
    webhooks: WebhookService, project: Project, data: CreateEndpoint, by: Caller
) -> EndpointCreated:
    created = await webhooks.create_endpoint(project, data.to_domain(), by=by)
    out = EndpointOut.of(created.endpoint)
    return EndpointCreated(**msgspec.structs.asdict(out), secret=created.secret)


async def list_endpoints(
    webhooks: WebhookService, project: Project, limit: int | None, cursor: str | None
) -> EndpointList:
    page = await webhooks.list_endpoints(project, limit=limit, cursor=cursor)
    return EndpointList(items=[EndpointOut.of(e) for e in page.items], next_cursor=page.next_cursor)


async def rotate(
    webhooks: WebhookService,
    project: Project,
    endpoint_id: str,
    data: RotateSecret | None,
    by: Caller,
) -> SecretRotated:
    grace = (data or RotateSecret()).grace_period_seconds
    rotated = await webhooks.rotate_secret(project, endpoint_id, grace_period_seconds=grace, by=by)
    return SecretRotated(
        secret=rotated.secret, previous_secret_expires_at=rotated.previous_secret_expires_at
    )


async def list_deliveries(
    webhooks: WebhookService,
    project: Project,
    *,
    endpoint_id: str | None,
    event_id: str | None,
    status: str | None,
    limit: int | None,
    cursor: str | None,
) -> DeliveryList:
    page = await webhooks.list_deliveries(
        project,
        endpoint_id=endpoint_id,
        event_id=event_id,
        status=status,
        limit=limit,
        cursor=cursor,
    )
    return DeliveryList(items=[DeliveryOut.of(d) for d in page.items], next_cursor=page.next_cursor)


# -- project credentials -----------------------------------------------------------------


class EventsController(Controller):
    path = "/v1/events"
    tags = ["events"]
    opt = project_route("webhooks")

    @get("/")
    async def list_events(
        self,
        *,
        project: NamedDependency[Project],
        event_log: NamedDependency[EventLog],
        type_: Annotated[str | None, QueryParameter(name="type")] = None,
        since: Since = None,
        until: Until = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> EventList:
        """List the project's events, newest first.

        Events are kept 30 days: this is how a backend catches up on what it missed.
        `type` filters by event type (comma-separated), `since` and `until` by time."""
        return await list_events(
            event_log,
            project,
            type_=type_,
            since=moment(since, "since"),
            until=moment(until, "until"),
            limit=limit,
            cursor=cursor,
        )


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]
    opt = project_route("webhooks")

    @post("/endpoints", status_code=201)
    async def create_endpoint(
        self,
        data: JSONBody[CreateEndpoint],
        project: NamedDependency[Project],
        caller: NamedDependency[Caller],
        webhooks: NamedDependency[WebhookService],
    ) -> EndpointCreated:
        """Add a webhook endpoint: a URL of the customer's backend that receives the
        project's events, signed as Standard Webhooks says.

        The answer holds its `secret` (`whsec_…`), shown this once. `event_types` empty:
        every event. A URL whose host is or resolves to a private, loopback or otherwise
        internal address is refused (400); in production only `https`."""
        return await create(webhooks, project, data, caller)

    @get("/endpoints")
    async def list_endpoints(
        self,
        project: NamedDependency[Project],
        webhooks: NamedDependency[WebhookService],
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> EndpointList:
        """List the project's webhook endpoints, oldest first (never their secrets)."""
        return await list_endpoints(webhooks, project, limit, cursor)

    @get("/endpoints/{endpoint_id:str}")
    async def get_endpoint(
        self,
        endpoint_id: FromPath[str],
        project: NamedDependency[Project],
        webhooks: NamedDependency[WebhookService],
    ) -> EndpointOut:
        """Get a webhook endpoint (never its secret)."""
        return EndpointOut.of(await webhooks.get_endpoint(project, endpoint_id))

    @patch("/endpoints/{endpoint_id:str}")
    async def update_endpoint(
        self,
        endpoint_id: FromPath[str],
        data: JSONBody[UpdateEndpoint],
        project: NamedDependency[Project],
        caller: NamedDependency[Caller],
        webhooks: NamedDependency[WebhookService],
    ) -> EndpointOut:
        """Change a webhook endpoint's URL, description, event types or `enabled`; fields left
        out keep their value. Enabling a disabled endpoint clears `disabled_reason`."""
        updated = await webhooks.update_endpoint(project, endpoint_id, data.to_patch(), by=caller)
        return EndpointOut.of(updated)

    @delete("/endpoints/{endpoint_id:str}", status_code=204)
    async def delete_endpoint(
        self,
        endpoint_id: FromPath[str],
        project: NamedDependency[Project],
        caller: NamedDependency[Caller],
        webhooks: NamedDependency[WebhookService],
    ) -> None:
        """Delete a webhook endpoint; its pending deliveries are dropped."""
        await webhooks.delete_endpoint(project, endpoint_id, by=caller)

    @post("/endpoints/{endpoint_id:str}/rotate-secret", status_code=200)
    async def rotate_secret(
        self,
        endpoint_id: FromPath[str],
        project: NamedDependency[Project],
        caller: NamedDependency[Caller],
        webhooks: NamedDependency[WebhookService],
        data: JSONBody[RotateSecret | None] = None,
    ) -> SecretRotated:
        """Rotate a webhook endpoint's secret: the new `secret` is shown this once.

        During `grace_period_seconds` (0 to 604800; default 86400) every delivery is signed
        with both secrets, so the receiver can switch without losing one; with 0 the old
        secret stops at once. Only one previous secret is kept: the secret of an earlier
        rotation whose grace period still runs stops now."""
        return await rotate(webhooks, project, endpoint_id, data, caller)

    @post("/endpoints/{endpoint_id:str}/test", status_code=202)
    async def send_test(
        self,
        endpoint_id: FromPath[str],
        project: NamedDependency[Project],
        webhooks: NamedDependency[WebhookService],
    ) -> DeliveryOut:
        """Send a `webhook.test` event to the endpoint (202 with its delivery)."""
        return DeliveryOut.of(await webhooks.send_test(project, endpoint_id))

    @post("/endpoints/{endpoint_id:str}/replay", status_code=202)
    async def replay(
        self,
        endpoint_id: FromPath[str],
        data: JSONBody[Replay],
        project: NamedDependency[Project],
        webhooks: NamedDependency[WebhookService],
    ) -> ReplayQueued:
        """Deliver again, to this endpoint, every event from `since` until `until` (default: now)
        that did not succeed there (202 with how many, and where to go on when one call
        is not enough)."""
        replayed = await webhooks.replay(
            project, endpoint_id, since=data.since, until=data.until, cursor=data.cursor
        )
        return ReplayQueued.of(replayed)

    @get("/deliveries")
    async def list_deliveries(
        self,
        *,
        project: NamedDependency[Project],
        webhooks: NamedDependency[WebhookService],
        endpoint_id: FromQuery[str | None] = None,
        event_id: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> DeliveryList:
        """List deliveries, newest first (filter by `endpoint_id`, `event_id`, `status`)."""
        return await list_deliveries(
            webhooks,
            project,
            endpoint_id=endpoint_id,
            event_id=event_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )

    @get("/deliveries/{delivery_id:str}")
    async def get_delivery(
        self,
        delivery_id: FromPath[str],
        project: NamedDependency[Project],
        webhooks: NamedDependency[WebhookService],
    ) -> DeliveryDetail:
        """Get a delivery with every attempt: when, the status code, the duration, the error
        and the start of the answer."""
        return DeliveryDetail.of(await webhooks.get_delivery(project, delivery_id))

    @post("/deliveries/{delivery_id:str}/retry", status_code=202)
    async def retry_delivery(
        self,
        delivery_id: FromPath[str],
        project: NamedDependency[Project],
        webhooks: NamedDependency[WebhookService],
    ) -> DeliveryDetail:
        """Attempt a delivery again now (a `dead` one becomes `pending`); 202 with the
        delivery, 409 when its endpoint was deleted."""
        return DeliveryDetail.of(await webhooks.retry_delivery(project, delivery_id))


# -- management --------------------------------------------------------------------------
