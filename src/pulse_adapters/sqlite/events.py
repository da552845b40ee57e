"""SQLite event log and webhook deliveries: tables ``events`` and ``webhook_deliveries``
(migration 4 of :mod:`pulse_adapters.sqlite.schema`; its endpoints are
:mod:`pulse_adapters.sqlite.webhook_endpoints`).

As for the other repositories, the looked-up and ordered fields are real, indexed
columns and the whole struct is msgspec JSON in ``data``. Every read and write filters on
``project_id``, so another project's id finds nothing. Lists walk an index backwards from
the cursor (``id < ?``), so newest-first pages need no sort. An event's time is
``timestamp_us``, exact integer microseconds since the epoch (UTC), for the time window
and :meth:`SqliteEventRepository.purge_before`; deliveries are purged along their
primary key, whose ids carry their event's time.

``add`` of an event or a delivery is one ``INSERT ... ON CONFLICT (id) DO NOTHING``: the
"already stored?" answer and the write are one statement, so two workers applying the
same input at once store it once, and exactly one of them gets True.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_core.errors import NotFound
from pulse_core.models.events import UNSENT_STATUSES, Delivery, DeliveryStatus, Event
from pulse_core.ports.events import (
    DeliveryRepository,
    EventRepository,
    kept_delivery,
    purge_bound,
)

_ENCODER = msgspec.json.Encoder()
_EVENT = msgspec.json.Decoder(Event)
_DELIVERY = msgspec.json.Decoder(Delivery)

# Above every id, for "from the newest" (`id < ?` stays one index range): ids are ASCII,
# and SQLite compares text as UTF-8 bytes, where U+10FFFF sorts after all of ASCII.
_NEWEST = "\U0010ffff"

# Rows deleted per transaction by the bulk deletes (old events, an endpoint's
# deliveries): each batch commits on its own, so a big backlog never holds the write lock
# for long, and the progress made survives a batch that times out.
DELETE_BATCH = 2000

# The queries, named so that tests can check each one is served by an index.
EVENT_INSERT = (
    "INSERT INTO events (id, project_id, type, timestamp_us, data) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO NOTHING"
)
EVENT_GET = "SELECT data FROM events WHERE id = ? AND project_id = ?"
EVENT_LIST = (
    "SELECT id, data FROM events"
    " WHERE project_id = :project_id AND id < :before"
    " AND (:since IS NULL OR timestamp_us >= :since)"
    " AND (:until IS NULL OR timestamp_us < :until)"
    " ORDER BY id DESC LIMIT :limit"
)
# One type per statement, on (project_id, type, id): several types are several such
# reads merged (like MongoDB's SORT_MERGE), each bounded by the limit, where a single
# `type IN (...)` would read every matching row of the project and sort them.
EVENT_LIST_OF_TYPE = (
    "SELECT id, data FROM events"
    " WHERE project_id = :project_id AND type = :type AND id < :before"
    " AND (:since IS NULL OR timestamp_us >= :since)"
    " AND (:until IS NULL OR timestamp_us < :until)"
    " ORDER BY id DESC LIMIT :limit"
)
EVENT_PURGE = (
    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE timestamp_us < ? LIMIT ?)"
)

DELIVERY_INSERT = (
    "INSERT INTO webhook_deliveries (id, project_id, endpoint_id, event_id, status, data)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)
DELIVERY_GET = "SELECT data FROM webhook_deliveries WHERE id = ? AND project_id = ?"
DELIVERY_UPDATE = (
    "UPDATE webhook_deliveries SET endpoint_id = ?, event_id = ?, status = ?, data = ?"
    " WHERE id = ? AND project_id = ?"
)
# What a change may alter (it keeps the endpoint and event): every indexed column named
# in SET costs its index an entry removed and one inserted, even when the value is equal.
DELIVERY_CHANGE = (
    "UPDATE webhook_deliveries SET status = ?, data = ? WHERE id = ? AND project_id = ?"
)
DELIVERY_DROP_UNSENT = (
    "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries"
    " WHERE project_id = ? AND endpoint_id = ? AND status IN (?, ?) LIMIT ?)"
)
DELIVERY_PURGE = (
    "DELETE FROM webhook_deliveries WHERE id IN"
    " (SELECT id FROM webhook_deliveries WHERE id < ? LIMIT ?)"
)
# Every filter is in every statement; what differs is the equality written into the
# index range, so that each statement walks its own index: the most selective filter
# given picks the statement (an event has a handful of deliveries, an endpoint many).
DELIVERY_LIST = (
    "SELECT data FROM webhook_deliveries"
    " WHERE project_id = :project_id AND id < :before"
    " AND (:endpoint_id IS NULL OR endpoint_id = :endpoint_id)"
    " AND (:event_id IS NULL OR event_id = :event_id)"
    " AND (:status IS NULL OR status = :status)"
    " ORDER BY id DESC LIMIT :limit"
)
DELIVERY_LIST_OF_EVENT = (
    "SELECT data FROM webhook_deliveries"
    " WHERE project_id = :project_id AND event_id = :event_id AND id < :before"
    " AND (:endpoint_id IS NULL OR endpoint_id = :endpoint_id)"
    " AND (:event_id IS NULL OR event_id = :event_id)"
    " AND (:status IS NULL OR status = :status)"
    " ORDER BY id DESC LIMIT :limit"
)
DELIVERY_LIST_OF_ENDPOINT = (
    "SELECT data FROM webhook_deliveries"
    " WHERE project_id = :project_id AND endpoint_id = :endpoint_id AND id < :before"
    " AND (:endpoint_id IS NULL OR endpoint_id = :endpoint_id)"
    " AND (:event_id IS NULL OR event_id = :event_id)"
    " AND (:status IS NULL OR status = :status)"
    " ORDER BY id DESC LIMIT :limit"
)
DELIVERY_LIST_OF_STATUS = (
    "SELECT data FROM webhook_deliveries"
    " WHERE project_id = :project_id AND status = :status AND id < :before"
    " AND (:endpoint_id IS NULL OR endpoint_id = :endpoint_id)"
    " AND (:event_id IS NULL OR event_id = :event_id)"
    " AND (:status IS NULL OR status = :status)"
    " ORDER BY id DESC LIMIT :limit"
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _json(obj: msgspec.Struct) -> str:
    return _ENCODER.encode(obj).decode()


def _micros(at: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime (no float rounding)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: Pulse times are timezone-aware UTC")
    return (at - _EPOCH) // _MICROSECOND


def before_bound(before: str | None) -> str:
    """The ``id < ?`` bound of a newest-first page that starts after ``before``."""
    return _NEWEST if before is None else before


async def _delete_in_batches(db: SqliteDatabase, sql: str, params: tuple[Any, ...]) -> int:
    """Run ``sql`` (a DELETE whose last parameter is the batch size) until a batch
    deletes fewer than :data:`DELETE_BATCH` rows; how many went in all. Rows matching
    while it runs may go too: these deletes are "everything older / of this endpoint"."""
    batch_params = (*params, DELETE_BATCH)

    def work(conn: sqlite3.Connection) -> int:
        return conn.execute(sql, batch_params).rowcount

    deleted = 0
    while True:
        batch = await db.write(work)
        deleted += batch
        if batch < DELETE_BATCH:
            return deleted


class SqliteEventRepository(EventRepository):
    """The event log in table ``events``. Nothing expires rows by itself: call
    :meth:`purge_before` on a schedule (with now minus ``EVENT_RETENTION_DAYS``)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, event: Event) -> bool:
        row = (event.id, event.project_id, event.type, _micros(event.timestamp), _json(event))

        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(EVENT_INSERT, row).rowcount > 0

        return await self._db.write(work)

    async def get(self, project_id: str, event_id: str) -> Event | None:
        def work(conn: sqlite3.Connection) -> Event | None:
            row = conn.execute(EVENT_GET, (event_id, project_id)).fetchone()
            return None if row is None else _EVENT.decode(row[0])

        return await self._db.read(work)

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
        params: dict[str, Any] = {
            "project_id": project_id,
            "before": before_bound(before),
            "since": None if since is None else _micros(since),
            "until": None if until is None else _micros(until),
            "limit": max(limit, 0),
        }
        distinct_types = list(dict.fromkeys(types))  # a type given twice is read once

        def work(conn: sqlite3.Connection) -> list[Event]:
            if not distinct_types:
                rows = conn.execute(EVENT_LIST, params).fetchall()
            else:
                per_type = [
                    conn.execute(EVENT_LIST_OF_TYPE, {**params, "type": t}).fetchall()
                    for t in distinct_types
                ]
                # Each list is id-descending already; an event has one type, so no id
                # appears in two of them.
                merged = heapq.merge(*per_type, key=lambda r: str(r[0]), reverse=True)
                rows = list(merged)[: params["limit"]]
            return [_EVENT.decode(data) for _, data in rows]

        return await self._db.read(work)

    async def purge_before(self, at: datetime) -> int:
        return await _delete_in_batches(self._db, EVENT_PURGE, (_micros(at),))


class SqliteDeliveryRepository(DeliveryRepository):
    """Deliveries in table ``webhook_deliveries``, attempts included in ``data``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, delivery: Delivery) -> bool:
        row = (*_delivery_columns(delivery), _json(delivery))

        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(DELIVERY_INSERT, row).rowcount > 0

        return await self._db.write(work)

    async def get(self, project_id: str, delivery_id: str) -> Delivery | None:
        def work(conn: sqlite3.Connection) -> Delivery | None:
            row = conn.execute(DELIVERY_GET, (delivery_id, project_id)).fetchone()
            return None if row is None else _DELIVERY.decode(row[0])

        return await self._db.read(work)

    async def update(self, delivery: Delivery) -> None:
        _, project_id, endpoint_id, event_id, status = _delivery_columns(delivery)
        params = (endpoint_id, event_id, status, _json(delivery), delivery.id, project_id)

        def work(conn: sqlite3.Connection) -> None:
            if conn.execute(DELIVERY_UPDATE, params).rowcount == 0:
                raise NotFound("delivery not found")

        await self._db.write(work)

    async def change(
        self, project_id: str, delivery_id: str, change: Callable[[Delivery], Delivery]
    ) -> Delivery | None:
        # One write transaction (BEGIN IMMEDIATE): the read and the write hold the file's
        # write lock throughout, against this process's other calls and other processes.
        def work(conn: sqlite3.Connection) -> Delivery | None:
            row = conn.execute(DELIVERY_GET, (delivery_id, project_id)).fetchone()
            if row is None:
                return None
            stored = _DELIVERY.decode(row[0])
            changed = kept_delivery(stored, change(stored))
            if changed != stored:
                params = (changed.status, _json(changed), delivery_id, project_id)
                conn.execute(DELIVERY_CHANGE, params)
            return changed

        return await self._db.write(work)

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
        if event_id is not None:
            sql = DELIVERY_LIST_OF_EVENT
        elif endpoint_id is not None:
            sql = DELIVERY_LIST_OF_ENDPOINT
        elif status is not None:
            sql = DELIVERY_LIST_OF_STATUS
        else:
            sql = DELIVERY_LIST
        params = {
            "project_id": project_id,
            "endpoint_id": endpoint_id,
            "event_id": event_id,
            "status": status,
            "before": before_bound(before),
            "limit": max(limit, 0),
        }

        def work(conn: sqlite3.Connection) -> list[Delivery]:
            return [_DELIVERY.decode(data) for (data,) in conn.execute(sql, params)]

        return await self._db.read(work)

    async def drop_unsent(self, project_id: str, endpoint_id: str) -> int:
        params = (project_id, endpoint_id, *UNSENT_STATUSES)
        return await _delete_in_batches(self._db, DELIVERY_DROP_UNSENT, params)

    async def purge_before(self, at: datetime) -> int:
        cut = purge_bound(at)
        return await _delete_in_batches(self._db, DELIVERY_PURGE, (cut,))


def _delivery_columns(delivery: Delivery) -> tuple[str, str, str, str, str]:
    return (
        delivery.id,
        delivery.project_id,
        delivery.endpoint_id,
        delivery.event_id,
        delivery.status,
    )
