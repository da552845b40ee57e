"""The MongoDB wire protocol: opcodes, the limits the server advertises, and framing.

``_parse_op_msg`` / ``_parse_op_query`` decode requests (OP_MSG, plus legacy OP_QUERY for
old-style handshakes); ``_WireProtocol`` hands each command to the backend and frames
its reply (OP_MSG, or OP_REPLY to an OP_QUERY). The TCP side is in ``server``.
"""

from __future__ import annotations

import itertools
import struct
import threading
from typing import TYPE_CHECKING

import bson
from bson.codec_options import CodecOptions, DatetimeConversion

from tests.support.mongo_wire_server.errors import Document, _error_from_exception

if TYPE_CHECKING:
    from tests.support.mongo_wire_server.backend import MongomockBackend

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
