"""Bringing a SQLite file's schema up to date: the migrations of
:mod:`pulse_adapters.sqlite.schema` it lacks, applied when
:class:`~pulse_adapters.sqlite.database.SqliteDatabase` connects."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pulse_adapters.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from pulse_core.errors import Unavailable


def read_user_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Apply the migrations the file lacks, all in one transaction.

    The version is read after taking the write lock, so two processes starting together
    cannot both apply the same migration; DDL and ``user_version`` are transactional in
    SQLite, so a crash leaves the file at the old version, never half-migrated.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = read_user_version(conn)
        if version > SCHEMA_VERSION:
            raise Unavailable(
                f"SQLite database {path} has schema version {version}, newer than the "
                f"{SCHEMA_VERSION} this version of Pulse knows; upgrade Pulse"
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number - 1]:
                conn.execute(statement)
            # PRAGMA takes no parameters; `number` is an int from our own table.
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
