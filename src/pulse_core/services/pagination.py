"""Cursor pagination over id-ordered lists.

The cursor is the id of the last item returned: ids sort by creation time, so "items
after the cursor" is stable under concurrent inserts and needs no offset scan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pulse_core import ids
from pulse_core.errors import InvalidInput
from pulse_core.models import Page

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


def check_cursor(cursor: str | None, prefix: str) -> str | None:
    if cursor is None or cursor == "":
        return None
    if not ids.is_valid_id(cursor, prefix):
        raise InvalidInput("cursor is not a cursor this list returned", field="cursor")
    return cursor


def page_of(rows: list[T], limit: int, id_of: Callable[[T], str]) -> Page[T]:
    """Build a page from ``limit + 1`` fetched rows: the extra row only says "more"."""
    if len(rows) > limit:
        items = rows[:limit]
        return Page(items=items, next_cursor=id_of(items[-1]))
    return Page(items=rows, next_cursor=None)
