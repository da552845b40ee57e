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
from typing import Any

import msgspec
import pytest

from pulse_adapters.sqlite import (
    SqliteApiKeyRepository,
    SqliteAuditRepository,
    SqliteConnectionRepository,
    SqliteDatabase,
    SqliteOrganizationRepository,
    SqliteProjectRepository,
    SqliteSessionRepository,
    SqliteUsageRepository,
    SqliteUserRepository,
    SqliteWebhookEndpointRepository,
)
from pulse_adapters.sqlite import audit as audit_queries
from pulse_adapters.sqlite import keys as key_queries
from pulse_adapters.sqlite import repositories as queries
from pulse_adapters.sqlite import usage as usage_queries
from pulse_adapters.sqlite import users as user_queries
from pulse_adapters.sqlite.database import SCHEMA_VERSION
from pulse_adapters.sqlite.schema import MIGRATIONS
from pulse_core.errors import Conflict, Unavailable
from pulse_core.models.events import WebhookEndpoint
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
    assert {"sessions", "api_keys", "audit_log"} <= names


async def test_data_survives_close_and_reopen(db_path: Path) -> None:
    org = builders.org(email="ops@acme.test")
    old_key = builders.project("x").api_key
    project = builders.project(org.id, previous_key=old_key)
    user = builders.user(org.id, email="ada@acme.test")
    record = builders.usage(project.id, quantity=3)
    connection = builders.connection(project.id)
    session = builders.session(user.id, org.id)
    key = builders.api_key(project.id, org.id)
    audit = builders.audit_record(org.id, action="key.created", resource_id=key.id)

    first = SqliteDatabase(db_path)
    await first.connect()
    await SqliteOrganizationRepository(first).add(org)
    await SqliteProjectRepository(first).add(project)
    await SqliteUserRepository(first).add(user)
    assert await SqliteUsageRepository(first).record([record]) == 1
    assert await SqliteConnectionRepository(first).open(connection)
    await SqliteSessionRepository(first).add(session)
    await SqliteApiKeyRepository(first).add(key, audit=audit)
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
        assert await SqliteSessionRepository(restarted).get(session.id) == session
        assert await SqliteApiKeyRepository(restarted).get_by_api_key(key.api_key) == key
        assert await SqliteAuditRepository(restarted).list_page(org.id, limit=10) == [audit]
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
    assert caught.value.detail == "a user with this email exists"

    keys = SqliteApiKeyRepository(db)
    key = builders.api_key("prj_a", "org_a")
    await keys.add(key)
    with pytest.raises(Conflict) as caught:
        await keys.add(builders.api_key("prj_b", "org_b", api_key=key.api_key))
    assert caught.value.field == "api_key"
    assert caught.value.detail == "api key already exists"


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
        (queries.PROJECT_TOUCH_KEYS, {"id": "prj_a", "at_us": 0, "at": '"x"'}),
        (user_queries.USER_BY_EMAIL, ("a@b.test",)),
        (user_queries.USER_LIST, ("org_a", "", 10)),
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


def _access_queries() -> list[Any]:
    audit_filters: dict[str, Any] = {
        "org_id": "org_a",
        "action": None,
        "resource_id": None,
        "since": None,
        "before": "\U0010ffff",
        "limit": 10,
    }
    cases: dict[str, tuple[str, Any]] = {
        "USER_GET": (user_queries.USER_GET, ("usr_a",)),
        "USER_UPDATE": (user_queries.USER_UPDATE, ("a@b.test", "org_a", None, "{}", "usr_a")),
        "SESSION_LIVE": (user_queries.SESSION_LIVE, ("ses_a", 0)),
        "SESSION_LIVE_OF_USER": (user_queries.SESSION_LIVE_OF_USER, ("usr_a", 0)),
        "SESSION_REVOKE": (user_queries.SESSION_REVOKE, (0, "{}", "ses_a")),
        "SESSION_PURGE": (user_queries.SESSION_PURGE, (0,)),
        "KEY_GET": (key_queries.KEY_GET, ("key_a", "prj_a")),
        "KEY_BY_API_KEY": (key_queries.KEY_BY_API_KEY, ("pk_a",)),
        "KEY_LIST": (key_queries.KEY_LIST, ("prj_a",)),
        "KEY_PAGE": (key_queries.KEY_PAGE, ("prj_a", "key_a", 51)),
        "KEY_UPDATE": (key_queries.KEY_UPDATE, ("pk_a", None, "{}", "key_a", "prj_a")),
        "KEY_TOUCH": (key_queries.KEY_TOUCH, {"id": "key_a", "at_us": 0, "at": '"x"'}),
        "AUDIT_LIST": (audit_queries.AUDIT_LIST, audit_filters),
        "AUDIT_LIST platform since": (
            audit_queries.AUDIT_LIST,
            {**audit_filters, "org_id": None, "since": 0},
        ),
        "AUDIT_LIST_OF_ACTION": (
            audit_queries.AUDIT_LIST_OF_ACTION,
            {**audit_filters, "action": "project.updated", "since": 0},
        ),
        "AUDIT_LIST_OF_RESOURCE": (
            audit_queries.AUDIT_LIST_OF_RESOURCE,
            {**audit_filters, "resource_id": "prj_a", "action": "project.updated"},
        ),
        "AUDIT_LIST_OF_RESOURCE platform": (
            audit_queries.AUDIT_LIST_OF_RESOURCE,
            {**audit_filters, "org_id": None, "resource_id": "org_a"},
        ),
        "AUDIT_PURGE": (audit_queries.AUDIT_PURGE, (0, 10)),
    }
    return [pytest.param(sql, params, id=name) for name, (sql, params) in cases.items()]


@pytest.mark.parametrize(("sql", "params"), _access_queries())
async def test_access_queries_use_an_index_and_no_sort(
    db: SqliteDatabase, sql: str, params: Any
) -> None:
    """Users (the partial indexes included: each query spells their condition), sessions,
    keys and the audit log, the platform's own records (``org_id IS NULL``) included."""
    plan = await db.read(
        lambda c: [row[3] for row in c.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    )
    steps = [step for step in plan if not step.startswith("LIST SUBQUERY")]
    assert steps and all("USING" in step and "INDEX" in step for step in steps), plan
    assert not any("TEMP B-TREE" in step or step.startswith("SCAN") for step in plan), plan


# -- migration 6: access tables -------------------------------------------------------------


async def test_migration_6_reshapes_users_and_adds_the_access_tables(db_path: Path) -> None:
    """A file at version 5 (users in migration 1's shape, never written in production)
    comes up with the new users table and its partial email rule."""
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    for number, statements in enumerate(MIGRATIONS[:5], start=1):
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    # A row in the old shape anyway: dropped with its table, not converted.
    conn.execute(
        "INSERT INTO users (id, email, org_id, data)"
        " VALUES ('usr_old', 'root@pulse.test', 'org_a', '{}')"
    )
    conn.close()

    database = SqliteDatabase(db_path)
    await database.connect()
    try:
        users = SqliteUserRepository(database)
        admin = builders.user(None, email="root@pulse.test", role="admin")
        assert await users.get("usr_old") is None
        await users.add(admin)
        assert await users.get_by_email("root@pulse.test") == admin
        await users.update(msgspec.structs.replace(admin, removed_at=builders.T0))
        await users.add(builders.user(None, email="root@pulse.test", role="admin"))
    finally:
        await database.close()
    assert _user_version(db_path) == SCHEMA_VERSION
    names = {name for _, name, _ in _schema(db_path)}
    assert "users_email" not in names  # migration 1's full unique index went with its table
    assert {"users_present_email", "users_present_org_id", "sessions_user_id"} <= names
    assert {"api_keys_api_key", "api_keys_project_id", "audit_log_org_id", "audit_log_at"} <= names


# -- audited writes: one transaction -------------------------------------------------------


async def test_a_write_whose_audit_row_fails_is_rolled_back(db: SqliteDatabase) -> None:
    """The change and its record commit together: when storing the record fails (here a
    trigger refuses it, as a full disk would), the change is not stored either."""
    orgs, endpoints = SqliteOrganizationRepository(db), SqliteWebhookEndpointRepository(db)
    sessions, keys = SqliteSessionRepository(db), SqliteApiKeyRepository(db)
    audit = SqliteAuditRepository(db)
    org = builders.org()
    endpoint = WebhookEndpoint(
        id="whe_a",
        project_id="prj_a",
        url="https://hooks.example.com/pulse",
        secret="whsec_" + "a" * 32,
        created_at=builders.T0,
        updated_at=builders.T0,
    )
    session = builders.session("usr_a", org.id)
    key = builders.api_key("prj_a", org.id)
    await endpoints.add(endpoint)
    await sessions.add(session)
    await keys.add(key)
    await db.write(
        lambda c: c.execute(
            "CREATE TEMP TRIGGER refuse_audit BEFORE INSERT ON audit_log"
            " BEGIN SELECT RAISE(ABORT, 'audit log refused'); END"
        )
    )
    record = builders.audit_record(org.id)
    later = builders.T0 + timedelta(minutes=1)

    with pytest.raises(sqlite3.IntegrityError, match="audit log refused"):
        await orgs.add(org, audit=record)
    with pytest.raises(sqlite3.IntegrityError):
        await endpoints.delete("prj_a", "whe_a", audit=record)
    with pytest.raises(sqlite3.IntegrityError):
        await sessions.revoke(session.id, later, audit=record)
    with pytest.raises(sqlite3.IntegrityError):
        await keys.update(msgspec.structs.replace(key, revoked_at=later), audit=record)

    assert await orgs.get(org.id) is None
    assert await endpoints.get("prj_a", "whe_a") == endpoint
    assert await sessions.get(session.id) == session
    assert await keys.get("prj_a", key.id) == key
    await db.write(lambda c: c.execute("DROP TRIGGER temp.refuse_audit"))
    assert await audit.list_page(org.id, limit=10) == []
    # Without the trigger, the same write goes through with its record.
    await orgs.add(org, audit=record)
    assert await audit.list_page(org.id, limit=10) == [record]


async def test_touch_writes_a_batch_in_one_transaction_and_keeps_data_decodable(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = SqliteApiKeyRepository(db)
    batch = [builders.api_key("prj_a", "org_a") for _ in range(50)]
    for key in batch:
        await keys.add(key)
    at = builders.T0 + timedelta(seconds=1, microseconds=123456)
    transactions = 0
    write = db.write

    async def counted(work: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return await write(work)

    monkeypatch.setattr(db, "write", counted)
    await keys.touch({key.id: at for key in batch})
    assert transactions == 1
    listed = await keys.list_for_project("prj_a")
    assert listed == [msgspec.structs.replace(key, last_used_at=at) for key in batch]
    # The column moved with the JSON: an older time is refused by the guard in SQL.
    await keys.touch({batch[0].id: builders.T0})
    assert await keys.get("prj_a", batch[0].id) == listed[0]


async def test_touch_keys_writes_a_batch_in_one_transaction_and_keeps_data_decodable(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    projects = SqliteProjectRepository(db)
    batch = [builders.project("org_a", previous_key=builders.project("x").api_key)]
    batch += [builders.project("org_a") for _ in range(49)]
    for project in batch:
        await projects.add(project)
    at = builders.T0 + timedelta(seconds=1, microseconds=123456)
    transactions = 0
    write = db.write

    async def counted(work: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return await write(work)

    monkeypatch.setattr(db, "write", counted)
    await projects.touch_keys({project.id: at for project in batch})
    assert transactions == 1
    listed = await projects.list_page(org_id="org_a", after=None, limit=100)
    expected = [msgspec.structs.replace(p, key_last_used_at=at) for p in batch]
    assert listed == sorted(expected, key=lambda p: p.id)
    # The column moved with the JSON: an older time is refused by the guard in SQL.
    await projects.touch_keys({batch[0].id: builders.T0})
    assert await projects.get(batch[0].id) == expected[0]
    # The key columns were left alone (no trigger ran): both keys still find it.
    assert batch[0].previous is not None
    assert await projects.get_by_api_key(batch[0].previous.api_key) == expected[0]


async def test_migration_10_adds_key_last_used_to_existing_projects(db_path: Path) -> None:
    """A file at version 9 with a project comes up with the new column NULL: the project
    reads back as never used, and touch_keys then moves it forward."""
    project = builders.project("org_a")
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    for number, statements in enumerate(MIGRATIONS[:9], start=1):
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    # The row as Pulse before migration 10 wrote it: no column, no field in `data`.
    fields = msgspec.to_builtins(project)
    del fields["key_last_used_at"]
    data = msgspec.json.encode(fields).decode()
    conn.execute(
        "INSERT INTO projects (id, org_id, api_key, previous_api_key, is_deleted, data)"
        " VALUES (?, ?, ?, NULL, 0, ?)",
        (project.id, project.org_id, project.api_key, data),
    )
    conn.close()

    database = SqliteDatabase(db_path)
    await database.connect()
    try:
        projects = SqliteProjectRepository(database)
        assert await projects.get(project.id) == project
        at = builders.T0 + timedelta(seconds=3)
        await projects.touch_keys({project.id: at})
        assert await projects.get_by_api_key(project.api_key) == msgspec.structs.replace(
            project, key_last_used_at=at
        )
    finally:
        await database.close()
    assert _user_version(db_path) == SCHEMA_VERSION >= 10
