"""MongoDB event log, webhook endpoints and deliveries (:mod:`pulse_core.ports.events`).

Document layout (new collections; the Go service had no equivalent):

==================  ============================================================
collection          fields
==================  ============================================================
events              _id (id), project_id, type, timestamp, data {the event's JSON
                    object, as a subdocument}
webhook_endpoints   _id (id), project_id, url, description, event_types [..],
                    enabled, disabled_reason, secret, previous_secret,
                    previous_secret_expires_at, last_success_at, failing_since,
                    created_at, updated_at; audit_outbox [..] and deleted (a
                    tombstone) while an audited write is being recorded
webhook_deliveries  _id (id), project_id, endpoint_id, event_id, event_type,
                    status, attempts [{at, status_code, duration_ms, error,
                    response_excerpt}], next_attempt_at, created_at, updated_at
==================  ============================================================

As in :mod:`pulse_adapters.mongo.media_records`: None is never stored (an absent field
reads back as None; inside ``data`` nulls are kept, it is the customer's JSON),
datetimes are BSON dates (millisecond precision, read back timezone-aware UTC), every
call runs inside ``translate_errors`` under the database's operation timeout, and every
query is served by an index of :func:`event_indexes` (part of ``index_plan()``) with
exact bounds, sorted by ``_id`` on that index and limited (endpoint queries also skip
tombstones, a filter on what the bounds found: see ``MongoWebhookEndpointRepository``).

Events expire through the TTL index ``timestamp_1`` (``EVENT_RETENTION_DAYS``);
:meth:`MongoEventRepository.purge_before` exists for the port and uses the same index.
``add`` of an event or delivery is one ``insert_one``: the unique ``_id`` makes "already
stored?" and the write one atomic step, so of two workers applying the same input, one
stores it and the other gets False.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from pulse_adapters.mongo.changes import change_by_swap
from pulse_adapters.mongo.database import Document, MongoDatabase
from pulse_adapters.mongo.documents import document_fields, struct_fields, update_of
from pulse_adapters.mongo.errors import translate_errors
from pulse_adapters.mongo.indexes import (
    EVENTS,
    TOMBSTONE,
    WEBHOOK_DELIVERIES,
    WEBHOOK_ENDPOINTS,
    IndexSpec,
    index_plan,
)
from pulse_adapters.mongo.outbox import NOT_BURIED, Outbox, carrying, pushing
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

S = TypeVar("S", bound=msgspec.Struct)

_COLLECTIONS = (EVENTS, WEBHOOK_ENDPOINTS, WEBHOOK_DELIVERIES)


def event_indexes() -> tuple[IndexSpec, ...]:
    """The indexes these repositories rely on (part of ``index_plan()``, so
    ``MongoDatabase.ensure_indexes`` creates them with the others)."""
    return tuple(s for s in index_plan() if s.collection in _COLLECTIONS)


def _without_none(fields: Mapping[str, Any]) -> Document:
    return {k: v for k, v in fields.items() if v is not None}


def to_document(obj: Event | WebhookEndpoint | Delivery) -> Document:
    """The document of ``obj``: its fields, ``id`` as ``_id``, None values left out (of
    a delivery's attempts too, but never inside an event's ``data``)."""
    fields = msgspec.to_builtins(obj, builtin_types=(datetime,))
    document: Document = {"_id": fields.pop("id")}
    document.update(_without_none(fields))
    if "attempts" in document:
        document["attempts"] = [_without_none(a) for a in document["attempts"]]
    return document


def from_document(doc: Mapping[str, Any], model: type[S]) -> S:
    """The object stored in ``doc``; ``msgspec.ValidationError`` if it is corrupt.
    Fields Pulse does not model are ignored; absent optional fields take their default."""
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return msgspec.convert({**fields, "id": doc["_id"]}, model)


async def _insert_new(collection: AsyncCollection[Document], document: Document) -> bool:
    """Insert ``document``; False when its ``_id`` is taken (nothing written)."""
    try:
        with translate_errors(f"insert into {collection.name}"):
            await collection.insert_one(document)
    except Conflict as exc:
        if exc.field != "id":  # another unique index: a real conflict, not a repeat
            raise
        return False
    return True


async def _newest_first(
    collection: AsyncCollection[Document], query: Document, before: str | None, limit: int
) -> list[Document]:
    if limit <= 0:  # limit(0) is "no limit" to MongoDB
        return []
    if before is not None:
        query = {**query, "_id": {"$lt": before}}
    with translate_errors(f"list {collection.name}"):
        return await collection.find(query).sort("_id", DESCENDING).limit(limit).to_list()


async def _replace(collection: AsyncCollection[Document], document: Document, what: str) -> None:
    with translate_errors(f"update {collection.name}"):
        result = await collection.replace_one(
            {"_id": document["_id"], "project_id": document["project_id"]}, document
        )
    if result.matched_count == 0:
        raise NotFound(f"{what} not found")


class MongoEventRepository(EventRepository):
    """The event log in ``events``, expired by the TTL index ``timestamp_1``.

    A type filter is an equality (one type) or ``$in`` on ``project_id_1_type_1__id_1``,
    which MongoDB reads as one range per type merged in ``_id`` order; the time window
    is applied on the way, bounded by the 30 days an event is kept.
    """

    def __init__(self, db: MongoDatabase) -> None:
        self._events = db.collection(EVENTS)

    async def add(self, event: Event) -> bool:
        return await _insert_new(self._events, to_document(event))

    async def get(self, project_id: str, event_id: str) -> Event | None:
        with translate_errors(f"find in {EVENTS}"):
            doc = await self._events.find_one({"_id": event_id, "project_id": project_id})
        return None if doc is None else from_document(doc, Event)

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
        query: Document = {"project_id": project_id}
        distinct_types = list(dict.fromkeys(types))
        if len(distinct_types) == 1:
            query["type"] = distinct_types[0]
        elif distinct_types:
            query["type"] = {"$in": distinct_types}
        window: Document = {}
        if since is not None:
            window["$gte"] = since
        if until is not None:
            window["$lt"] = until
        if window:
            query["timestamp"] = window
        docs = await _newest_first(self._events, query, before, limit)
        return [from_document(d, Event) for d in docs]

    async def purge_before(self, at: datetime) -> int:
        with translate_errors(f"purge {EVENTS}"):
            result = await self._events.delete_many({"timestamp": {"$lt": at}})
        return result.deleted_count


class MongoWebhookEndpointRepository(WebhookEndpointRepository):
    """Webhook endpoints in ``webhook_endpoints``. The signing secrets are stored as they
    are: every delivery needs them to sign, so a hash would not do.

    Deleting goes through a tombstone (``deleted: true``, see
    :mod:`pulse_adapters.mongo.outbox`) so that the deletion's audit record is stored
    with it: every query here excludes tombstones, so to callers an endpoint is gone the
    moment it is tombstoned, and its id stays taken until it is buried.
    """

    def __init__(self, db: MongoDatabase) -> None:
        self._endpoints = db.collection(WEBHOOK_ENDPOINTS)
        self._outbox = Outbox(db)

    async def add(self, endpoint: WebhookEndpoint, *, audit: AuditRecord | None = None) -> None:
        with translate_errors(f"insert into {WEBHOOK_ENDPOINTS}"):
            await self._endpoints.insert_one(carrying(to_document(endpoint), audit))
        await self._outbox.deliver(self._endpoints, endpoint.id, audit)

    async def get(self, project_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        query = {"_id": endpoint_id, "project_id": project_id, **NOT_BURIED}
        with translate_errors(f"find in {WEBHOOK_ENDPOINTS}"):
            doc = await self._endpoints.find_one(query)
        return None if doc is None else from_document(doc, WebhookEndpoint)

    async def list_page(
        self, project_id: str, *, before: str | None = None, limit: int
    ) -> list[WebhookEndpoint]:
        query = {"project_id": project_id, **NOT_BURIED}
        docs = await _newest_first(self._endpoints, query, before, limit)
        return [from_document(d, WebhookEndpoint) for d in docs]

    async def list_all(self, project_id: str) -> list[WebhookEndpoint]:
        # Unbounded on purpose (the port's "a handful"): the fan-out must see them all.
        query = {"project_id": project_id, **NOT_BURIED}
        with translate_errors(f"list {WEBHOOK_ENDPOINTS}"):
            docs = await self._endpoints.find(query).sort("_id", ASCENDING).to_list()
        return [from_document(d, WebhookEndpoint) for d in docs]

    async def update(self, endpoint: WebhookEndpoint, *, audit: AuditRecord | None = None) -> None:
        query = {"_id": endpoint.id, "project_id": endpoint.project_id, **NOT_BURIED}
        with translate_errors(f"update {WEBHOOK_ENDPOINTS}"):
            result = await self._endpoints.update_one(query, _endpoint_update(endpoint, audit))
        if result.matched_count == 0:
            raise NotFound("webhook endpoint not found")
        await self._outbox.deliver(self._endpoints, endpoint.id, audit)

    async def change(
        self,
        project_id: str,
        endpoint_id: str,
        change: Callable[[WebhookEndpoint], WebhookEndpoint],
        *,
        audit: AuditRecord | None = None,
    ) -> WebhookEndpoint | None:
        # The query's NOT_BURIED is part of the swap's match: a tombstone set meanwhile
        # makes it miss, and the next read finds nothing.
        found = await change_by_swap(
            self._endpoints,
            {"_id": endpoint_id, "project_id": project_id, **NOT_BURIED},
            read=lambda doc: from_document(doc, WebhookEndpoint),
            change=lambda stored: kept_endpoint(stored, change(stored)),
            write=lambda changed: _endpoint_update(changed, audit),
            fields=document_fields(WebhookEndpoint),
            name=f"webhook endpoint {endpoint_id}",
        )
        if found is None:
            return None
        endpoint, wrote = found
        if wrote:
            await self._outbox.deliver(self._endpoints, endpoint_id, audit)
        return endpoint

    async def delete(
        self, project_id: str, endpoint_id: str, *, audit: AuditRecord | None = None
    ) -> bool:
        # Tombstone even without a record: the document may still carry records of
        # earlier writes, which the burial moves before removing it.
        query = {"_id": endpoint_id, "project_id": project_id, **NOT_BURIED}
        update = pushing({"$set": {TOMBSTONE: True}}, audit)
        with translate_errors(f"delete in {WEBHOOK_ENDPOINTS}"):
            result = await self._endpoints.update_one(query, update)
        if result.matched_count == 0:
            return False
        await self._outbox.finish_delete(self._endpoints, endpoint_id)
        return True


def _endpoint_update(endpoint: WebhookEndpoint, audit: AuditRecord | None) -> Document:
    """$set/$unset rather than a replacement: a replacement would drop the records that
    earlier writes still carry in the document's outbox."""
    document = to_document(endpoint)
    absent = (f for f in struct_fields(WebhookEndpoint) if f != "id" and f not in document)
    return pushing(update_of({**document, **dict.fromkeys(absent)}), audit)


class MongoDeliveryRepository(DeliveryRepository):
    """Deliveries in ``webhook_deliveries``, their attempts embedded: the retry
    schedule's few, plus any manual retries, so the document stays small."""

    def __init__(self, db: MongoDatabase) -> None:
        self._deliveries = db.collection(WEBHOOK_DELIVERIES)

    async def add(self, delivery: Delivery) -> bool:
        return await _insert_new(self._deliveries, to_document(delivery))

    async def get(self, project_id: str, delivery_id: str) -> Delivery | None:
        with translate_errors(f"find in {WEBHOOK_DELIVERIES}"):
            doc = await self._deliveries.find_one({"_id": delivery_id, "project_id": project_id})
        return None if doc is None else from_document(doc, Delivery)

    async def update(self, delivery: Delivery) -> None:
        await _replace(self._deliveries, to_document(delivery), "delivery")

    async def change(
        self, project_id: str, delivery_id: str, change: Callable[[Delivery], Delivery]
    ) -> Delivery | None:
        found = await change_by_swap(
            self._deliveries,
            {"_id": delivery_id, "project_id": project_id},
            read=lambda doc: from_document(doc, Delivery),
            change=lambda stored: kept_delivery(stored, change(stored)),
            write=to_document,
            fields=document_fields(Delivery),
            replace=True,
            name=f"delivery {delivery_id}",
        )
        return None if found is None else found[0]

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
        query: Document = {"project_id": project_id}
        filters = {"endpoint_id": endpoint_id, "event_id": event_id, "status": status}
        query.update(_without_none(filters))
        docs = await _newest_first(self._deliveries, query, before, limit)
        return [from_document(d, Delivery) for d in docs]

    async def drop_unsent(self, project_id: str, endpoint_id: str) -> int:
        unsent = {
            "project_id": project_id,
            "endpoint_id": endpoint_id,
            "status": {"$in": list(UNSENT_STATUSES)},
        }
        with translate_errors(f"delete in {WEBHOOK_DELIVERIES}"):
            result = await self._deliveries.delete_many(unsent)
        return result.deleted_count

    async def purge_before(self, at: datetime) -> int:
        cut = purge_bound(at)
        with translate_errors(f"purge {WEBHOOK_DELIVERIES}"):
            result = await self._deliveries.delete_many({"_id": {"$lt": cut}})
        return result.deleted_count
