"""MongoDB media records (:mod:`pulse_core.ports.media_records`).

Document layout (new collections; the Go service had no equivalent):

=============  ===================================================================
collection     fields
=============  ===================================================================
media_egress   _id (id), project_id, engine_id, kind, room, livekit_room, status,
               outputs [{type: file|hls|rtmp, ...}], started_at, ended_at, error,
               updated_at
media_ingress  _id (id), project_id, engine_id, type, room, livekit_room, url,
               stream_key, participant_identity, participant_name, status,
               created_at, updated_at
=============  ===================================================================

As in :mod:`pulse_adapters.mongo.repositories`: None is never stored (an absent field
reads back as None), datetimes are BSON dates (millisecond precision, read back
timezone-aware UTC), every call runs inside ``translate_errors`` under the database's
operation timeout, and every query is served by an index of :func:`media_record_indexes`
with exact bounds, sorted by ``_id`` and limited. Every read and write filters on
``project_id``, so another project's id matches nothing. ``count_active`` is the one
unlimited query: it counts the documents of the given projects (``project_id``
``$in``, exact bounds on either project index) whose ``status`` is not an ended one
(``$nin``, a filter on what the bounds found).

:func:`media_record_indexes` lists the indexes; they are part of the adapter's one
index plan, so start-up and ``pulse db create-indexes`` create them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from pulse_adapters.mongo.changes import change_by_swap
from pulse_adapters.mongo.database import Document, MongoDatabase
from pulse_adapters.mongo.documents import document_fields
from pulse_adapters.mongo.errors import translate_errors
from pulse_adapters.mongo.indexes import MEDIA_EGRESS, MEDIA_INGRESS, IndexSpec, index_plan
from pulse_core.errors import NotFound
from pulse_core.models.media import (
    ENDED_EGRESS_STATUSES,
    ENDED_INGRESS_STATUSES,
    Egress,
    Ingress,
)
from pulse_core.ports.media_records import (
    EgressRecordRepository,
    IngressRecordRepository,
    kept_egress,
    kept_ingress,
)

S = TypeVar("S", bound=msgspec.Struct)


def media_record_indexes() -> tuple[IndexSpec, ...]:
    """The indexes the media-record repositories rely on (part of ``index_plan()``,
    so ``MongoDatabase.ensure_indexes`` creates them with the others)."""
    return tuple(s for s in index_plan() if s.collection in (MEDIA_EGRESS, MEDIA_INGRESS))


def record_to_document(record: Egress | Ingress) -> Document:
    """The document of ``record``: its fields, ``id`` as ``_id``, None values left out."""
    fields = msgspec.to_builtins(record, builtin_types=(datetime,))
    document: Document = {"_id": fields.pop("id")}
    document.update((k, v) for k, v in fields.items() if v is not None)
    return document


def record_from_document(doc: Mapping[str, Any], model: type[S]) -> S:
    """The record stored in ``doc``; ``msgspec.ValidationError`` if it is corrupt."""
    data: dict[str, Any] = {"id": doc["_id"]}
    for field in msgspec.structs.fields(model):
        if field.name in doc and field.name != "_id":
            data[field.name] = doc[field.name]
        elif field.required and field.name != "id":
            data[field.name] = None  # None is stored as an absent field
    return msgspec.convert(data, model)


async def _page(
    collection: AsyncCollection[Document],
    project_id: str,
    room: str | None,
    after: str | None,
    limit: int,
) -> list[Document]:
    if limit <= 0:  # limit(0) is "no limit" to MongoDB
        return []
    query: Document = {"project_id": project_id}
    if room is not None:
        query["room"] = room
    if after is not None:
        query["_id"] = {"$gt": after}
    return await collection.find(query).sort("_id", ASCENDING).limit(limit).to_list()


async def _count_active(
    collection: AsyncCollection[Document], project_ids: Sequence[str], ended: Collection[str]
) -> int:
    if not project_ids:
        return 0
    query: Document = {
        "project_id": {"$in": list(project_ids)},
        "status": {"$nin": sorted(ended)},
    }
    with translate_errors(f"count in {collection.name}"):
        return await collection.count_documents(query)


class MongoEgressRecordRepository(EgressRecordRepository):
    """Egress records in ``media_egress``."""

    def __init__(self, db: MongoDatabase) -> None:
        self._egress = db.collection(MEDIA_EGRESS)

    async def add(self, egress: Egress) -> None:
        with translate_errors(f"insert into {MEDIA_EGRESS}"):
            await self._egress.insert_one(record_to_document(egress))

    async def get_by_engine_id(self, engine_id: str) -> Egress | None:
        with translate_errors(f"find in {MEDIA_EGRESS}"):
            doc = await self._egress.find_one({"engine_id": engine_id})
        return None if doc is None else record_from_document(doc, Egress)

    async def get(self, project_id: str, egress_id: str) -> Egress | None:
        with translate_errors(f"find in {MEDIA_EGRESS}"):
            doc = await self._egress.find_one({"_id": egress_id, "project_id": project_id})
        return None if doc is None else record_from_document(doc, Egress)

    async def list_page(
        self, project_id: str, *, room: str | None, after: str | None, limit: int
    ) -> list[Egress]:
        with translate_errors(f"list {MEDIA_EGRESS}"):
            docs = await _page(self._egress, project_id, room, after, limit)
        return [record_from_document(d, Egress) for d in docs]

    async def update(self, egress: Egress) -> None:
        with translate_errors(f"update {MEDIA_EGRESS}"):
            result = await self._egress.replace_one(
                {"_id": egress.id, "project_id": egress.project_id}, record_to_document(egress)
            )
        if result.matched_count == 0:
            raise NotFound("egress not found")

    async def change(
        self, project_id: str, egress_id: str, change: Callable[[Egress], Egress]
    ) -> Egress | None:
        found = await change_by_swap(
            self._egress,
            {"_id": egress_id, "project_id": project_id},
            read=lambda doc: record_from_document(doc, Egress),
            change=lambda stored: kept_egress(stored, change(stored)),
            write=record_to_document,
            fields=document_fields(Egress),
            replace=True,
            name=f"egress {egress_id}",
        )
        return None if found is None else found[0]

    async def count_active(self, project_ids: Sequence[str]) -> int:
        return await _count_active(self._egress, project_ids, ENDED_EGRESS_STATUSES)


class MongoIngressRecordRepository(IngressRecordRepository):
    """Ingress records in ``media_ingress``."""

    def __init__(self, db: MongoDatabase) -> None:
        self._ingress = db.collection(MEDIA_INGRESS)

    async def add(self, ingress: Ingress) -> None:
        with translate_errors(f"insert into {MEDIA_INGRESS}"):
            await self._ingress.insert_one(record_to_document(ingress))

    async def get_by_engine_id(self, engine_id: str) -> Ingress | None:
        with translate_errors(f"find in {MEDIA_INGRESS}"):
            doc = await self._ingress.find_one({"engine_id": engine_id})
        return None if doc is None else record_from_document(doc, Ingress)

    async def get(self, project_id: str, ingress_id: str) -> Ingress | None:
        with translate_errors(f"find in {MEDIA_INGRESS}"):
            doc = await self._ingress.find_one({"_id": ingress_id, "project_id": project_id})
        return None if doc is None else record_from_document(doc, Ingress)

    async def list_page(
        self, project_id: str, *, room: str | None, after: str | None, limit: int
    ) -> list[Ingress]:
        with translate_errors(f"list {MEDIA_INGRESS}"):
            docs = await _page(self._ingress, project_id, room, after, limit)
        return [record_from_document(d, Ingress) for d in docs]

    async def update(self, ingress: Ingress) -> None:
        with translate_errors(f"update {MEDIA_INGRESS}"):
            result = await self._ingress.replace_one(
                {"_id": ingress.id, "project_id": ingress.project_id},
                record_to_document(ingress),
            )
        if result.matched_count == 0:
            raise NotFound("ingress not found")

    async def change(
        self, project_id: str, ingress_id: str, change: Callable[[Ingress], Ingress]
    ) -> Ingress | None:
        found = await change_by_swap(
            self._ingress,
            {"_id": ingress_id, "project_id": project_id},
            read=lambda doc: record_from_document(doc, Ingress),
            change=lambda stored: kept_ingress(stored, change(stored)),
            write=record_to_document,
            fields=document_fields(Ingress),
            replace=True,
            name=f"ingress {ingress_id}",
        )
        return None if found is None else found[0]

    async def count_active(self, project_ids: Sequence[str]) -> int:
        return await _count_active(self._ingress, project_ids, ENDED_INGRESS_STATUSES)

    async def delete(self, project_id: str, ingress_id: str) -> bool:
        with translate_errors("delete in media_ingress"):
            result = await self._ingress.delete_one({"_id": ingress_id, "project_id": project_id})
        return result.deleted_count > 0
