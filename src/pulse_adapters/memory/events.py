"""In-memory event log, webhook endpoints and deliveries (:mod:`pulse_core.ports.events`).

Each method runs without awaiting anything, so under asyncio it is atomic: ``add``'s
"already stored?" check and its write cannot interleave with another task's, nor an
endpoint's write and its audit record (appended to the shared ``audit_log``, see
:mod:`pulse_adapters.memory.audit`). Lists sort on every call; fine for tests and
embedding, where a project holds few objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from pulse_adapters.memory.audit import InMemoryAuditRepository
from pulse_core.errors import Conflict, NotFound
from pulse_core.models.audit import AuditRecord
from pulse_core.models.events import (
    UNSENT_STATUSES,
    Delivery,
    DeliveryStatus,
    Event,
    WebhookEndpoint,
)
from pulse_core.ports.events import (
    DeliveryRepository,
    EventRepository,
    WebhookEndpointRepository,
    kept_delivery,
    kept_endpoint,
    purge_bound,
)

T = TypeVar("T", Event, WebhookEndpoint, Delivery)


def _newest_first(
    rows: Iterable[T], keep: Callable[[T], bool], before: str | None, limit: int
) -> list[T]:
    page = sorted(
        (r for r in rows if keep(r) and (before is None or r.id < before)),
        key=lambda r: r.id,
        reverse=True,
    )
    return page[: max(limit, 0)]


class InMemoryEventRepository(EventRepository):
    def __init__(self) -> None:
        self._by_id: dict[str, Event] = {}

    async def add(self, event: Event) -> bool:
        if event.id in self._by_id:
            return False
        self._by_id[event.id] = event
        return True

    async def get(self, project_id: str, event_id: str) -> Event | None:
        event = self._by_id.get(event_id)
        return event if event is not None and event.project_id == project_id else None

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
        wanted = frozenset(types)

        def keep(e: Event) -> bool:
            return (
                e.project_id == project_id
                and (not wanted or e.type in wanted)
                and (since is None or e.timestamp >= since)
                and (until is None or e.timestamp < until)
            )

        return _newest_first(self._by_id.values(), keep, before, limit)

    async def purge_before(self, at: datetime) -> int:
        old = [e.id for e in self._by_id.values() if e.timestamp < at]
        for event_id in old:
            del self._by_id[event_id]
        return len(old)


class InMemoryWebhookEndpointRepository(WebhookEndpointRepository):
    def __init__(self, *, audit_log: InMemoryAuditRepository | None = None) -> None:
        self._by_id: dict[str, WebhookEndpoint] = {}
        self._audit_log = audit_log if audit_log is not None else InMemoryAuditRepository()

    # Writes check with `_find` rather than awaiting `get`: an await between the check
    # and the write would let another task in (today's `get` never suspends, but
    # nothing promises it).
    def _find(self, project_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        endpoint = self._by_id.get(endpoint_id)
        return endpoint if endpoint is not None and endpoint.project_id == project_id else None

    async def add(self, endpoint: WebhookEndpoint, *, audit: AuditRecord | None = None) -> None:
        if endpoint.id in self._by_id:
            raise Conflict("webhook endpoint id already exists", field="id")
        self._by_id[endpoint.id] = endpoint
        if audit is not None:
            self._audit_log.append(audit)

    async def get(self, project_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return self._find(project_id, endpoint_id)

    async def list_page(
        self, project_id: str, *, before: str | None = None, limit: int
    ) -> list[WebhookEndpoint]:
        return _newest_first(
            self._by_id.values(), lambda e: e.project_id == project_id, before, limit
        )

    async def list_all(self, project_id: str) -> list[WebhookEndpoint]:
        return sorted(
            (e for e in self._by_id.values() if e.project_id == project_id), key=lambda e: e.id
        )

    async def update(self, endpoint: WebhookEndpoint, *, audit: AuditRecord | None = None) -> None:
        if self._find(endpoint.project_id, endpoint.id) is None:
            raise NotFound("webhook endpoint not found")
        self._by_id[endpoint.id] = endpoint
        if audit is not None:
            self._audit_log.append(audit)

    async def change(
        self,
        project_id: str,
        endpoint_id: str,
        change: Callable[[WebhookEndpoint], WebhookEndpoint],
        *,
        audit: AuditRecord | None = None,
    ) -> WebhookEndpoint | None:
        stored = self._find(project_id, endpoint_id)
        if stored is None:
            return None
        changed = kept_endpoint(stored, change(stored))
        if changed != stored:
            self._by_id[endpoint_id] = changed
            if audit is not None:
                self._audit_log.append(audit)
        return changed

    async def delete(
        self, project_id: str, endpoint_id: str, *, audit: AuditRecord | None = None
    ) -> bool:
        if self._find(project_id, endpoint_id) is None:
            return False
        del self._by_id[endpoint_id]
        if audit is not None:
            self._audit_log.append(audit)
        return True


class InMemoryDeliveryRepository(DeliveryRepository):
    def __init__(self) -> None:
        self._by_id: dict[str, Delivery] = {}

    async def add(self, delivery: Delivery) -> bool:
        if delivery.id in self._by_id:
            return False
        self._by_id[delivery.id] = delivery
        return True

    async def get(self, project_id: str, delivery_id: str) -> Delivery | None:
        delivery = self._by_id.get(delivery_id)
        return delivery if delivery is not None and delivery.project_id == project_id else None

    async def update(self, delivery: Delivery) -> None:
        if await self.get(delivery.project_id, delivery.id) is None:
            raise NotFound("delivery not found")
        self._by_id[delivery.id] = delivery

    async def change(
        self, project_id: str, delivery_id: str, change: Callable[[Delivery], Delivery]
    ) -> Delivery | None:
        # No await between the read and the write: nothing else runs in between.
        stored = await self.get(project_id, delivery_id)
        if stored is None:
            return None
        changed = kept_delivery(stored, change(stored))
        self._by_id[delivery_id] = changed
        return changed

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
        def keep(d: Delivery) -> bool:
            return (
                d.project_id == project_id
                and (endpoint_id is None or d.endpoint_id == endpoint_id)
                and (event_id is None or d.event_id == event_id)
                and (status is None or d.status == status)
            )

        return _newest_first(self._by_id.values(), keep, before, limit)

    async def drop_unsent(self, project_id: str, endpoint_id: str) -> int:
        return self._delete(
            lambda d: (
                d.project_id == project_id
                and d.endpoint_id == endpoint_id
                and d.status in UNSENT_STATUSES
            )
        )

    async def purge_before(self, at: datetime) -> int:
        cut = purge_bound(at)
        return self._delete(lambda d: d.id < cut)

    def _delete(self, doomed: Callable[[Delivery], bool]) -> int:
        gone = [d.id for d in self._by_id.values() if doomed(d)]
        for delivery_id in gone:
            del self._by_id[delivery_id]
        return len(gone)
