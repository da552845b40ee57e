"""The Mongo adapter under faults: outages, stalls, restarts and duplicate keys.

Each outage test owns a :class:`MongoWireServer` on its own port, so stopping it cannot
disturb other tests. The adapter runs with ``timeout_seconds=1``; every failing call must
raise ``Unavailable`` well within ``HANG_LIMIT`` seconds, and is additionally wrapped in
``asyncio.timeout`` so that a real hang fails the test instead of blocking the run.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from pulse_adapters.mongo import (
    MongoConnectionRepository,
    MongoDatabase,
    MongoOrganizationRepository,
    MongoProjectRepository,
    MongoUsageRepository,
    MongoUserRepository,
    translate,
)
from pulse_core.errors import Conflict, Unavailable
from tests.support import builders
from tests.support.mongo_wire_server import MongoWireServer
from tests.support.ports import free_port

TIMEOUT = 1.0  # the adapter's configured timeout in these tests
T0, T1 = builders.T0, builders.T0 + timedelta(hours=1)  # the builders' hour
HANG_LIMIT = 5.0  # a call that takes longer than this counts as a hang


@dataclass
class Repos:
    db: MongoDatabase
    organizations: MongoOrganizationRepository
    projects: MongoProjectRepository
    users: MongoUserRepository
    usage: MongoUsageRepository
    connections: MongoConnectionRepository


def _repos(db: MongoDatabase) -> Repos:
    return Repos(
        db=db,
        organizations=MongoOrganizationRepository(db),
        projects=MongoProjectRepository(db),
        users=MongoUserRepository(db),
        usage=MongoUsageRepository(db),
        connections=MongoConnectionRepository(db),
    )


@pytest.fixture
def wire() -> Iterator[MongoWireServer]:
    server = MongoWireServer(port=free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def repos(wire: MongoWireServer) -> AsyncIterator[Repos]:
    db = MongoDatabase(wire.uri, "pulse_faults", timeout_seconds=TIMEOUT)
    await db.connect()
    try:
        yield _repos(db)
    finally:
        await db.close()


async def _unavailable_within_limit(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        async with asyncio.timeout(HANG_LIMIT * 2):
            await call()
    elapsed = time.monotonic() - started
    assert elapsed < HANG_LIMIT, f"took {elapsed:.2f}s"
    assert caught.value.__cause__ is not None  # raised `from` the driver's error
    return elapsed


# -- outages -----------------------------------------------------------------------------


@pytest.mark.slow
async def test_outage_raises_unavailable_in_time_and_restart_recovers(
    wire: MongoWireServer, repos: Repos
) -> None:
    org = builders.org()
    project = builders.project(org.id, previous_key=builders.project("x").api_key)
    user = builders.user(org.id)
    record = builders.usage(project.id, quantity=4)
    connection = builders.connection(project.id)
    await repos.organizations.add(org)
    await repos.projects.add(project)
    await repos.users.add(user)
    assert await repos.usage.record([record]) == 1
    assert await repos.connections.open(connection)

    wire.stop()
    during = builders.org()
    calls: list[Callable[[], Awaitable[Any]]] = [
        repos.db.ping,
        lambda: repos.organizations.get(org.id),
        lambda: repos.organizations.add(during),
        lambda: repos.organizations.list_page(after=None, limit=10),
        lambda: repos.organizations.update(msgspec.structs.replace(org, name="During")),
        lambda: repos.projects.get_by_api_key(project.api_key),
        lambda: repos.projects.list_page(org_id=org.id, after=None, limit=10),
        lambda: repos.projects.delete_for_organization(org.id, builders.T0),
        lambda: repos.users.get_by_email(user.email),
        lambda: repos.usage.record([builders.usage(project.id)]),
        lambda: repos.usage.totals([project.id], granularity="hour", since=T0, until=T1),
        lambda: repos.usage.purge(records_before=T0, rollups_before=T0),
        lambda: repos.usage.repair(pending_before=T1),
        lambda: repos.connections.open(builders.connection(project.id)),
        lambda: repos.connections.close(project.id, connection.participant_sid),
        lambda: repos.connections.list_room(project.id, connection.livekit_room),
        lambda: repos.connections.list_rooms(limit=10),
        repos.db.ensure_indexes,
    ]
    # Concurrently: each is timed on its own, and the test stays at ~1 s instead of ~12.
    await asyncio.gather(*(_unavailable_within_limit(call) for call in calls))

    wire.start()
    # The driver rediscovers the server on its own (server selection asks the monitor
    # for an immediate check); the same MongoDatabase object must work again.
    async with asyncio.timeout(HANG_LIMIT * 2):
        await repos.db.ping()
    assert await repos.organizations.get(org.id) == org
    assert await repos.organizations.get(during.id) is None  # never reached the server
    assert await repos.projects.get(project.id) == project
    assert await repos.projects.get_by_api_key(project.api_key) == project
    assert await repos.users.get(user.id) == user
    assert await repos.usage.record([record]) == 0
    totals = await repos.usage.totals([project.id], granularity="hour", since=T0, until=T1)
    assert [t.quantity for t in totals] == [4]
    assert await repos.connections.list_room(project.id, connection.livekit_room) == [connection]
    await repos.organizations.add(during)
    assert await repos.organizations.get(during.id) == during


@pytest.mark.slow
async def test_connect_to_a_server_that_is_not_there_is_unavailable() -> None:
    db = MongoDatabase(f"mongodb://127.0.0.1:{free_port()}/", "pulse", timeout_seconds=TIMEOUT)
    try:
        elapsed = await _unavailable_within_limit(db.connect)
        assert elapsed >= TIMEOUT * 0.5  # it did wait for the server, then gave up
    finally:
        await db.close()


@pytest.mark.slow
async def test_a_server_that_accepts_but_never_answers_is_unavailable() -> None:
    # The kernel completes TCP handshakes for the listen backlog, so the driver connects
    # and then waits for a reply that never comes: the "too slow" case.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        db = MongoDatabase(
            f"mongodb://127.0.0.1:{port}/?directConnection=true", "pulse", timeout_seconds=TIMEOUT
        )
        try:
            await _unavailable_within_limit(db.connect)
            repo = MongoOrganizationRepository(db)
            await _unavailable_within_limit(lambda: repo.get(builders.org().id))
        finally:
            await db.close()


def test_construction_does_no_io() -> None:
    # Nothing listens there and no event loop runs: building must still succeed at once.
    started = time.monotonic()
    MongoDatabase(f"mongodb://127.0.0.1:{free_port()}/", "pulse", timeout_seconds=TIMEOUT)
    assert time.monotonic() - started < 0.5


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MongoDatabase("mongodb://127.0.0.1:27017/", "pulse", timeout_seconds=0)


# -- duplicate keys ----------------------------------------------------------------------


async def test_duplicates_are_conflicts_naming_the_field(repos: Repos) -> None:
    org = builders.org(email="ops@acme.test")
    await repos.organizations.add(org)
    with pytest.raises(Conflict) as caught:
        await repos.organizations.add(builders.org(email="ops@acme.test"))
    assert caught.value.field == "admin_email"
    with pytest.raises(Conflict) as caught:
        await repos.organizations.add(msgspec.structs.replace(builders.org(), id=org.id))
    assert caught.value.field == "id"

    current = builders.project(org.id, previous_key=builders.project("x").api_key)
    assert current.previous is not None
    await repos.projects.add(current)
    # current vs current, previous vs previous, and both cross-slot cases
    clashes = [
        builders.project(org.id, api_key=current.api_key),
        builders.project(org.id, previous_key=current.previous.api_key),
        builders.project(org.id, api_key=current.previous.api_key),
        builders.project(org.id, previous_key=current.api_key),
    ]
    for clash in clashes:
        with pytest.raises(Conflict) as caught:
            await repos.projects.add(clash)
        assert caught.value.field == "api_key"
        assert await repos.projects.get(clash.id) is None

    other = builders.project(org.id)
    await repos.projects.add(other)
    with pytest.raises(Conflict) as caught:  # an update that would take a held key
        await repos.projects.update(
            msgspec.structs.replace(
                other,
                previous=msgspec.structs.replace(current.previous, api_key=current.api_key),
            )
        )
    assert caught.value.field == "api_key"
    assert await repos.projects.get(other.id) == other

    user = builders.user(org.id, email="ada@acme.test")
    await repos.users.add(user)
    with pytest.raises(Conflict) as caught:
        await repos.users.add(builders.user(org.id, email="ada@acme.test"))
    assert caught.value.field == "email"


async def test_concurrent_adds_of_one_key_admit_exactly_one(repos: Repos) -> None:
    # The server's unique indexes decide, not a check-then-write in the adapter.
    org_id = builders.org().id
    key = builders.project("x").api_key
    contenders = [builders.project(org_id, api_key=key) for _ in range(5)] + [
        builders.project(org_id, previous_key=key) for _ in range(5)
    ]
    results = await asyncio.gather(
        *(repos.projects.add(p) for p in contenders), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if r is not None)


async def test_cascade_also_deletes_and_reports_a_project_created_mid_cascade(
    repos: Repos,
) -> None:
    # White-box: a project is inserted between the cascade's read of the ids and its
    # update_many, the window delete_for_organization documents.
    org_id = builders.org().id
    first, late = builders.project(org_id), builders.project(org_id)
    await repos.projects.add(first)
    collection = repos.projects._projects
    other_repo = MongoProjectRepository(repos.db)

    class InsertsBeforeUpdate:
        def __getattr__(self, name: str) -> Any:
            return getattr(collection, name)

        async def update_many(self, *args: Any, **kwargs: Any) -> Any:
            await other_repo.add(late)
            return await collection.update_many(*args, **kwargs)

    repos.projects._projects = InsertsBeforeUpdate()  # type: ignore[assignment]
    deleted = await repos.projects.delete_for_organization(org_id, builders.T0)
    assert sorted(deleted) == sorted([first.id, late.id])
    assert await other_repo.get(late.id) is None


# -- the translation table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_pattern", "field"),
    [
        ({"admin_email": 1}, "admin_email"),
        ({"pulse_api_key": 1}, "api_key"),
        ({"previous_api_key": 1}, "api_key"),
        ({"api_keys": 1}, "api_key"),
        ({"email": 1}, "email"),
        ({"_id": 1}, "id"),
    ],
)
def test_duplicate_key_errors_name_the_domain_field(
    key_pattern: dict[str, int], field: str
) -> None:
    dup = DuplicateKeyError("E11000", 11000, {"code": 11000, "keyPattern": key_pattern})
    assert isinstance(converted := translate(dup, "insert"), Conflict)
    assert converted.field == field
    bulk = BulkWriteError({"writeErrors": [{"index": 0, "code": 11000, "keyPattern": key_pattern}]})
    assert isinstance(converted := translate(bulk, "insert"), Conflict)
    assert converted.field == field


def test_duplicate_key_without_key_pattern_falls_back_to_the_index_name() -> None:
    dup = DuplicateKeyError(
        "E11000 duplicate key error collection: db.users index: email_1 dup key: { email: 1 }",
        11000,
    )
    converted = translate(dup, "insert")
    assert isinstance(converted, Conflict) and converted.field == "email"


@pytest.mark.parametrize(
    "error",
    [
        ServerSelectionTimeoutError("no servers"),
        AutoReconnect("connection reset"),
        NetworkTimeout("timed out"),
        ExecutionTimeout("operation exceeded time limit", 50),
    ],
)
def test_connection_and_timeout_errors_are_unavailable(error: Exception) -> None:
    assert isinstance(translate(error, "find"), Unavailable)  # type: ignore[arg-type]


def test_other_driver_errors_propagate_unchanged() -> None:
    failure = OperationFailure("unknown operator: $bogus", 2)
    assert translate(failure, "find") is failure
