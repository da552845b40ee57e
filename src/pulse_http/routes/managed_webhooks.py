"""The events and webhook routes for dashboards and operators, under the project's id
(management credentials; the same services and rules as :mod:`pulse_http.routes.webhooks`)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from pulse_core.models import ManagementPrincipal, Project
from pulse_core.services import ProjectService
from pulse_core.services.event_log import EventLog
from pulse_core.services.webhooks import WebhookService
from pulse_http.auth import MANAGEMENT
from pulse_http.routes.params import Since, Until, moment
from pulse_http.routes.webhooks import create, list_deliveries, list_endpoints, list_events, rotate
from pulse_http.schemas.webhooks import (
    CreateEndpoint,
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    EndpointCreated,
    EndpointList,
    EndpointOut,
    EventList,
    Replay,
    ReplayQueued,
    RotateSecret,
    SecretRotated,
    UpdateEndpoint,
)


async def _managed(
    principal: ManagementPrincipal, projects: ProjectService, project_id: str, *, write: bool
) -> Project:
    if write:
        return await projects.writable(principal, project_id)
    return await projects.get(principal, project_id)


class ProjectWebhooksController(Controller):
    """The same routes for dashboards and operators, under the project's id."""

    path = "/v1/projects/{project_id:str}"
    tags = ["webhooks"]
    opt = MANAGEMENT

    @get("/events")
    async def list_events(
        self,
        *,
        project_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        event_log: NamedDependency[EventLog],
        type_: Annotated[str | None, QueryParameter(name="type")] = None,
        since: Since = None,
        until: Until = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> EventList:
        """List the project's events, newest first.

        Events are kept 30 days: this is how a backend catches up on what it missed.
        `type` filters by event type (comma-separated), `since` and `until` by time.

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=False)
        return await list_events(
            event_log,
            project,
            type_=type_,
            since=moment(since, "since"),
            until=moment(until, "until"),
            limit=limit,
            cursor=cursor,
        )

    @post("/webhooks/endpoints", status_code=201)
    async def create_endpoint(
        self,
        project_id: FromPath[str],
        data: JSONBody[CreateEndpoint],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
    ) -> EndpointCreated:
        """Add a webhook endpoint: a URL of the customer's backend that receives the
        project's events, signed as Standard Webhooks says.

        The answer holds its `secret` (`whsec_…`), shown this once. `event_types` empty:
        every event. A URL whose host is or resolves to a private, loopback or otherwise
        internal address is refused (400); in production only `https`.

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=True)
        return await create(webhooks, project, data, principal.caller())

    @get("/webhooks/endpoints")
    async def list_endpoints(
        self,
        *,
        project_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> EndpointList:
        """List the project's webhook endpoints, oldest first (never their secrets).

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=False)
        return await list_endpoints(webhooks, project, limit, cursor)

    @get("/webhooks/endpoints/{endpoint_id:str}")
    async def get_endpoint(
        self,
        project_id: FromPath[str],
        endpoint_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
    ) -> EndpointOut:
        """Get a webhook endpoint (never its secret).

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=False)
        return EndpointOut.of(await webhooks.get_endpoint(project, endpoint_id))

    @patch("/webhooks/endpoints/{endpoint_id:str}")
    async def update_endpoint(
        self,
        *,
        project_id: FromPath[str],
        endpoint_id: FromPath[str],
        data: JSONBody[UpdateEndpoint],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
    ) -> EndpointOut:
        """Change a webhook endpoint's URL, description, event types or `enabled`; fields left
        out keep their value. Enabling a disabled endpoint clears `disabled_reason`.

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=True)
        updated = await webhooks.update_endpoint(
            project, endpoint_id, data.to_patch(), by=principal.caller()
        )
        return EndpointOut.of(updated)

    @delete("/webhooks/endpoints/{endpoint_id:str}", status_code=204)
    async def delete_endpoint(
        self,
        project_id: FromPath[str],
        endpoint_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
    ) -> None:
        """Delete a webhook endpoint; its pending deliveries are dropped.

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=True)
        await webhooks.delete_endpoint(project, endpoint_id, by=principal.caller())

    @post("/webhooks/endpoints/{endpoint_id:str}/rotate-secret", status_code=200)
    async def rotate_secret(
        self,
        *,
        project_id: FromPath[str],
        endpoint_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
        data: JSONBody[RotateSecret | None] = None,
    ) -> SecretRotated:
        """Rotate a webhook endpoint's secret: the new `secret` is shown this once.

        During `grace_period_seconds` (0 to 604800; default 86400) every delivery is signed
        with both secrets, so the receiver can switch without losing one; with 0 the old
        secret stops at once. Only one previous secret is kept: the secret of an earlier
        rotation whose grace period still runs stops now.

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=True)
        return await rotate(webhooks, project, endpoint_id, data, principal.caller())

    @post("/webhooks/endpoints/{endpoint_id:str}/test", status_code=202)
    async def send_test(
        self,
        project_id: FromPath[str],
        endpoint_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
    ) -> DeliveryOut:
        """Send a `webhook.test` event to the endpoint (202 with its delivery).

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=True)
        return DeliveryOut.of(await webhooks.send_test(project, endpoint_id))

    @post("/webhooks/endpoints/{endpoint_id:str}/replay", status_code=202)
    async def replay(
        self,
        *,
        project_id: FromPath[str],
        endpoint_id: FromPath[str],
        data: JSONBody[Replay],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
    ) -> ReplayQueued:
        """Deliver again, to this endpoint, every event from `since` until `until` (default: now)
        that did not succeed there (202 with how many, and where to go on when one call
        is not enough).

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=True)
        replayed = await webhooks.replay(
            project, endpoint_id, since=data.since, until=data.until, cursor=data.cursor
        )
        return ReplayQueued.of(replayed)

    @get("/webhooks/deliveries")
    async def list_deliveries(
        self,
        *,
        project_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
        endpoint_id: FromQuery[str | None] = None,
        event_id: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> DeliveryList:
        """List deliveries, newest first (filter by `endpoint_id`, `event_id`, `status`).

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=False)
        return await list_deliveries(
            webhooks,
            project,
            endpoint_id=endpoint_id,
            event_id=event_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )

    @get("/webhooks/deliveries/{delivery_id:str}")
    async def get_delivery(
        self,
        project_id: FromPath[str],
        delivery_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
    ) -> DeliveryDetail:
        """Get a delivery with every attempt: when, the status code, the duration, the error
        and the start of the answer.

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=False)
        return DeliveryDetail.of(await webhooks.get_delivery(project, delivery_id))

    @post("/webhooks/deliveries/{delivery_id:str}/retry", status_code=202)
    async def retry_delivery(
        self,
        project_id: FromPath[str],
        delivery_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        webhooks: NamedDependency[WebhookService],
    ) -> DeliveryDetail:
        """Attempt a delivery again now (a `dead` one becomes `pending`); 202 with the
        delivery, 409 when its endpoint was deleted.

        The management side of the same route: the project by its id (members may only read)."""
        project = await _managed(principal, projects, project_id, write=True)
        return DeliveryDetail.of(await webhooks.retry_delivery(project, delivery_id))
