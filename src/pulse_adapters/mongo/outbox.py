"""Audit records written with the change they record, without transactions.

The port's rule (:mod:`pulse_core.ports.repositories`): a write that takes ``audit``
stores the change and its record as one unit of work, and a write that fails stores
neither. MongoDB makes one document's write atomic, but two documents need a
transaction, and transactions need a replica set (a standalone server, like the wire
test server, has none). So an audited write is two steps:

1. The write itself carries the record inside the written document, in its
   ``audit_outbox`` list (:func:`carrying` for an insert, :func:`pushing` for an
   update): one single-document operation, so the change is never stored without its
   record, and a write that fails (duplicate key, no match) stores neither.
2. :meth:`Outbox.deliver` inserts the record into ``audit_log`` (``_id`` is the record
   id, so a record already there is a duplicate key, ignored), then takes it out of the
   document's outbox, by record id.

A crash or an outage between the steps leaves the record in the outbox, where
:meth:`Outbox.settle` (``MongoAuditRepository.settle``) finds it through the partial
index ``audit_outbox._id_1`` and finishes step 2. Both steps are idempotent (insert if
absent, pull by id), so ``deliver`` and ``settle`` may run at once on the same document
and the log still holds each record exactly once. Step 2 failing with ``Unavailable``
does not fail the write: the change and its record are stored, only their move waits
for ``settle`` (run it at start-up and periodically); reads of ``audit_log`` do not see
the record until then.

Deletes. A document that is deleted can carry nothing afterwards, so a deleting
repository (webhook endpoints) first turns the document into a tombstone (``deleted:
true`` plus the record, one operation), which its reads ignore and its writes never
match, then :meth:`Outbox.bury` moves every record the tombstone carries and removes it.
Because nothing is ever pushed into a tombstone, what ``bury`` reads is all it will ever
carry, so removing it after moving those loses nothing. ``settle`` buries tombstones a
crash left behind (partial index ``deleted_1``), whether or not they still carry records.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from pulse_adapters.mongo.database import Document, MongoDatabase
from pulse_adapters.mongo.documents import present, struct_from_document, struct_to_document
from pulse_adapters.mongo.errors import translate_errors
from pulse_adapters.mongo.indexes import (
    AUDIT_LOG,
    AUDITED_COLLECTIONS,
    OUTBOX,
    TOMBSTONE,
    TOMBSTONED_COLLECTIONS,
)
from pulse_core.errors import Conflict, Unavailable
from pulse_core.models.audit import AuditRecord

_log = logging.getLogger("pulse.audit")

#: Matches exactly the documents of the partial index ``audit_outbox._id_1``.
CARRYING: Document = {f"{OUTBOX}._id": {"$exists": True}}
#: Added to every filter of a tombstoning repository: tombstones are gone to its callers.
NOT_BURIED: Document = {TOMBSTONE: {"$ne": True}}


def audit_document(record: AuditRecord) -> Document:
    """The ``audit_log`` document of ``record`` (also what an outbox holds)."""
    return present(struct_to_document(record))


def audit_from_document(doc: Document) -> AuditRecord:
    return struct_from_document(doc, AuditRecord)


def carrying(document: Document, audit: AuditRecord | None) -> Document:
    """``document`` to insert, carrying ``audit`` (step 1 of an audited insert)."""
    if audit is None:
        return document
    return {**document, OUTBOX: [audit_document(audit)]}


def pushing(update: Document, audit: AuditRecord | None) -> Document:
    """``update`` carrying ``audit`` into the document (step 1 of an audited update)."""
    if audit is None:
        return update
    return {**update, "$push": {OUTBOX: audit_document(audit)}}


class Outbox:
    """Moves records from the documents that carry them into ``audit_log``."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._log = db.collection(AUDIT_LOG)

    async def store(self, record: Document) -> bool:
        """Insert an audit document into the log; False when its id is there already."""
        try:
            with translate_errors(f"insert into {AUDIT_LOG}"):
                await self._log.insert_one(dict(record))  # insert_one may add to its argument
        except Conflict as exc:
            if exc.field != "id":  # the log has no other unique index: never expected
                raise
            return False
        return True

    async def deliver(
        self, collection: AsyncCollection[Document], doc_id: Any, audit: AuditRecord | None
    ) -> None:
        """Step 2 of an audited write whose step 1 succeeded. Never raises
        ``Unavailable``: the record is safe in the document until :meth:`settle`."""
        if audit is None:
            return
        try:
            await self.store(audit_document(audit))
            await self._take_out(collection, doc_id, audit.id)
        except Unavailable as exc:
            _log.warning(
                "audit record %s stays in %s %s until the next settle: %s",
                audit.id,
                collection.name,
                doc_id,
                exc,
            )

    async def finish_delete(self, collection: AsyncCollection[Document], doc_id: Any) -> None:
        """:meth:`bury` a tombstone just made. Never raises ``Unavailable`` (see
        :meth:`deliver`): the tombstone is invisible, :meth:`settle` buries it."""
        try:
            await self.bury(collection, doc_id)
        except Unavailable as exc:
            _log.warning(
                "%s %s stays a tombstone until the next settle: %s", collection.name, doc_id, exc
            )

    async def _take_out(
        self, collection: AsyncCollection[Document], doc_id: Any, record_id: str
    ) -> bool:
        """Remove one moved record from a document's outbox; whether this call did."""
        with translate_errors(f"update {collection.name}"):
            # The usual case, the record alone in the outbox: drop the field with it, so
            # that documents at rest look as they would without the audit log.
            alone = await collection.update_one(
                {"_id": doc_id, OUTBOX: {"$size": 1}, f"{OUTBOX}._id": record_id},
                {"$unset": {OUTBOX: ""}},
            )
            if alone.modified_count:
                return True
            # Another write's record is there too (a list left empty by two concurrent
            # pulls is harmless: it is outside the partial index, so settle skips it).
            pulled = await collection.update_one(
                {"_id": doc_id, f"{OUTBOX}._id": record_id},
                {"$pull": {OUTBOX: {"_id": record_id}}},
            )
        return pulled.modified_count > 0

    async def bury(self, collection: AsyncCollection[Document], doc_id: Any) -> int:
        """Move every record a tombstone carries, then remove it; how many records it
        carried when this call removed it (0 when it is gone already)."""
        with translate_errors(f"find in {collection.name}"):
            tombstone = await collection.find_one({"_id": doc_id, TOMBSTONE: True}, {OUTBOX: 1})
        if tombstone is None:
            return 0
        records = tombstone.get(OUTBOX) or []
        for record in records:
            await self.store(record)
        with translate_errors(f"delete in {collection.name}"):
            result = await collection.delete_one({"_id": doc_id, TOMBSTONE: True})
        return len(records) if result.deleted_count else 0

    async def settle(self) -> int:
        """Finish every move a crash or an outage cut short, in every audited
        collection; how many records this call took out of documents. Idempotent and
        safe alongside live writes (see the module doc). Raises ``Unavailable``."""
        moved = 0
        for name in AUDITED_COLLECTIONS:
            collection = self._db.collection(name)
            # Normally none; after an outage, the documents written during it.
            with translate_errors(f"settle {name}"):
                carriers = await collection.find(CARRYING, {OUTBOX: 1, TOMBSTONE: 1}).to_list()
            for doc in carriers:
                if doc.get(TOMBSTONE) is True:
                    continue  # buried below, records and all
                for record in doc.get(OUTBOX) or []:
                    await self.store(record)
                    moved += await self._take_out(collection, doc["_id"], record["_id"])
            if name in TOMBSTONED_COLLECTIONS:
                with translate_errors(f"settle {name}"):
                    tombstones = await collection.find({TOMBSTONE: True}, {"_id": 1}).to_list()
                for doc in tombstones:
                    moved += await self.bury(collection, doc["_id"])
        return moved
