"""The Mongo adapter's audit outbox: a record travels inside the written document, then
moves to ``audit_log`` (``pulse_adapters.mongo.outbox``), and ``settle()`` finishes any
move a crash or an outage cut short.

The crash is simulated at the driver: :class:`FaultyDatabase` hands the repositories
collections whose ``audit_log`` insert, or whose take-out of a moved record, fails the
way a dropped connection does (``AutoReconnect``), between the two steps of an audited
write. Runs on the session's MongoDB (the wire server, or ``PULSE_TEST_MONGO_URI``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from pymongo.errors import AutoReconnect

from pulse_adapters.mongo import (
    MongoApiKeyRepository,
    MongoAuditRepository,
    MongoDatabase,
    MongoOrganizationRepository,
    MongoProjectRepository,
    MongoSessionRepository,
    MongoUserRepository,
    MongoWebhookEndpointRepository,
)
from pulse_core import ids
from pulse_core.errors import Conflict, NotFound
from pulse_core.models.audit import AuditRecord
from pulse_core.models.events import WebhookEndpoint
from tests.support import builders
from tests.support.mongo import MongoTestServer

T0 = builders.T0
OUTBOX = "audit_outbox"
AUDITED = ("organizations", "projects", "users", "sessions", "api_keys", "webhook_endpoints")


class _Faulty:
    """A pymongo collection whose audit-log inserts or outbox take-outs fail on demand."""

    def __init__(self, inner: Any, db: FaultyDatabase) -> None:
        self._inner, self._db = inner, db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def insert_one(self, document: Any, *args: Any, **kwargs: Any) -> Any:
        if self._db.log_down and self._inner.name == "audit_log":
            raise AutoReconnect("connection closed")
        return await self._inner.insert_one(document, *args, **kwargs)

    async def update_one(self, query: Any, update: Any, *args: Any, **kwargs: Any) -> Any:
        taking_out = "$pull" in update or OUTBOX in update.get("$unset", {})
        if self._db.take_out_fails and taking_out:
            raise AutoReconnect("connection closed")
        return await self._inner.update_one(query, update, *args, **kwargs)


class FaultyDatabase(MongoDatabase):
    log_down = False
    take_out_fails = False

    def collection(self, name: str) -> Any:
        return _Faulty(super().collection(name), self)


@dataclass
class Repos:
    db: FaultyDatabase
    organizations: MongoOrganizationRepository
    projects: MongoProjectRepository
    users: MongoUserRepository
    sessions: MongoSessionRepository
    api_keys: MongoApiKeyRepository
    endpoints: MongoWebhookEndpointRepository
    audit: MongoAuditRepository


@pytest.fixture
async def repos(mongo_server: MongoTestServer) -> AsyncIterator[Repos]:
    db = FaultyDatabase(mongo_server.uri, mongo_server.new_db_name(), timeout_seconds=5.0)
    await db.connect()
    try:
        yield Repos(
            db=db,
            organizations=MongoOrganizationRepository(db),
            projects=MongoProjectRepository(db),
            users=MongoUserRepository(db),
            sessions=MongoSessionRepository(db),
            api_keys=MongoApiKeyRepository(db),
            endpoints=MongoWebhookEndpointRepository(db),
            audit=MongoAuditRepository(db),
        )
    finally:
        await db.database.client.drop_database(db.database.name)
        await db.close()


_built = itertools.count()


def endpoint(project_id: str) -> WebhookEndpoint:
    endpoint_id = ids.new_id(ids.WEBHOOK_ENDPOINT, now_ms=ids.ms_of(T0) + next(_built))
    return WebhookEndpoint(
        id=endpoint_id,
        project_id=project_id,
        url=f"https://hooks.example.com/{endpoint_id}",
        secret="whsec_" + "A" * 32,
        created_at=T0,
        updated_at=T0,
    )


def record(org_id: str | None, action: str, resource_id: str) -> AuditRecord:
    return builders.audit_record(org_id, action=action, resource_id=resource_id)


async def every_audited_write(repos: Repos) -> list[AuditRecord]:
    """One audited write of each kind, in order; the records they carried."""
    org = builders.org()
    project = builders.project(org.id)
    user = builders.user(org.id)
    session = builders.session(user.id, org.id)
    key = builders.api_key(project.id, org.id)
    hook = endpoint(project.id)
    later = T0 + timedelta(minutes=1)
    records: list[AuditRecord] = []

    def rec(action: str, resource_id: str) -> AuditRecord:
        records.append(record(org.id, action, resource_id))
        return records[-1]

    await repos.organizations.add(org, audit=rec("organization.created", org.id))
    renamed = msgspec.structs.replace(org, name="Renamed")
    await repos.organizations.update(renamed, audit=rec("organization.updated", org.id))
    await repos.projects.add(project, audit=rec("project.created", project.id))
    moved = msgspec.structs.replace(project, name="Moved")
    await repos.projects.update(moved, audit=rec("project.updated", project.id))
    await repos.users.add(user, audit=rec("user.invited", user.id))
    promoted = msgspec.structs.replace(user, role="member")
    await repos.users.update(promoted, audit=rec("user.updated", user.id))
    await repos.sessions.add(session, audit=rec("user.signed_in", user.id))
    assert await repos.sessions.revoke(session.id, later, audit=rec("user.signed_out", user.id))
    await repos.api_keys.add(key, audit=rec("key.created", key.id))
    revoked = msgspec.structs.replace(key, revoked_at=later)
    await repos.api_keys.update(revoked, audit=rec("key.revoked", key.id))
    await repos.endpoints.add(hook, audit=rec("webhook_endpoint.created", hook.id))
    disabled = msgspec.structs.replace(hook, enabled=False)
    await repos.endpoints.update(disabled, audit=rec("webhook_endpoint.updated", hook.id))
    deleted = await repos.endpoints.delete(
        project.id, hook.id, audit=rec("webhook_endpoint.deleted", hook.id)
    )
    assert deleted is True
    # What the writes stored is readable while their records still travel.
    assert await repos.organizations.get(org.id) == renamed
    assert await repos.projects.get(project.id) == moved
    assert await repos.users.get(user.id) == promoted
    assert await repos.sessions.get(session.id) == msgspec.structs.replace(
        session, revoked_at=later
    )
    assert await repos.api_keys.get(project.id, key.id) == revoked
    assert await repos.endpoints.get(project.id, hook.id) is None
    return records


async def log_ids(repos: Repos) -> Counter[str]:
    docs = await repos.db.database["audit_log"].find({}, {"_id": 1}).to_list()
    return Counter(str(d["_id"]) for d in docs)


async def carried(repos: Repos) -> dict[str, list[str]]:
    """Record ids still inside documents, per document id (empty lists included)."""
    found: dict[str, list[str]] = {}
    for name in AUDITED:
        docs = await repos.db.database[name].find({OUTBOX: {"$exists": True}}).to_list()
        found.update({str(d["_id"]): [r["_id"] for r in d[OUTBOX]] for d in docs})
    return found


async def tombstones(repos: Repos) -> list[str]:
    docs = await repos.db.database["webhook_endpoints"].find({"deleted": True}).to_list()
    return [str(d["_id"]) for d in docs]


async def test_an_audited_write_moves_its_record_and_leaves_no_trace(repos: Repos) -> None:
    records = await every_audited_write(repos)
    assert await log_ids(repos) == Counter(r.id for r in records)
    assert await carried(repos) == {}  # the field goes with the record
    assert await tombstones(repos) == []
    assert await repos.audit.settle() == 0


async def test_a_crash_before_the_log_insert_is_finished_by_settle_exactly_once(
    repos: Repos,
) -> None:
    repos.db.log_down = True
    records = await every_audited_write(repos)  # no write fails: the records are safe
    assert await log_ids(repos) == Counter()
    still_carried = [rid for rids in (await carried(repos)).values() for rid in rids]
    assert sorted(still_carried) == sorted(r.id for r in records)
    assert len(await tombstones(repos)) == 1

    repos.db.log_down = False
    assert await repos.audit.settle() == len(records)
    assert await log_ids(repos) == Counter(r.id for r in records)
    assert await carried(repos) == {}
    assert await tombstones(repos) == []  # buried with its records
    org_id = records[0].org_id
    listed = await repos.audit.list_page(org_id, limit=100)
    assert listed == sorted(records, key=lambda r: r.id, reverse=True)

    assert await repos.audit.settle() == 0  # twice changes nothing
    assert await log_ids(repos) == Counter(r.id for r in records)


async def test_a_crash_after_the_log_insert_is_finished_by_settle_and_listed_once(
    repos: Repos,
) -> None:
    repos.db.take_out_fails = True
    org = builders.org()
    created = record(org.id, "organization.created", org.id)
    await repos.organizations.add(org, audit=created)
    # The record is in the log and still in the document: listed once all the same.
    assert await log_ids(repos) == Counter([created.id])
    assert await carried(repos) == {org.id: [created.id]}
    assert await repos.audit.list_page(org.id, limit=10) == [created]

    repos.db.take_out_fails = False
    assert await repos.audit.settle() == 1
    assert await carried(repos) == {}
    assert await log_ids(repos) == Counter([created.id])
    assert await repos.audit.list_page(org.id, limit=10) == [created]
    assert await repos.audit.settle() == 0


async def test_settle_alongside_live_writes_stores_every_record_once(repos: Repos) -> None:
    # Half the writes leave their record behind; settle runs while the rest move theirs.
    org = builders.org()
    await repos.organizations.add(org)
    repos.db.log_down = True
    stuck = [record(org.id, "organization.updated", org.id) for _ in range(5)]
    for item in stuck:
        await repos.organizations.update(org, audit=item)
    repos.db.log_down = False
    live = [record(org.id, "organization.updated", org.id) for _ in range(10)]
    await asyncio.gather(
        *(repos.organizations.update(org, audit=item) for item in live),
        *(repos.audit.settle() for _ in range(3)),
    )
    await repos.audit.settle()
    assert await log_ids(repos) == Counter(r.id for r in [*stuck, *live])
    # Concurrent pulls may leave an empty list, never a record.
    assert all(ids == [] for ids in (await carried(repos)).values())
    listed = await repos.audit.list_page(org.id, limit=100)
    assert len(listed) == len({r.id for r in listed}) == 15


async def test_a_tombstoned_endpoint_is_invisible_and_settle_removes_it(repos: Repos) -> None:
    project_id = builders.project("org_x").id
    hook, other = endpoint(project_id), endpoint(project_id)
    await repos.endpoints.add(hook)
    await repos.endpoints.add(other)
    repos.db.log_down = True  # the update's record and the delete's stay behind
    changed = msgspec.structs.replace(hook, description="changed")
    updated = record("org_x", "webhook_endpoint.updated", hook.id)
    deleted = record("org_x", "webhook_endpoint.deleted", hook.id)
    await repos.endpoints.update(changed, audit=updated)
    assert await repos.endpoints.delete(project_id, hook.id, audit=deleted) is True

    assert await tombstones(repos) == [hook.id]
    assert await carried(repos) == {hook.id: [updated.id, deleted.id]}
    assert await repos.endpoints.get(project_id, hook.id) is None
    assert await repos.endpoints.list_page(project_id, limit=10) == [other]
    assert await repos.endpoints.list_all(project_id) == [other]
    with pytest.raises(NotFound):
        await repos.endpoints.update(changed, audit=record("org_x", "x.updated", hook.id))
    assert await repos.endpoints.delete(project_id, hook.id) is False
    assert await carried(repos) == {hook.id: [updated.id, deleted.id]}  # nothing added

    repos.db.log_down = False
    assert await repos.audit.settle() == 2
    assert await tombstones(repos) == []
    assert await repos.db.database["webhook_endpoints"].find_one({"_id": hook.id}) is None
    assert await log_ids(repos) == Counter([updated.id, deleted.id])
    assert await repos.endpoints.list_all(project_id) == [other]


async def test_settle_removes_a_tombstone_that_carries_nothing(repos: Repos) -> None:
    # The first step of an unaudited delete, then the crash.
    project_id = builders.project("org_x").id
    hook = endpoint(project_id)
    await repos.endpoints.add(hook)
    await repos.db.database["webhook_endpoints"].update_one(
        {"_id": hook.id}, {"$set": {"deleted": True}}
    )
    assert await repos.endpoints.get(project_id, hook.id) is None
    assert await repos.audit.settle() == 0
    assert await tombstones(repos) == []
    assert await repos.db.database["webhook_endpoints"].count_documents({}) == 0


async def test_failed_writes_leave_no_record_and_no_outbox_entry(repos: Repos) -> None:
    org = builders.org(email="ops@acme.test")
    project = builders.project(org.id)
    user = builders.user(org.id, email="ada@acme.test")
    key = builders.api_key(project.id, org.id)
    session = builders.session(user.id, org.id)
    await repos.organizations.add(org)
    await repos.projects.add(project)
    await repos.users.add(user)
    await repos.api_keys.add(key)
    await repos.sessions.add(session)
    await repos.sessions.revoke(session.id, T0)

    def rec(resource_id: str) -> AuditRecord:
        return record(org.id, "x.failed", resource_id)

    other = builders.org()
    with pytest.raises(Conflict):
        await repos.organizations.add(builders.org(email=org.admin_email), audit=rec(org.id))
    await repos.organizations.add(other)
    with pytest.raises(Conflict):  # an update to a taken email
        taken = msgspec.structs.replace(other, admin_email=org.admin_email)
        await repos.organizations.update(taken, audit=rec(other.id))
    with pytest.raises(NotFound):
        await repos.organizations.update(builders.org(), audit=rec(org.id))
    with pytest.raises(Conflict):
        clash = builders.project(org.id, api_key=project.api_key)
        await repos.projects.add(clash, audit=rec(clash.id))
    with pytest.raises(NotFound):
        await repos.projects.update(builders.project(org.id), audit=rec(org.id))
    with pytest.raises(Conflict):
        await repos.users.add(builders.user(org.id, email=user.email), audit=rec(user.id))
    with pytest.raises(Conflict):
        await repos.api_keys.add(
            builders.api_key(project.id, org.id, api_key=key.api_key), audit=rec(key.id)
        )
    with pytest.raises(NotFound):
        await repos.api_keys.update(builders.api_key(project.id, org.id), audit=rec(key.id))
    with pytest.raises(NotFound):
        await repos.endpoints.update(endpoint(project.id), audit=rec(project.id))
    assert await repos.endpoints.delete(project.id, "whe_missing", audit=rec("x")) is False
    assert await repos.sessions.revoke(session.id, T0, audit=rec(session.id)) is False

    assert await log_ids(repos) == Counter()
    assert await carried(repos) == {}
    assert await repos.audit.settle() == 0
    assert await log_ids(repos) == Counter()


async def test_purge_keeps_an_expired_session_until_its_record_moved(repos: Repos) -> None:
    session = builders.session("usr_a", "org_a", ttl=timedelta(minutes=1))
    signed_in = record("org_a", "user.signed_in", "usr_a")
    repos.db.log_down = True
    await repos.sessions.add(session, audit=signed_in)
    repos.db.log_down = False
    after = session.expires_at + timedelta(days=1)
    assert await repos.sessions.purge_expired(after) == 0  # it still carries the record
    assert await repos.audit.settle() == 1
    assert await repos.sessions.purge_expired(after) == 1
    assert await log_ids(repos) == Counter([signed_in.id])
