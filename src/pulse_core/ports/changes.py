"""What every repository's ``change`` asks of the function it is given: to answer the same
object, changed. Each port names the fields that make an object itself (its id, its
owner, the engine's id...), and its adapters check them with :func:`kept`."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def kept(stored: T, changed: T, fields: tuple[str, ...], rule: str) -> T:
    """``changed`` if it has ``stored``'s ``fields``; else ``ValueError(rule)``."""
    if any(getattr(changed, field) != getattr(stored, field) for field in fields):
        raise ValueError(rule)
    return changed
