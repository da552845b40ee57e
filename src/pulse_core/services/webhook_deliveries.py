"""A project's delivery log: list it, read one delivery, retry one, replay a window of
events to an endpoint (API.md, "Events and webhooks"). :class:`WebhookService` answers
these for its callers; this module holds how.

A replay walks the window newest first, at most :data:`MAX_REPLAY_EVENTS` events a call,
so that one request stays short however busy the project was. When it stops early its
answer carries a cursor, and the same call with that cursor goes on where it stopped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

from pulse_core import ids
from pulse_core.errors import Conflict, InvalidInput, NotFound, Unavailable
from pulse_core.models import Page, Project
from pulse_core.models.events import (
    DELIVERY_STATUSES,
    Delivery,
    DeliveryStatus,
    Event,
    WebhookEndpoint,
)
from pulse_core.ports.clock import Clock
from pulse_core.ports.events import DeliveryRepository, EventRepository, WebhookEndpointRepository
from pulse_core.services import pagination, validation
from pulse_core.services.delivery import ENDPOINT_DELETED, TEST_EVENT
from pulse_core.services.event_log import EventLog, delivery_id_of

#: Events one replay call walks at most; its answer's cursor goes on from there.
MAX_REPLAY_EVENTS: Final = 10_000
_REPLAY_PAGE: Final = 200


class Replayed(msgspec.Struct, frozen=True, kw_only=True):
    """What one replay call did: how many deliveries it queued, and where to go on
    (``next_cursor``, for the next call with the same window) when it stopped at
    :data:`MAX_REPLAY_EVENTS` before the window's oldest event; None when it is done."""

    count: int
    next_cursor: str | None = None


class WebhookDeliveries:
    """The delivery log of one service's endpoints; every method is scoped by project."""

    def __init__(
        self,
        endpoints: WebhookEndpointRepository,
        deliveries: DeliveryRepository,
        events: EventRepository,
        log: EventLog,
        clock: Clock,
    ) -> None:
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._events = events
        self._log = log
        self._clock = clock

    async def replay(
        self,
        endpoint: WebhookEndpoint,
        *,
        since: datetime,
        until: datetime | None = None,
        cursor: str | None = None,
    ) -> Replayed:
        """Deliver again to ``endpoint`` every event of ``[since, until)`` it subscribes
        to that did not succeed there, from the newest (or from ``cursor``, a previous
        call's ``next_cursor``) for at most :data:`MAX_REPLAY_EVENTS` events."""
        validation.aware(since, "since")
        if until is not None:
            validation.aware(until, "until")
        if until is None:  # now: a refusal names the field that was given
            until = self._clock.now()
            if until <= since:
                raise InvalidInput("since must be in the past", field="since")
        if until <= since:
            raise InvalidInput("until must be after since", field="until")
        before = pagination.check_cursor(cursor, ids.EVENT)
        count = 0
        for _ in range(MAX_REPLAY_EVENTS // _REPLAY_PAGE):
            page = await self._events.list_page(
                endpoint.project_id,
                types=endpoint.event_types,
                since=since,
                until=until,
                before=before,
                limit=_REPLAY_PAGE,
            )
            for event in page:
                if not _someone_elses_test(event, endpoint) and await self._replay_one(
                    event, endpoint
                ):
                    count += 1
            if len(page) < _REPLAY_PAGE:
                return Replayed(count=count)
            before = page[-1].id
        # The bound reached on a full page: whether older events remain is the next
        # call's to find (at worst it answers 0 and no cursor).
        return Replayed(count=count, next_cursor=before)

    async def start(self, event: Event, endpoint: WebhookEndpoint) -> Delivery | None:
        """:meth:`EventLog.deliver` for a caller answered at once (a test event, a
        replay). A delivery the job queue could not take is set ``dead`` before the
        ``Unavailable`` goes up: never attempted, it would otherwise show ``pending``
        for ever; a retry or a replay starts it again. (A worker's fan-out leaves it
        pending instead: its job runs again and queues it then.)"""
        try:
            return await self._log.deliver(event, endpoint)
        except Unavailable:
            now = self._clock.now()

            def given_up(stored: Delivery) -> Delivery:
                if stored.status != "pending" or stored.attempts:
                    return stored
                return msgspec.structs.replace(stored, status="dead", updated_at=now)

            await self._deliveries.change(event.project_id, queued_id(event, endpoint), given_up)
            raise

    async def _replay_one(self, event: Event, endpoint: WebhookEndpoint) -> bool:
        queued = await self.start(event, endpoint)
        if queued is not None:
            return True
        delivery = await self._deliveries.get(event.project_id, queued_id(event, endpoint))
        if delivery is None or delivery.status == "succeeded":
            return False
        await self._restart(delivery)
        return True

    async def list(
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

    async def get(self, project: Project, delivery_id: str) -> Delivery:
        delivery = None
        if ids.is_valid_id(delivery_id, ids.DELIVERY):
            delivery = await self._deliveries.get(project.id, delivery_id)
        if delivery is None:
            raise NotFound("delivery not found")
        return delivery

    async def retry(self, project: Project, delivery_id: str) -> Delivery:
        """Attempt the same delivery again now, with a fresh retry schedule; ``Conflict``
        when its endpoint was deleted (the log keeps such deliveries)."""
        delivery = await self.get(project, delivery_id)
        if await self._endpoints.get(project.id, delivery.endpoint_id) is None:
            raise Conflict(ENDPOINT_DELETED)
        return await self._restart(delivery)

    async def _restart(self, delivery: Delivery) -> Delivery:
        now = self._clock.now()

        def restart(stored: Delivery) -> Delivery:
            # On the delivery as stored: an attempt a worker records meanwhile stays.
            return msgspec.structs.replace(
                stored,
                status="pending",
                round_start=len(stored.attempts),
                next_attempt_at=None,
                updated_at=now,
            )

        restarted = await self._deliveries.change(delivery.project_id, delivery.id, restart)
        if restarted is None:
            raise NotFound("delivery not found")
        try:
            await self._log.queue(restarted)
        except Unavailable:
            # Not queued, so never attempted: put it back as it was, or it would show
            # "pending" for ever behind the caller's 503 (unless a worker got to it).
            def undo(stored: Delivery) -> Delivery:
                if stored.status != "pending" or stored.attempts != restarted.attempts:
                    return stored
                return msgspec.structs.replace(
                    stored,
                    status=delivery.status,
                    round_start=delivery.round_start,
                    next_attempt_at=delivery.next_attempt_at,
                    updated_at=delivery.updated_at,
                )

            await self._deliveries.change(delivery.project_id, delivery.id, undo)
            raise
        return restarted


def _someone_elses_test(event: Event, endpoint: WebhookEndpoint) -> bool:
    """A ``webhook.test`` event is its endpoint's alone, replays included."""
    return event.type == TEST_EVENT and event.data.get("endpoint_id") != endpoint.id


def queued_id(event: Event, endpoint: WebhookEndpoint) -> str:
    return delivery_id_of(event.id, endpoint.id, now_ms=ids.ms_of(event.timestamp))


def _status(value: str | None) -> DeliveryStatus | None:
    return value  # type: ignore[return-value]  # checked against DELIVERY_STATUSES first
