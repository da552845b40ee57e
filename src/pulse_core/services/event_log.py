"""A project's events: recorded once, fanned out to its endpoints, read back.

:meth:`EventLog.publish` is the one way an event enters Pulse, whoever caused it (a
LiveKit webhook, a test, a quota). It is idempotent, so the job that publishes may run
twice: the event and each delivery have derived ids, so a second run creates nothing.
Whoever creates a delivery queues it. A run that follows a crash (the job was handed out
again, ``requeue_pending``) also queues again what is still ``pending``: the first run
may have died between creating a delivery and queueing it. A delivery queued twice is
sent at least once, which is the promise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from pulse_core import ids
from pulse_core.errors import InvalidInput
from pulse_core.models import Page, Project
from pulse_core.models.events import EVENT_TYPES, Delivery, Event, Outgoing, WebhookEndpoint
from pulse_core.models.jobs import QUEUE, DeliverWebhook, encode_job
from pulse_core.ports.clock import Clock
from pulse_core.ports.events import DeliveryRepository, EventRepository, WebhookEndpointRepository
from pulse_core.ports.queue import JobQueue
from pulse_core.services import pagination, validation


def delivery_id_of(event_id: str, endpoint_id: str, *, now_ms: int) -> str:
    """The one delivery of ``event_id`` to ``endpoint_id``, whoever creates it first."""
    return ids.derived_id(ids.DELIVERY, now_ms=now_ms, seed=f"{event_id}:{endpoint_id}")


def check_event_types(values: Sequence[str], field: str = "event_types") -> tuple[str, ...]:
    """Known event types, without duplicates, in the order given."""
    seen: dict[str, None] = {}
    for i, value in enumerate(values):
        if value not in EVENT_TYPES:
            raise InvalidInput(
                f"{field}[{i}] must be one of {', '.join(EVENT_TYPES)}", field=f"{field}[{i}]"
            )
        seen[value] = None
    return tuple(seen)


_EVENT_TYPES: Final = frozenset(EVENT_TYPES)


def _check_event(event: Event) -> None:
    """What every reader of the log relies on (an embedder builds events by hand):
    ``InvalidInput`` rather than a log that no listing can read back."""
    if event.type not in _EVENT_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(EVENT_TYPES)}", field="type")
    if not ids.is_valid_id(event.id, ids.EVENT):
        raise InvalidInput("id must be an event id (evt_…)", field="id")
    validation.aware(event.timestamp, "timestamp")


class EventLog:
    def __init__(
        self,
        events: EventRepository,
        endpoints: WebhookEndpointRepository,
        deliveries: DeliveryRepository,
        queue: JobQueue,
        clock: Clock,
    ) -> None:
        self._events = events
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._queue = queue
        self._clock = clock

    async def publish(self, event: Event, *, requeue_pending: bool = False) -> list[Delivery]:
        """Record ``event`` (once) and create and queue a delivery to every enabled
        endpoint of its project that subscribes to its type. Returns the deliveries this
        call created (or found ``pending``, with ``requeue_pending``)."""
        created = await self._publish(event, requeue_pending=requeue_pending, queue=True)
        return [each.delivery for each in created]

    async def publish_unqueued(
        self, event: Event, *, requeue_pending: bool = False
    ) -> list[Outgoing]:
        """:meth:`publish` without queueing: the caller attempts the deliveries itself
        and must queue what it does not finish (a worker applying an event delivers its
        first attempts inline), given the endpoint and event each was made from."""
        return await self._publish(event, requeue_pending=requeue_pending, queue=False)

    async def _publish(self, event: Event, *, requeue_pending: bool, queue: bool) -> list[Outgoing]:
        _check_event(event)
        await self._events.add(event)
        created = []
        for endpoint in await self._endpoints.list_all(event.project_id):
            if endpoint.enabled and endpoint.wants(event.type):
                delivery = await self.deliver(
                    event, endpoint, requeue_pending=requeue_pending, queue=queue
                )
                if delivery is not None:
                    created.append(Outgoing(delivery=delivery, endpoint=endpoint, event=event))
        return created

    async def deliver(
        self,
        event: Event,
        endpoint: WebhookEndpoint,
        *,
        requeue_pending: bool = False,
        queue: bool = True,
    ) -> Delivery | None:
        """Create the delivery of ``event`` to ``endpoint`` and queue it (unless
        ``queue`` is false); None when it existed already (unless ``requeue_pending``
        and it is still ``pending``)."""
        now = self._clock.now()
        delivery = Delivery(
            id=delivery_id_of(event.id, endpoint.id, now_ms=ids.ms_of(event.timestamp)),
            project_id=event.project_id,
            endpoint_id=endpoint.id,
            event_id=event.id,
            event_type=event.type,
            created_at=now,
            updated_at=now,
        )
        if not await self._deliveries.add(delivery):
            stored = await self._deliveries.get(event.project_id, delivery.id)
            if not requeue_pending or stored is None:
                return None
            if stored.status == "failed" and stored.next_attempt_at is not None:
                # Attempted inline by the run that died: its retry may never have been
                # queued. Queue it for when it was due (a duplicate is harmless).
                wait = (stored.next_attempt_at - now).total_seconds()
                await self.queue(stored, delay_seconds=max(0.0, wait))
                return None
            if stored.status != "pending":
                return None
            delivery = stored
        if queue:
            await self.queue(delivery)
        return delivery

    async def queue(self, delivery: Delivery, *, delay_seconds: float = 0) -> None:
        job = DeliverWebhook(project_id=delivery.project_id, delivery_id=delivery.id)
        await self._queue.enqueue(QUEUE, encode_job(job), delay_seconds=delay_seconds)

    async def list(
        self,
        project: Project,
        *,
        types: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Event]:
        """The project's events, newest first (kept 30 days)."""
        size = pagination.check_limit(limit)
        before = pagination.check_cursor(cursor, ids.EVENT)
        wanted = check_event_types(types, "type")
        if since is not None:
            validation.aware(since, "since")
        if until is not None:
            validation.aware(until, "until")
        if since is not None and until is not None and until <= since:
            raise InvalidInput("until must be after since", field="until")
        rows = await self._events.list_page(
            project.id, types=wanted, since=since, until=until, before=before, limit=size + 1
        )
        return pagination.page_of(rows, size, lambda e: e.id)
