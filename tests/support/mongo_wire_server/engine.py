"""What every command group of the backend shares: the mongomock client that stores the
documents, the index catalog's storage, server-side cursors, and argument parsing.

``_Engine`` is the base of the backend's command groups (``catalog``, ``crud``, then
``backend.MongomockBackend``), which all work on this state under one lock.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import bson
import mongomock
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument

from tests.support.mongo_wire_server.errors import CommandError, Document
from tests.support.mongo_wire_server.protocol import _MAX_BATCH_BYTES

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


class _Engine:
    """The state of one backend; it outlives any socket server (see ``MongomockBackend``)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._client = mongomock.MongoClient()
        # (db, collection) -> {index name -> index document}, not counting the implicit _id_.
        self._indexes: dict[tuple[str, str], dict[str, Document]] = {}
        self._cursors: dict[int, _Cursor] = {}
        self._cursor_ids = itertools.count(7_000_000_001)

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
