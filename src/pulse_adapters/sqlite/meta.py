"""SQLite meta values (:mod:`pulse_core.ports.meta`): table ``meta`` (migration 8 of
:mod:`pulse_adapters.sqlite.schema`), one row per name."""

from __future__ import annotations

import sqlite3

from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_core.ports.meta import MetaRepository

META_GET = "SELECT value FROM meta WHERE name = ?"
# The primary key decides between two first writers, inside the write transaction.
META_INSERT = "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"


class SqliteMetaRepository(MetaRepository):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def get(self, name: str) -> str | None:
        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(META_GET, (name,)).fetchone()
            return None if row is None else str(row[0])

        return await self._db.read(work)

    async def put_if_absent(self, name: str, value: str) -> str:
        def work(conn: sqlite3.Connection) -> str:
            conn.execute(META_INSERT, (name, value))
            return str(conn.execute(META_GET, (name,)).fetchone()[0])

        return await self._db.write(work)
