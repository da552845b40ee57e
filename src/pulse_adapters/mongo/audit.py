"""The MongoDB audit log (:mod:`pulse_core.ports.audit`).

Document layout (a new collection; field names are the domain's, None never stored):

=========  ===================================================================
audit_log  _id (id), at, actor {type, id, email}, action, resource_type,
           resource_id, org_id (absent: the platform's own), ip, user_agent,
           request_id
=========  ===================================================================

Records reach the log with the writes they record, through the outboxes of
:mod:`pulse_adapters.mongo.outbox`; :meth:`MongoAuditRepository.settle` finishes the
moves a crash cut short. ``_id`` is the record id, so a record is in the log at most
once whichever path stored it, and a list never shows one twice.

Lists are one organization's range of ``org_id_1__id_-1`` (or of the index with its
``action`` or ``resource_id`` when that filter is given) from the cursor down, newest
first and limited; ``since`` is applied on the way, bounded by the retention. A missing
``org_id`` indexes as null, so the platform's own records (``org_id`` None) are the
range ``org_id: null``. Retention is ``purge_before`` along ``at_1``, not a TTL index,
because it is a setting (``AUDIT_RETENTION_DAYS``).
"""

from __future__ import annotations

from datetime import datetime

from pymongo import DESCENDING

from pulse_adapters.mongo.database import Document, MongoDatabase
from pulse_adapters.mongo.errors import translate_errors
from pulse_adapters.mongo.indexes import AUDIT_LOG
from pulse_adapters.mongo.outbox import Outbox, audit_document, audit_from_document
from pulse_core.models.audit import AuditRecord
from pulse_core.ports.audit import AuditRepository


class MongoAuditRepository(AuditRepository):
    """The audit log in ``audit_log``."""

    def __init__(self, db: MongoDatabase) -> None:
        self._log = db.collection(AUDIT_LOG)
        self._outbox = Outbox(db)

    async def add(self, record: AuditRecord) -> None:
        await self._outbox.store(audit_document(record))

    async def list_page(
        self,
        org_id: str | None,
        *,
        action: str | None = None,
        resource_id: str | None = None,
        since: datetime | None = None,
        before: str | None = None,
        limit: int,
    ) -> list[AuditRecord]:
        if limit <= 0:  # limit(0) is "no limit" to MongoDB
            return []
        query: Document = {"org_id": org_id}
        if action is not None:
            query["action"] = action
        if resource_id is not None:
            query["resource_id"] = resource_id
        if since is not None:
            query["at"] = {"$gte": since}
        if before is not None:
            query["_id"] = {"$lt": before}
        with translate_errors(f"list {AUDIT_LOG}"):
            cursor = self._log.find(query).sort("_id", DESCENDING).limit(limit)
            docs = await cursor.to_list()
        return [audit_from_document(d) for d in docs]

    async def purge_before(self, at: datetime) -> int:
        with translate_errors(f"purge {AUDIT_LOG}"):
            result = await self._log.delete_many({"at": {"$lt": at}})
        return result.deleted_count

    async def settle(self) -> int:
        return await self._outbox.settle()
