"""What the SQLite adapter promises beyond the shared repository contract: one file that
is created on first start, survives restarts, migrates idempotently, and keeps its
uniqueness rules under concurrent writers, across processes, and under lock contention."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from pulse_adapters.sqlite import (
    SqliteConnectionRepository,
    SqliteDatabase,
    SqliteOrganizationRepository,
    SqliteProjectRepository,
    SqliteUsageRepository,
    SqliteUserRepository,
)
from pulse_adapters.sqlite import repositories as queries
from pulse_adapters.sqlite import usage as usage_queries
from pulse_adapters.sqlite.database import SCHEMA_VERSION
from pulse_core.errors import Conflict, Unavailable
from pulse_core.models.usage import UsageTotal
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


def _schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        conn.close()


def _prepare_file(path: Path, *, user_version: int | None = None, raw: bytes | None = None) -> None:
    """Put a file at ``path`` as another program (a newer Pulse, anything) left it."""
    path.parent.mkdir(parents=True)
    if raw is not None:
        path.write_bytes(raw)
    if user_version is not None:
        conn = sqlite3.connect(path)
        conn.execute(f"PRAGMA user_version = {user_version}")
        conn.close()


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version
    finally:
        conn.close()


# -- the file ---------------------------------------------------------------------------


async def test_first_connect_creates_directory_file_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "pulse.sqlite3"
    assert not path.parent.exists()
    database = SqliteDatabase(path)
    await database.connect()
    try:
        assert path.is_file()
        await database.ping()
        mode = await database.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
        assert await database.read(lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0]) == 1
    finally:
        await database.close()
    assert _user_version(path) == SCHEMA_VERSION >= 1
    names = {name for _, name, _ in _schema(path)}
    assert {"organizations", "projects", "project_keys", "users", "usage_records"} <= names
    assert {"usage_rollups", "open_connections"} <= names


async def test_data_survives_close_and_reopen(db_path: Path) -> None:
    org = builders.org(email="ops@acme.test")
    old_key = builders.project("x").api_key
    project = builders.project(org.id, previous_key=old_key)
    user = builders.user(org.id, email="ada@acme.test")
    record = builders.usage(project.id, quantity=3)
    connection = builders.connection(project.id)

    first = SqliteDatabase(db_path)
    await first.connect()
    await SqliteOrganizationRepository(first).add(org)
    await SqliteProjectRepository(first).add(project)
    await SqliteUserRepository(first).add(user)
    assert await SqliteUsageRepository(first).record([record]) == 1
    assert await SqliteConnectionRepository(first).open(connection)
    await first.close()

    restarted = SqliteDatabase(db_path)
    await restarted.connect()
    try:
        orgs = SqliteOrganizationRepository(restarted)
        projects = SqliteProjectRepository(restarted)
        loaded = await orgs.get(org.id)
        assert loaded == org
        assert loaded is not None and loaded.created_at.tzinfo is not None
        assert await projects.get_by_api_key(old_key) == project
        assert await SqliteUserRepository(restarted).get_by_email("ada@acme.test") == user
        usage = SqliteUsageRepository(restarted)
        assert await usage.record([record]) == 0  # still known: not counted again
        assert await usage.totals(
            [project.id],
            granularity="day",
            since=builders.T0 - timedelta(days=1),
            until=builders.T0,
        ) == [
            UsageTotal(
                project_id=project.id,
                metric=record.metric,
                period_start=builders.T0.replace(hour=0),
                quantity=3,
            )
        ]
        connections = SqliteConnectionRepository(restarted)
        assert await connections.list_room(project.id, connection.livekit_room) == [connection]
        # The rules are in the file, not in the process that wrote it.
        with pytest.raises(Conflict):
            await orgs.add(builders.org(email="ops@acme.test"))
        with pytest.raises(Conflict):
            await projects.add(builders.project(org.id, api_key=old_key))
    finally:
        await restarted.close()


async def test_schema_application_is_idempotent(db_path: Path) -> None:
    database = SqliteDatabase(db_path)
    await database.connect()
    await database.connect()  # no-op on a connected database
    org = builders.org()
    await SqliteOrganizationRepository(database).add(org)
    await database.close()
    schema = _schema(db_path)

    for _ in range(2):  # restarts re-run the migration step on an up-to-date file
        again = SqliteDatabase(db_path)
        await again.connect()
        assert await SqliteOrganizationRepository(again).get(org.id) == org
        await again.close()

    assert _schema(db_path) == schema
    assert _user_version(db_path) == SCHEMA_VERSION


async def test_a_file_from_a_newer_pulse_is_refused(db_path: Path) -> None:
    _prepare_file(db_path, user_version=SCHEMA_VERSION + 1)
    with pytest.raises(Unavailable, match="newer"):
        await SqliteDatabase(db_path).connect()


async def test_a_file_that_is_not_a_database_is_unavailable(db_path: Path) -> None:
    _prepare_file(db_path, raw=b"certainly not an SQLite file" * 100)
    with pytest.raises(Unavailable) as caught:
        await SqliteDatabase(db_path).connect()
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


# -- lifecycle ----------------------------------------------------------------------------


async def test_using_a_database_before_connect_or_after_close_is_unavailable(
    db_path: Path,
) -> None:
    database = SqliteDatabase(db_path)
    orgs = SqliteOrganizationRepository(database)
    with pytest.raises(Unavailable, match="not connected"):
        await orgs.get("org_x")
    await database.connect()
    await database.ping()
    await database.close()
    await database.close()  # idempotent
    with pytest.raises(Unavailable, match="not connected"):
        await orgs.add(builders.org())
    with pytest.raises(Unavailable):
        await database.ping()


# -- uniqueness, with the offending field ------------------------------------------------


async def test_conflicts_name_the_offending_field(db: SqliteDatabase) -> None:
    orgs, users = SqliteOrganizationRepository(db), SqliteUserRepository(db)
    await orgs.add(builders.org(email="ops@acme.test"))
    with pytest.raises(Conflict) as caught:
        await orgs.add(builders.org(email="ops@acme.test"))
    assert caught.value.field == "admin_email"
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)

    await users.add(builders.user("org_a", email="ada@acme.test"))
    with pytest.raises(Conflict) as caught:
        await users.add(builders.user("org_b", email="ada@acme.test"))
    assert caught.value.field == "email"


async def test_a_key_is_unique_across_current_and_previous_columns(db: SqliteDatabase) -> None:
    projects = SqliteProjectRepository(db)
    old_key = builders.project("x").api_key
    rotated = builders.project("org_a", previous_key=old_key)
    await projects.add(rotated)

    # Another project's current key may not be this one's previous key...
    with pytest.raises(Conflict) as caught:
        await projects.add(builders.project("org_b", api_key=old_key))
    assert caught.value.field == "api_key"
    # ... nor its previous key this one's current key.
    with pytest.raises(Conflict):
        await projects.add(builders.project("org_b", previous_key=rotated.api_key))

    # A failed update writes nothing: both keys still lead to the unchanged project.
    other = builders.project("org_b")
    await projects.add(other)
    with pytest.raises(Conflict):
        await projects.update(msgspec.structs.replace(other, api_key=old_key))
    assert await projects.get_by_api_key(old_key) == rotated
    assert await projects.get_by_api_key(other.api_key) == other


async def test_deleted_projects_keep_their_keys_reserved(db: SqliteDatabase) -> None:
    projects = SqliteProjectRepository(db)
    old_key = builders.project("x").api_key
    doomed = builders.project("org_a", previous_key=old_key)
    await projects.add(doomed)
    assert await projects.delete_for_organization("org_a", builders.T0) == [doomed.id]
    for key in (doomed.api_key, old_key):
        assert await projects.get_by_api_key(key) is None
        with pytest.raises(Conflict):
            await projects.add(builders.project("org_b", api_key=key))


# -- concurrency ----------------------------------------------------------------------------


async def test_concurrent_adds_of_one_email_let_exactly_one_win(db: SqliteDatabase) -> None:
    orgs = SqliteOrganizationRepository(db)
    candidates = [builders.org(email="race@acme.test") for _ in range(50)]
    results = await asyncio.gather(*(orgs.add(o) for o in candidates), return_exceptions=True)
    assert sum(r is None for r in results) == 1
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 49
    assert {c.field for c in conflicts} == {"admin_email"}
    listed = await orgs.list_page(after=None, limit=100)
    assert [o.admin_email for o in listed] == ["race@acme.test"]


async def test_two_databases_on_one_file_share_writes_and_rules(db_path: Path) -> None:
    """Two SqliteDatabase objects, each with its own connection and worker thread, stand
    in for two processes sharing the file."""
    a, b = SqliteDatabase(db_path), SqliteDatabase(db_path)
    await a.connect()
    await b.connect()
    try:
        orgs_a, orgs_b = SqliteOrganizationRepository(a), SqliteOrganizationRepository(b)
        org = builders.org(email="shared@acme.test")
        await orgs_a.add(org)
        assert await orgs_b.get(org.id) == org
        with pytest.raises(Conflict):
            await orgs_b.add(builders.org(email="shared@acme.test"))

        project = builders.project(org.id)
        await SqliteProjectRepository(a).add(project)
        with pytest.raises(Conflict):
            await SqliteProjectRepository(b).add(
                builders.project(org.id, previous_key=project.api_key)
            )

        # Racing through both "processes" at once: still exactly one winner.
        racers = [
            (orgs_a if i % 2 else orgs_b, builders.org(email="race@acme.test")) for i in range(40)
        ]
        results = await asyncio.gather(*(repo.add(o) for repo, o in racers), return_exceptions=True)
        assert sum(r is None for r in results) == 1
        assert all(isinstance(r, Conflict) for r in results if r is not None)
        emails = [o.admin_email for o in await orgs_a.list_page(after=None, limit=100)]
        assert sorted(emails) == ["race@acme.test", "shared@acme.test"]
    finally:
        await a.close()
        await b.close()


async def test_a_locked_file_gives_unavailable_within_the_timeout(db_path: Path) -> None:
    timeout = 0.2
    database = SqliteDatabase(db_path, timeout_seconds=timeout)
    await database.connect()
    orgs = SqliteOrganizationRepository(database)
    existing = builders.org()
    await orgs.add(existing)
    # Another process holds the write lock and does not let go.
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        # The event loop keeps running while the worker waits for the lock.
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        waiting = [builders.org() for _ in range(5)]
        started = time.monotonic()
        results = await asyncio.gather(*(orgs.add(o) for o in waiting), return_exceptions=True)
        elapsed = time.monotonic() - started
        ticking.cancel()

        assert all(isinstance(r, Unavailable) for r in results), results
        # Queued calls share the first one's wait instead of each waiting in turn
        # (5 x 0.2 s): the deadline counts from the call, not from when it runs.
        assert elapsed < 3 * timeout
        assert ticks >= 10
        # WAL: readers are not blocked by the writer.
        assert await orgs.get(existing.id) == existing
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    try:
        for org in waiting:  # the refused writes wrote nothing
            assert await orgs.get(org.id) is None
        await orgs.add(waiting[0])  # and the file is writable again
        assert await orgs.get(waiting[0].id) == waiting[0]
    finally:
        await database.close()


# -- every list query is served by an index ------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        (queries.ORGANIZATION_LIST, ("", 10)),
        (queries.PROJECT_LIST, ("", 10)),
        (queries.PROJECT_LIST_OF_ORG, ("org_a", "", 10)),
        (queries.PROJECT_LIVE_OF_ORG, ("org_a",)),
        (queries.PROJECT_BY_KEY, ("key",)),
        (queries.USER_BY_EMAIL, ("a@b.test",)),
        (queries.USER_LIST, ("org_a", "", 10)),
        (usage_queries.CONNECTION_LIST_ROOM, ("prj_a", "lk_room")),
    ],
)
async def test_queries_use_an_index_and_no_sort(
    db: SqliteDatabase, sql: str, params: tuple[object, ...] | dict[str, object]
) -> None:
    plan = await db.read(
        lambda c: [row[3] for row in c.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    )
    assert plan and all("USING INDEX" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
