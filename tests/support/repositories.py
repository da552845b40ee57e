"""Repository sets per backend, for the contract suite and the HTTP suite.

Each ``<backend>_repos_factory`` fixture returns an async factory of a fresh, empty
:class:`RepoSet`; ``repos`` (in tests/contract/conftest.py) parametrizes over them.
Every repository of a set whose writes take ``audit`` records into the set's ``audit``
log, as the container wires them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pulse_adapters.memory import (
    InMemoryApiKeyRepository,
    InMemoryAuditRepository,
    InMemoryConnectionRepository,
    InMemoryOrganizationRepository,
    InMemoryProjectRepository,
    InMemorySessionRepository,
    InMemoryUsageRepository,
    InMemoryUserRepository,
    InMemoryWebhookEndpointRepository,
)
from pulse_core.ports.audit import AuditRepository
from pulse_core.ports.events import WebhookEndpointRepository
from pulse_core.ports.keys import ApiKeyRepository
from pulse_core.ports.repositories import OrganizationRepository, ProjectRepository
from pulse_core.ports.usage import ConnectionRepository, UsageRepository
from pulse_core.ports.users import SessionRepository, UserRepository

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
    sessions: SessionRepository
    api_keys: ApiKeyRepository
    endpoints: WebhookEndpointRepository
    audit: AuditRepository
    aclose: Callable[[], Awaitable[None]] = _nothing


RepoFactory = Callable[[], Awaitable[RepoSet]]


@pytest.fixture
def memory_repos_factory() -> RepoFactory:
    async def make() -> RepoSet:
        # One log shared by every audited repository, as one database would be.
        audit = InMemoryAuditRepository()
        return RepoSet(
            organizations=InMemoryOrganizationRepository(audit_log=audit),
            projects=InMemoryProjectRepository(audit_log=audit),
            users=InMemoryUserRepository(audit_log=audit),
            usage=InMemoryUsageRepository(),
            connections=InMemoryConnectionRepository(),
            sessions=InMemorySessionRepository(audit_log=audit),
            api_keys=InMemoryApiKeyRepository(audit_log=audit),
            endpoints=InMemoryWebhookEndpointRepository(audit_log=audit),
            audit=audit,
        )

    return make


@pytest.fixture
def sqlite_repos_factory(tmp_path: Path) -> RepoFactory:
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
            sessions=SqliteSessionRepository(db),
            api_keys=SqliteApiKeyRepository(db),
            endpoints=SqliteWebhookEndpointRepository(db),
            audit=SqliteAuditRepository(db),
            aclose=db.close,
        )

    return make


@pytest.fixture
def mongo_repos_factory(mongo_server: MongoTestServer) -> RepoFactory:
    """Each call: a fresh database on the session's MongoDB, dropped again by ``aclose``."""
    from pulse_adapters.mongo import (
        MongoApiKeyRepository,
        MongoAuditRepository,
        MongoConnectionRepository,
        MongoDatabase,
        MongoOrganizationRepository,
        MongoProjectRepository,
        MongoSessionRepository,
        MongoUsageRepository,
        MongoUserRepository,
        MongoWebhookEndpointRepository,
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
            sessions=MongoSessionRepository(db),
            api_keys=MongoApiKeyRepository(db),
            endpoints=MongoWebhookEndpointRepository(db),
            audit=MongoAuditRepository(db),
            aclose=aclose,
        )

    return make
