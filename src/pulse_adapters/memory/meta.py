"""In-process meta values (:mod:`pulse_core.ports.meta`), for tests and embedding."""

from __future__ import annotations

from pulse_core.ports.meta import MetaRepository


class InMemoryMetaRepository(MetaRepository):
    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    async def get(self, name: str) -> str | None:
        return self._values.get(name)

    async def put_if_absent(self, name: str, value: str) -> str:
        # No await between the check and the write: atomic on the event loop.
        return self._values.setdefault(name, value)
