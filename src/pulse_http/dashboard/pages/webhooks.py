"""A project's webhooks: its endpoints (add, edit, enable, delete, rotate the secret,
send a test, replay), the delivery log with each attempt (retry), and its recent events.

Every action calls what the management routes call (:mod:`pulse_http.routes.webhooks`,
:mod:`pulse_http.routes.managed_webhooks`) with the same input structs, so a form and a
JSON body meet the same rules; writes go through ``projects.writable`` first, as there.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.models.events import DELIVERY_STATUSES, EVENT_TYPES, Event, WebhookEndpoint
from pulse_core.services.event_log import EventLog
from pulse_core.services.webhook_deliveries import MAX_REPLAY_EVENTS
from pulse_core.services.webhooks import DEFAULT_ROTATION_GRACE_SECONDS, WebhookService
from pulse_http.dashboard.forms import (
    SHOWN,
    Form,
    Refusal,
    edits,
    read_form,
    shown_field,
    utc_text,
)
from pulse_http.dashboard.pages.context import ProjectPage
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.session import PATH
from pulse_http.routes.webhooks import create, rotate
from pulse_http.schemas.webhooks import CreateEndpoint, Replay, RotateSecret, UpdateEndpoint

Req = Request[Any, Any, Any]
#: The router's ``here`` (reading) or ``editable`` (changing): see :mod:`.context`.
ThisProject = NamedDependency[ProjectPage]
Webhooks = NamedDependency[WebhookService]
#: Deliveries shown on an endpoint's own page (the log has them all).
RECENT = 10
#: How much of an event's data the events list shows.
DATA_EXCERPT = 200


def _to(url: str, notice: str, **query: str) -> Redirect:
    return Redirect(f"{url}?{urlencode({**query, 'notice': notice})}", status_code=303)


class WebhookPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}"

    @get("/webhooks")
    async def endpoints_page(
        self, here: ThisProject, webhooks: Webhooks, cursor: FromQuery[str | None] = None
    ) -> Template:
        return await _endpoints(here, webhooks, cursor=cursor)

    @post("/webhooks")
    async def create_endpoint(
        self, request: Req, editable: ThisProject, webhooks: Webhooks
    ) -> Template:
        form = await read_form(request)
        try:
            data = form.to(CreateEndpoint, lists=["event_types"], enabled=_ticked(form))
            created = await create(webhooks, editable.project, data, editable.viewer.caller())
        except PulseError as exc:
            values = _form_values(form)
            return await _endpoints(editable, webhooks, values=values, refusal=Refusal.of(exc))
        heading = f"Webhook endpoint {created.url} added"
        return _secret(editable, heading, created.secret, created.id)

    @get("/webhooks/{endpoint_id:str}")
    async def endpoint_page(
        self,
        *,
        endpoint_id: FromPath[str],
        here: ThisProject,
        webhooks: Webhooks,
        replayed: FromQuery[str | None] = None,
    ) -> Template:
        endpoint = await webhooks.get_endpoint(here.project, endpoint_id)
        return await _endpoint(here, webhooks, endpoint, replayed=replayed_count(replayed))

    @post("/webhooks/{endpoint_id:str}")
    async def update_endpoint(
        self, request: Req, endpoint_id: FromPath[str], editable: ThisProject, webhooks: Webhooks
    ) -> Template | Redirect:
        """What the person changed in the form (:func:`_whole_endpoint`)."""
        form = await read_form(request)
        endpoint = await webhooks.get_endpoint(editable.project, endpoint_id)
        try:
            data = edits(form, _whole_endpoint)
            await webhooks.update_endpoint(
                editable.project, endpoint.id, data.to_patch(), by=editable.viewer.caller()
            )
        except PulseError as exc:
            values, refusal = _form_values(form), Refusal.of(exc)
            return await _endpoint(
                editable, webhooks, endpoint, values=values, refusal=refusal, shown=form.get(SHOWN)
            )
        return _to(editable.url(f"/webhooks/{endpoint.id}"), "saved")

    @post("/webhooks/{endpoint_id:str}/enabled")
    async def switch_endpoint(
        self, request: Req, endpoint_id: FromPath[str], editable: ThisProject, webhooks: Webhooks
    ) -> Redirect:
        """Enable or disable (the form's one hidden field), back to the list."""
        form = await read_form(request)
        data = form.to(UpdateEndpoint, enabled=form.get("enabled"))
        patch, by = data.to_patch(), editable.viewer.caller()
        await webhooks.update_endpoint(editable.project, endpoint_id, patch, by=by)
        return _to(editable.url("/webhooks"), "saved")

    @post("/webhooks/{endpoint_id:str}/delete")
    async def delete_endpoint(
        self, endpoint_id: FromPath[str], editable: ThisProject, webhooks: Webhooks
    ) -> Redirect:
        by = editable.viewer.caller()
        await webhooks.delete_endpoint(editable.project, endpoint_id, by=by)
        return _to(editable.url("/webhooks"), "deleted")

    @post("/webhooks/{endpoint_id:str}/rotate-secret")
    async def rotate_secret(
        self, request: Req, endpoint_id: FromPath[str], editable: ThisProject, webhooks: Webhooks
    ) -> Template:
        form = await read_form(request)
        endpoint = await webhooks.get_endpoint(editable.project, endpoint_id)
        try:
            data = form.to(RotateSecret)
            rotated = await rotate(
                webhooks, editable.project, endpoint.id, data, editable.viewer.caller()
            )
        except PulseError as exc:
            grace = {"grace_period_seconds": form.get("grace_period_seconds")}
            return await _endpoint(
                editable, webhooks, endpoint, values=grace, refusal=Refusal.of(exc)
            )
        expires = rotated.previous_secret_expires_at
        heading = f"New secret for {endpoint.url}"
        return _secret(
            editable, heading, rotated.secret, endpoint.id, expires_at=expires, rotated=True
        )

    @post("/webhooks/{endpoint_id:str}/test")
    async def send_test(
        self, endpoint_id: FromPath[str], editable: ThisProject, webhooks: Webhooks
    ) -> Redirect:
        """Queue a ``webhook.test`` event and show the endpoint's delivery log."""
        delivery = await webhooks.send_test(editable.project, endpoint_id)
        return _to(editable.url("/deliveries"), "queued", endpoint_id=delivery.endpoint_id)

    @post("/webhooks/{endpoint_id:str}/replay")
    async def replay(
        self, request: Req, endpoint_id: FromPath[str], editable: ThisProject, webhooks: Webhooks
    ) -> Template | Redirect:
        """``since`` and ``until`` are typed in UTC (the fields say so)."""
        form = await read_form(request)
        endpoint = await webhooks.get_endpoint(editable.project, endpoint_id)
        window: dict[str, Any] = {
            k: utc_text(form.get(k)) for k in ("since", "until") if form.get(k)
        }
        typed = {"since": form.get("since"), "until": form.get("until")}
        try:
            data = form.to(Replay, **window)
            replayed = await webhooks.replay(
                editable.project,
                endpoint.id,
                since=data.since,
                until=data.until,
                cursor=data.cursor,
            )
        except PulseError as exc:
            return await _endpoint(
                editable, webhooks, endpoint, values=typed, refusal=Refusal.of(exc)
            )
        if replayed.next_cursor is not None:
            # The page itself, not a redirect: its "replay the rest" form carries the
            # window and where this call stopped.
            rest = {**typed, "cursor": replayed.next_cursor}
            return await _endpoint(
                editable, webhooks, endpoint, replayed=replayed.count, replay_rest=rest
            )
        back = editable.url(f"/webhooks/{endpoint.id}")
        return Redirect(f"{back}?replayed={replayed.count}", status_code=303)

    @get("/deliveries")
    async def deliveries_page(
        self,
        *,
        here: ThisProject,
        webhooks: Webhooks,
        endpoint_id: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        """The delivery log, newest first; blank filters (the filter form's "all") are none."""
        endpoint_id, status = endpoint_id or None, status or None
        listed = await webhooks.list_deliveries(
            here.project, endpoint_id=endpoint_id, status=status, limit=PAGE_SIZE, cursor=cursor
        )
        filters = {k: v for k, v in (("endpoint_id", endpoint_id), ("status", status)) if v}
        base = here.url("/deliveries")
        return here.render(
            "webhooks_deliveries.html",
            deliveries=listed.items,
            next_cursor=listed.next_cursor,
            base_url=f"{base}?{urlencode(filters)}" if filters else base,
            endpoint_filter=endpoint_id or "",
            status_filter=status or "",
            statuses=DELIVERY_STATUSES,
            endpoints=await _named_endpoints(here, webhooks),
        )

    @get("/deliveries/{delivery_id:str}")
    async def delivery_page(
        self, delivery_id: FromPath[str], here: ThisProject, webhooks: Webhooks
    ) -> Template:
        """A delivery with every attempt, as ``GET /v1/webhooks/deliveries/{id}``."""
        delivery = await webhooks.get_delivery(here.project, delivery_id)
        endpoint = (await _named_endpoints(here, webhooks)).get(delivery.endpoint_id)
        return here.render("webhooks_delivery.html", delivery=delivery, endpoint=endpoint)

    @post("/deliveries/{delivery_id:str}/retry")
    async def retry_delivery(
        self, delivery_id: FromPath[str], editable: ThisProject, webhooks: Webhooks
    ) -> Redirect:
        delivery = await webhooks.retry_delivery(editable.project, delivery_id)
        return _to(editable.url(f"/deliveries/{delivery.id}"), "queued")

    @get("/events")
    async def events_page(
        self,
        *,
        here: ThisProject,
        event_log: NamedDependency[EventLog],
        type_: Annotated[str | None, QueryParameter(name="type")] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        """The project's events (kept 30 days), newest first, as ``GET /v1/events``."""
        wanted = [type_] if type_ else []
        listed = await event_log.list(here.project, types=wanted, limit=PAGE_SIZE, cursor=cursor)
        base = here.url("/events")
        return here.render(
            "webhooks_events.html",
            events=[(e, _excerpt(e)) for e in listed.items],
            next_cursor=listed.next_cursor,
            base_url=f"{base}?{urlencode({'type': type_})}" if type_ else base,
            type_filter=type_ or "",
            event_types=EVENT_TYPES,
        )


def replayed_count(text: str | None) -> int | None:
    """The count a replay's redirect put in ``?replayed=``, for its notice; None (no
    notice) for anything a replay cannot have queued: a link can make the page say
    nothing else than "N events queued", with N from 0 to the most one replay queues."""
    # ASCII digits only (no sign, no space, no other script's digits), and no longer
    # than the bound: a huge text is refused before it is converted.
    if text is None or not (text.isascii() and text.isdigit()):
        return None
    if len(text) > len(str(MAX_REPLAY_EVENTS)) or int(text) > MAX_REPLAY_EVENTS:
        return None
    return int(text)


async def _endpoints(
    here: ProjectPage,
    webhooks: WebhookService,
    *,
    values: dict[str, Any] | None = None,
    refusal: Refusal | None = None,
    cursor: str | None = None,
) -> Template:
    """The endpoints and the form to add one (blank, or as typed when refused)."""
    listed = await webhooks.list_endpoints(here.project, limit=PAGE_SIZE, cursor=cursor)
    blank = {"url": "", "description": "", "event_types": [], "enabled": True}
    return here.render(
        "webhooks.html",
        refusal=refusal,
        endpoints=listed.items,
        next_cursor=listed.next_cursor,
        event_types=EVENT_TYPES,
        values=values or blank,
    )


async def _endpoint(
    here: ProjectPage,
    webhooks: WebhookService,
    endpoint: WebhookEndpoint,
    *,
    values: dict[str, Any] | None = None,
    refusal: Refusal | None = None,
    replayed: int | None = None,
    replay_rest: dict[str, str] | None = None,
    shown: str | None = None,
) -> Template:
    """An endpoint's page: its form (what was typed on top, and ``shown``, what the page
    first showed, kept through a refusal), its latest deliveries."""
    recent = await webhooks.list_deliveries(here.project, endpoint_id=endpoint.id, limit=RECENT)
    return here.render(
        "webhooks_endpoint.html",
        refusal=refusal,
        endpoint=endpoint,
        deliveries=recent.items,
        more_deliveries=recent.next_cursor is not None,
        event_types=EVENT_TYPES,
        values={**_values(endpoint), **(values or {})},
        shown=shown_field(_values(endpoint)) if shown is None else shown,
        default_grace=DEFAULT_ROTATION_GRACE_SECONDS,
        grace_until=webhooks.grace_until(endpoint),
        replayed=replayed,
        replay_rest=replay_rest,
    )


def _secret(
    here: ProjectPage,
    heading: str,
    secret: str,
    endpoint_id: str,
    *,
    expires_at: datetime | None = None,
    rotated: bool = False,
) -> Template:
    """A secret shown once; the browser's history holds the endpoint's page instead."""
    return here.render(
        "webhooks_secret.html",
        status=200 if rotated else 201,
        heading=heading,
        secret=secret,
        expires_at=expires_at,
        rotated=rotated,
        replace_url=here.url(f"/webhooks/{endpoint_id}"),
    )


async def _named_endpoints(
    here: ProjectPage, webhooks: WebhookService
) -> dict[str, WebhookEndpoint]:
    """The project's endpoints by id, to name them in the log (a project has at most
    20: one page)."""
    listed = await webhooks.list_endpoints(here.project, limit=PAGE_SIZE)
    return {e.id: e for e in listed.items}


def _ticked(form: Form) -> bool:
    return form.get("enabled") == "true"


def _values(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
    }


def _whole_endpoint(form: Form) -> UpdateEndpoint:
    """The endpoint form as the endpoint should be: a cleared description is cleared,
    no type ticked is every type (as ``event_types: []`` in the API)."""
    whole: dict[str, Any] = {"url": form.get("url"), "description": form.get("description")}
    return form.to(UpdateEndpoint, lists=["event_types"], enabled=_ticked(form), **whole)


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
