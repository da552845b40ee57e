"""What the SQLite usage adapter promises beyond the shared usage contract: its queries
walk their indexes, and migration 5 replaces the first, unused, usage table."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pulse_adapters.sqlite import SqliteDatabase, SqliteUsageRepository
from pulse_adapters.sqlite import usage as usage_queries
from pulse_adapters.sqlite.database import SCHEMA_VERSION
from pulse_adapters.sqlite.schema import MIGRATIONS
from tests.support import builders


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "pulse.sqlite3"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(db_path)
    await database.connect()
    try:
        yield database
    finally:
        await database.close()


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("sql", "params", "index"),
    [
        # A project's totals: one range of the roll-ups' primary key per project (the
        # few rows of the window are then sorted).
        (
            usage_queries.TOTALS,
            {
                "projects": '["prj_a"]',
                "granularity": "day",
                "since": 0,
                "until": 9,
                "metrics": None,
            },
            "SEARCH usage_rollups USING PRIMARY KEY (project_id=? AND granularity=? AND"
            " period_start_us>? AND period_start_us<?)",
        ),
        (
            usage_queries.CONNECTION_LIST_ROOMS,
            ("prj_a", "lk_1", 10),
            "SEARCH open_connections USING COVERING INDEX open_connections_room"
            " ((project_id,livekit_room)>(?,?))",
        ),
        (
            usage_queries.RECORD_PURGE,
            (0, 10),
            "SEARCH usage_records USING INDEX usage_records_timestamp (timestamp_us<?)",
        ),
        (
            usage_queries.ROLLUP_PURGE,
            (0, 10),
            "SEARCH usage_rollups USING COVERING INDEX usage_rollups_period_start"
            " (period_start_us<?)",
        ),
    ],
)
async def test_usage_queries_walk_their_index(
    db: SqliteDatabase, sql: str, params: tuple[object, ...] | dict[str, object], index: str
) -> None:
    plan = await db.read(
        lambda c: [row[3] for row in c.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    )
    assert index in plan, plan
    assert not any(step.startswith("SCAN usage") for step in plan), plan


async def test_migration_5_replaces_the_unused_usage_table(db_path: Path) -> None:
    # A file at version 4, whose first usage_records table (never written in production)
    # holds a row anyway: the migration drops it and creates the metering tables.
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    for statement in (s for migration in MIGRATIONS[:4] for s in migration):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO usage_records (id, project_id, timestamp_us, data)"
        " VALUES ('use_1', 'prj_a', 0, '{}')"
    )
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()

    database = SqliteDatabase(db_path)
    await database.connect()
    try:
        usage = SqliteUsageRepository(database)
        assert await usage.record([builders.usage("prj_a", record_id="use_1")]) == 1
    finally:
        await database.close()
    assert _user_version(db_path) == SCHEMA_VERSION >= 5
    columns = sqlite3.connect(db_path).execute("PRAGMA table_info(usage_records)").fetchall()
    assert [c[1] for c in columns] == [
        "id", "project_id", "metric", "kind", "quantity", "timestamp_us",
    ]  # fmt: skip
