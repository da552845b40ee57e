"""SQLite usage metering: tables ``usage_records``, ``usage_rollups`` and
``open_connections`` (migration 5 of :mod:`pulse_adapters.sqlite.schema`).

:meth:`SqliteUsageRepository.record` hands every record of a call to the database thread
at once, in one transaction: per record, an insert that does nothing when the id is
stored and, only when a row went in, one upsert per roll-up that adds the quantity
(``ON CONFLICT ... DO UPDATE SET quantity = quantity + excluded.quantity``). The "already
stored?" answer, the record and its roll-ups commit together or not at all, so a record
is never counted without being stored, nor twice, even across processes sharing the file.

Times are exact integer microseconds since the epoch, UTC. A roll-up's period start is
the record's microseconds floored to the hour or the day: the epoch is a UTC midnight,
so these are UTC hours and days whatever offset the record's datetime carried.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_core.models.usage import (
    Metric,
    OpenConnection,
    RollupGranularity,
    UsageRecord,
    UsageTotal,
)
from pulse_core.ports.usage import ConnectionRepository, UsageRepository

_ENCODER = msgspec.json.Encoder()
_CONNECTION = msgspec.json.Decoder(OpenConnection)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_PERIOD_US: dict[RollupGranularity, int] = {"hour": 3_600_000_000, "day": 86_400_000_000}

# Rows deleted per transaction by purge: each batch commits on its own, so a backlog
# never holds the write lock for long (as the event log's purge does).
DELETE_BATCH = 2000

# The queries, named so that tests can check the plans. `ON CONFLICT (id) DO NOTHING`
# rather than `INSERT OR IGNORE`: only a taken id is skipped; a violated NOT NULL or
# CHECK is a bug and must still raise.
RECORD_INSERT = (
    "INSERT INTO usage_records (id, project_id, metric, kind, quantity, timestamp_us)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)
ROLLUP_ADD = (
    "INSERT INTO usage_rollups (project_id, granularity, period_start_us, metric, kind, quantity)"
    " VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (project_id, granularity, period_start_us, metric, kind)"
    " DO UPDATE SET quantity = quantity + excluded.quantity"
)
# Lists arrive as JSON arrays (json_each), so one statement serves any number of
# projects and metrics; each project is one range of the primary key.
TOTALS = (
    "SELECT period_start_us, project_id, metric, kind, quantity FROM usage_rollups"
    " WHERE project_id IN (SELECT value FROM json_each(:projects))"
    " AND granularity = :granularity"
    " AND period_start_us >= :since AND period_start_us < :until"
    " AND (:metrics IS NULL OR metric IN (SELECT value FROM json_each(:metrics)))"
    " AND quantity <> 0"
    " ORDER BY period_start_us, project_id, metric, kind"
)
RECORD_PURGE = (
    "DELETE FROM usage_records WHERE id IN"
    " (SELECT id FROM usage_records WHERE timestamp_us < ? LIMIT ?)"
)
ROLLUP_PURGE = (
    "DELETE FROM usage_rollups WHERE (project_id, granularity, period_start_us, metric, kind) IN"
    " (SELECT project_id, granularity, period_start_us, metric, kind FROM usage_rollups"
    " WHERE period_start_us < ? LIMIT ?)"
)

CONNECTION_INSERT = (
    "INSERT INTO open_connections (project_id, participant_sid, livekit_room, joined_at_us, data)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id, participant_sid) DO NOTHING"
)
CONNECTION_GET = "SELECT data FROM open_connections WHERE project_id = ? AND participant_sid = ?"
CONNECTION_DELETE = "DELETE FROM open_connections WHERE project_id = ? AND participant_sid = ?"
CONNECTION_LIST_ROOM = (
    "SELECT data FROM open_connections WHERE project_id = ? AND livekit_room = ?"
    " ORDER BY joined_at_us, participant_sid"
)
CONNECTION_LIST_ROOMS = (
    "SELECT DISTINCT project_id, livekit_room FROM open_connections"
    " WHERE (project_id, livekit_room) > (?, ?)"
    " ORDER BY project_id, livekit_room LIMIT ?"
)


def _micros(at: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime (no float rounding)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: Pulse times are timezone-aware UTC")
    return (at - _EPOCH) // _MICROSECOND


def _datetime(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND


def _rows(record: UsageRecord) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """The ``usage_records`` row of ``record`` and its two roll-up rows."""
    at = _micros(record.timestamp)
    row = (record.id, record.project_id, record.metric, record.kind, record.quantity, at)
    rollups = [
        (record.project_id, g, at - at % span, record.metric, record.kind, record.quantity)
        for g, span in _PERIOD_US.items()
    ]
    return row, rollups


async def _delete_in_batches(db: SqliteDatabase, sql: str, cutoff: int) -> int:
    def work(conn: sqlite3.Connection) -> int:
        return conn.execute(sql, (cutoff, DELETE_BATCH)).rowcount

    deleted = 0
    while True:
        batch = await db.write(work)
        deleted += batch
        if batch < DELETE_BATCH:
            return deleted


class SqliteUsageRepository(UsageRepository):
    """Usage records and their hourly and daily roll-ups. Nothing expires rows by
    itself: call :meth:`purge` on a schedule (records after 90 days, roll-ups after 13
    months)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def record(self, records: Sequence[UsageRecord]) -> int:
        # Rows are built here, so a naive timestamp fails before anything is written.
        rows = [_rows(r) for r in records]
        if not rows:
            return 0

        def work(conn: sqlite3.Connection) -> int:
            new = 0
            for row, rollups in rows:
                if conn.execute(RECORD_INSERT, row).rowcount == 0:
                    continue  # stored before, or earlier in this very call
                conn.executemany(ROLLUP_ADD, rollups)
                new += 1
            return new

        return await self._db.write(work)

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
        params = {
            "projects": _ENCODER.encode(list(project_ids)).decode(),
            "granularity": granularity,
            "since": _micros(since),
            "until": _micros(until),
            "metrics": _ENCODER.encode(list(metrics)).decode() if metrics else None,
        }

        def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return conn.execute(TOTALS, params).fetchall()

        return [
            UsageTotal(
                project_id=project,
                metric=metric,
                kind=kind,
                period_start=_datetime(start),
                quantity=quantity,
            )
            for start, project, metric, kind, quantity in await self._db.read(work)
        ]

    async def purge(self, *, records_before: datetime, rollups_before: datetime) -> int:
        records = await _delete_in_batches(self._db, RECORD_PURGE, _micros(records_before))
        rollups = await _delete_in_batches(self._db, ROLLUP_PURGE, _micros(rollups_before))
        return records + rollups


class SqliteConnectionRepository(ConnectionRepository):
    """Open connections in table ``open_connections``, keyed by (project, sid); the
    whole struct is msgspec JSON in ``data``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def open(self, connection: OpenConnection) -> bool:
        row = (
            connection.project_id,
            connection.participant_sid,
            connection.livekit_room,
            _micros(connection.joined_at),
            _ENCODER.encode(connection).decode(),
        )

        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(CONNECTION_INSERT, row).rowcount > 0

        return await self._db.write(work)

    async def close(self, project_id: str, participant_sid: str) -> OpenConnection | None:
        key = (project_id, participant_sid)

        # Read and delete in one write transaction: of two closers, one gets the row.
        def work(conn: sqlite3.Connection) -> OpenConnection | None:
            row = conn.execute(CONNECTION_GET, key).fetchone()
            if row is None:
                return None
            conn.execute(CONNECTION_DELETE, key)
            return _CONNECTION.decode(row[0])

        return await self._db.write(work)

    async def list_room(self, project_id: str, livekit_room: str) -> list[OpenConnection]:
        def work(conn: sqlite3.Connection) -> list[OpenConnection]:
            rows = conn.execute(CONNECTION_LIST_ROOM, (project_id, livekit_room))
            return [_CONNECTION.decode(data) for (data,) in rows]

        return await self._db.read(work)

    async def list_rooms(
        self, *, after: tuple[str, str] | None = None, limit: int
    ) -> list[tuple[str, str]]:
        project_id, room = after or ("", "")

        def work(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(CONNECTION_LIST_ROOMS, (project_id, room, max(limit, 0)))
            return [(project, room) for project, room in rows]

        return await self._db.read(work)
