"""The Mongo adapter's indexes and document layout, read back through the driver.

The expected values are written out here rather than taken from ``index_plan()``, so a
change to the plan that loses an index, a uniqueness, the partial filter or the TTL fails
this suite. Runs on the session's MongoDB (the wire server, or ``PULSE_TEST_MONGO_URI``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from pymongo import ASCENDING

from pulse_adapters.mongo import (
    MongoDatabase,
    MongoOrganizationRepository,
    MongoProjectRepository,
    MongoUsageRepository,
    MongoUserRepository,
    index_plan,
)
from pulse_core.errors import Conflict
from tests.support import builders
from tests.support.mongo import MongoTestServer

# collection -> index name -> (key, unique, partialFilterExpression, expireAfterSeconds)
Expected = dict[str, dict[str, tuple[list[tuple[str, int]], bool, Any, Any]]]
EXPECTED: Expected = {
    **{
        collection: {
            "engine_id_1": ([("engine_id", 1)], True, None, None),
            "project_id_1__id_1": ([("project_id", 1), ("_id", 1)], False, None, None),
            "project_id_1_room_1__id_1": (
                [("project_id", 1), ("room", 1), ("_id", 1)],
                False,
                None,
                None,
            ),
        }
        for collection in ("media_egress", "media_ingress")
    },
    "organizations": {
        "admin_email_1": ([("admin_email", 1)], True, {"is_deleted": False}, None),
        "is_deleted_1__id_1": ([("is_deleted", 1), ("_id", 1)], False, None, None),
    },
    "projects": {
        "pulse_api_key_1": ([("pulse_api_key", 1)], True, None, None),
        "previous_api_key_1": (
            [("previous_api_key", 1)],
            True,
            {"previous_api_key": {"$exists": True}},
            None,
        ),
        "api_keys_1": ([("api_keys", 1)], True, {"api_keys": {"$exists": True}}, None),
        "org_id_1_is_deleted_1__id_1": (
            [("org_id", 1), ("is_deleted", 1), ("_id", 1)],
            False,
            None,
            None,
        ),
        "is_deleted_1__id_1": ([("is_deleted", 1), ("_id", 1)], False, None, None),
    },
    "users": {
        # Unique among users not removed: removing a user frees its email.
        "email_1": ([("email", 1)], True, {"is_removed": False}, None),
        "org_id_1__id_1": ([("org_id", 1), ("_id", 1)], False, None, None),
    },
    "sessions": {
        "user_id_1": ([("user_id", 1)], False, None, None),
        "expires_at_1": ([("expires_at", 1)], False, None, None),
    },
    "api_keys": {
        "api_key_1": ([("api_key", 1)], True, None, None),
        "project_id_1__id_1": ([("project_id", 1), ("_id", 1)], False, None, None),
    },
    "audit_log": {
        "org_id_1__id_-1": ([("org_id", 1), ("_id", -1)], False, None, None),
        "org_id_1_action_1__id_-1": (
            [("org_id", 1), ("action", 1), ("_id", -1)],
            False,
            None,
            None,
        ),
        "org_id_1_resource_id_1__id_-1": (
            [("org_id", 1), ("resource_id", 1), ("_id", -1)],
            False,
            None,
            None,
        ),
        # Not TTL: the retention is a setting; purge_before walks this index.
        "at_1": ([("at", 1)], False, None, None),
    },
    "usage_metrics": {
        "project_id_1__id_1": ([("project_id", 1), ("_id", 1)], False, None, None),
        "timestamp_1": ([("timestamp", 1)], False, None, 7_776_000),
        # Only records whose roll-ups a crashed record() left unfinished.
        "pending_since_1": (
            [("pending_since", 1)],
            False,
            {"pending_since": {"$exists": True}},
            None,
        ),
    },
    "usage_rollups": {
        "project_id_1_granularity_1_period_start_1": (
            [("project_id", 1), ("granularity", 1), ("period_start", 1)],
            False,
            None,
            None,
        ),
        # TTL at the date in expires_at (period start + 400 days).
        "expires_at_1": ([("expires_at", 1)], False, None, 0),
    },
    "open_connections": {
        "project_id_1_livekit_room_1_joined_at_1_participant_sid_1": (
            [("project_id", 1), ("livekit_room", 1), ("joined_at", 1), ("participant_sid", 1)],
            False,
            None,
            None,
        ),
    },
    "events": {
        "project_id_1__id_1": ([("project_id", 1), ("_id", 1)], False, None, None),
        "project_id_1_type_1__id_1": (
            [("project_id", 1), ("type", 1), ("_id", 1)],
            False,
            None,
            None,
        ),
        # TTL: EVENT_RETENTION_DAYS (30) after the event's timestamp.
        "timestamp_1": ([("timestamp", 1)], False, None, 2_592_000),
    },
    "webhook_endpoints": {
        "project_id_1__id_1": ([("project_id", 1), ("_id", 1)], False, None, None),
        # Only endpoints whose deletion is under way (tombstones).
        "deleted_1": ([("deleted", 1)], False, {"deleted": True}, None),
    },
    "idempotency_keys": {
        # TTL at the date in expires_at (24 hours after the key's claim).
        "expires_at_1": ([("expires_at", 1)], False, None, 0),
    },
    "webhook_deliveries": {
        "project_id_1__id_1": ([("project_id", 1), ("_id", 1)], False, None, None),
        **{
            f"project_id_1_{field}_1__id_1": (
                [("project_id", 1), (field, 1), ("_id", 1)],
                False,
                None,
                None,
            )
            for field in ("endpoint_id", "event_id", "status")
        },
    },
}
# Every collection whose writes take `audit`: only documents still carrying a record
# not yet moved to audit_log are in this index.
for _audited in (
    "organizations", "projects", "users", "sessions", "api_keys", "webhook_endpoints"
):  # fmt: skip
    EXPECTED[_audited]["audit_outbox._id_1"] = (
        [("audit_outbox._id", 1)],
        False,
        {"audit_outbox._id": {"$exists": True}},
        None,
    )


@pytest.fixture
async def db(mongo_server: MongoTestServer) -> AsyncIterator[MongoDatabase]:
    database = MongoDatabase(mongo_server.uri, mongo_server.new_db_name(), timeout_seconds=5.0)
    try:
        yield database
    finally:
        await database.database.client.drop_database(database.database.name)
        await database.close()


async def _listed(db: MongoDatabase) -> Expected:
    listed: Expected = {}
    for collection in EXPECTED:
        indexes = await (await db.collection(collection).list_indexes()).to_list()
        listed[collection] = {
            index["name"]: (
                [(k, int(v)) for k, v in index["key"].items()],
                bool(index.get("unique", False)),
                index.get("partialFilterExpression"),
                index.get("expireAfterSeconds"),
            )
            for index in indexes
            if index["name"] != "_id_"
        }
    return listed


async def test_connect_creates_every_index_with_its_options(db: MongoDatabase) -> None:
    await db.connect()
    assert await _listed(db) == EXPECTED


async def test_ensure_indexes_is_idempotent_and_names_every_index(db: MongoDatabase) -> None:
    first = await db.ensure_indexes()
    before = await _listed(db)
    second = await db.ensure_indexes()
    assert first == second
    assert sorted(first) == sorted(
        f"{collection}.{name}" for collection, names in EXPECTED.items() for name in names
    )
    assert await _listed(db) == before == EXPECTED


def test_index_plan_describes_the_created_indexes() -> None:
    described: Expected = {}
    for spec in index_plan():
        assert spec.purpose
        described.setdefault(spec.collection, {})[spec.name] = (
            list(spec.keys),
            spec.unique,
            spec.partial_filter,
            spec.expire_after_seconds,
        )
    assert described == EXPECTED


async def test_a_legacy_global_admin_email_index_is_reported_not_kept(db: MongoDatabase) -> None:
    # The Go service's `admin_email_1` was unique across deleted organizations too; keeping
    # it would silently break "deleting an organization frees its email".
    await db.collection("organizations").create_index(
        [("admin_email", ASCENDING)], name="admin_email_1", unique=True
    )
    with pytest.raises(Conflict) as caught:
        await db.connect()
    assert caught.value.code == "index_conflict"
    assert "dropIndex" in caught.value.detail


async def test_unique_index_over_violating_data_is_a_conflict(db: MongoDatabase) -> None:
    users = db.collection("users")
    await users.insert_many(
        [
            {"_id": "usr_1", "email": "a@x.test", "is_removed": False},
            {"_id": "usr_2", "email": "a@x.test", "is_removed": False},
        ]
    )
    with pytest.raises(Conflict) as caught:
        await db.ensure_indexes()
    assert caught.value.field == "email"


async def test_documents_keep_the_go_service_field_names(db: MongoDatabase) -> None:
    await db.connect()
    org = builders.org()
    project = builders.project(org.id, previous_key=builders.project("x").api_key)
    user = builders.user(org.id)
    record = builders.usage(project.id, quantity=2)
    await MongoOrganizationRepository(db).add(org)
    await MongoProjectRepository(db).add(project)
    await MongoUserRepository(db).add(user)
    assert await MongoUsageRepository(db).record([record]) == 1

    async def raw(collection: str, doc_id: str) -> dict[str, Any]:
        doc = await db.collection(collection).find_one({"_id": doc_id})
        assert doc is not None
        return doc

    assert set(await raw("organizations", org.id)) == {
        "_id", "name", "admin_email", "plan", "is_deleted", "created_at", "updated_at",
    }  # fmt: skip
    stored = await raw("projects", project.id)
    assert project.previous is not None
    assert stored["pulse_api_key"] == project.api_key
    assert stored["pulse_api_secret_hash"] == project.secret_hash
    assert stored["previous_api_key"] == project.previous.api_key
    assert stored["previous_api_secret_hash"] == project.previous.secret_hash
    assert stored["previous_key_expires_at"] == project.previous.expires_at
    assert stored["api_keys"] == [project.api_key, project.previous.api_key]
    assert stored["webhook_url"] == project.settings.webhook_url
    assert stored["rate_limit"] == {"requests": 10, "period": "second", "burst": 20}
    assert stored["org_id"] == org.id and stored["is_deleted"] is False
    assert "deleted_at" not in stored  # None is never stored
    assert "key_last_used_at" not in stored  # never used yet
    # The first key's last use: a field of Pulse's own (the Go service ignores it).
    used_at = builders.T0 + timedelta(seconds=2)
    await MongoProjectRepository(db).touch_keys({project.id: used_at})
    assert (await raw("projects", project.id))["key_last_used_at"] == used_at
    stored_user = await raw("users", user.id)
    assert {"_id", "email", "org_id", "name", "role", "created_at"} <= set(stored_user)
    # None is never stored; `is_removed` is derived, for the partial unique email index.
    assert set(stored_user) == {
        "_id" if name == "id" else name
        for name in msgspec.structs.asdict(user)
        if getattr(user, name) is not None
    } | {"is_removed"}
    assert stored_user["is_removed"] is False
    assert await raw("usage_metrics", record.id) == {
        "_id": record.id,
        "project_id": project.id,
        "event_type": record.metric,
        "value": 2,
        "kind": "",
        "timestamp": record.timestamp,
    }


async def test_update_keeps_fields_pulse_does_not_model(db: MongoDatabase) -> None:
    await db.connect()
    repo = MongoProjectRepository(db)
    project = builders.project(builders.org().id, previous_key=builders.project("x").api_key)
    await repo.add(project)
    await db.collection("projects").update_one({"_id": project.id}, {"$set": {"region": "eu-west"}})
    await repo.update(msgspec.structs.replace(project, name="Renamed", previous=None))
    stored = await db.collection("projects").find_one({"_id": project.id})
    assert stored is not None
    assert stored["region"] == "eu-west"
    assert stored["name"] == "Renamed"
    assert "previous_api_key" not in stored  # unset, so the partial index skips it
    assert stored["api_keys"] == [project.api_key]
