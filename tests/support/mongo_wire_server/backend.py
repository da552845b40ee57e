"""``MongomockBackend``: runs one MongoDB command and returns its reply, never raising.

It routes each command by name to its handler (CRUD in ``crud``, indexes in ``catalog``,
the handshake, cursors, collections and databases here) and turns errors into
``ok: 0`` replies. It knows nothing of sockets; ``server.MongoWireServer`` serves it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import mongomock
from bson.int64 import Int64
from mongomock.filtering import filter_applies

from tests.support.mongo_wire_server.catalog import _ID_INDEX
from tests.support.mongo_wire_server.crud import _CrudCommands
from tests.support.mongo_wire_server.engine import (
    _Handler,
    _int_arg,
    _reject_unsupported,
    _take_batch,
)
from tests.support.mongo_wire_server.errors import (
    CommandError,
    Document,
    _error_from_exception,
)
from tests.support.mongo_wire_server.protocol import (
    LOGICAL_SESSION_TIMEOUT_MINUTES,
    MAX_BSON_OBJECT_SIZE,
    MAX_MESSAGE_SIZE_BYTES,
    MAX_WIRE_VERSION,
    MAX_WRITE_BATCH_SIZE,
    MIN_WIRE_VERSION,
    SERVER_VERSION,
)


class MongomockBackend(_CrudCommands):
    """Executes MongoDB commands against an in-process ``mongomock.MongoClient``.

    This is independent of any socket, so data, indexes and the catalog survive a
    server ``stop()``/``start()``. A single re-entrant lock serializes all commands.
    That is simple and, for test workloads, fast enough.
    """

    def __init__(self) -> None:
        super().__init__()
        self._handlers: dict[str, _Handler] = {
            "hello": self._cmd_hello,
            "ismaster": self._cmd_is_master,
            "ping": self._cmd_ping,
            "buildinfo": self._cmd_build_info,
            "endsessions": self._cmd_ping,
            "refreshsessions": self._cmd_ping,
            "killcursors": self._cmd_kill_cursors,
            "insert": self._cmd_insert,
            "find": self._cmd_find,
            "getmore": self._cmd_get_more,
            "update": self._cmd_update,
            "delete": self._cmd_delete,
            "findandmodify": self._cmd_find_and_modify,
            "count": self._cmd_count,
            "aggregate": self._cmd_aggregate,
            "distinct": self._cmd_distinct,
            "createindexes": self._cmd_create_indexes,
            "listindexes": self._cmd_list_indexes,
            "dropindexes": self._cmd_drop_indexes,
            "deleteindexes": self._cmd_drop_indexes,
            "listcollections": self._cmd_list_collections,
            "create": self._cmd_create,
            "drop": self._cmd_drop,
            "dropdatabase": self._cmd_drop_database,
            "listdatabases": self._cmd_list_databases,
        }

    # -- public helpers ------------------------------------------------------------------

    @property
    def client(self) -> mongomock.MongoClient:
        """The underlying mongomock client, for seeding or inspecting data directly."""
        return self._client

    @property
    def lock(self) -> threading.RLock:
        """Hold this lock while touching :attr:`client` directly during live traffic."""
        return self._lock

    @property
    def open_cursor_count(self) -> int:
        """Number of live server-side cursors (handy for cursor-leak assertions)."""
        with self._lock:
            return len(self._cursors)

    def reset(self) -> None:
        """Drop all data, indexes and cursors (e.g. between tests sharing one server)."""
        with self._lock:
            self._client = mongomock.MongoClient()
            self._indexes.clear()
            self._cursors.clear()

    def clear_cursors(self) -> None:
        """Forget all cursors, as a restarted mongod would."""
        with self._lock:
            self._cursors.clear()

    def execute(self, db: str, cmd: Document, connection_id: int = 0) -> Document:
        """Run one command and return its reply. Never raises: errors become ok: 0."""
        if not cmd:
            return CommandError(9, "empty command document").to_reply()
        name = next(iter(cmd))
        handler = self._handlers.get(name.lower())
        if handler is None:
            return CommandError(59, f"no such command: '{name}'").to_reply()
        try:
            with self._lock:
                return handler(db, cmd, connection_id)
        except Exception as exc:
            return _error_from_exception(exc).to_reply()

    # -- handshake / admin -------------------------------------------------------------------

    def _handshake_reply(self, connection_id: int, primary_field: str) -> Document:
        # No setName (so pymongo treats this as a standalone: no transactions, no
        # retryable writes). No topologyVersion (so pymongo polls instead of streaming).
        return {
            "helloOk": True,
            primary_field: True,
            "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE_BYTES,
            "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
            "localTime": datetime.now(UTC),
            "logicalSessionTimeoutMinutes": LOGICAL_SESSION_TIMEOUT_MINUTES,
            "connectionId": connection_id,
            "minWireVersion": MIN_WIRE_VERSION,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
            "ok": 1.0,
        }

    def _cmd_hello(self, db: str, cmd: Document, connection_id: int) -> Document:
        return self._handshake_reply(connection_id, "isWritablePrimary")

    def _cmd_is_master(self, db: str, cmd: Document, connection_id: int) -> Document:
        return self._handshake_reply(connection_id, "ismaster")

    def _cmd_ping(self, db: str, cmd: Document, connection_id: int) -> Document:
        return {"ok": 1.0}

    def _cmd_build_info(self, db: str, cmd: Document, connection_id: int) -> Document:
        return {
            "version": SERVER_VERSION,
            "versionArray": [int(p) for p in SERVER_VERSION.split(".")] + [0],
            "gitVersion": "mongomock-wire-server",
            "bits": 64,
            "debug": False,
            "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
            "storageEngines": ["mongomock"],
            "ok": 1.0,
        }

    # -- cursors -------------------------------------------------------------------------

    def _cmd_get_more(self, db: str, cmd: Document, connection_id: int) -> Document:
        cursor_id = _int_arg(cmd, "getMore")
        ns = f"{db}.{cmd.get('collection')}"
        cursor = self._cursors.get(cursor_id)
        if cursor is None or cursor.ns != ns:
            raise CommandError(43, f"cursor id {cursor_id} not found")
        batch = _take_batch(cursor.pending, _int_arg(cmd, "batchSize") or None)
        if not cursor.pending:
            del self._cursors[cursor_id]
            cursor_id = 0
        return {"cursor": {"nextBatch": batch, "id": Int64(cursor_id), "ns": ns}, "ok": 1.0}

    def _cmd_kill_cursors(self, db: str, cmd: Document, connection_id: int) -> Document:
        killed, not_found = [], []
        for raw_id in cmd.get("cursors") or []:
            cursor_id = int(raw_id)
            if self._cursors.pop(cursor_id, None) is None:
                not_found.append(Int64(cursor_id))
            else:
                killed.append(Int64(cursor_id))
        return {
            "cursorsKilled": killed,
            "cursorsNotFound": not_found,
            "cursorsAlive": [],
            "cursorsUnknown": [],
            "ok": 1.0,
        }

    # -- collections & databases ---------------------------------------------------------------

    def _cmd_list_collections(self, db: str, cmd: Document, connection_id: int) -> Document:
        docs: list[Document] = [
            {
                "name": coll_name,
                "type": "collection",
                "options": {},
                "info": {"readOnly": False},
                "idIndex": _ID_INDEX,
            }
            for coll_name in sorted(self._client[db].list_collection_names())
        ]
        query = cmd.get("filter") or {}
        docs = [doc for doc in docs if filter_applies(query, doc)]
        if cmd.get("nameOnly"):
            docs = [{"name": doc["name"], "type": doc["type"]} for doc in docs]
        batch_size = (cmd.get("cursor") or {}).get("batchSize")
        return self._open_cursor(f"{db}.$cmd.listCollections", docs, batch_size, False)

    def _cmd_create(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        _reject_unsupported(cmd, "viewOn", "pipeline")
        if self._exists(db, name):
            raise CommandError(48, f"Collection {db}.{name} already exists.")
        self._client[db].create_collection(name)
        return {"ok": 1.0}

    def _drop_cursors(self, db: str, name: str | None = None) -> None:
        """Discard cursors of one collection, or of a whole database if ``name`` is None."""

        def doomed(ns: str) -> bool:
            return ns == f"{db}.{name}" if name is not None else ns.startswith(f"{db}.")

        for cursor_id in [cid for cid, cursor in self._cursors.items() if doomed(cursor.ns)]:
            del self._cursors[cursor_id]

    def _cmd_drop(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        if not self._exists(db, name):
            return {"ok": 1.0}  # MongoDB >= 7.0 no longer errors for a missing namespace
        indexes = self._indexes.pop((db, name), {})
        self._client[db].drop_collection(name)
        self._drop_cursors(db, name)
        return {"nIndexesWas": 1 + len(indexes), "ns": f"{db}.{name}", "ok": 1.0}

    def _cmd_drop_database(self, db: str, cmd: Document, connection_id: int) -> Document:
        self._client.drop_database(db)
        for key in [k for k in self._indexes if k[0] == db]:
            del self._indexes[key]
        self._drop_cursors(db)
        return {"dropped": db, "ok": 1.0}

    def _cmd_list_databases(self, db: str, cmd: Document, connection_id: int) -> Document:
        docs: list[Document] = [
            {"name": db_name, "sizeOnDisk": 0, "empty": False}
            for db_name in sorted(self._client.list_database_names())
        ]
        query = cmd.get("filter") or {}
        docs = [doc for doc in docs if filter_applies(query, doc)]
        if cmd.get("nameOnly"):
            return {"databases": [{"name": doc["name"]} for doc in docs], "ok": 1.0}
        return {"databases": docs, "totalSize": 0, "totalSizeMb": 0, "ok": 1.0}
