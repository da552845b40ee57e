"""SQLite API keys (:mod:`pulse_core.ports.keys`): table ``api_keys`` (migration 6 of
:mod:`pulse_adapters.sqlite.schema`).

The whole key is msgspec JSON in ``data``; ``api_key`` has a unique index (a taken one is
``Conflict`` with ``field="api_key"``), and a revoked key keeps its row, so its
``api_key`` stays taken. Audited writes store their record in the transaction of the
change (:func:`~pulse_adapters.sqlite.audit.insert_audit`).

``last_used_at`` is also the column ``last_used_at_us``, so that :meth:`touch` is one
guarded ``UPDATE`` per key (``WHERE last_used_at_us IS NULL OR last_used_at_us < ?``),
the whole batch in one transaction: a batch flushed late by another process never moves
a time back, and nothing is read first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime

import msgspec

from pulse_adapters.sqlite.audit import insert_audit, micros
from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_core.errors import NotFound
from pulse_core.models.audit import AuditRecord
from pulse_core.models.keys import ApiKey
from pulse_core.ports.keys import ApiKeyRepository

_ENCODER = msgspec.json.Encoder()
_KEY = msgspec.json.Decoder(ApiKey)

# The queries, named so that tests can check each one is served by an index.
KEY_INSERT = (
    "INSERT INTO api_keys (id, project_id, api_key, last_used_at_us, data) VALUES (?, ?, ?, ?, ?)"
)
KEY_GET = "SELECT data FROM api_keys WHERE id = ? AND project_id = ?"
KEY_BY_API_KEY = "SELECT data FROM api_keys WHERE api_key = ?"
KEY_LIST = "SELECT data FROM api_keys WHERE project_id = ? ORDER BY id"
KEY_PAGE = "SELECT data FROM api_keys WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?"
KEY_UPDATE = (
    "UPDATE api_keys SET api_key = ?, last_used_at_us = ?, data = ? WHERE id = ? AND project_id = ?"
)
# `json(:at)` makes the encoded time a JSON string value inside `data`, exactly as
# msgspec writes it, so the row decodes as if the whole key had been rewritten.
KEY_TOUCH = (
    "UPDATE api_keys SET last_used_at_us = :at_us,"
    " data = json_set(data, '$.last_used_at', json(:at))"
    " WHERE id = :id AND (last_used_at_us IS NULL OR last_used_at_us < :at_us)"
)

KEY_REVOKE = (
    "UPDATE api_keys SET data = json_set(data, '$.revoked_at', json(:at))"
    " WHERE id = :id AND project_id = :project_id"
    " AND json_extract(data, '$.revoked_at') IS NULL"
)


def _json(obj: object) -> str:
    return _ENCODER.encode(obj).decode()


def _last_used(key: ApiKey) -> int | None:
    return None if key.last_used_at is None else micros(key.last_used_at)


class SqliteApiKeyRepository(ApiKeyRepository):
    """Keys in table ``api_keys``; every read and write of one key is scoped by project
    but :meth:`get_by_api_key` (authentication) and :meth:`touch` (by key id)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                KEY_INSERT, (key.id, key.project_id, key.api_key, _last_used(key), _json(key))
            )
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def get(self, project_id: str, key_id: str) -> ApiKey | None:
        def work(conn: sqlite3.Connection) -> ApiKey | None:
            row = conn.execute(KEY_GET, (key_id, project_id)).fetchone()
            return None if row is None else _KEY.decode(row[0])

        return await self._db.read(work)

    async def get_by_api_key(self, api_key: str) -> ApiKey | None:
        def work(conn: sqlite3.Connection) -> ApiKey | None:
            row = conn.execute(KEY_BY_API_KEY, (api_key,)).fetchone()
            return None if row is None else _KEY.decode(row[0])

        return await self._db.read(work)

    async def list_for_project(self, project_id: str) -> list[ApiKey]:
        def work(conn: sqlite3.Connection) -> list[ApiKey]:
            return [_KEY.decode(data) for (data,) in conn.execute(KEY_LIST, (project_id,))]

        return await self._db.read(work)

    async def list_page(self, project_id: str, *, after: str | None, limit: int) -> list[ApiKey]:
        params = (project_id, after or "", limit)  # every id is greater than ""

        def work(conn: sqlite3.Connection) -> list[ApiKey]:
            return [_KEY.decode(data) for (data,) in conn.execute(KEY_PAGE, params)]

        return await self._db.read(work)

    async def update(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            params = (key.api_key, _last_used(key), _json(key), key.id, key.project_id)
            if conn.execute(KEY_UPDATE, params).rowcount == 0:
                raise NotFound("api key not found")
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def revoke(
        self, project_id: str, key_id: str, at: datetime, *, audit: AuditRecord | None = None
    ) -> bool:
        params = {"id": key_id, "project_id": project_id, "at": _json(at)}

        def work(conn: sqlite3.Connection) -> bool:
            if conn.execute(KEY_REVOKE, params).rowcount == 0:
                return False
            if audit is not None:
                insert_audit(conn, audit)
            return True

        return await self._db.write(work)

    async def touch(self, last_used: Mapping[str, datetime]) -> None:
        if not last_used:
            return
        rows = [
            {"id": key_id, "at_us": micros(at), "at": _json(at)} for key_id, at in last_used.items()
        ]

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(KEY_TOUCH, rows)

        await self._db.write(work)
