"""A MongoDB wire-protocol test server backed by mongomock.

Why this exists: CI cannot run a real ``mongod``, but the Mongo adapter must be exercised
through the *real* pymongo driver (``AsyncMongoClient`` and ``MongoClient``). That way
connection pooling, server selection, cursors, session fields and error mapping all run
exactly as in production. This package speaks enough of the wire protocol for pymongo 4.x:
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

The package, by layer (each module's docstring says more):

* ``errors``: command errors shaped like mongod's, and the duplicate-key message;
* ``protocol``: wire constants, OP_MSG/OP_QUERY parsing and reply framing;
* ``engine``: the state every command shares (mongomock client, cursors, arguments);
* ``catalog``: the index catalog, unique index enforcement and the index commands;
* ``crud``: insert, update, delete, find, findAndModify, count, distinct, aggregate;
* ``backend``: :class:`MongomockBackend`, which dispatches every command;
* ``server``: the TCP server, :class:`MongoWireServer`.
"""

from __future__ import annotations

from tests.support.mongo_wire_server.backend import MongomockBackend
from tests.support.mongo_wire_server.errors import CommandError, Document
from tests.support.mongo_wire_server.protocol import (
    DEFAULT_FIRST_BATCH_SIZE,
    LOGICAL_SESSION_TIMEOUT_MINUTES,
    MAX_BSON_OBJECT_SIZE,
    MAX_MESSAGE_SIZE_BYTES,
    MAX_WIRE_VERSION,
    MAX_WRITE_BATCH_SIZE,
    MIN_WIRE_VERSION,
    OP_MSG,
    OP_QUERY,
    OP_REPLY,
    SERVER_VERSION,
)
from tests.support.mongo_wire_server.server import MongoWireServer

__all__ = [
    "DEFAULT_FIRST_BATCH_SIZE",
    "LOGICAL_SESSION_TIMEOUT_MINUTES",
    "MAX_BSON_OBJECT_SIZE",
    "MAX_MESSAGE_SIZE_BYTES",
    "MAX_WIRE_VERSION",
    "MAX_WRITE_BATCH_SIZE",
    "MIN_WIRE_VERSION",
    "OP_MSG",
    "OP_QUERY",
    "OP_REPLY",
    "SERVER_VERSION",
    "CommandError",
    "Document",
    "MongoWireServer",
    "MongomockBackend",
]
