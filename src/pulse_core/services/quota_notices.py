"""Telling a project's backend that its organization's monthly allowance is nearly or
wholly spent: ``usage.quota_warning`` at 80 % and ``usage.quota_exceeded`` at 100 %,
published to every project of the organization once per limit, level and UTC month.

"Once" is looked up in the project's event log (and remembered in this process, so a
busy organization past 80 % costs no lookup per metered event). Two replicas crossing the
same line at the same moment may both tell; webhooks are at-least-once anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from pulse_core import ids
from pulse_core.models.events import Event, EventType
from pulse_core.ports.clock import Clock
from pulse_core.ports.events import EventRepository
from pulse_core.services.event_log import EventLog
from pulse_core.services.periods import month_start

WARNING_SHARE: Final = 0.8
_LOOKBACK: Final = 50


class QuotaNotices:
    def __init__(self, log: EventLog, events: EventRepository, clock: Clock) -> None:
        self._log = log
        self._events = events
        self._clock = clock
        self._told: set[tuple[str, str, str, str]] = set()

    async def notify(
        self, org_id: str, project_ids: Sequence[str], limit_name: str, limit: int, used: int
    ) -> None:
        """Publish what ``used`` of ``limit`` calls for, if anything."""
        # A jump past both lines tells both, the warning first.
        kinds: list[EventType] = []
        if used >= limit * WARNING_SHARE:
            kinds.append("usage.quota_warning")
        if used >= limit:
            kinds.append("usage.quota_exceeded")
        for kind in kinds:
            await self._tell(
                org_id, project_ids, kind, limit_name=limit_name, limit=limit, used=used
            )

    async def _tell(
        self,
        org_id: str,
        project_ids: Sequence[str],
        kind: EventType,
        *,
        limit_name: str,
        limit: int,
        used: int,
    ) -> None:
        now = self._clock.now()
        month = month_start(now)
        for project_id in project_ids:
            told = (project_id, kind, limit_name, month.strftime("%Y-%m"))
            if told in self._told:
                continue
            if not await self._told_already(project_id, kind, limit_name, month):
                await self._log.publish(
                    Event(
                        id=ids.new_id(ids.EVENT, now_ms=ids.ms_of(now)),
                        project_id=project_id,
                        type=kind,
                        timestamp=now,
                        data={
                            "organization_id": org_id,
                            "limit": limit_name,
                            "value": limit,
                            "used": used,
                            "period_start": month.isoformat().replace("+00:00", "Z"),
                        },
                    )
                )
            self._told.add(told)

    async def _told_already(
        self, project_id: str, kind: str, limit_name: str, month: datetime
    ) -> bool:
        earlier = await self._events.list_page(
            project_id, types=[kind], since=month, limit=_LOOKBACK
        )
        return any(e.data.get("limit") == limit_name for e in earlier)
