"""Mapping between domain structs and MongoDB documents, shared by the repositories.

The rules every collection follows (see :mod:`pulse_adapters.mongo.repositories`):
``id`` is ``_id``; None is never stored (an absent field reads back as None, and partial
indexes rely on absence); updates ``$set`` the mapped fields and ``$unset`` the absent
ones instead of replacing the document, so fields Pulse does not model, and an audit
record still carried in the document (:mod:`pulse_adapters.mongo.outbox`), survive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from pulse_adapters.mongo.database import Document

S = TypeVar("S", bound=msgspec.Struct)


def present(doc: Mapping[str, Any]) -> Document:
    """``doc`` without its None values: what an insert stores."""
    return {k: v for k, v in doc.items() if v is not None}


def update_of(doc: Mapping[str, Any]) -> Document:
    """An update that makes the stored document carry exactly ``doc``'s mapped fields:
    ``$set`` the present ones, ``$unset`` the None ones, leave unmapped fields alone."""
    fields = {k: v for k, v in doc.items() if k != "_id"}
    update: Document = {"$set": present(fields)}
    unset = {k: "" for k, v in fields.items() if v is None}
    if unset:  # the server refuses an empty $unset
        update["$unset"] = unset
    return update


def struct_fields(model: type[msgspec.Struct]) -> Iterable[str]:
    return (f.name for f in msgspec.structs.fields(model))


def document_fields(model: type[msgspec.Struct]) -> tuple[str, ...]:
    """The fields a document of ``model`` may hold: its fields, ``id`` as ``_id``."""
    return tuple("_id" if name == "id" else name for name in struct_fields(model))


def struct_to_document(obj: msgspec.Struct) -> Document:
    """The document of ``obj`` with None values still present (for :func:`update_of`;
    wrap in :func:`present` to insert): its fields, ``id`` as ``_id``."""
    fields = msgspec.to_builtins(obj, builtin_types=(datetime,))
    return {"_id": fields.pop("id"), **fields}


def struct_from_document(doc: Mapping[str, Any], model: type[S]) -> S:
    """The ``model`` stored in ``doc``; ``msgspec.ValidationError`` if it is corrupt.
    Only the model's fields are read: derived fields, an audit outbox or anything another
    tool added are ignored; a required field that is absent was a stored None."""
    data: dict[str, Any] = {"id": doc["_id"]}
    for field in msgspec.structs.fields(model):
        if field.name == "id":
            continue
        if field.name in doc:
            data[field.name] = doc[field.name]
        elif field.required:
            data[field.name] = None
    return msgspec.convert(data, model)


def page_filter(base: Mapping[str, Any], after: str | None) -> Document:
    query = dict(base)
    if after is not None:
        query["_id"] = {"$gt": after}
    return query


async def page(
    collection: AsyncCollection[Document], query: Document, limit: int
) -> list[Document]:
    """Up to ``limit`` documents matching ``query`` in ascending ``_id`` order."""
    # limit(0) means "no limit" to MongoDB: never let a zero or negative page size turn
    # into an unbounded read.
    if limit <= 0:
        return []
    cursor = collection.find(query).sort("_id", ASCENDING).limit(limit)
    return await cursor.to_list()
