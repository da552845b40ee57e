"""The index catalog: what ``createIndexes`` stored, and unique index enforcement.

mongomock does not enforce unique indexes the way mongod does, so the server keeps its
own catalog and checks every write against it: sparse and partial indexes, multikey
(array) fields, BSON's type-aware equality. ``_IndexCatalog`` adds the index commands
(createIndexes, listIndexes, dropIndexes) and the checks the CRUD commands call.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import bson
from mongomock.filtering import filter_applies

from tests.support.mongo_wire_server.engine import _Engine
from tests.support.mongo_wire_server.errors import CommandError, Document, _duplicate_key_error

_ID_INDEX: Document = {"v": 2, "key": {"_id": 1}, "name": "_id_"}

# --------------------------------------------------------------------------------------
# Unique index enforcement
# --------------------------------------------------------------------------------------


def _normalize(value: Any) -> Any:
    """Build a hashable, type-aware comparison key for one index key value.

    Python alone would treat ``True == 1``, and mongomock's ``$eq`` would too. BSON
    keeps bools and numbers apart, but treats 1 and 1.0 as equal. Embedded documents
    compare in field order, as they do in BSON.
    """
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)  # 1 == 1.0 == Int64(1), and they hash the same
    if isinstance(value, bson.Decimal128):
        return ("number", value.to_decimal())
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, Mapping):
        return ("object", tuple((k, _normalize(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("array", tuple(_normalize(v) for v in value))
    if isinstance(value, bytes):  # includes bson.Binary
        return ("binary", getattr(value, "subtype", 0), bytes(value))
    try:
        hash(value)
    except TypeError:
        return ("repr", type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _index_key_values(doc: Mapping[str, Any], path: str) -> tuple[list[Any], bool]:
    """Return the index keys ``doc`` produces for ``path``, and whether the path exists.

    This follows multikey rules: arrays along the path and at the leaf fan out into
    one key per element. A missing field indexes as null, so two documents that both
    lack the field collide on a non-sparse unique index, as in MongoDB.
    """
    current: list[Any] = [doc]
    for part in path.split("."):
        found: list[Any] = []
        for item in current:
            if isinstance(item, Mapping):
                if part in item:
                    found.append(item[part])
            elif isinstance(item, list):
                if part.isdigit() and int(part) < len(item):
                    found.append(item[int(part)])
                else:
                    found.extend(
                        sub[part] for sub in item if isinstance(sub, Mapping) and part in sub
                    )
        current = found
    if not current:
        return [None], False
    unique: dict[Any, Any] = {}
    for value in current:
        for element in value if isinstance(value, list) and value else [value]:
            unique.setdefault(_normalize(element), element)
    return list(unique.values()), True


def _index_entries(index: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[Any, Document]:
    """Map each normalized key tuple that ``doc`` puts in ``index`` to its raw keyValue.

    Returns an empty dict when the document is not in the index (sparse index and
    no indexed field present). The partial filter is checked by the caller.
    """
    fields = list(index["key"])
    per_field: list[list[Any]] = []
    any_present = False
    for field in fields:
        values, present = _index_key_values(doc, field)
        any_present = any_present or present
        per_field.append(values)
    if index.get("sparse") and not any_present:
        return {}
    return {
        tuple(_normalize(v) for v in combo): dict(zip(fields, combo, strict=True))
        for combo in itertools.product(*per_field)
    }


def _in_partial_index(index: Mapping[str, Any], doc: Mapping[str, Any]) -> bool:
    partial = index.get("partialFilterExpression")
    return partial is None or bool(filter_applies(partial, doc))


class _IndexCatalog(_Engine):
    """Index commands, and the unique-index checks that every write goes through."""

    def _unique_indexes(self, db: str, name: str) -> list[Document]:
        return [i for i in self._indexes.get((db, name), {}).values() if i.get("unique")]

    def _check_unique(
        self,
        db: str,
        name: str,
        doc: Mapping[str, Any],
        indexes: Iterable[Mapping[str, Any]],
    ) -> None:
        """Raise a duplicate-key CommandError if ``doc`` collides in any of ``indexes``.

        ``doc`` may already be stored (post-update check), so it is skipped by ``_id``.
        Each check is a scan of the collection, which is fine for test data sizes.
        """
        coll = self._client[db][name]
        ns = f"{db}.{name}"
        for index in indexes:
            if not _in_partial_index(index, doc):
                continue
            entries = _index_entries(index, doc)
            if not entries:
                continue
            roots = {field.split(".")[0]: 1 for field in index["key"]}
            query = index.get("partialFilterExpression") or {}
            for other in coll.find(query, roots):
                if other.get("_id") == doc.get("_id"):
                    continue
                common = entries.keys() & _index_entries(index, other).keys()
                if common:
                    key_value = entries[next(iter(common))]
                    raise _duplicate_key_error(ns, index["name"], index["key"], key_value)

    def _check_id_free(self, db: str, name: str, doc_id: Any) -> None:
        coll = self._client[db][name]
        if coll.find_one({"_id": doc_id}, {"_id": 1}) is not None:
            raise _duplicate_key_error(f"{db}.{name}", "_id_", {"_id": 1}, {"_id": doc_id})

    # -- indexes -------------------------------------------------------------------------

    def _cmd_create_indexes(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        specs = cmd.get("indexes")
        if not isinstance(specs, list) or not specs:
            raise CommandError(2, "Must specify at least one index to create")
        current = self._indexes.get((db, name), {})
        staged = dict(current)  # all-or-nothing, like mongod
        for spec in specs:
            index = self._validate_index_spec(spec)
            if index["name"] == "_id_" or list(index["key"].items()) == [("_id", 1)]:
                continue  # the _id index always exists
            existing = staged.get(index["name"])
            if existing is not None:
                if existing == index:
                    continue
                code = 86 if existing["key"] != index["key"] else 85
                raise CommandError(
                    code,
                    f"An existing index has the same name as the requested index. "
                    f"Requested index: {index}, existing index: {existing}",
                )
            for other in staged.values():
                same_key = list(other["key"].items()) == list(index["key"].items())
                if same_key and other.get("partialFilterExpression") == index.get(
                    "partialFilterExpression"
                ):
                    raise CommandError(
                        85, f"Index already exists with a different name: {other['name']}"
                    )
            if index.get("unique"):
                self._check_existing_unique(db, name, index)
            staged[index["name"]] = index
        created = self._ensure_collection(db, name)
        self._indexes[(db, name)] = staged
        return {
            "numIndexesBefore": 1 + len(current),
            "numIndexesAfter": 1 + len(staged),
            "createdCollectionAutomatically": created,
            "ok": 1.0,
        }

    @staticmethod
    def _validate_index_spec(spec: Any) -> Document:
        """Normalize one createIndexes entry into the document listIndexes returns."""
        if not isinstance(spec, Mapping):
            raise CommandError(14, "index specification must be a document")
        key, index_name = spec.get("key"), spec.get("name")
        if not isinstance(key, Mapping) or not key:
            raise CommandError(67, "index 'key' must be a non-empty document")
        if not isinstance(index_name, str) or not index_name:
            raise CommandError(9, "index 'name' must be a non-empty string")
        if spec.get("collation"):
            # Collation changes uniqueness semantics (e.g. case-insensitive); refuse
            # rather than enforce the wrong thing.
            raise CommandError(238, "index collation is not supported by the mongomock wire server")
        index: Document = {"v": 2, "key": dict(key), "name": index_name}
        for option, value in spec.items():
            if option in ("key", "name", "v", "ns", "background"):
                continue
            if option in ("unique", "sparse", "hidden") and not value:
                continue  # mongod omits false boolean options from listIndexes
            index[option] = value
        return index

    def _check_existing_unique(self, db: str, name: str, index: Document) -> None:
        """Refuse to build a unique index over data that already violates it."""
        seen: dict[Any, Any] = {}
        query = index.get("partialFilterExpression") or {}
        for doc in self._client[db][name].find(query):
            for key, key_value in _index_entries(index, doc).items():
                if key in seen and seen[key] != doc["_id"]:
                    raise _duplicate_key_error(
                        f"{db}.{name}", index["name"], index["key"], key_value
                    )
                seen[key] = doc["_id"]

    def _cmd_list_indexes(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        if not self._exists(db, name):
            raise CommandError(26, f"ns does not exist: {db}.{name}")
        docs = [_ID_INDEX, *self._indexes.get((db, name), {}).values()]
        batch_size = (cmd.get("cursor") or {}).get("batchSize")
        return self._open_cursor(f"{db}.{name}", copy.deepcopy(docs), batch_size, False)

    def _cmd_drop_indexes(self, db: str, cmd: Document, connection_id: int) -> Document:
        name = self._collection_name(cmd)
        if not self._exists(db, name):
            raise CommandError(26, f"ns not found {db}.{name}")
        catalog = self._indexes.setdefault((db, name), {})
        count_before = 1 + len(catalog)
        target = cmd.get("index")
        if target == "*":
            catalog.clear()
        else:
            for item in target if isinstance(target, list) else [target]:
                catalog.pop(self._resolve_index_name(catalog, item))
        return {"nIndexesWas": count_before, "ok": 1.0}

    @staticmethod
    def _resolve_index_name(catalog: Mapping[str, Document], target: Any) -> str:
        if isinstance(target, Mapping):
            for index_name, index in catalog.items():
                if list(index["key"].items()) == list(target.items()):
                    return index_name
            if list(target.items()) == [("_id", 1)]:
                raise CommandError(72, "cannot drop _id index")
            raise CommandError(27, f"can't find index with key: {dict(target)}")
        if target == "_id_":
            raise CommandError(72, "cannot drop _id index")
        if not isinstance(target, str) or target not in catalog:
            raise CommandError(27, f"index not found with name [{target}]")
        return target
