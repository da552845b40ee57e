"""An egress record brought up to date from the media engine, when a project reads it.

The media server's webhooks (:mod:`pulse_core.services.livekit_events`) are what usually
moves an egress on; a read asks the engine too, so that a missed or late webhook never
leaves a record behind. Both write through ``EgressRecordRepository.change``: each is
applied to the record as stored when it is written, and an end is final, so neither
undoes what the other wrote (an end, its files).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec

from pulse_core.errors import NotFound
from pulse_core.models.media import Egress
from pulse_core.ports.clock import Clock
from pulse_core.ports.media import EgressInfo, MediaEngine
from pulse_core.ports.media_records import EgressRecordRepository
from pulse_core.services.metering import UsageMeter

ENGINE_GONE: Final = "the media server no longer knows this egress"


class EgressRefresh:
    """Refreshes a project's egress records from the engine (one call per egress, or per
    room for a list); an egress that has ended is never asked about again."""

    def __init__(
        self,
        engine: MediaEngine,
        records: EgressRecordRepository,
        clock: Clock,
        meter: UsageMeter | None = None,
    ) -> None:
        self._engine = engine
        self._records = records
        self._clock = clock
        self._meter = meter

    async def refresh(self, egress: Egress) -> Egress:
        if egress.ended:
            return egress
        try:
            info = await self._engine.get_egress(egress.engine_id)
        except NotFound:
            return await self.gone(egress)
        return await self.apply(egress, info)

    async def refresh_all(self, egresses: list[Egress]) -> list[Egress]:
        by_room: dict[str, dict[str, EgressInfo]] = {}
        refreshed = []
        for egress in egresses:
            if egress.ended:
                refreshed.append(egress)
                continue
            if egress.livekit_room is None:
                refreshed.append(await self.refresh(egress))
                continue
            if egress.livekit_room not in by_room:
                infos = await self._engine.list_egress(room_name=egress.livekit_room)
                by_room[egress.livekit_room] = {i.egress_id: i for i in infos}
            info = by_room[egress.livekit_room].get(egress.engine_id)
            refreshed.append(
                await self.gone(egress) if info is None else await self.apply(egress, info)
            )
        return refreshed

    async def apply(self, egress: Egress, info: EgressInfo) -> Egress:
        """``egress`` as the engine reports it in ``info``."""
        now = self._clock.now()

        def applied(stored: Egress) -> Egress:
            if stored.ended:
                return stored
            updated = msgspec.structs.replace(
                stored,
                status=info.status,
                ended_at=info.ended_at or stored.ended_at,
                error=info.error or stored.error,
            )
            if updated.ended and updated.ended_at is None:
                updated = msgspec.structs.replace(updated, ended_at=now)
            return stored if updated == stored else msgspec.structs.replace(updated, updated_at=now)

        return await self._change(egress, applied)

    async def gone(self, egress: Egress) -> Egress:
        """An egress the engine forgot (restarted, purged) while Pulse thought it ran."""
        now = self._clock.now()

        def aborted(stored: Egress) -> Egress:
            if stored.ended:
                return stored
            return msgspec.structs.replace(
                stored, status="aborted", ended_at=now, error=ENGINE_GONE, updated_at=now
            )

        return await self._change(egress, aborted)

    async def _change(self, egress: Egress, change: Callable[[Egress], Egress]) -> Egress:
        if change(egress) == egress:
            return egress  # nothing new as far as this read knows: no write at all
        ended_here = False

        def tracked(stored: Egress) -> Egress:
            # Metered by whoever ends it (with the times it knows), once: not here when
            # the webhook's end landed first. Set on each call: the last one is written.
            nonlocal ended_here
            changed = change(stored)
            ended_here = changed.ended and not stored.ended
            return changed

        changed = await self._records.change(egress.project_id, egress.id, tracked)
        if changed is None:  # records are kept; said for the type checker
            return egress
        if ended_here and self._meter is not None:
            await self._meter.egress_ended(changed)
        return changed
