"""Tests for the mongomock-backed MongoDB wire-protocol test server.

Most tests go through the real ``pymongo.AsyncMongoClient``, because the point of the
server is that the production driver cannot tell it apart from mongod. A few tests write
raw frames to cover protocol paths pymongo 4.20 no longer uses (OP_QUERY handshake,
checksums).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import bson
import pytest
from pymongo import (
    ASCENDING,
    DESCENDING,
    AsyncMongoClient,
    IndexModel,
    MongoClient,
    ReturnDocument,
    WriteConcern,
    monitoring,
)
from pymongo.errors import (
    BulkWriteError,
    CollectionInvalid,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
)

from tests.support.mongo_wire_server import MongoWireServer

# --------------------------------------------------------------------------------------
# Fixtures & helpers
# --------------------------------------------------------------------------------------


class CommandRecorder(monitoring.CommandListener):
    """Records command names so tests can assert what actually crossed the wire."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def server() -> Iterator[MongoWireServer]:
    with MongoWireServer() as srv:
        yield srv


@pytest.fixture
def recorder() -> CommandRecorder:
    return CommandRecorder()


@pytest.fixture
async def client(
    server: MongoWireServer, recorder: CommandRecorder
) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        server.uri, tz_aware=True, serverSelectionTimeoutMS=2000, event_listeners=[recorder]
    )
    yield mongo
    await mongo.close()


# --------------------------------------------------------------------------------------
# CRUD through AsyncMongoClient
# --------------------------------------------------------------------------------------


async def test_find_sorts_limits_and_pages_through_get_more(
    client: AsyncMongoClient[dict[str, Any]], server: MongoWireServer, recorder: CommandRecorder
) -> None:
    coll = client.pulse.items
    await coll.insert_many([{"n": i, "even": i % 2 == 0} for i in range(25)])

    cursor = coll.find({}, {"_id": 0, "n": 1}).sort("n", DESCENDING).limit(20).batch_size(3)
    docs = await cursor.to_list()

    assert [d["n"] for d in docs] == list(range(24, 4, -1))
    assert docs[0] == {"n": 24}  # projection applied
    assert recorder.names.count("getMore") == 6  # 3 + 6*3 = 21 >= 20 docs
    assert server.backend.open_cursor_count == 0  # exhausted cursors are freed

    page = await coll.find({"even": True}).sort("n", ASCENDING).skip(2).limit(3).to_list()
    assert [d["n"] for d in page] == [4, 6, 8]


async def test_tz_aware_datetimes_round_trip_as_utc(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    coll = client.pulse.events
    local = datetime(2030, 1, 1, 12, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    await coll.insert_one({"_id": "e1", "at": local})

    doc = await coll.find_one({"at": {"$gte": local - timedelta(seconds=1)}})

    assert doc is not None
    assert doc["at"] == local.replace(microsecond=123000)  # BSON dates are milliseconds
    assert doc["at"].utcoffset() == timedelta(0)
    assert doc["at"].replace(tzinfo=UTC) == datetime(2030, 1, 1, 10, 30, 0, 123000, tzinfo=UTC)


async def test_update_with_set_replacement_and_upsert(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    coll = client.pulse.projects
    await coll.insert_many([{"_id": 1, "name": "a", "tier": "free"}, {"_id": 2, "name": "b"}])

    result = await coll.update_one({"_id": 1}, {"$set": {"tier": "pro"}})
    assert (result.matched_count, result.modified_count, result.upserted_id) == (1, 1, None)

    result = await coll.update_many({}, {"$set": {"active": True}})
    assert (result.matched_count, result.modified_count) == (2, 2)

    result = await coll.update_one({"name": "c"}, {"$set": {"tier": "free"}}, upsert=True)
    assert result.matched_count == 0
    assert result.upserted_id is not None
    upserted = await coll.find_one({"_id": result.upserted_id})
    assert upserted is not None
    assert upserted["name"] == "c"
    assert upserted["tier"] == "free"

    result = await coll.replace_one({"_id": 2}, {"name": "b2"})
    assert result.modified_count == 1
    assert await coll.find_one({"_id": 2}) == {"_id": 2, "name": "b2"}

    missing = await coll.update_one({"_id": 99}, {"$set": {"x": 1}})
    assert (missing.matched_count, missing.modified_count) == (0, 0)


async def test_find_one_and_update_returns_new_document(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    coll = client.pulse.counters
    await coll.insert_many([{"_id": "a", "seq": 1}, {"_id": "b", "seq": 5}])

    after = await coll.find_one_and_update(
        {}, {"$inc": {"seq": 1}}, sort=[("seq", DESCENDING)], return_document=ReturnDocument.AFTER
    )
    assert after == {"_id": "b", "seq": 6}

    before = await coll.find_one_and_update({"_id": "a"}, {"$inc": {"seq": 1}})
    assert before == {"_id": "a", "seq": 1}

    created = await coll.find_one_and_update(
        {"_id": "c"},
        {"$setOnInsert": {"seq": 0}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
        projection={"_id": 0},
    )
    assert created == {"seq": 0}

    assert await coll.find_one_and_update({"_id": "zz"}, {"$set": {"seq": 1}}) is None
    assert await coll.find_one_and_delete({"_id": "a"}) == {"_id": "a", "seq": 2}
    assert await coll.count_documents({}) == 2


async def test_delete_one_and_many(client: AsyncMongoClient[dict[str, Any]]) -> None:
    coll = client.pulse.keys
    await coll.insert_many([{"k": i, "project": "p1" if i < 4 else "p2"} for i in range(6)])

    assert (await coll.delete_one({"project": "p1"})).deleted_count == 1
    assert (await coll.delete_many({"project": "p1"})).deleted_count == 3
    assert (await coll.delete_many({"project": "nope"})).deleted_count == 0
    assert [d["k"] for d in await coll.find().to_list()] == [4, 5]


async def test_count_documents_distinct_and_aggregate(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    coll = client.pulse.rooms
    await coll.insert_many([{"org": f"o{i % 3}", "n": i} for i in range(10)])

    assert await coll.count_documents({}) == 10
    assert await coll.count_documents({"org": "o0"}) == 4
    assert await coll.count_documents({"org": "o0"}, skip=1, limit=2) == 2
    assert await coll.count_documents({"org": "missing"}) == 0
    assert await coll.estimated_document_count() == 10
    assert sorted(await coll.distinct("org")) == ["o0", "o1", "o2"]

    pipeline = [{"$group": {"_id": "$org", "total": {"$sum": "$n"}}}, {"$sort": {"_id": 1}}]
    grouped = await (await coll.aggregate(pipeline, batchSize=1)).to_list()
    assert grouped == [
        {"_id": "o0", "total": 18},
        {"_id": "o1", "total": 12},
        {"_id": "o2", "total": 15},
    ]


# --------------------------------------------------------------------------------------
# Indexes and uniqueness
# --------------------------------------------------------------------------------------


async def test_create_indexes_and_list_indexes(client: AsyncMongoClient[dict[str, Any]]) -> None:
    coll = client.pulse.organizations
    names = await coll.create_indexes(
        [
            IndexModel([("slug", ASCENDING)], unique=True, name="slug_unique"),
            IndexModel(
                [("admin_email", ASCENDING)],
                unique=True,
                name="admin_email_active",
                partialFilterExpression={"is_deleted": False},
            ),
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=3600),
            IndexModel([("org_id", ASCENDING), ("created_at", DESCENDING)]),
        ]
    )
    assert names == ["slug_unique", "admin_email_active", "expires_at_1", "org_id_1_created_at_-1"]

    indexes = {ix["name"]: ix async for ix in await coll.list_indexes()}
    assert list(indexes) == ["_id_", *names]
    assert indexes["_id_"]["key"] == {"_id": 1}
    assert indexes["slug_unique"]["unique"] is True
    assert indexes["slug_unique"]["v"] == 2
    assert indexes["admin_email_active"]["partialFilterExpression"] == {"is_deleted": False}
    assert indexes["expires_at_1"]["expireAfterSeconds"] == 3600
    assert "unique" not in indexes["expires_at_1"]
    assert list(indexes["org_id_1_created_at_-1"]["key"].items()) == [
        ("org_id", 1),
        ("created_at", -1),
    ]

    # Re-creating an identical index is a no-op, as on mongod.
    assert await coll.create_index("slug", unique=True, name="slug_unique") == "slug_unique"

    await coll.drop_index("expires_at_1")
    assert "expires_at_1" not in await coll.index_information()
    with pytest.raises(OperationFailure) as excinfo:
        await coll.drop_index("nope")
    assert excinfo.value.code == 27

    # A missing collection lists no indexes (the server returns NamespaceNotFound).
    assert [ix async for ix in await client.pulse.never_created.list_indexes()] == []


async def test_unique_index_raises_duplicate_key_error(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    coll = client.pulse.users
    await coll.create_index("email", unique=True)
    await coll.insert_one({"_id": 1, "email": "a@example.com"})
    await coll.insert_one({"_id": 2, "email": "b@example.com"})

    with pytest.raises(DuplicateKeyError) as excinfo:
        await coll.insert_one({"email": "a@example.com"})
    details = excinfo.value.details
    assert details is not None
    assert excinfo.value.code == 11000
    assert details["keyPattern"] == {"email": 1}
    assert details["keyValue"] == {"email": "a@example.com"}
    assert details["errmsg"] == (
        "E11000 duplicate key error collection: pulse.users index: email_1 dup key: "
        '{ email: "a@example.com" }'
    )

    with pytest.raises(BulkWriteError) as bulk:
        await coll.insert_many([{"email": "c@example.com"}, {"email": "b@example.com"}])
    assert bulk.value.details["nInserted"] == 1
    assert bulk.value.details["writeErrors"][0]["index"] == 1
    assert bulk.value.details["writeErrors"][0]["code"] == 11000

    # A violating update is rejected and the document is left untouched.
    with pytest.raises(DuplicateKeyError):
        await coll.update_one({"_id": 2}, {"$set": {"email": "a@example.com"}})
    assert (await coll.find_one({"_id": 2}) or {})["email"] == "b@example.com"

    with pytest.raises(DuplicateKeyError) as fam:
        await coll.find_one_and_update({"_id": 2}, {"$set": {"email": "a@example.com"}})
    assert fam.value.details is not None
    assert fam.value.details["codeName"] == "DuplicateKey"

    with pytest.raises(DuplicateKeyError) as dup_id:
        await coll.insert_one({"_id": 1, "email": "new@example.com"})
    assert dup_id.value.details is not None
    assert dup_id.value.details["keyPattern"] == {"_id": 1}

    assert await coll.count_documents({}) == 3


async def test_partial_unique_index_only_constrains_matching_documents(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    coll = client.pulse.orgs
    await coll.create_index(
        "admin_email",
        unique=True,
        name="admin_email_active",
        partialFilterExpression={"is_deleted": False},
    )
    await coll.insert_one({"_id": "old", "admin_email": "ceo@acme.io", "is_deleted": True})
    # Excluded by the partial filter: no conflict with the soft-deleted org.
    await coll.insert_one({"_id": "new", "admin_email": "ceo@acme.io", "is_deleted": False})
    await coll.insert_one({"_id": "old2", "admin_email": "ceo@acme.io", "is_deleted": True})

    with pytest.raises(DuplicateKeyError) as excinfo:
        await coll.insert_one({"_id": "dup", "admin_email": "ceo@acme.io", "is_deleted": False})
    assert excinfo.value.details is not None
    assert "index: admin_email_active" in excinfo.value.details["errmsg"]

    with pytest.raises(DuplicateKeyError):  # un-deleting would create a second active org
        await coll.update_one({"_id": "old"}, {"$set": {"is_deleted": False}})
    assert (await coll.find_one({"_id": "old"}) or {})["is_deleted"] is True

    # Once the active one is soft-deleted, another may take the email.
    await coll.update_one({"_id": "new"}, {"$set": {"is_deleted": True}})
    await coll.update_one({"_id": "old"}, {"$set": {"is_deleted": False}})


async def test_unique_index_build_checks_existing_documents(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    coll = client.pulse.tokens
    await coll.insert_many(
        [
            {"token": "t", "revoked": True},
            {"token": "t", "revoked": True},
            {"token": "t", "revoked": False},
        ]
    )
    with pytest.raises(DuplicateKeyError):
        await coll.create_index("token", unique=True)
    # The same key is fine when the partial filter leaves out the duplicates.
    await coll.create_index(
        "token", unique=True, name="token_live", partialFilterExpression={"revoked": False}
    )


async def test_concurrent_inserts_of_one_unique_key_have_exactly_one_winner(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    coll = client.pulse.api_keys
    await coll.create_index("key", unique=True)

    async def attempt(i: int) -> bool:
        try:
            await coll.insert_one({"key": "same", "attempt": i})
        except DuplicateKeyError:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(i) for i in range(20)))
    assert outcomes.count(True) == 1
    assert await coll.count_documents({"key": "same"}) == 1


# --------------------------------------------------------------------------------------
# Catalog, cursors, errors
# --------------------------------------------------------------------------------------


async def test_collections_and_databases(client: AsyncMongoClient[dict[str, Any]]) -> None:
    db = client.pulse
    await db.create_collection("webhooks")
    with pytest.raises(CollectionInvalid):
        await db.create_collection("webhooks")
    await db.egress.insert_one({"x": 1})

    assert sorted(await db.list_collection_names()) == ["egress", "webhooks"]
    assert await db.list_collection_names(filter={"name": "egress"}) == ["egress"]
    assert "pulse" in await client.list_database_names()

    await db.drop_collection("webhooks")
    assert await db.list_collection_names() == ["egress"]
    await db.drop_collection("webhooks")  # dropping a missing collection is fine

    await client.drop_database("pulse")
    assert "pulse" not in await client.list_database_names()


async def test_closing_a_cursor_early_kills_it_on_the_server(
    client: AsyncMongoClient[dict[str, Any]], server: MongoWireServer, recorder: CommandRecorder
) -> None:
    coll = client.pulse.recordings
    await coll.insert_many([{"i": i} for i in range(10)])
    cursor = coll.find().batch_size(2)
    assert (await cursor.next())["i"] == 0
    assert server.backend.open_cursor_count == 1
    await cursor.close()
    assert "killCursors" in recorder.names
    assert server.backend.open_cursor_count == 0


async def test_unknown_command_is_command_not_found(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    assert (await client.admin.command("ping"))["ok"] == 1.0
    with pytest.raises(OperationFailure) as excinfo:
        await client.pulse.command("frobnicate")
    assert excinfo.value.code == 59
    assert excinfo.value.details is not None
    assert excinfo.value.details["codeName"] == "CommandNotFound"


async def test_unacknowledged_write_gets_no_reply_but_is_applied(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    coll = client.pulse.audit.with_options(write_concern=WriteConcern(w=0))
    await coll.insert_one({"_id": "fire-and-forget"})
    deadline = time.monotonic() + 2
    while await client.pulse.audit.find_one({"_id": "fire-and-forget"}) is None:
        assert time.monotonic() < deadline, "w=0 insert never applied"


# --------------------------------------------------------------------------------------
# Outage simulation
# --------------------------------------------------------------------------------------


async def test_stop_fails_the_driver_and_start_recovers_same_port_and_data(
    server: MongoWireServer,
) -> None:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        server.uri, serverSelectionTimeoutMS=1500
    )
    try:
        coll = mongo.pulse.sessions
        await coll.create_index("sid", unique=True)
        await coll.insert_one({"sid": "s1"})
        port = server.port

        server.stop()
        assert not server.is_running
        started = time.monotonic()
        with pytest.raises(ConnectionFailure):  # AutoReconnect or ServerSelectionTimeoutError
            await coll.find_one({"sid": "s1"})
        assert time.monotonic() - started < 5

        server.start()
        assert server.port == port
        doc = await coll.find_one({"sid": "s1"})  # same client, no reconnect logic needed
        assert doc is not None
        assert doc["sid"] == "s1"
        with pytest.raises(DuplicateKeyError):  # the index catalog survived too
            await coll.insert_one({"sid": "s1"})
    finally:
        await mongo.close()


def test_restart_and_context_manager_keep_the_port() -> None:
    with MongoWireServer() as srv:
        uri = srv.uri
        srv.restart()
        assert srv.uri == uri
        assert srv.is_running
    assert not srv.is_running
    srv.stop()  # idempotent


# --------------------------------------------------------------------------------------
# Sync driver and raw wire protocol
# --------------------------------------------------------------------------------------


def test_sync_mongo_client(server: MongoWireServer) -> None:
    with MongoClient(server.uri, tz_aware=True, serverSelectionTimeoutMS=2000) as mongo:
        coll = mongo.pulse.ingress
        coll.create_index("url", unique=True)
        coll.insert_many([{"url": f"rtmp://{i}"} for i in range(5)])
        assert coll.count_documents({}) == 5
        assert len(list(coll.find().batch_size(2))) == 5
        with pytest.raises(DuplicateKeyError):
            coll.insert_one({"url": "rtmp://0"})


def _frame(op_code: int, payload: bytes, request_id: int) -> bytes:
    return struct.pack("<iiii", 16 + len(payload), request_id, 0, op_code) + payload


def _op_msg(
    body: dict[str, Any],
    *,
    request_id: int,
    flags: int = 0,
    sequences: dict[str, list[dict[str, Any]]] | None = None,
    checksum: bool = False,
) -> bytes:
    payload = struct.pack("<I", flags | int(checksum)) + b"\x00" + bson.encode(body)
    for identifier, docs in (sequences or {}).items():
        section = identifier.encode() + b"\x00" + b"".join(bson.encode(d) for d in docs)
        payload += b"\x01" + struct.pack("<i", 4 + len(section)) + section
    if checksum:
        payload += b"\x00\x00\x00\x00"  # the server strips it without verifying
    return _frame(2013, payload, request_id)


def _recv_reply(sock: socket.socket) -> tuple[int, int, bytes]:
    def read(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "server closed the connection"
            data += chunk
        return data

    length, _request_id, response_to, op_code = struct.unpack("<iiii", read(16))
    return op_code, response_to, read(length - 16)


def test_raw_legacy_op_query_handshake(server: MongoWireServer) -> None:
    query = bson.encode({"isMaster": 1, "helloOk": True})
    payload = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query
    with socket.create_connection(server.address, timeout=2) as sock:
        sock.sendall(_frame(2004, payload, request_id=41))
        op_code, response_to, body = _recv_reply(sock)
    assert (op_code, response_to) == (1, 41)  # OP_REPLY
    _flags, cursor_id, _start, returned = struct.unpack_from("<iqii", body)
    assert (cursor_id, returned) == (0, 1)
    reply = bson.decode(body[20:])
    assert reply["ismaster"] is True
    assert reply["helloOk"] is True
    assert reply["maxWireVersion"] >= 9


def test_raw_op_msg_sequences_checksum_and_more_to_come(server: MongoWireServer) -> None:
    with socket.create_connection(server.address, timeout=2) as sock:
        # Unacknowledged insert (moreToCome) using a document sequence: no reply expected.
        insert = {"insert": "raw", "$db": "pulse"}
        docs = [{"_id": 1}, {"_id": 2}]
        sock.sendall(_op_msg(insert, request_id=1, flags=2, sequences={"documents": docs}))
        # Acknowledged find with the checksum flag set.
        sock.sendall(_op_msg({"find": "raw", "$db": "pulse"}, request_id=2, checksum=True))
        op_code, response_to, body = _recv_reply(sock)
    assert (op_code, response_to) == (2013, 2)
    assert struct.unpack_from("<I", body)[0] == 0  # no checksum in replies (pymongo rejects it)
    reply = bson.decode(body[5:])
    assert reply["ok"] == 1.0
    assert reply["cursor"]["firstBatch"] == docs
