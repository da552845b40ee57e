"""MongoDB API keys of projects beyond their first (:mod:`pulse_core.ports.keys`).

Document layout (a new collection; field names are the domain's, None never stored):

========  ====================================================================
api_keys  _id (id), project_id, org_id, name, api_key, secret_hash, scopes [..],
          expires_at, created_at, revoked_at, last_used_at
========  ====================================================================

``api_key_1`` (unique) makes "a key is never stored twice" the server's rule, revoked
keys included, and serves authentication; ``project_id_1__id_1`` lists a project's keys
(whole, or a page of them).
Keys are never deleted (revocation is an update), so the audit trail always finds them.
An audited write carries its record in ``audit_outbox`` until it reaches ``audit_log``
(:mod:`pulse_adapters.mongo.outbox`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pymongo import ASCENDING, UpdateOne

from pulse_adapters.mongo.database import MongoDatabase
from pulse_adapters.mongo.documents import (
    present,
    struct_from_document,
    struct_to_document,
    update_of,
)
from pulse_adapters.mongo.errors import translate_errors
from pulse_adapters.mongo.indexes import API_KEYS
from pulse_adapters.mongo.outbox import Outbox, carrying, pushing
from pulse_core.errors import NotFound
from pulse_core.models.audit import AuditRecord
from pulse_core.models.keys import ApiKey
from pulse_core.ports.keys import ApiKeyRepository


class MongoApiKeyRepository(ApiKeyRepository):
    """Keys in ``api_keys``."""

    def __init__(self, db: MongoDatabase) -> None:
        self._keys = db.collection(API_KEYS)
        self._outbox = Outbox(db)

    async def add(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        document = carrying(present(struct_to_document(key)), audit)
        with translate_errors(f"insert into {API_KEYS}"):
            await self._keys.insert_one(document)
        await self._outbox.deliver(self._keys, key.id, audit)

    async def get(self, project_id: str, key_id: str) -> ApiKey | None:
        with translate_errors(f"find in {API_KEYS}"):
            doc = await self._keys.find_one({"_id": key_id, "project_id": project_id})
        return None if doc is None else struct_from_document(doc, ApiKey)

    async def get_by_api_key(self, api_key: str) -> ApiKey | None:
        with translate_errors(f"find in {API_KEYS} by key"):
            doc = await self._keys.find_one({"api_key": api_key})
        return None if doc is None else struct_from_document(doc, ApiKey)

    async def list_for_project(self, project_id: str) -> list[ApiKey]:
        # Unbounded on purpose: a project has a handful of keys (one per service or
        # environment of the customer).
        with translate_errors(f"list {API_KEYS}"):
            cursor = self._keys.find({"project_id": project_id}).sort("_id", ASCENDING)
            docs = await cursor.to_list()
        return [struct_from_document(d, ApiKey) for d in docs]

    async def list_page(self, project_id: str, *, after: str | None, limit: int) -> list[ApiKey]:
        query: dict[str, object] = {"project_id": project_id}
        if after is not None:
            query["_id"] = {"$gt": after}
        with translate_errors(f"list {API_KEYS}"):
            cursor = self._keys.find(query).sort("_id", ASCENDING).limit(limit)
            docs = await cursor.to_list()
        return [struct_from_document(d, ApiKey) for d in docs]

    async def update(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        update = pushing(update_of(struct_to_document(key)), audit)
        with translate_errors(f"update {API_KEYS}"):
            result = await self._keys.update_one(
                {"_id": key.id, "project_id": key.project_id}, update
            )
        if result.matched_count == 0:
            raise NotFound("api key not found")
        await self._outbox.deliver(self._keys, key.id, audit)

    async def revoke(
        self, project_id: str, key_id: str, at: datetime, *, audit: AuditRecord | None = None
    ) -> bool:
        update = pushing({"$set": {"revoked_at": at}}, audit)
        with translate_errors(f"update {API_KEYS}"):
            result = await self._keys.update_one(
                {"_id": key_id, "project_id": project_id, "revoked_at": None}, update
            )
        if result.matched_count == 0:
            return False
        await self._outbox.deliver(self._keys, key_id, audit)
        return True

    async def touch(self, last_used: Mapping[str, datetime]) -> None:
        if not last_used:
            return
        # `$max` sets the field when it is absent or earlier, in the server, atomically:
        # two replicas flushing their batches in either order keep the later time.
        writes = [
            UpdateOne({"_id": key_id}, {"$max": {"last_used_at": at}})
            for key_id, at in last_used.items()
        ]
        with translate_errors(f"touch {API_KEYS}"):
            await self._keys.bulk_write(writes, ordered=False)
