"""Compare and swap: how a MongoDB repository's ``change`` makes a read and a write one
step without a transaction (a standalone server has none).

The write matches the document exactly as it was read, every field but the audit records
it carries (the outbox moves those on its own), and the fields it lacked must still be
absent: a field another writer set meanwhile counts as a change too. Any write in
between makes the match miss, and the change is made again on what is stored then.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Final, TypeVar

from pymongo.asynchronous.collection import AsyncCollection

from pulse_adapters.mongo.database import Document
from pulse_adapters.mongo.errors import translate_errors
from pulse_adapters.mongo.indexes import OUTBOX
from pulse_core.errors import Unavailable

T = TypeVar("T")

#: Rounds tried before giving up with ``Unavailable``: each lost round means another
#: write landed in between.
CHANGE_ROUNDS: Final = 10


async def change_by_swap(
    collection: AsyncCollection[Document],
    query: Document,
    *,
    read: Callable[[Mapping[str, Any]], T],
    change: Callable[[T], T],
    write: Callable[[T], Document],
    fields: Collection[str],
    replace: bool = False,
    name: str,
) -> tuple[T, bool] | None:
    """Apply ``change`` to the one document ``query`` finds, as one step.

    ``read`` makes the value of a document and ``write`` the update (``$set``...) of a
    changed value, or with ``replace`` the whole replacement. ``fields`` are every field
    a document of this collection may hold. Returns None when ``query`` finds nothing,
    else what is stored now and whether this call wrote it (an unchanged value is not
    written). ``name`` says what kept changing in the ``Unavailable`` raised after
    :data:`CHANGE_ROUNDS` lost rounds."""
    for _ in range(CHANGE_ROUNDS):
        with translate_errors(f"find in {collection.name}"):
            doc = await collection.find_one(query)
        if doc is None:
            return None
        stored = read(doc)
        changed = change(stored)
        if changed == stored:
            return stored, False
        # {field: None} matches a missing field; the read's values and the query's own
        # conditions (a tombstone still absent...) override it.
        match = {**dict.fromkeys(fields), **_without_outbox(doc), **query}
        with translate_errors(f"update {collection.name}"):
            if replace:
                result = await collection.replace_one(match, write(changed))
            else:
                result = await collection.update_one(match, write(changed))
        if result.matched_count == 1:
            return changed, True
    raise Unavailable(f"{name} kept changing; try again")


def _without_outbox(doc: Mapping[str, Any]) -> Document:
    return {k: v for k, v in doc.items() if k != OUTBOX}
