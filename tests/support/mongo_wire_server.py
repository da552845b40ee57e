"""A MongoDB wire-protocol test server backed by mongomock.

Why this exists: CI cannot run a real ``mongod``, but the Mongo adapter must be exercised
through the *real* pymongo driver (``AsyncMongoClient`` and ``MongoClient``). That way
connection pooling, server selection, cursors, session fields and error mapping all run
exactly as in production. This module speaks enough of the wire protocol for pymongo 4.x:
OP_MSG, plus legacy OP_QUERY for old-style handshakes. ``mongomock`` stores the documents
and evaluates queries, updates and aggregations.

The server adds the parts that mongomock lacks or gets wrong:

* its own index catalog, with unique index enforcement (including sparse and partial
  indexes) and duplicate-key errors shaped like a real server's (``keyPattern``,
  ``keyValue``, ``E11000 ...`` errmsg);
* server-side cursors with batches, ``getMore`` and ``killCursors``;
* command errors shaped like a real server's (``ok: 0, code, codeName, errmsg``).

Typical use::

    with MongoWireServer() as server:
        client = AsyncMongoClient(server.uri, tz_aware=True)
        ...
        server.stop()    # driver now sees the server as down
        server.start()   # same port, same data

The storage (:class:`MongomockBackend`) outlives the socket server. That is what lets
``stop()``/``start()`` simulate a mongod restart that keeps its data.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import logging
import socket
import socketserver
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import bson
import mongomock
from bson import ObjectId
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from mongomock.filtering import filter_applies
from pymongo.errors import DuplicateKeyError as _PyMongoDuplicateKeyError
from pymongo.errors import OperationFailure as _PyMongoOperationFailure

__all__ = ["CommandError", "MongoWireServer", "MongomockBackend"]

log = logging.getLogger(__name__)

Document = dict[str, Any]

# --------------------------------------------------------------------------------------
# Wire protocol constants
# --------------------------------------------------------------------------------------

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013

_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_OP_REPLY_PREFIX = struct.Struct("<iqii")  # responseFlags, cursorID, startingFrom, numberReturned

_MSG_CHECKSUM_PRESENT = 1 << 0
_MSG_MORE_TO_COME = 1 << 1
_REPLY_QUERY_FAILURE = 1 << 1
_REPLY_AWAIT_CAPABLE = 1 << 3

MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE_BYTES = 48_000_000
MAX_WRITE_BATCH_SIZE = 100_000
MIN_WIRE_VERSION = 0
MAX_WIRE_VERSION = 21  # MongoDB 7.0. pymongo 4.x needs >= 9 (MongoDB 4.4).
SERVER_VERSION = "7.0.0"
LOGICAL_SESSION_TIMEOUT_MINUTES = 30
DEFAULT_FIRST_BATCH_SIZE = 101  # same default as mongod for find/aggregate
_MAX_BATCH_BYTES = MAX_BSON_OBJECT_SIZE  # keeps each reply well under maxMessageSizeBytes

# Decode datetimes as naive UTC (that is how mongomock stores and compares them). DATETIME_AUTO
# turns out-of-range dates into DatetimeMS instead of failing the whole request.
_CODEC_OPTIONS: CodecOptions[Document] = CodecOptions(
    tz_aware=False, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)
_EPOCH = datetime(1970, 1, 1)  # naive UTC, matching stored datetimes

_ID_INDEX: Document = {"v": 2, "key": {"_id": 1}, "name": "_id_"}

# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------

_CODE_NAMES: dict[int, str] = {
    1: "InternalError",
    2: "BadValue",
    9: "FailedToParse",
    14: "TypeMismatch",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    43: "CursorNotFound",
    48: "NamespaceExists",
    59: "CommandNotFound",
    67: "CannotCreateIndex",
    72: "InvalidOptions",
    73: "InvalidNamespace",
    85: "IndexOptionsConflict",
    86: "IndexKeySpecsConflict",
    238: "NotImplemented",
    11000: "DuplicateKey",
}


class CommandError(Exception):
    """A command failure, sent back the way mongod sends it.

    As a command reply it is ``{ok: 0, errmsg, code, codeName, ...extra}``. As a write
    error it becomes an entry in ``writeErrors``. ``extra`` carries fields such as
    ``keyPattern``/``keyValue`` that pymongo exposes on its exceptions.
    """

    def __init__(self, code: int, errmsg: str, **extra: Any) -> None:
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg
        self.extra = extra

    @property
    def code_name(self) -> str:
        return _CODE_NAMES.get(self.code, "UnknownError")

    def to_reply(self) -> Document:
        return {
            "ok": 0.0,
            "errmsg": self.errmsg,
            "code": self.code,
            "codeName": self.code_name,
            **self.extra,
        }

    def to_write_error(self, index: int) -> Document:
        return {"index": index, "code": self.code, "errmsg": self.errmsg, **self.extra}


def _error_from_exception(exc: BaseException) -> CommandError:
    """Turn mongomock/pymongo/Python exceptions into real-shaped command errors."""
    if isinstance(exc, CommandError):
        return exc
    if isinstance(exc, _PyMongoOperationFailure):  # mongomock raises pymongo's error classes
        code = exc.code if isinstance(exc.code, int) else 2
        return CommandError(code, str(exc))
    if isinstance(exc, NotImplementedError):
        return CommandError(238, f"not supported by the mongomock wire server: {exc}")
    if isinstance(exc, (TypeError, ValueError, KeyError)):
        return CommandError(2, str(exc) or type(exc).__name__)
    log.exception("mongo wire server: unexpected error while executing a command")
    return CommandError(1, f"{type(exc).__name__}: {exc}")


def _format_key_value(value: Any) -> str:
    """Render a value the way mongod prints it in ``dup key: { ... }`` messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, datetime):
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return f"new Date({(naive - _EPOCH) // timedelta(milliseconds=1)})"
    if isinstance(value, Mapping):
        return _format_key_document(value)
    if isinstance(value, list):
        return "[ " + ", ".join(_format_key_value(item) for item in value) + " ]"
    return str(value)


def _format_key_document(doc: Mapping[str, Any]) -> str:
    if not doc:
        return "{}"
    return "{ " + ", ".join(f"{k}: {_format_key_value(v)}" for k, v in doc.items()) + " }"


def _duplicate_key_error(
    ns: str, index_name: str, key_pattern: Mapping[str, Any], key_value: Mapping[str, Any]
) -> CommandError:
    errmsg = (
        f"E11000 duplicate key error collection: {ns} index: {index_name} "
        f"dup key: {_format_key_document(key_value)}"
    )
    return CommandError(11000, errmsg, keyPattern=dict(key_pattern), keyValue=dict(key_value))


# --------------------------------------------------------------------------------------
# Unique index enforcement
# --------------------------------------------------------------------------------------


def _normalize(value: Any) -> Any:
    """Build a hashable, type-aware comparison key for one index key value.

    Python alone would treat ``True == 1``, and mongomock's ``$eq`` would too. BSON
    keeps bools and numbers apart, but treats 1 and 1.0 as equal. Embedded documents
    compare in field order, as they do in BSON.
    """
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)  # 1 == 1.0 == Int64(1), and they hash the same
    if isinstance(value, bson.Decimal128):
        return ("number", value.to_decimal())
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, Mapping):
        return ("object", tuple((k, _normalize(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("array", tuple(_normalize(v) for v in value))
    if isinstance(value, bytes):  # includes bson.Binary
        return ("binary", getattr(value, "subtype", 0), bytes(value))
    try:
        hash(value)
    except TypeError:
        return ("repr", type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _index_key_values(doc: Mapping[str, Any], path: str) -> tuple[list[Any], bool]:
    """Return the index keys ``doc`` produces for ``path``, and whether the path exists.

    This follows multikey rules: arrays along the path and at the leaf fan out into
    one key per element. A missing field indexes as null, so two documents that both
    lack the field collide on a non-sparse unique index, as in MongoDB.
    """
    current: list[Any] = [doc]
    for part in path.split("."):
        found: list[Any] = []
        for item in current:
            if isinstance(item, Mapping):
                if part in item:
                    found.append(item[part])
            elif isinstance(item, list):
                if part.isdigit() and int(part) < len(item):
                    found.append(item[int(part)])
                else:
                    found.extend(
                        sub[part] for sub in item if isinstance(sub, Mapping) and part in sub
                    )
        current = found
    if not current:
        return [None], False
    unique: dict[Any, Any] = {}
    for value in current:
        for element in value if isinstance(value, list) and value else [value]:
            unique.setdefault(_normalize(element), element)
    return list(unique.values()), True


def _index_entries(index: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[Any, Document]:
    """Map each normalized key tuple that ``doc`` puts in ``index`` to its raw keyValue.

    Returns an empty dict when the document is not in the index (sparse index and
    no indexed field present). The partial filter is checked by the caller.
    """
    fields = list(index["key"])
    per_field: list[list[Any]] = []
    any_present = False
    for field in fields:
        values, present = _index_key_values(doc, field)
        any_present = any_present or present
        per_field.append(values)
    if index.get("sparse") and not any_present:
        return {}
    return {
        tuple(_normalize(v) for v in combo): dict(zip(fields, combo, strict=True))
        for combo in itertools.product(*per_field)
    }


def _id_first(doc: Document | None) -> Document | None:
    """Put ``_id`` first, as mongod does (mongomock puts upsert query fields first)."""
    if doc is None or "_id" not in doc:
        return doc
    return {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


def _in_partial_index(index: Mapping[str, Any], doc: Mapping[str, Any]) -> bool:
    partial = index.get("partialFilterExpression")
    return partial is None or bool(filter_applies(partial, doc))


# --------------------------------------------------------------------------------------
# Cursors
# --------------------------------------------------------------------------------------


@dataclass
class _Cursor:
    """A server-side cursor: results are fully materialized, then handed out in batches.

    The snapshot is taken when the cursor opens, unlike mongod, which reads lazily.
    Tests do not rely on that difference, and it keeps the locking trivial.
    """

    ns: str
    pending: deque[RawBSONDocument]


def _take_batch(pending: deque[RawBSONDocument], max_docs: int | None) -> list[RawBSONDocument]:
    """Pop up to ``max_docs`` docs (None = no count limit), capped at ~16 MiB per batch."""
    batch: list[RawBSONDocument] = []
    size = 0
    while pending and (max_docs is None or len(batch) < max_docs):
        doc_size = len(pending[0].raw)
        if batch and size + doc_size > _MAX_BATCH_BYTES:
            break
        batch.append(pending.popleft())
        size += doc_size
    return batch


# --------------------------------------------------------------------------------------
# Command execution (storage engine = mongomock)
# --------------------------------------------------------------------------------------

_Handler = Callable[[str, Document, int], Document]


def _int_arg(cmd: Mapping[str, Any], name: str, default: int = 0) -> int:
    value = cmd.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CommandError(14, f"'{name}' must be a number, not {type(value).__name__}")
    return int(value)


def _sort_spec(sort: Any) -> list[tuple[str, int]] | None:
    """Convert a wire sort document to mongomock's ``[(field, direction)]`` form."""
    if not sort:
        return None
    if not isinstance(sort, Mapping):
        raise CommandError(14, "sort must be a document")
    spec = []
    for key, direction in sort.items():
        if isinstance(direction, Mapping):
            raise CommandError(238, f"sort by {direction} is not supported")
        spec.append((key, 1 if direction >= 0 else -1))
    return spec


def _reject_unsupported(doc: Mapping[str, Any], *names: str) -> None:
    """Fail loudly on options that would change results if silently ignored."""
    for name in names:
        if doc.get(name):
            raise CommandError(238, f"'{name}' is not supported by the mongomock wire server")


class MongomockBackend:
    """Executes MongoDB commands against an in-process ``mongomock.MongoClient``.

    This is independent of any socket, so data, indexes and the catalog survive a
    server ``stop()``/``start()``. A single re-entrant lock serializes all commands.
    That is simple and, for test workloads, fast enough.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._client = mongomock.MongoClient()
        # (db, collection) -> {index name -> index document}, not counting the implicit _id_.
        self._indexes: dict[tuple[str, str], dict[str, Document]] = {}
        self._cursors: dict[int, _Cursor] = {}
        self._cursor_ids = itertools.count(7_000_000_001)
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

    # -- shared plumbing -----------------------------------------------------------------

    @staticmethod
    def _collection_name(cmd: Mapping[str, Any]) -> str:
        name = next(iter(cmd.values()))
        if not isinstance(name, str) or not name:
            raise CommandError(73, f"collection name must be a non-empty string, got {name!r}")
        return name

    def _exists(self, db: str, name: str) -> bool:
        return name in self._client[db].list_collection_names()

    def _ensure_collection(self, db: str, name: str) -> bool:
        """Create the collection if needed. Returns True if it was created."""
        if self._exists(db, name):
            return False
        self._client[db].create_collection(name)
        return True

    def _unique_indexes(self, db: str, name: str) -> list[Document]:
        return [i for i in self._indexes.get((db, name), {}).values() if i.get("unique")]

    def _open_cursor(
        self, ns: str, docs: Iterable[Mapping[str, Any]], batch_size: int | None, single: bool
    ) -> Document:
        # Encode once now: this freezes the snapshot and gives exact sizes for batching.
        pending = deque(RawBSONDocument(bson.encode(doc)) for doc in docs)
        first = _take_batch(pending, batch_size)
        cursor_id = 0
        if pending and not single:
            cursor_id = next(self._cursor_ids)
            self._cursors[cursor_id] = _Cursor(ns, pending)
        return {"cursor": {"firstBatch": first, "id": Int64(cursor_id), "ns": ns}, "ok": 1.0}

    def _check_unique(
        self,
        db: str,
        name: str,
        doc: Mapping[str, Any],
        indexes: Iterable[Mapping[str, Any]],
    ) -> None:
        """Raise a duplicate-key CommandError if ``doc`` collides in any of ``indexes``.

        ``doc`` may already be stored (post-update check), so it is skipped by ``_id``.
        Each check is a scan of the collection, which is fine for test data sizes.
        """
        coll = self._client[db][name]
        ns = f"{db}.{name}"
        for index in indexes:
            if not _in_partial_index(index, doc):
                continue
            entries = _index_entries(index, doc)
            if not entries:
                continue
            roots = {field.split(".")[0]: 1 for field in index["key"]}
            query = index.get("partialFilterExpression") or {}
            for other in coll.find(query, roots):
                if other.get("_id") == doc.get("_id"):
                    continue
                common = entries.keys() & _index_entries(index, other).keys()
                if common:
                    key_value = entries[next(iter(common))]
                    raise _duplicate_key_error(ns, index["name"], index["key"], key_value)

    def _check_id_free(self, db: str, name: str, doc_id: Any) -> None:
        coll = self._client[db][name]
        if coll.find_one({"_id": doc_id}, {"_id": 1}) is not None:
            raise _duplicate_key_error(f"{db}.{name}", "_id_", {"_id": 1}, {"_id": doc_id})

    def _apply_update(
        self,
        db: str,
        name: str,
        query: Document,
        update: Any,
        *,
        upsert: bool,
        multi: bool,
    ) -> tuple[int, int, Any]:
        """Apply one update statement. Returns ``(matched, modified, upserted_id)``.

        mongomock applies the update. The server then checks the unique indexes
        against each post-image. On a violation it restores the pre-images and raises.
        This makes the statement atomic; mongod may keep earlier docs of a multi-update.
        """
        coll = self._client[db][name]
        is_pipeline = isinstance(update, list)
        if not is_pipeline and not isinstance(update, Mapping):
            raise CommandError(9, "update must be a document or a pipeline")
        is_replacement = not is_pipeline and not any(k.startswith("$") for k in update)
        if is_replacement and multi:
            raise CommandError(9, "multi update is not supported for replacement-style update")

        unique_indexes = self._unique_indexes(db, name)
        pre_images = list(coll.find(query)) if unique_indexes else []
        try:
            if is_replacement:
                result = coll.replace_one(query, update, upsert=upsert)
            elif multi:
                result = coll.update_many(query, update, upsert=upsert)
            else:
                result = coll.update_one(query, update, upsert=upsert)
        except _PyMongoDuplicateKeyError as exc:
            # Only reachable when an upsert re-uses an existing _id from the query.
            doc_id = query.get("_id")
            if isinstance(doc_id, Mapping) and any(str(k).startswith("$") for k in doc_id):
                raise CommandError(11000, f"E11000 duplicate key error: {exc}") from exc
            raise _duplicate_key_error(f"{db}.{name}", "_id_", {"_id": 1}, {"_id": doc_id}) from exc

        if unique_indexes:
            try:
                for pre in pre_images:
                    post = coll.find_one({"_id": pre["_id"]})
                    if post is not None and post != pre:
                        self._check_unique(db, name, post, unique_indexes)
                if result.upserted_id is not None:
                    inserted = coll.find_one({"_id": result.upserted_id})
                    if inserted is not None:
                        self._check_unique(db, name, inserted, unique_indexes)
            except CommandError:
                for pre in pre_images:
                    coll.replace_one({"_id": pre["_id"]}, pre)
                if result.upserted_id is not None:
                    coll.delete_one({"_id": result.upserted_id})
                raise
        return result.matched_count, result.modified_count, result.upserted_id

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

    # -- CRUD ----------------------------------------------------------------------------

    def _cmd_insert(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        coll = self._client[db][name]
        unique_indexes = self._unique_indexes(db, name)
        ordered = cmd.get("ordered", True)
        inserted = 0
        errors: list[Document] = []
        for i, raw_doc in enumerate(cmd.get("documents") or []):
            try:
                doc = raw_doc if "_id" in raw_doc else {"_id": ObjectId(), **raw_doc}
                self._check_id_free(db, name, doc["_id"])
                self._check_unique(db, name, doc, unique_indexes)
                coll.insert_one(doc)
                inserted += 1
            except Exception as exc:
                errors.append(_error_from_exception(exc).to_write_error(i))
                if ordered:
                    break
        reply: Document = {"n": inserted}
        if errors:
            reply["writeErrors"] = errors
        reply["ok"] = 1.0
        return reply

    def _cmd_update(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        ordered = cmd.get("ordered", True)
        matched = modified = 0
        upserted: list[Document] = []
        errors: list[Document] = []
        for i, stmt in enumerate(cmd.get("updates") or []):
            try:
                _reject_unsupported(stmt, "arrayFilters", "collation", "c")
                n, n_modified, upserted_id = self._apply_update(
                    db,
                    name,
                    stmt.get("q") or {},
                    stmt.get("u"),
                    upsert=bool(stmt.get("upsert")),
                    multi=bool(stmt.get("multi")),
                )
            except Exception as exc:
                errors.append(_error_from_exception(exc).to_write_error(i))
                if ordered:
                    break
                continue
            matched += n
            modified += n_modified
            if upserted_id is not None:
                upserted.append({"index": i, "_id": upserted_id})
        reply: Document = {"n": matched + len(upserted), "nModified": modified}
        if upserted:
            reply["upserted"] = upserted
        if errors:
            reply["writeErrors"] = errors
        reply["ok"] = 1.0
        return reply

    def _cmd_delete(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        coll = self._client[db][name]
        ordered = cmd.get("ordered", True)
        deleted = 0
        errors: list[Document] = []
        for i, stmt in enumerate(cmd.get("deletes") or []):
            try:
                _reject_unsupported(stmt, "collation")
                query = stmt.get("q") or {}
                limit = _int_arg(stmt, "limit")
                if limit not in (0, 1):
                    raise CommandError(
                        9, f"The limit field in delete objects must be 0 or 1. Got {limit}"
                    )
                result = coll.delete_one(query) if limit == 1 else coll.delete_many(query)
                deleted += result.deleted_count
            except Exception as exc:
                errors.append(_error_from_exception(exc).to_write_error(i))
                if ordered:
                    break
        reply: Document = {"n": deleted}
        if errors:
            reply["writeErrors"] = errors
        reply["ok"] = 1.0
        return reply

    def _cmd_find(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        _reject_unsupported(cmd, "collation")
        skip, limit = _int_arg(cmd, "skip"), _int_arg(cmd, "limit")
        if skip < 0 or limit < 0:
            raise CommandError(2, "skip and limit must be non-negative")
        docs = self._client[db][name].find(
            cmd.get("filter") or {},
            cmd.get("projection") or None,
            skip=skip,
            limit=limit,
            sort=_sort_spec(cmd.get("sort")),
        )
        single = bool(cmd.get("singleBatch"))
        batch_size = cmd.get("batchSize")
        if batch_size is not None:
            batch_size = _int_arg(cmd, "batchSize")
        elif not single:
            batch_size = DEFAULT_FIRST_BATCH_SIZE
        return self._open_cursor(f"{db}.{name}", docs, batch_size, single)

    def _cmd_find_and_modify(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        _reject_unsupported(cmd, "arrayFilters", "collation", "let")
        coll = self._client[db][name]
        query = cmd.get("query") or {}
        projection = cmd.get("fields") or None
        update = cmd.get("update")
        remove, return_new, upsert = (
            bool(cmd.get("remove")),
            bool(cmd.get("new")),
            bool(cmd.get("upsert")),
        )
        if remove == (update is not None):
            raise CommandError(9, "Either an update or remove=true must be specified")
        if remove and (return_new or upsert):
            raise CommandError(9, "Cannot specify both remove=true and new=true / upsert=true")

        target = next(iter(coll.find(query, sort=_sort_spec(cmd.get("sort")), limit=1)), None)
        if target is None and not (upsert and not remove):
            return {"lastErrorObject": {"n": 0}, "value": None, "ok": 1.0}

        if remove:
            assert target is not None
            before = coll.find_one({"_id": target["_id"]}, projection)
            coll.delete_one({"_id": target["_id"]})
            return {"lastErrorObject": {"n": 1}, "value": _id_first(before), "ok": 1.0}

        if target is not None:
            by_id = {"_id": target["_id"]}
            before = coll.find_one(by_id, projection)
            self._apply_update(db, name, {"_id": target["_id"]}, update, upsert=False, multi=False)
            value = coll.find_one(by_id, projection) if return_new else before
            return {
                "lastErrorObject": {"n": 1, "updatedExisting": True},
                "value": _id_first(value),
                "ok": 1.0,
            }

        _, _, upserted_id = self._apply_update(db, name, query, update, upsert=True, multi=False)
        value = coll.find_one({"_id": upserted_id}, projection) if return_new else None
        return {
            "lastErrorObject": {"n": 1, "updatedExisting": False, "upserted": upserted_id},
            "value": _id_first(value),
            "ok": 1.0,
        }

    def _cmd_count(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        _reject_unsupported(cmd, "collation")
        skip, limit = _int_arg(cmd, "skip"), abs(_int_arg(cmd, "limit"))
        docs = self._client[db][name].find(
            cmd.get("query") or {}, {"_id": 1}, skip=max(skip, 0), limit=limit
        )
        return {"n": sum(1 for _ in docs), "ok": 1.0}

    def _cmd_distinct(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        _reject_unsupported(cmd, "collation")
        key = cmd.get("key")
        if not isinstance(key, str):
            raise CommandError(14, "'key' must be a string")
        values = self._client[db][name].distinct(key, cmd.get("query") or {})
        return {"values": values, "ok": 1.0}

    def _cmd_aggregate(self, db: str, cmd: Document, connection_id: int) -> Document:
        target = cmd.get("aggregate")
        if not isinstance(target, str):
            raise CommandError(238, "database-level aggregate ({aggregate: 1}) is not supported")
        _reject_unsupported(cmd, "collation", "explain", "let")
        pipeline = cmd.get("pipeline")
        if not isinstance(pipeline, list):
            raise CommandError(14, "'pipeline' must be an array")
        docs = list(self._client[db][target].aggregate(pipeline))
        cursor_opts = cmd.get("cursor") or {}
        batch_size = cursor_opts.get("batchSize")
        if batch_size is None:
            batch_size = DEFAULT_FIRST_BATCH_SIZE
        return self._open_cursor(f"{db}.{target}", docs, int(batch_size), False)

    # -- indexes -------------------------------------------------------------------------

    def _cmd_create_indexes(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        specs = cmd.get("indexes")
        if not isinstance(specs, list) or not specs:
            raise CommandError(2, "Must specify at least one index to create")
        current = self._indexes.get((db, name), {})
        staged = dict(current)  # all-or-nothing, like mongod
        for spec in specs:
            index = self._validate_index_spec(spec)
            if index["name"] == "_id_" or list(index["key"].items()) == [("_id", 1)]:
                continue  # the _id index always exists
            existing = staged.get(index["name"])
            if existing is not None:
                if existing == index:
                    continue
                code = 86 if existing["key"] != index["key"] else 85
                raise CommandError(
                    code,
                    f"An existing index has the same name as the requested index. "
                    f"Requested index: {index}, existing index: {existing}",
                )
            for other in staged.values():
                same_key = list(other["key"].items()) == list(index["key"].items())
                if same_key and other.get("partialFilterExpression") == index.get(
                    "partialFilterExpression"
                ):
                    raise CommandError(
                        85, f"Index already exists with a different name: {other['name']}"
                    )
            if index.get("unique"):
                self._check_existing_unique(db, name, index)
            staged[index["name"]] = index
        created = self._ensure_collection(db, name)
        self._indexes[(db, name)] = staged
        return {
            "numIndexesBefore": 1 + len(current),
            "numIndexesAfter": 1 + len(staged),
            "createdCollectionAutomatically": created,
            "ok": 1.0,
        }

    @staticmethod
    def _validate_index_spec(spec: Any) -> Document:
        """Normalize one createIndexes entry into the document listIndexes returns."""
        if not isinstance(spec, Mapping):
            raise CommandError(14, "index specification must be a document")
        key, index_name = spec.get("key"), spec.get("name")
        if not isinstance(key, Mapping) or not key:
            raise CommandError(67, "index 'key' must be a non-empty document")
        if not isinstance(index_name, str) or not index_name:
            raise CommandError(9, "index 'name' must be a non-empty string")
        if spec.get("collation"):
            # Collation changes uniqueness semantics (e.g. case-insensitive); refuse
            # rather than enforce the wrong thing.
            raise CommandError(238, "index collation is not supported by the mongomock wire server")
        index: Document = {"v": 2, "key": dict(key), "name": index_name}
        for option, value in spec.items():
            if option in ("key", "name", "v", "ns", "background"):
                continue
            if option in ("unique", "sparse", "hidden") and not value:
                continue  # mongod omits false boolean options from listIndexes
            index[option] = value
        return index

    def _check_existing_unique(self, db: str, name: str, index: Document) -> None:
        """Refuse to build a unique index over data that already violates it."""
        seen: dict[Any, Any] = {}
        query = index.get("partialFilterExpression") or {}
        for doc in self._client[db][name].find(query):
            for key, key_value in _index_entries(index, doc).items():
                if key in seen and seen[key] != doc["_id"]:
                    raise _duplicate_key_error(
                        f"{db}.{name}", index["name"], index["key"], key_value
                    )
                seen[key] = doc["_id"]

    def _cmd_list_indexes(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        if not self._exists(db, name):
            raise CommandError(26, f"ns does not exist: {db}.{name}")
        docs = [_ID_INDEX, *self._indexes.get((db, name), {}).values()]
        batch_size = (cmd.get("cursor") or {}).get("batchSize")
        return self._open_cursor(f"{db}.{name}", copy.deepcopy(docs), batch_size, False)

    def _cmd_drop_indexes(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        if not self._exists(db, name):
            raise CommandError(26, f"ns not found {db}.{name}")
        catalog = self._indexes.setdefault((db, name), {})
        count_before = 1 + len(catalog)
        target = cmd.get("index")
        if target == "*":
            catalog.clear()
        else:
            for item in target if isinstance(target, list) else [target]:
                catalog.pop(self._resolve_index_name(catalog, item))
        return {"nIndexesWas": count_before, "ok": 1.0}

    @staticmethod
    def _resolve_index_name(catalog: Mapping[str, Document], target: Any) -> str:
        if isinstance(target, Mapping):
            for index_name, index in catalog.items():
                if list(index["key"].items()) == list(target.items()):
                    return index_name
            if list(target.items()) == [("_id", 1)]:
                raise CommandError(72, "cannot drop _id index")
            raise CommandError(27, f"can't find index with key: {dict(target)}")
        if target == "_id_":
            raise CommandError(72, "cannot drop _id index")
        if not isinstance(target, str) or target not in catalog:
            raise CommandError(27, f"index not found with name [{target}]")
        return target

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


# --------------------------------------------------------------------------------------
# Message framing
# --------------------------------------------------------------------------------------


class _ProtocolViolationError(Exception):
    """The peer sent something we cannot frame. The connection is dropped, as mongod does."""


def _parse_op_msg(payload: bytes) -> tuple[int, Document]:
    """Decode an OP_MSG body: flag bits, one kind-0 body, any kind-1 document sequences.

    Document sequences (used for insert/update/delete batches) are merged into the body
    under their identifier, which is how mongod itself interprets them. A trailing CRC-32C
    checksum is stripped but not verified (it is optional, and TCP already guards us).
    """
    (flags,) = _UINT32.unpack_from(payload, 0)
    end = len(payload) - (4 if flags & _MSG_CHECKSUM_PRESENT else 0)
    pos = 4
    body: Document | None = None
    sequences: dict[str, list[Document]] = {}
    while pos < end:
        kind = payload[pos]
        pos += 1
        (size,) = _INT32.unpack_from(payload, pos)
        if kind == 0:
            body = bson.decode(payload[pos : pos + size], codec_options=_CODEC_OPTIONS)
            pos += size
        elif kind == 1:
            section_end = pos + size
            name_end = payload.index(b"\x00", pos + 4)
            identifier = payload[pos + 4 : name_end].decode()
            docs = bson.decode_all(payload[name_end + 1 : section_end], _CODEC_OPTIONS)
            sequences.setdefault(identifier, []).extend(docs)
            pos = section_end
        else:
            raise _ProtocolViolationError(f"unknown OP_MSG section kind {kind}")
    if body is None:
        raise _ProtocolViolationError("OP_MSG without a body section")
    for identifier, docs in sequences.items():
        body.setdefault(identifier, []).extend(docs)
    return flags, body


def _parse_op_query(payload: bytes) -> tuple[str, Document]:
    """Decode a legacy OP_QUERY. Returns (full collection name, command document)."""
    name_end = payload.index(b"\x00", 4)
    full_name = payload[4:name_end].decode()
    pos = name_end + 1 + 8  # skip numberToSkip, numberToReturn
    (size,) = _INT32.unpack_from(payload, pos)
    query = bson.decode(payload[pos : pos + size], codec_options=_CODEC_OPTIONS)
    if "$query" in query:  # read-preference wrapped form: {$query: {...}, $readPreference: ...}
        query = query["$query"]
    return full_name, query


def _encode_reply_doc(reply: Document) -> bytes:
    try:
        return bson.encode(reply)
    except Exception as exc:  # e.g. a mongomock result bson cannot represent
        return bson.encode(_error_from_exception(exc).to_reply())


class _WireProtocol:
    """Turns a request message into a reply message (or None for moreToCome)."""

    def __init__(self, backend: MongomockBackend) -> None:
        self._backend = backend
        self._request_ids = itertools.count(1)
        self._ids_lock = threading.Lock()

    def _next_request_id(self) -> int:
        with self._ids_lock:
            return next(self._request_ids) & 0x7FFFFFFF

    def _frame(self, response_to: int, op_code: int, body: bytes) -> bytes:
        header = _HEADER.pack(16 + len(body), self._next_request_id(), response_to, op_code)
        return header + body

    def handle(
        self, op_code: int, payload: bytes, request_id: int, connection_id: int
    ) -> bytes | None:
        if op_code == OP_MSG:
            flags, body = _parse_op_msg(payload)
            db = body.get("$db", "admin")
            reply = self._backend.execute(db, body, connection_id)
            if flags & _MSG_MORE_TO_COME:
                return None  # unacknowledged (w: 0) write: the client reads no reply
            # Reply flagBits are 0. pymongo rejects replies that carry a checksum.
            return self._frame(
                request_id, OP_MSG, b"\x00\x00\x00\x00\x00" + _encode_reply_doc(reply)
            )
        if op_code == OP_QUERY:
            full_name, query = _parse_op_query(payload)
            db, _, coll = full_name.partition(".")
            flags = _REPLY_AWAIT_CAPABLE
            if coll != "$cmd":
                flags |= _REPLY_QUERY_FAILURE
                reply = {"$err": "OP_QUERY is only supported for commands", "code": 238, "ok": 0.0}
            else:
                reply = self._backend.execute(db, query, connection_id)
            prefix = _OP_REPLY_PREFIX.pack(flags, 0, 0, 1)
            return self._frame(request_id, OP_REPLY, prefix + _encode_reply_doc(reply))
        raise _ProtocolViolationError(f"unsupported opcode {op_code}")


# --------------------------------------------------------------------------------------
# TCP server
# --------------------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """Read exactly ``size`` bytes, or return None if the peer closed the connection."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


class _ConnectionHandler(socketserver.BaseRequestHandler):
    """Serves one client connection: read a message, answer it, repeat until EOF."""

    server: _WireTCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection_id = self.server.next_connection_id()
        try:
            while True:
                header = _recv_exact(sock, _HEADER.size)
                if header is None:
                    return
                length, request_id, _response_to, op_code = _HEADER.unpack(header)
                if not _HEADER.size <= length <= MAX_MESSAGE_SIZE_BYTES:
                    return
                payload = _recv_exact(sock, length - _HEADER.size)
                if payload is None:
                    return
                reply = self.server.protocol.handle(op_code, payload, request_id, connection_id)
                if reply is not None:
                    sock.sendall(reply)
        except OSError:
            return  # connection reset / closed by stop(): nothing left to do
        except (
            _ProtocolViolationError,
            bson.errors.BSONError,
            struct.error,
            ValueError,
            IndexError,
        ) as exc:
            log.warning("mongo wire server: dropping connection %s: %s", connection_id, exc)


class _WireTCPServer(socketserver.TCPServer):
    """A TCP server with one daemon thread per connection and a kill switch for all of them.

    socketserver's ThreadingMixIn cannot forcibly close live connections. We need that
    so ``stop()`` looks like a crashed mongod to the driver, so this class tracks them.
    """

    allow_reuse_address = True  # restart on the same port despite TIME_WAIT sockets
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], backend: MongomockBackend) -> None:
        self.protocol = _WireProtocol(backend)
        self._conn_lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._closing = False
        self._connection_ids = itertools.count(1)
        super().__init__(address, _ConnectionHandler)

    def next_connection_id(self) -> int:
        with self._conn_lock:
            return next(self._connection_ids)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"mongo-wire-conn-{client_address[1]}",
            daemon=True,
        )
        with self._conn_lock:
            if self._closing:
                self.shutdown_request(request)
                return
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("mongo wire server: error serving %s", client_address)

    def close_all_connections(self, join_timeout: float) -> None:
        """Shut down every live client socket and wait briefly for its thread to exit."""
        with self._conn_lock:
            self._closing = True
            live = list(self._connections.items())
        for sock, _thread in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _sock, thread in live:
            thread.join(join_timeout)


class MongoWireServer:
    """A mongod stand-in on 127.0.0.1 that the real pymongo driver can connect to.

    ``port=0`` picks a free port on the first ``start()``. The port is then kept, so
    ``stop()``/``start()`` (or ``restart()``) brings the server back at the same
    address with the same data. An existing client therefore recovers after an outage.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        backend: MongomockBackend | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self.backend = backend or MongomockBackend()
        self._lifecycle_lock = threading.Lock()
        self._server: _WireTCPServer | None = None
        self._thread: threading.Thread | None = None

    # -- properties -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("port is not known until the server has been started")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return self._host, self.port

    @property
    def uri(self) -> str:
        """Connection string; directConnection avoids any replica-set discovery."""
        return f"mongodb://{self._host}:{self.port}/?directConnection=true"

    @property
    def is_running(self) -> bool:
        return self._server is not None

    @property
    def client(self) -> mongomock.MongoClient:
        """The mongomock client holding the data (bypasses the wire protocol)."""
        return self.backend.client

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a background thread. No-op if already running."""
        with self._lifecycle_lock:
            if self._server is not None:
                return self
            server = _WireTCPServer((self._host, self._port), self.backend)
            self._port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},  # bounds how long stop() waits
                name=f"mongo-wire-server-{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self, join_timeout: float = 5.0) -> None:
        """Close the listener and every client connection now; the data is kept.

        Open cursors are discarded, as a mongod restart would do. No-op if not running.
        """
        with self._lifecycle_lock:
            server, thread = self._server, self._thread
            if server is None:
                return
            self._server = self._thread = None
            server.shutdown()  # stop accepting (returns within one poll interval)
            server.server_close()  # close the listening socket
            server.close_all_connections(join_timeout)
            if thread is not None:
                thread.join(join_timeout)
            self.backend.clear_cursors()

    def restart(self) -> Self:
        """Stop then start on the same port, keeping all data and indexes."""
        self.stop()
        return self.start()

    def reset(self) -> None:
        """Drop all data and indexes without touching connections."""
        self.backend.reset()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<MongoWireServer {self._host}:{self._port or '?'} {state}>"
