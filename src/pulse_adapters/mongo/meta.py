"""MongoDB meta values (:mod:`pulse_core.ports.meta`): collection ``meta``, one document
per name (``{_id: name, value}``); ``_id`` makes the first writer win."""

from __future__ import annotations

import contextlib

from pymongo.errors import DuplicateKeyError

from pulse_adapters.mongo.database import MongoDatabase
from pulse_adapters.mongo.errors import translate_errors
from pulse_core.ports.meta import MetaRepository

META = "meta"


class MongoMetaRepository(MetaRepository):
    def __init__(self, db: MongoDatabase) -> None:
        self._meta = db.collection(META)

    async def get(self, name: str) -> str | None:
        with translate_errors(f"read {META}"):
            document = await self._meta.find_one({"_id": name})
        return None if document is None else str(document["value"])

    async def put_if_absent(self, name: str, value: str) -> str:
        with translate_errors(f"write {META}"):
            # A DuplicateKeyError: another process's upsert won the race; read its value.
            with contextlib.suppress(DuplicateKeyError):
                await self._meta.update_one(
                    {"_id": name}, {"$setOnInsert": {"value": value}}, upsert=True
                )
            document = await self._meta.find_one({"_id": name})
        assert document is not None
        return str(document["value"])
