from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a list ordered by id; ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None
