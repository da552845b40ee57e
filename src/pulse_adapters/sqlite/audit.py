"""SQLite audit log: table ``audit_log`` (migration 6 of :mod:`pulse_adapters.sqlite.schema`),
and :func:`insert_audit`, which every audited write of this package calls.

An audited write (an organization, project, webhook endpoint, user, session or key)
calls :func:`insert_audit` inside its own ``db.write(work)`` function, after its change
succeeded: the change and its record commit in one transaction, and a change that raises
(``Conflict``, ``NotFound``) rolls both back. So :meth:`SqliteAuditRepository.settle` has
nothing to do (the port's default).

Lists walk an index backwards from the cursor (``id < ?``), as the event log does; an
organization id of None is the platform's own records (``org_id IS ?`` matches NULL and
still uses the index). Times are exact integer microseconds since the epoch, UTC.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_core.models.audit import AuditRecord
from pulse_core.ports.audit import AuditRepository

_ENCODER = msgspec.json.Encoder()
_RECORD = msgspec.json.Decoder(AuditRecord)

# Above every id, for "from the newest" (see pulse_adapters.sqlite.events).
_NEWEST = "\U0010ffff"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Rows deleted per transaction by purge_before: each batch commits on its own, so a
# backlog never holds the write lock for long (as the event log's purge does).
DELETE_BATCH = 2000

# The queries, named so that tests can check each one is served by an index. A record
# whose id is stored already is skipped, not an error (AuditRepository.add).
AUDIT_INSERT = (
    "INSERT INTO audit_log (id, org_id, at_us, action, resource_id, data)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)
# Every filter is in every statement; what differs is the equality written into the
# index range, so that each statement walks its own index (a resource has few records,
# an action many). Spelled out in full: they are constants, never assembled at run time.
AUDIT_LIST = (
    "SELECT data FROM audit_log WHERE org_id IS :org_id AND id < :before"
    " AND (:action IS NULL OR action = :action)"
    " AND (:resource_id IS NULL OR resource_id = :resource_id)"
    " AND (:since IS NULL OR at_us >= :since)"
    " ORDER BY id DESC LIMIT :limit"
)
AUDIT_LIST_OF_ACTION = (
    "SELECT data FROM audit_log WHERE org_id IS :org_id AND action = :action AND id < :before"
    " AND (:action IS NULL OR action = :action)"
    " AND (:resource_id IS NULL OR resource_id = :resource_id)"
    " AND (:since IS NULL OR at_us >= :since)"
    " ORDER BY id DESC LIMIT :limit"
)
AUDIT_LIST_OF_RESOURCE = (
    "SELECT data FROM audit_log"
    " WHERE org_id IS :org_id AND resource_id = :resource_id AND id < :before"
    " AND (:action IS NULL OR action = :action)"
    " AND (:resource_id IS NULL OR resource_id = :resource_id)"
    " AND (:since IS NULL OR at_us >= :since)"
    " ORDER BY id DESC LIMIT :limit"
)
AUDIT_PURGE = "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at_us < ? LIMIT ?)"


def micros(at: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime (no float rounding); the
    time columns of this package's access tables."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: Pulse times are timezone-aware UTC")
    return (at - _EPOCH) // _MICROSECOND


def insert_audit(conn: sqlite3.Connection, record: AuditRecord) -> None:
    """Store ``record`` on ``conn``, inside the caller's transaction (unless its id is
    stored already). Call it from a ``db.write`` work function once the change it
    records has succeeded."""
    conn.execute(
        AUDIT_INSERT,
        (
            record.id,
            record.org_id,
            micros(record.at),
            record.action,
            record.resource_id,
            _ENCODER.encode(record).decode(),
        ),
    )


class SqliteAuditRepository(AuditRepository):
    """The audit log in table ``audit_log``. Nothing expires rows by itself: call
    :meth:`purge_before` on a schedule (with now minus ``AUDIT_RETENTION_DAYS``)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, record: AuditRecord) -> None:
        def work(conn: sqlite3.Connection) -> None:
            insert_audit(conn, record)

        await self._db.write(work)

    async def list_page(
        self,
        org_id: str | None,
        *,
        action: str | None = None,
        resource_id: str | None = None,
        since: datetime | None = None,
        before: str | None = None,
        limit: int,
    ) -> list[AuditRecord]:
        if resource_id is not None:
            sql = AUDIT_LIST_OF_RESOURCE
        elif action is not None:
            sql = AUDIT_LIST_OF_ACTION
        else:
            sql = AUDIT_LIST
        params: dict[str, Any] = {
            "org_id": org_id,
            "action": action,
            "resource_id": resource_id,
            "since": None if since is None else micros(since),
            "before": _NEWEST if before is None else before,
            "limit": max(limit, 0),
        }

        def work(conn: sqlite3.Connection) -> list[AuditRecord]:
            return [_RECORD.decode(data) for (data,) in conn.execute(sql, params)]

        return await self._db.read(work)

    async def purge_before(self, at: datetime) -> int:
        params = (micros(at), DELETE_BATCH)

        def work(conn: sqlite3.Connection) -> int:
            return conn.execute(AUDIT_PURGE, params).rowcount

        deleted = 0
        while True:
            batch = await self._db.write(work)
            deleted += batch
            if batch < DELETE_BATCH:
                return deleted
