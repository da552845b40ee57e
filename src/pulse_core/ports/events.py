"""Persistence of the event log, webhook endpoints and their deliveries.

Shared rules (see also :mod:`pulse_core.ports.repositories`): every method is scoped by
``project_id``, and an object of another project is never returned or changed (``get``
answers None, ``update`` raises ``NotFound``). Writes that take ``audit`` store it with
the change (see :mod:`pulse_core.ports.repositories`). Lists are newest first: ``before`` is a
cursor (the last id of the previous page; None from the newest) and at most ``limit``
objects come back. A backend that is down raises ``Unavailable`` within its timeout.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from datetime import datetime

from pulse_core import ids
from pulse_core.models.audit import AuditRecord
from pulse_core.models.events import Delivery, DeliveryStatus, Event, WebhookEndpoint
from pulse_core.ports.changes import kept


class EventRepository(abc.ABC):
    """The event log of each project, kept ``EVENT_RETENTION_DAYS`` (backends expire
    older events: a TTL index, or :meth:`purge_before` on a schedule)."""

    @abc.abstractmethod
    async def add(self, event: Event) -> bool:
        """Store ``event``; False (and nothing written) when its id is already stored,
        so that applying the same input twice is harmless."""

    @abc.abstractmethod
    async def get(self, project_id: str, event_id: str) -> Event | None:
        """The project's event, or None."""

    @abc.abstractmethod
    async def list_page(
        self,
        project_id: str,
        *,
        types: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        before: str | None = None,
        limit: int,
    ) -> list[Event]:
        """The project's events, newest first (id descending), of ``types`` when given,
        with ``since <= timestamp < until``, and ids below ``before``."""

    @abc.abstractmethod
    async def purge_before(self, at: datetime) -> int:
        """Delete every event with ``timestamp < at``; how many went."""


class WebhookEndpointRepository(abc.ABC):
    """A project's webhook endpoints. Deleting one deletes it (no soft delete)."""

    @abc.abstractmethod
    async def add(self, endpoint: WebhookEndpoint, *, audit: AuditRecord | None = None) -> None:
        """Store ``endpoint``; ``Conflict`` if its id exists."""

    @abc.abstractmethod
    async def get(self, project_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """The project's endpoint, or None."""

    @abc.abstractmethod
    async def list_page(
        self, project_id: str, *, before: str | None = None, limit: int
    ) -> list[WebhookEndpoint]:
        """The project's endpoints, newest first."""

    @abc.abstractmethod
    async def list_all(self, project_id: str) -> list[WebhookEndpoint]:
        """Every endpoint of the project (a project has a handful), oldest first: what an
        event fans out to."""

    @abc.abstractmethod
    async def update(self, endpoint: WebhookEndpoint, *, audit: AuditRecord | None = None) -> None:
        """Replace the endpoint with the same project and id; ``NotFound`` if absent."""

    @abc.abstractmethod
    async def change(
        self,
        project_id: str,
        endpoint_id: str,
        change: Callable[[WebhookEndpoint], WebhookEndpoint],
        *,
        audit: AuditRecord | None = None,
    ) -> WebhookEndpoint | None:
        """Replace the project's endpoint with ``change(stored)`` as one step, and return
        what is stored now; None (``change`` not called) when there is no such endpoint.

        No other write to the endpoint lands between the read ``change`` is given and
        the write of its answer: a worker recording the endpoint's health while its
        owner rotates the secret or changes the URL keeps the owner's change. ``change``
        must be a pure function of the endpoint, quick, and keep its id and project
        (``ValueError`` otherwise): an adapter may call it inside its transaction, on
        another thread, or again after losing a race. What ``change`` raises
        propagates and nothing is written. Answering ``stored`` itself writes nothing,
        ``audit`` included."""

    @abc.abstractmethod
    async def delete(
        self, project_id: str, endpoint_id: str, *, audit: AuditRecord | None = None
    ) -> bool:
        """Delete the endpoint; whether it existed (no record when it did not)."""


def kept_endpoint(stored: WebhookEndpoint, changed: WebhookEndpoint) -> WebhookEndpoint:
    """What :meth:`WebhookEndpointRepository.change` asks of its function; adapters call it."""
    return kept(
        stored,
        changed,
        ("id", "project_id"),
        "an endpoint change must keep the endpoint's id and project",
    )


def purge_bound(at: datetime) -> str:
    """What :meth:`DeliveryRepository.purge_before` deletes below: the lowest delivery id
    stamped ``at``; adapters call it."""
    return ids.first_at(ids.DELIVERY, now_ms=ids.ms_of(at))


def kept_delivery(stored: Delivery, changed: Delivery) -> Delivery:
    """What :meth:`DeliveryRepository.change` asks of its function; adapters call it."""
    return kept(
        stored,
        changed,
        ("id", "project_id", "endpoint_id", "event_id"),
        "a delivery change must keep the delivery's id, project, endpoint and event",
    )


class DeliveryRepository(abc.ABC):
    """Deliveries of events to endpoints, with their attempts."""

    @abc.abstractmethod
    async def add(self, delivery: Delivery) -> bool:
        """Store ``delivery``; False (nothing written) when its id is already stored."""

    @abc.abstractmethod
    async def get(self, project_id: str, delivery_id: str) -> Delivery | None:
        """The project's delivery, or None."""

    @abc.abstractmethod
    async def update(self, delivery: Delivery) -> None:
        """Replace the delivery with the same project and id; ``NotFound`` if absent."""

    @abc.abstractmethod
    async def change(
        self, project_id: str, delivery_id: str, change: Callable[[Delivery], Delivery]
    ) -> Delivery | None:
        """Replace the project's delivery with ``change(stored)`` as one step, and return
        what is stored now; None (``change`` not called) when there is no such delivery.

        No other write to the delivery lands between the read ``change`` is given and the
        write of its answer: two workers recording attempts of one delivery at once both
        keep theirs. ``change`` must be a pure function of the delivery, quick, and keep
        its id, project, endpoint and event (``ValueError`` otherwise): an adapter may
        call it inside its transaction, on another thread, or again after losing a race,
        and need not rewrite what identifies the delivery. Answering ``stored`` itself
        writes nothing.
        """

    @abc.abstractmethod
    async def list_page(
        self,
        project_id: str,
        *,
        endpoint_id: str | None = None,
        event_id: str | None = None,
        status: DeliveryStatus | None = None,
        before: str | None = None,
        limit: int,
    ) -> list[Delivery]:
        """The project's deliveries, newest first, filtered by whichever is given."""

    @abc.abstractmethod
    async def drop_unsent(self, project_id: str, endpoint_id: str) -> int:
        """Delete the endpoint's deliveries that are still to be attempted
        (``UNSENT_STATUSES``): the endpoint is being deleted. Those that succeeded or died stay
        in the log, for :meth:`purge_before` to remove. How many went."""

    @abc.abstractmethod
    async def purge_before(self, at: datetime) -> int:
        """Delete, across projects, every delivery whose id sorts below
        :func:`purge_bound` of ``at``; how many went. A delivery's id carries its event's
        time (``delivery_id_of``), so purging with the event log's cut-off keeps each
        delivery exactly as long as its event."""
