"""The CRUD commands: insert, update, delete, find, findAndModify, count, distinct and
aggregate. mongomock applies them; every write is checked against the unique indexes
of the catalog (``catalog._IndexCatalog``) first, or rolled back after (updates).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError as _PyMongoDuplicateKeyError

from tests.support.mongo_wire_server.catalog import _IndexCatalog
from tests.support.mongo_wire_server.engine import _int_arg, _reject_unsupported, _sort_spec
from tests.support.mongo_wire_server.errors import (
    CommandError,
    Document,
    _duplicate_key_error,
    _error_from_exception,
)
from tests.support.mongo_wire_server.protocol import DEFAULT_FIRST_BATCH_SIZE


def _id_first(doc: Document | None) -> Document | None:
    """Put ``_id`` first, as mongod does (mongomock puts upsert query fields first)."""
    if doc is None or "_id" not in doc:
        return doc
    return {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


class _CrudCommands(_IndexCatalog):
    """The document commands; updates are atomic per statement (see ``_apply_update``)."""

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
