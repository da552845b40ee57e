"""In-memory media records (egress and ingress ownership).

Each method runs without awaiting anything, so under asyncio it is atomic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pulse_core.errors import Conflict, NotFound
from pulse_core.models.media import Egress, Ingress
from pulse_core.ports.media_records import (
    EgressRecordRepository,
    IngressRecordRepository,
    kept_egress,
    kept_ingress,
)


class InMemoryEgressRecordRepository(EgressRecordRepository):
    def __init__(self) -> None:
        self._by_id: dict[str, Egress] = {}

    async def add(self, egress: Egress) -> None:
        if egress.id in self._by_id:
            raise Conflict("egress id already exists", field="id")
        if any(e.engine_id == egress.engine_id for e in self._by_id.values()):
            raise Conflict("engine egress id already exists", field="engine_id")
        self._by_id[egress.id] = egress

    async def get_by_engine_id(self, engine_id: str) -> Egress | None:
        return next((r for r in self._by_id.values() if r.engine_id == engine_id), None)

    async def get(self, project_id: str, egress_id: str) -> Egress | None:
        egress = self._by_id.get(egress_id)
        return egress if egress is not None and egress.project_id == project_id else None

    async def list_page(
        self, project_id: str, *, room: str | None, after: str | None, limit: int
    ) -> list[Egress]:
        rows = sorted(
            (
                e
                for e in self._by_id.values()
                if e.project_id == project_id
                and (room is None or e.room == room)
                and (after is None or e.id > after)
            ),
            key=lambda e: e.id,
        )
        return rows[: max(limit, 0)]

    async def update(self, egress: Egress) -> None:
        if await self.get(egress.project_id, egress.id) is None:
            raise NotFound("egress not found")
        self._by_id[egress.id] = egress

    async def change(
        self, project_id: str, egress_id: str, change: Callable[[Egress], Egress]
    ) -> Egress | None:
        stored = self._by_id.get(egress_id)
        if stored is None or stored.project_id != project_id:
            return None
        changed = kept_egress(stored, change(stored))
        self._by_id[egress_id] = changed
        return changed

    async def count_active(self, project_ids: Sequence[str]) -> int:
        projects = set(project_ids)
        return sum(1 for e in self._by_id.values() if e.project_id in projects and not e.ended)


class InMemoryIngressRecordRepository(IngressRecordRepository):
    def __init__(self) -> None:
        self._by_id: dict[str, Ingress] = {}

    async def add(self, ingress: Ingress) -> None:
        if ingress.id in self._by_id:
            raise Conflict("ingress id already exists", field="id")
        if any(i.engine_id == ingress.engine_id for i in self._by_id.values()):
            raise Conflict("engine ingress id already exists", field="engine_id")
        self._by_id[ingress.id] = ingress

    async def get_by_engine_id(self, engine_id: str) -> Ingress | None:
        return next((r for r in self._by_id.values() if r.engine_id == engine_id), None)

    async def get(self, project_id: str, ingress_id: str) -> Ingress | None:
        ingress = self._by_id.get(ingress_id)
        return ingress if ingress is not None and ingress.project_id == project_id else None

    async def list_page(
        self, project_id: str, *, room: str | None, after: str | None, limit: int
    ) -> list[Ingress]:
        rows = sorted(
            (
                i
                for i in self._by_id.values()
                if i.project_id == project_id
                and (room is None or i.room == room)
                and (after is None or i.id > after)
            ),
            key=lambda i: i.id,
        )
        return rows[: max(limit, 0)]

    async def update(self, ingress: Ingress) -> None:
        if await self.get(ingress.project_id, ingress.id) is None:
            raise NotFound("ingress not found")
        self._by_id[ingress.id] = ingress

    async def change(
        self, project_id: str, ingress_id: str, change: Callable[[Ingress], Ingress]
    ) -> Ingress | None:
        stored = self._by_id.get(ingress_id)
        if stored is None or stored.project_id != project_id:
            return None
        changed = kept_ingress(stored, change(stored))
        self._by_id[ingress_id] = changed
        return changed

    async def count_active(self, project_ids: Sequence[str]) -> int:
        projects = set(project_ids)
        return sum(1 for i in self._by_id.values() if i.project_id in projects and not i.ended)

    async def delete(self, project_id: str, ingress_id: str) -> bool:
        if await self.get(project_id, ingress_id) is None:
            return False
        del self._by_id[ingress_id]
        return True
