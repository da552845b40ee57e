"""MongoDB usage metering (:mod:`pulse_core.ports.usage`).

Document layout:

================  ===============================================================
collection        fields
================  ===============================================================
usage_metrics     _id (id), project_id, event_type (metric), value (quantity), kind,
                  timestamp; ``pending`` and ``pending_since`` while its roll-ups
                  are unfinished (see below)
usage_rollups     _id (key), project_id, granularity, period_start, metric, kind,
                  quantity, expires_at, applied [ids of records being counted]
open_connections  _id (key), project_id, participant_sid, livekit_room, identity,
                  joined_at
================  ===============================================================

``usage_metrics`` is the Go service's collection, with its names (``event_type``,
``value``) and its TTL of 90 days on ``timestamp``. A key ``_id`` is the JSON array of
the fields that identify the document (``["prj_…","hour","2030-01-01T12:00:00Z",
"tokens_created",""]``): deterministic, so a roll-up is found and created by its
``_id`` alone, and unambiguous whatever characters the parts hold. Roll-ups expire
through the TTL index on ``expires_at``, 400 days (13 months) after their period start.
As elsewhere, datetimes are BSON dates (millisecond precision, read back aware UTC) and
every call runs inside ``translate_errors`` under the database's operation timeout.

Atomicity without transactions
------------------------------

A record touches three documents (itself, its hour and its day roll-up). MongoDB makes
only single-document writes atomic outside a transaction, and transactions need a replica
set (a standalone server, like the wire test server, has none). So :meth:`record` is a
sequence of single-document steps, each safe to repeat, and the record carries its
progress in ``pending``:

1. insert the records with ``pending: "count"`` and ``pending_since`` (unordered; an
   ``_id`` already taken is a record stored before: skipped, not new);
2. make sure their roll-up documents exist (upsert ``$setOnInsert``, quantity 0);
3. per record and roll-up, ``$inc`` the quantity and ``$push`` the record's id onto
   ``applied``, filtered on ``applied: {$ne: id}``: a roll-up that already counted the
   record does not match, so the step can run again at no risk;
4. set ``pending: "release"``: every roll-up has counted the record;
5. ``$pull`` the ids from ``applied``;
6. unset ``pending`` and ``pending_since``.

A crash (or an ``Unavailable``) between any two steps leaves each record finished or
pending at a known step, and :meth:`MongoUsageRepository.repair` finishes it: a record at
``"count"`` resumes at step 2 (step 3's filter skips the roll-ups whose ``applied`` shows
they counted it: that is why the marker stays until step 4 is recorded); a record at
``"release"`` resumes at step 5 and is never incremented again (its markers may be gone
already). Either way each roll-up counts each record exactly once. Until repair runs, a
crashed call's records are stored but possibly not counted: totals may lag, never exceed.

The one rule: repair must not finish a record while a live ``record()`` call is still
finishing it (were that call's step 3 to run after repair's step 5, the marker would be
gone). Hence ``repair(pending_before=...)``: pass now minus a grace period far longer
than a call can take (six steps, each bounded by the operation timeout; ten minutes is
plenty). A record offered again while it is pending is not new: its first call, or
repair, finishes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError

from pulse_adapters.mongo.database import Document, MongoDatabase
from pulse_adapters.mongo.errors import DUPLICATE_KEY_CODES, translate_errors
from pulse_adapters.mongo.indexes import (
    OPEN_CONNECTIONS,
    ROLLUP_RETENTION_DAYS,
    USAGE_METRICS,
    USAGE_ROLLUPS,
)
from pulse_core.errors import Conflict
from pulse_core.models.usage import (
    Metric,
    OpenConnection,
    RollupGranularity,
    UsageRecord,
    UsageTotal,
)
from pulse_core.ports.clock import Clock
from pulse_core.ports.usage import ConnectionRepository, UsageRepository

_ENCODER = msgspec.json.Encoder()
_GRANULARITIES: Final[tuple[RollupGranularity, ...]] = ("hour", "day")
_ROLLUP_RETENTION = timedelta(days=ROLLUP_RETENTION_DAYS)

# The values of a pending record's `pending`: the step it resumes at.
COUNTING: Final = "count"
RELEASING: Final = "release"

#: Pending records finished per round of :meth:`MongoUsageRepository.repair`.
REPAIR_BATCH = 500

# What totals reads of a roll-up (never `applied`, which a big flush makes long).
_TOTAL_FIELDS = {
    "_id": 0,
    "project_id": 1,
    "metric": 1,
    "kind": 1,
    "period_start": 1,
    "quantity": 1,
}


def _key(*parts: str | datetime) -> str:
    """A deterministic, unambiguous ``_id``: the JSON array of ``parts``."""
    return _ENCODER.encode(list(parts)).decode()


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: Pulse times are timezone-aware UTC")
    return at


def _period_start(at: datetime, granularity: RollupGranularity) -> datetime:
    """The start of the UTC hour or day ``at`` falls in."""
    hour = _aware(at).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour if granularity == "hour" else hour.replace(hour=0)


def _ceil_ms(at: datetime) -> datetime:
    """``at`` rounded up to the millisecond. The driver truncates a bound to BSON's
    milliseconds; period starts are whole milliseconds, so against them ``>= since`` and
    ``< until`` keep their exact meaning with the bound rounded up, not down."""
    extra = _aware(at).microsecond % 1000
    return at if extra == 0 else at + timedelta(microseconds=1000 - extra)


def _rollups_of(record: UsageRecord) -> list[tuple[str, Document]]:
    """The ``_id`` and identifying fields of the hour and day roll-ups of ``record``."""
    rollups = []
    for granularity in _GRANULARITIES:
        start = _period_start(record.timestamp, granularity)
        fields: Document = {
            "project_id": record.project_id,
            "granularity": granularity,
            "period_start": start,
            "metric": record.metric,
            "kind": record.kind,
            "expires_at": start + _ROLLUP_RETENTION,
        }
        key = _key(record.project_id, granularity, start, record.metric, record.kind)
        rollups.append((key, fields))
    return rollups


def record_to_document(record: UsageRecord, pending_since: datetime) -> Document:
    """The ``usage_metrics`` document of a new ``record``, pending at step 2."""
    return {
        "_id": record.id,
        "project_id": record.project_id,
        "event_type": record.metric,
        "value": record.quantity,
        "kind": record.kind,
        "timestamp": record.timestamp,
        "pending": COUNTING,
        "pending_since": pending_since,
    }


def record_from_document(doc: Mapping[str, Any]) -> UsageRecord:
    """The record stored in ``doc`` (its timestamp at millisecond precision, which keeps
    its hour and day); ``msgspec.ValidationError`` if it is corrupt."""
    return msgspec.convert(
        {
            "id": doc["_id"],
            "project_id": doc["project_id"],
            "metric": doc["event_type"],
            "quantity": doc["value"],
            "kind": doc.get("kind", ""),
            "timestamp": doc["timestamp"],
        },
        UsageRecord,
    )


def _duplicate_indexes(exc: BulkWriteError) -> set[int]:
    """The positions of the writes refused for a taken ``_id``; ``exc`` itself is raised
    again when anything else went wrong."""
    errors = exc.details.get("writeErrors", [])
    if exc.details.get("writeConcernErrors") or any(
        e.get("code") not in DUPLICATE_KEY_CODES for e in errors
    ):
        raise exc
    return {int(e["index"]) for e in errors}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MongoUsageRepository(UsageRepository):
    """Records in ``usage_metrics``, roll-ups in ``usage_rollups``; see the module doc
    for how :meth:`record` stays exact without transactions, and call :meth:`repair` on
    a schedule to finish what a crashed or failed call left pending.

    ``clock`` dates ``pending_since`` (the system clock when None); give ``repair`` a
    time from the same clock.
    """

    def __init__(self, db: MongoDatabase, *, clock: Clock | None = None) -> None:
        self._records = db.collection(USAGE_METRICS)
        self._rollups = db.collection(USAGE_ROLLUPS)
        self._now: Callable[[], datetime] = _utc_now if clock is None else clock.now

    async def record(self, records: Sequence[UsageRecord]) -> int:
        first: dict[str, UsageRecord] = {}
        for record in records:
            first.setdefault(record.id, record)
        offered = list(first.values())
        if not offered:
            return 0
        for record in offered:  # a naive timestamp fails here, before any write
            _aware(record.timestamp)
        now = self._now()
        docs = [record_to_document(r, now) for r in offered]
        taken: set[int] = set()
        with translate_errors(f"insert into {USAGE_METRICS}"):
            try:
                await self._records.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                taken = _duplicate_indexes(exc)
        new = [r for i, r in enumerate(offered) if i not in taken]
        if new:
            await self._count(new)
            await self._release(new)
        return len(new)

    async def repair(self, *, pending_before: datetime) -> int:
        """Finish every record left pending since before ``pending_before`` (see the
        module doc for how to choose it); how many were finished."""
        query = {"pending_since": {"$exists": True, "$lt": pending_before}}
        finished = 0
        while True:
            with translate_errors(f"find pending in {USAGE_METRICS}"):
                cursor = self._records.find(query).sort("pending_since", ASCENDING)
                docs = await cursor.limit(REPAIR_BATCH).to_list()
            if not docs:
                return finished
            counting = [record_from_document(d) for d in docs if d.get("pending") != RELEASING]
            if counting:
                await self._count(counting)
            # Every record of the batch leaves the query here, so each round progresses.
            await self._release([record_from_document(d) for d in docs])
            finished += len(docs)
            if len(docs) < REPAIR_BATCH:
                return finished

    async def _count(self, records: Sequence[UsageRecord]) -> None:
        """Steps 2 to 4 for ``records``."""
        rollups = [(r, key, fields) for r in records for key, fields in _rollups_of(r)]
        creations = {key: fields for _, key, fields in rollups}
        with translate_errors(f"upsert into {USAGE_ROLLUPS}"):
            try:
                await self._rollups.bulk_write(
                    [
                        UpdateOne({"_id": k}, {"$setOnInsert": {**f, "quantity": 0}}, upsert=True)
                        for k, f in creations.items()
                    ],
                    ordered=False,
                )
            except BulkWriteError as exc:
                _duplicate_indexes(exc)  # created by a concurrent call meanwhile: fine
            await self._rollups.bulk_write(
                [
                    UpdateOne(
                        {"_id": key, "applied": {"$ne": r.id}},
                        {"$inc": {"quantity": r.quantity}, "$push": {"applied": r.id}},
                    )
                    for r, key, _ in rollups
                ],
                ordered=False,
            )
        await self._mark(records, {"$set": {"pending": RELEASING}})

    async def _release(self, records: Sequence[UsageRecord]) -> None:
        """Steps 5 and 6 for ``records``, all counted by their roll-ups."""
        by_rollup: dict[str, list[str]] = {}
        for record in records:
            for key, _ in _rollups_of(record):
                by_rollup.setdefault(key, []).append(record.id)
        with translate_errors(f"update {USAGE_ROLLUPS}"):
            await self._rollups.bulk_write(
                [
                    UpdateOne({"_id": key}, {"$pull": {"applied": {"$in": ids}}})
                    for key, ids in by_rollup.items()
                ],
                ordered=False,
            )
        await self._mark(records, {"$unset": {"pending": "", "pending_since": ""}})

    async def _mark(self, records: Iterable[UsageRecord], update: Document) -> None:
        with translate_errors(f"update {USAGE_METRICS}"):
            await self._records.update_many({"_id": {"$in": [r.id for r in records]}}, update)

    async def totals(
        self,
        project_ids: Sequence[str],
        *,
        granularity: RollupGranularity,
        since: datetime,
        until: datetime,
        metrics: Sequence[Metric] = (),
    ) -> list[UsageTotal]:
        if not project_ids:
            return []
        # One range of project_id_1_granularity_1_period_start_1 per project; the few
        # documents of the window are ordered here.
        query: Document = {
            "project_id": {"$in": list(project_ids)},
            "granularity": granularity,
            "period_start": {"$gte": _ceil_ms(since), "$lt": _ceil_ms(until)},
            "quantity": {"$ne": 0},
        }
        if metrics:
            query["metric"] = {"$in": list(metrics)}
        with translate_errors(f"find in {USAGE_ROLLUPS}"):
            docs = await self._rollups.find(query, _TOTAL_FIELDS).to_list()
        totals = [msgspec.convert(doc, UsageTotal) for doc in docs]
        return sorted(totals, key=lambda t: (t.period_start, t.project_id, t.metric, t.kind))

    async def purge(self, *, records_before: datetime, rollups_before: datetime) -> int:
        cutoff = _ceil_ms(rollups_before)
        with translate_errors(f"purge {USAGE_METRICS}"):
            records = await self._records.delete_many({"timestamp": {"$lt": records_before}})
        # expires_at is period_start + 400 days: its bound selects the same roll-ups, on
        # the TTL index.
        old = {"expires_at": {"$lt": cutoff + _ROLLUP_RETENTION}, "period_start": {"$lt": cutoff}}
        with translate_errors(f"purge {USAGE_ROLLUPS}"):
            rollups = await self._rollups.delete_many(old)
        return records.deleted_count + rollups.deleted_count


def connection_to_document(connection: OpenConnection) -> Document:
    fields = msgspec.to_builtins(connection, builtin_types=(datetime,))
    return {"_id": _key(connection.project_id, connection.participant_sid), **fields}


def connection_from_document(doc: Mapping[str, Any]) -> OpenConnection:
    """The connection stored in ``doc``; ``msgspec.ValidationError`` if it is corrupt."""
    return msgspec.convert({k: v for k, v in doc.items() if k != "_id"}, OpenConnection)


class MongoConnectionRepository(ConnectionRepository):
    """Open connections in ``open_connections``, one document per (project, sid) under
    a key ``_id``, so "already open?" and the insert are one atomic step."""

    def __init__(self, db: MongoDatabase) -> None:
        self._connections = db.collection(OPEN_CONNECTIONS)

    async def open(self, connection: OpenConnection) -> bool:
        try:
            with translate_errors(f"insert into {OPEN_CONNECTIONS}"):
                await self._connections.insert_one(connection_to_document(connection))
        except Conflict as exc:
            if exc.field != "id":
                raise
            return False
        return True

    async def close(self, project_id: str, participant_sid: str) -> OpenConnection | None:
        with translate_errors(f"delete in {OPEN_CONNECTIONS}"):
            doc = await self._connections.find_one_and_delete(
                {"_id": _key(project_id, participant_sid)}
            )
        return None if doc is None else connection_from_document(doc)

    async def list_room(self, project_id: str, livekit_room: str) -> list[OpenConnection]:
        with translate_errors(f"list {OPEN_CONNECTIONS}"):
            cursor = self._connections.find(
                {"project_id": project_id, "livekit_room": livekit_room}
            ).sort([("joined_at", ASCENDING), ("participant_sid", ASCENDING)])
            docs = await cursor.to_list()
        return [connection_from_document(d) for d in docs]

    async def list_rooms(
        self, *, after: tuple[str, str] | None = None, limit: int
    ) -> list[tuple[str, str]]:
        if limit <= 0:  # $limit must be positive
            return []
        pipeline: list[Document] = []
        if after is not None:
            project_id, room = after
            pipeline.append(
                {
                    "$match": {
                        "$or": [
                            {"project_id": {"$gt": project_id}},
                            {"project_id": project_id, "livekit_room": {"$gt": room}},
                        ]
                    }
                }
            )
        pipeline += [
            {"$group": {"_id": {"p": "$project_id", "r": "$livekit_room"}}},
            {"$sort": {"_id.p": ASCENDING, "_id.r": ASCENDING}},
            {"$limit": limit},
        ]
        with translate_errors(f"list rooms of {OPEN_CONNECTIONS}"):
            docs = await (await self._connections.aggregate(pipeline)).to_list()
        return [(str(d["_id"]["p"]), str(d["_id"]["r"])) for d in docs]
