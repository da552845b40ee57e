"""A project's webhooks: its endpoints (add, edit, enable, delete, rotate the secret,
send a test, replay), the delivery log with each attempt (retry), and its recent events.

Every action calls what the management routes call (:mod:`pulse_http.routes.webhooks`,
:mod:`pulse_http.routes.managed_webhooks`) with the same input structs, so a form and a
JSON body meet the same rules; writes go through ``projects.writable`` first, as there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.models import ManagementPrincipal, Organization, Project
from pulse_core.models.events import DELIVERY_STATUSES, EVENT_TYPES, Event, WebhookEndpoint
from pulse_core.services import OrganizationService, ProjectService
from pulse_core.services.event_log import EventLog
from pulse_core.services.webhooks import DEFAULT_ROTATION_GRACE_SECONDS, WebhookService
from pulse_http.dashboard.forms import Form, Refusal, read_form
from pulse_http.dashboard.pages.context import project_scope
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.rendering import page
from pulse_http.dashboard.session import PATH
from pulse_http.routes.webhooks import create, rotate
from pulse_http.schemas.webhooks import CreateEndpoint, Replay, RotateSecret, UpdateEndpoint

Req = Request[Any, Any, Any]
Viewer = NamedDependency[ManagementPrincipal]
Projects = NamedDependency[ProjectService]
Organizations = NamedDependency[OrganizationService]
Webhooks = NamedDependency[WebhookService]
#: Deliveries shown on an endpoint's own page (the log has them all).
RECENT = 10
#: How much of an event's data the events list shows.
DATA_EXCERPT = 200
_LOCAL_MINUTES = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")
_ZONE = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class _Here:
    """The viewer on one project's webhook pages, and how those pages are drawn."""

    viewer: ManagementPrincipal
    project: Project
    org: Organization
    webhooks: WebhookService

    @property
    def base(self) -> str:
        return f"{PATH}/projects/{self.project.id}"

    def page(self, name: str, **context: Any) -> Template:
        can_write = self.viewer.can_write(self.project.org_id)
        return page(
            name, self.viewer, project=self.project, org=self.org, can_write=can_write, **context
        )

    async def endpoints(
        self,
        *,
        values: dict[str, Any] | None = None,
        refusal: Refusal | None = None,
        cursor: str | None = None,
    ) -> Template:
        listed = await self.webhooks.list_endpoints(self.project, limit=PAGE_SIZE, cursor=cursor)
        blank = {"url": "", "description": "", "event_types": [], "enabled": True}
        return self.page(
            "webhooks.html",
            refusal=refusal,
            endpoints=listed.items,
            next_cursor=listed.next_cursor,
            event_types=EVENT_TYPES,
            values=values or blank,
        )

    async def endpoint(
        self,
        endpoint: WebhookEndpoint,
        *,
        values: dict[str, Any] | None = None,
        refusal: Refusal | None = None,
        replayed: int | None = None,
    ) -> Template:
        recent = await self.webhooks.list_deliveries(
            self.project, endpoint_id=endpoint.id, limit=RECENT
        )
        return self.page(
            "webhooks_endpoint.html",
            refusal=refusal,
            endpoint=endpoint,
            deliveries=recent.items,
            more_deliveries=recent.next_cursor is not None,
            event_types=EVENT_TYPES,
            values={**_values(endpoint), **(values or {})},
            default_grace=DEFAULT_ROTATION_GRACE_SECONDS,
            replayed=replayed,
        )

    def secret(
        self,
        heading: str,
        secret: str,
        endpoint_id: str,
        *,
        expires_at: datetime | None = None,
        rotated: bool = False,
    ) -> Template:
        """A secret shown once; the browser's history holds the endpoint's page instead."""
        return self.page(
            "webhooks_secret.html",
            status=200 if rotated else 201,
            heading=heading,
            secret=secret,
            expires_at=expires_at,
            rotated=rotated,
            replace_url=f"{self.base}/webhooks/{endpoint_id}",
        )

    async def named_endpoints(self) -> dict[str, WebhookEndpoint]:
        """The project's endpoints by id, to name them in the log (a project has at most
        20: one page)."""
        listed = await self.webhooks.list_endpoints(self.project, limit=PAGE_SIZE)
        return {e.id: e for e in listed.items}


async def _readable(
    project_id: FromPath[str],
    viewer: Viewer,
    projects: Projects,
    organizations: Organizations,
    webhooks: Webhooks,
) -> _Here:
    """The ``here`` of a page: ``NotFound`` unless the viewer may see the project."""
    project, org = await project_scope(viewer, project_id, projects, organizations)
    return _Here(viewer, project, org, webhooks)


async def _writable(
    project_id: FromPath[str],
    viewer: Viewer,
    projects: Projects,
    organizations: Organizations,
    webhooks: Webhooks,
) -> _Here:
    """The ``editable`` of an action: ``PermissionDenied`` when the viewer may only read
    (``projects.writable``, as the management routes check; the error page shows it)."""
    project, org = await project_scope(viewer, project_id, projects, organizations, write=True)
    return _Here(viewer, project, org, webhooks)


def _to(url: str, notice: str, **query: str) -> Redirect:
    return Redirect(f"{url}?{urlencode({**query, 'notice': notice})}", status_code=303)


class WebhookPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}"
    dependencies = {
        "here": Provide(_readable),
        "editable": Provide(_writable),
    }

    @get("/webhooks")
    async def endpoints_page(
        self, here: NamedDependency[_Here], cursor: FromQuery[str | None] = None
    ) -> Template:
        return await here.endpoints(cursor=cursor)

    @post("/webhooks")
    async def create_endpoint(self, request: Req, editable: NamedDependency[_Here]) -> Template:
        form = await read_form(request)
        here = editable
        try:
            data = form.to(CreateEndpoint, lists=["event_types"], enabled=_ticked(form))
            created = await create(here.webhooks, here.project, data, here.viewer.caller())
        except PulseError as exc:
            return await here.endpoints(values=_form_values(form), refusal=Refusal.of(exc))
        return here.secret(f"Webhook endpoint {created.url} added", created.secret, created.id)

    @get("/webhooks/{endpoint_id:str}")
    async def endpoint_page(
        self,
        endpoint_id: FromPath[str],
        here: NamedDependency[_Here],
        replayed: FromQuery[int | None] = None,
    ) -> Template:
        endpoint = await here.webhooks.get_endpoint(here.project, endpoint_id)
        return await here.endpoint(endpoint, replayed=replayed)

    @post("/webhooks/{endpoint_id:str}")
    async def update_endpoint(
        self, request: Req, endpoint_id: FromPath[str], editable: NamedDependency[_Here]
    ) -> Template | Redirect:
        """The whole form is the endpoint as it should be: a cleared description is
        cleared, no type ticked is every type (as ``event_types: []`` in the API)."""
        form = await read_form(request)
        here = editable
        endpoint = await here.webhooks.get_endpoint(here.project, endpoint_id)
        whole: dict[str, Any] = {"url": form.get("url"), "description": form.get("description")}
        try:
            data = form.to(UpdateEndpoint, lists=["event_types"], enabled=_ticked(form), **whole)
            await here.webhooks.update_endpoint(
                here.project, endpoint.id, data.to_patch(), by=here.viewer.caller()
            )
        except PulseError as exc:
            return await here.endpoint(endpoint, values=_form_values(form), refusal=Refusal.of(exc))
        return _to(f"{here.base}/webhooks/{endpoint.id}", "saved")

    @post("/webhooks/{endpoint_id:str}/enabled")
    async def switch_endpoint(
        self, request: Req, endpoint_id: FromPath[str], editable: NamedDependency[_Here]
    ) -> Redirect:
        """Enable or disable (the form's one hidden field), back to the list."""
        form = await read_form(request)
        data = form.to(UpdateEndpoint, enabled=form.get("enabled"))
        patch, by = data.to_patch(), editable.viewer.caller()
        await editable.webhooks.update_endpoint(editable.project, endpoint_id, patch, by=by)
        return _to(f"{editable.base}/webhooks", "saved")

    @post("/webhooks/{endpoint_id:str}/delete")
    async def delete_endpoint(
        self, endpoint_id: FromPath[str], editable: NamedDependency[_Here]
    ) -> Redirect:
        by = editable.viewer.caller()
        await editable.webhooks.delete_endpoint(editable.project, endpoint_id, by=by)
        return _to(f"{editable.base}/webhooks", "deleted")

    @post("/webhooks/{endpoint_id:str}/rotate-secret")
    async def rotate_secret(
        self, request: Req, endpoint_id: FromPath[str], editable: NamedDependency[_Here]
    ) -> Template:
        form = await read_form(request)
        here = editable
        endpoint = await here.webhooks.get_endpoint(here.project, endpoint_id)
        try:
            data = form.to(RotateSecret)
            rotated = await rotate(
                here.webhooks, here.project, endpoint.id, data, here.viewer.caller()
            )
        except PulseError as exc:
            grace = {"grace_period_seconds": form.get("grace_period_seconds")}
            return await here.endpoint(endpoint, values=grace, refusal=Refusal.of(exc))
        expires = rotated.previous_secret_expires_at
        heading = f"New secret for {endpoint.url}"
        return here.secret(heading, rotated.secret, endpoint.id, expires_at=expires, rotated=True)

    @post("/webhooks/{endpoint_id:str}/test")
    async def send_test(
        self, endpoint_id: FromPath[str], editable: NamedDependency[_Here]
    ) -> Redirect:
        """Queue a ``webhook.test`` event and show the endpoint's delivery log."""
        delivery = await editable.webhooks.send_test(editable.project, endpoint_id)
        return _to(f"{editable.base}/deliveries", "queued", endpoint_id=delivery.endpoint_id)

    @post("/webhooks/{endpoint_id:str}/replay")
    async def replay(
        self, request: Req, endpoint_id: FromPath[str], editable: NamedDependency[_Here]
    ) -> Template | Redirect:
        """``since`` and ``until`` are typed in UTC (the fields say so)."""
        form = await read_form(request)
        here = editable
        endpoint = await here.webhooks.get_endpoint(here.project, endpoint_id)
        window: dict[str, Any] = {k: _utc(form.get(k)) for k in ("since", "until") if form.get(k)}
        try:
            data = form.to(Replay, **window)
            count = await here.webhooks.replay(
                here.project, endpoint.id, since=data.since, until=data.until
            )
        except PulseError as exc:
            typed = {"since": form.get("since"), "until": form.get("until")}
            return await here.endpoint(endpoint, values=typed, refusal=Refusal.of(exc))
        return Redirect(f"{here.base}/webhooks/{endpoint.id}?replayed={count}", status_code=303)

    @get("/deliveries")
    async def deliveries_page(
        self,
        here: NamedDependency[_Here],
        endpoint_id: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        """The delivery log, newest first; blank filters (the filter form's "all") are none."""
        endpoint_id, status = endpoint_id or None, status or None
        listed = await here.webhooks.list_deliveries(
            here.project, endpoint_id=endpoint_id, status=status, limit=PAGE_SIZE, cursor=cursor
        )
        filters = {k: v for k, v in (("endpoint_id", endpoint_id), ("status", status)) if v}
        base = f"{here.base}/deliveries"
        return here.page(
            "webhooks_deliveries.html",
            deliveries=listed.items,
            next_cursor=listed.next_cursor,
            base_url=f"{base}?{urlencode(filters)}" if filters else base,
            endpoint_filter=endpoint_id or "",
            status_filter=status or "",
            statuses=DELIVERY_STATUSES,
            endpoints=await here.named_endpoints(),
        )

    @get("/deliveries/{delivery_id:str}")
    async def delivery_page(
        self, delivery_id: FromPath[str], here: NamedDependency[_Here]
    ) -> Template:
        """A delivery with every attempt, as ``GET /v1/webhooks/deliveries/{id}``."""
        delivery = await here.webhooks.get_delivery(here.project, delivery_id)
        endpoint = (await here.named_endpoints()).get(delivery.endpoint_id)
        return here.page("webhooks_delivery.html", delivery=delivery, endpoint=endpoint)

    @post("/deliveries/{delivery_id:str}/retry")
    async def retry_delivery(
        self, delivery_id: FromPath[str], editable: NamedDependency[_Here]
    ) -> Redirect:
        delivery = await editable.webhooks.retry_delivery(editable.project, delivery_id)
        return _to(f"{editable.base}/deliveries/{delivery.id}", "queued")

    @get("/events")
    async def events_page(
        self,
        here: NamedDependency[_Here],
        event_log: NamedDependency[EventLog],
        type_: Annotated[str | None, QueryParameter(name="type")] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        """The project's events (kept 30 days), newest first, as ``GET /v1/events``."""
        wanted = [type_] if type_ else []
        listed = await event_log.list(here.project, types=wanted, limit=PAGE_SIZE, cursor=cursor)
        base = f"{here.base}/events"
        return here.page(
            "webhooks_events.html",
            events=[(e, _excerpt(e)) for e in listed.items],
            next_cursor=listed.next_cursor,
            base_url=f"{base}?{urlencode({'type': type_})}" if type_ else base,
            type_filter=type_ or "",
            event_types=EVENT_TYPES,
        )


def _ticked(form: Form) -> bool:
    return form.get("enabled") == "true"


def _utc(value: str) -> str:
    """A ``datetime-local`` field's value (minutes, no zone) as an RFC 3339 time in UTC."""
    if _LOCAL_MINUTES.match(value):
        value += ":00"
    return value if _ZONE.search(value) else f"{value}Z"


def _values(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
    }


def _form_values(form: Form) -> dict[str, Any]:
    return {
        "url": form.get("url"),
        "description": form.get("description"),
        "event_types": form.every("event_types"),
        "enabled": _ticked(form),
    }


def _excerpt(event: Event) -> str:
    text = json.dumps(event.data, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= DATA_EXCERPT else f"{text[: DATA_EXCERPT - 1]}…"
