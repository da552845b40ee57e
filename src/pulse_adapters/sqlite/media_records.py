"""SQLite media records: tables ``egress_records`` and ``ingress_records`` (migration 2 of
:mod:`pulse_adapters.sqlite.schema`).

As for the other repositories, the looked-up columns (``project_id``, ``room``,
``engine_id``) are real, indexed columns and the whole struct is msgspec JSON in
``data``. Every read filters on ``project_id``, so another project's id finds nothing.

``count_active`` reads ``status`` out of ``data`` (``json_extract``): it is a filter on
the rows of the given projects, which the ``project_id`` index finds, so it needs no
column of its own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_core.errors import NotFound
from pulse_core.models.media import (
    ENDED_EGRESS_STATUSES,
    ENDED_INGRESS_STATUSES,
    Egress,
    Ingress,
)
from pulse_core.ports.media_records import (
    EgressRecordRepository,
    IngressRecordRepository,
    kept_egress,
    kept_ingress,
)

_ENCODER = msgspec.json.Encoder()
_EGRESS = msgspec.json.Decoder(Egress)
_INGRESS = msgspec.json.Decoder(Ingress)

# Named so tests can check each is served by an index. `id > ?` with "" for "from the
# start"; the room filter is a separate statement so each uses its own index exactly.
EGRESS_INSERT = (
    "INSERT INTO egress_records (id, project_id, room, engine_id, data) VALUES (?, ?, ?, ?, ?)"
)
EGRESS_GET = "SELECT data FROM egress_records WHERE id = ? AND project_id = ?"
EGRESS_BY_ENGINE_ID = "SELECT data FROM egress_records WHERE engine_id = ?"
EGRESS_LIST = "SELECT data FROM egress_records WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?"
EGRESS_LIST_OF_ROOM = (
    "SELECT data FROM egress_records WHERE project_id = ? AND room = ? AND id > ?"
    " ORDER BY id LIMIT ?"
)
EGRESS_UPDATE = "UPDATE egress_records SET room = ?, data = ? WHERE id = ? AND project_id = ?"
# Both lists are bound as one JSON array each (json_each): one statement whatever the
# number of projects, and never near SQLite's limit on bound parameters.
EGRESS_COUNT_ACTIVE = (
    "SELECT count(*) FROM egress_records"
    " WHERE project_id IN (SELECT value FROM json_each(?))"
    " AND json_extract(data, '$.status') NOT IN (SELECT value FROM json_each(?))"
)

INGRESS_INSERT = (
    "INSERT INTO ingress_records (id, project_id, room, engine_id, data) VALUES (?, ?, ?, ?, ?)"
)
INGRESS_GET = "SELECT data FROM ingress_records WHERE id = ? AND project_id = ?"
INGRESS_BY_ENGINE_ID = "SELECT data FROM ingress_records WHERE engine_id = ?"
INGRESS_LIST = (
    "SELECT data FROM ingress_records WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?"
)
INGRESS_LIST_OF_ROOM = (
    "SELECT data FROM ingress_records WHERE project_id = ? AND room = ? AND id > ?"
    " ORDER BY id LIMIT ?"
)
INGRESS_UPDATE = "UPDATE ingress_records SET room = ?, data = ? WHERE id = ? AND project_id = ?"
INGRESS_DELETE = "DELETE FROM ingress_records WHERE id = ? AND project_id = ?"
INGRESS_COUNT_ACTIVE = (
    "SELECT count(*) FROM ingress_records"
    " WHERE project_id IN (SELECT value FROM json_each(?))"
    " AND json_extract(data, '$.status') NOT IN (SELECT value FROM json_each(?))"
)

# The second parameter of the *_COUNT_ACTIVE statements, from the model's own constants.
ENDED_EGRESS_JSON: Final = json.dumps(sorted(ENDED_EGRESS_STATUSES))
ENDED_INGRESS_JSON: Final = json.dumps(sorted(ENDED_INGRESS_STATUSES))


def _json(obj: msgspec.Struct) -> str:
    return _ENCODER.encode(obj).decode()


async def _count_active(
    db: SqliteDatabase, sql: str, project_ids: Sequence[str], ended_json: str
) -> int:
    if not project_ids:
        return 0
    params = (json.dumps(list(project_ids)), ended_json)

    def work(conn: sqlite3.Connection) -> int:
        (count,) = conn.execute(sql, params).fetchone()
        return int(count)

    return await db.read(work)


def _list_params(
    project_id: str, room: str | None, after: str | None, limit: int
) -> tuple[Any, ...]:
    bounds = ("" if after is None else after, max(limit, 0))
    return (project_id, *bounds) if room is None else (project_id, room, *bounds)


class SqliteEgressRecordRepository(EgressRecordRepository):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, egress: Egress) -> None:
        row = (egress.id, egress.project_id, egress.room, egress.engine_id, _json(egress))

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(EGRESS_INSERT, row)

        await self._db.write(work)

    async def get_by_engine_id(self, engine_id: str) -> Egress | None:
        def work(conn: sqlite3.Connection) -> Egress | None:
            row = conn.execute(EGRESS_BY_ENGINE_ID, (engine_id,)).fetchone()
            return None if row is None else _EGRESS.decode(row[0])

        return await self._db.read(work)

    async def get(self, project_id: str, egress_id: str) -> Egress | None:
        def work(conn: sqlite3.Connection) -> Egress | None:
            row = conn.execute(EGRESS_GET, (egress_id, project_id)).fetchone()
            return None if row is None else _EGRESS.decode(row[0])

        return await self._db.read(work)

    async def list_page(
        self, project_id: str, *, room: str | None, after: str | None, limit: int
    ) -> list[Egress]:
        sql = EGRESS_LIST if room is None else EGRESS_LIST_OF_ROOM
        params = _list_params(project_id, room, after, limit)

        def work(conn: sqlite3.Connection) -> list[Egress]:
            return [_EGRESS.decode(data) for (data,) in conn.execute(sql, params)]

        return await self._db.read(work)

    async def update(self, egress: Egress) -> None:
        params = (egress.room, _json(egress), egress.id, egress.project_id)

        def work(conn: sqlite3.Connection) -> None:
            if conn.execute(EGRESS_UPDATE, params).rowcount == 0:
                raise NotFound("egress not found")

        await self._db.write(work)

    async def change(
        self, project_id: str, egress_id: str, change: Callable[[Egress], Egress]
    ) -> Egress | None:
        # One write transaction (BEGIN IMMEDIATE): the read and the write hold the file's
        # write lock throughout, against this process's other calls and other processes.
        def work(conn: sqlite3.Connection) -> Egress | None:
            row = conn.execute(EGRESS_GET, (egress_id, project_id)).fetchone()
            if row is None:
                return None
            stored = _EGRESS.decode(row[0])
            changed = kept_egress(stored, change(stored))
            if changed != stored:
                conn.execute(EGRESS_UPDATE, (changed.room, _json(changed), egress_id, project_id))
            return changed

        return await self._db.write(work)

    async def count_active(self, project_ids: Sequence[str]) -> int:
        return await _count_active(self._db, EGRESS_COUNT_ACTIVE, project_ids, ENDED_EGRESS_JSON)


class SqliteIngressRecordRepository(IngressRecordRepository):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, ingress: Ingress) -> None:
        row = (ingress.id, ingress.project_id, ingress.room, ingress.engine_id, _json(ingress))

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(INGRESS_INSERT, row)

        await self._db.write(work)

    async def get_by_engine_id(self, engine_id: str) -> Ingress | None:
        def work(conn: sqlite3.Connection) -> Ingress | None:
            row = conn.execute(INGRESS_BY_ENGINE_ID, (engine_id,)).fetchone()
            return None if row is None else _INGRESS.decode(row[0])

        return await self._db.read(work)

    async def get(self, project_id: str, ingress_id: str) -> Ingress | None:
        def work(conn: sqlite3.Connection) -> Ingress | None:
            row = conn.execute(INGRESS_GET, (ingress_id, project_id)).fetchone()
            return None if row is None else _INGRESS.decode(row[0])

        return await self._db.read(work)

    async def list_page(
        self, project_id: str, *, room: str | None, after: str | None, limit: int
    ) -> list[Ingress]:
        sql = INGRESS_LIST if room is None else INGRESS_LIST_OF_ROOM
        params = _list_params(project_id, room, after, limit)

        def work(conn: sqlite3.Connection) -> list[Ingress]:
            return [_INGRESS.decode(data) for (data,) in conn.execute(sql, params)]

        return await self._db.read(work)

    async def update(self, ingress: Ingress) -> None:
        params = (ingress.room, _json(ingress), ingress.id, ingress.project_id)

        def work(conn: sqlite3.Connection) -> None:
            if conn.execute(INGRESS_UPDATE, params).rowcount == 0:
                raise NotFound("ingress not found")

        await self._db.write(work)

    async def change(
        self, project_id: str, ingress_id: str, change: Callable[[Ingress], Ingress]
    ) -> Ingress | None:
        # One write transaction, as SqliteEgressRecordRepository.change.
        def work(conn: sqlite3.Connection) -> Ingress | None:
            row = conn.execute(INGRESS_GET, (ingress_id, project_id)).fetchone()
            if row is None:
                return None
            stored = _INGRESS.decode(row[0])
            changed = kept_ingress(stored, change(stored))
            if changed != stored:
                params = (changed.room, _json(changed), ingress_id, project_id)
                conn.execute(INGRESS_UPDATE, params)
            return changed

        return await self._db.write(work)

    async def count_active(self, project_ids: Sequence[str]) -> int:
        return await _count_active(self._db, INGRESS_COUNT_ACTIVE, project_ids, ENDED_INGRESS_JSON)

    async def delete(self, project_id: str, ingress_id: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(INGRESS_DELETE, (ingress_id, project_id)).rowcount > 0

        return await self._db.write(work)
