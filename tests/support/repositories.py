"""Repository sets per backend, for the contract suite and the HTTP suite.

Each ``<backend>_repos_factory`` fixture returns an async factory of a fresh, empty
:class:`RepoSet`; ``repos`` (in tests/contract/conftest.py) parametrizes over them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pulse_adapters.memory import (
    InMemoryConnectionRepository,
    InMemoryOrganizationRepository,
    InMemoryProjectRepository,
    InMemoryUsageRepository,
    InMemoryUserRepository,
)
from pulse_core.ports.repositories import (
    OrganizationRepository,
    ProjectRepository,
    UserRepository,
)
from pulse_core.ports.usage import ConnectionRepository, UsageRepository

if TYPE_CHECKING:  # a plugin of its own (tests/conftest.py); importing it here would
    # register it before pytest can rewrite its asserts.
    from tests.support.mongo import MongoTestServer


async def _nothing() -> None:
    return None


@dataclass
class RepoSet:
    organizations: OrganizationRepository
    projects: ProjectRepository
    users: UserRepository
    usage: UsageRepository
    connections: ConnectionRepository
    aclose: Callable[[], Awaitable[None]] = _nothing


RepoFactory = Callable[[], Awaitable[RepoSet]]


@pytest.fixture
def memory_repos_factory() -> RepoFactory:
    async def make() -> RepoSet:
        return RepoSet(
            organizations=InMemoryOrganizationRepository(),
            projects=InMemoryProjectRepository(),
            users=InMemoryUserRepository(),
            usage=InMemoryUsageRepository(),
            connections=InMemoryConnectionRepository(),
        )

    return make


@pytest.fixture
def sqlite_repos_factory(tmp_path: Path) -> RepoFactory:
    from pulse_adapters.sqlite import (
        SqliteConnectionRepository,
        SqliteDatabase,
        SqliteOrganizationRepository,
        SqliteProjectRepository,
        SqliteUsageRepository,
        SqliteUserRepository,
    )

    counter = iter(range(1_000_000))

    async def make() -> RepoSet:
        db = SqliteDatabase(tmp_path / f"pulse-{next(counter)}.sqlite3")
        await db.connect()
        return RepoSet(
            organizations=SqliteOrganizationRepository(db),
            projects=SqliteProjectRepository(db),
            users=SqliteUserRepository(db),
            usage=SqliteUsageRepository(db),
            connections=SqliteConnectionRepository(db),
            aclose=db.close,
        )

    return make


@pytest.fixture
def mongo_repos_factory(mongo_server: MongoTestServer) -> RepoFactory:
    """Each call: a fresh database on the session's MongoDB, dropped again by ``aclose``."""
    from pulse_adapters.mongo import (
        MongoConnectionRepository,
        MongoDatabase,
        MongoOrganizationRepository,
        MongoProjectRepository,
        MongoUsageRepository,
        MongoUserRepository,
    )

    async def make() -> RepoSet:
        db = MongoDatabase(mongo_server.uri, mongo_server.new_db_name(), timeout_seconds=5.0)
        await db.connect()

        async def aclose() -> None:
            try:
                await db.database.client.drop_database(db.database.name)
            finally:
                await db.close()

        return RepoSet(
            organizations=MongoOrganizationRepository(db),
            projects=MongoProjectRepository(db),
            users=MongoUserRepository(db),
            usage=MongoUsageRepository(db),
            connections=MongoConnectionRepository(db),
            aclose=aclose,
        )

    return make
