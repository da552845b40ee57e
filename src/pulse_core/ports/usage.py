"""Usage ports: metered records with their roll-ups, and the connections still open.

The rules of :mod:`pulse_core.ports.repositories` apply: every read is scoped by project,
and a backend that is down raises ``Unavailable`` within its timeout.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from pulse_core.models.usage import (
    Metric,
    OpenConnection,
    RollupGranularity,
    UsageRecord,
    UsageTotal,
)


class UsageRepository(abc.ABC):
    """Usage records (kept 90 days) and their hourly and daily roll-ups (kept 13 months).

    Roll-ups always equal the sum of the records they cover, whatever order records
    arrive in and however often the same record is offered: that is the contract the
    suite checks with random orders and duplicates.
    """

    @abc.abstractmethod
    async def record(self, records: Sequence[UsageRecord]) -> int:
        """Store every record whose id is not stored yet and add its quantity to the
        roll-ups of its UTC hour and day, as one unit of work per record (never counted
        in them twice; a record stored without its roll-ups by a crash mid-call is
        counted by :meth:`repair`). Records whose id
        is already stored are skipped. How many were new."""

    @abc.abstractmethod
    async def totals(
        self,
        project_ids: Sequence[str],
        *,
        granularity: RollupGranularity,
        since: datetime,
        until: datetime,
        metrics: Sequence[Metric] = (),
    ) -> list[UsageTotal]:
        """Roll-ups of ``project_ids`` at ``granularity`` with ``since <= period_start <
        until`` (of ``metrics`` when given, else all), with a non-zero quantity, in
        ``(period_start, project_id, metric, kind)`` order."""

    async def repair(self, *, pending_before: datetime) -> int:
        """Finish recording what a crashed :meth:`record` left half done before
        ``pending_before`` (a time no live call can still be working on); how many
        records were finished. Backends that store a record and its roll-ups in one
        transaction have nothing to repair: this default does nothing."""
        del pending_before
        return 0

    @abc.abstractmethod
    async def purge(self, *, records_before: datetime, rollups_before: datetime) -> int:
        """Delete records with ``timestamp < records_before`` and roll-ups with
        ``period_start < rollups_before`` (backends with TTL indexes may also expire
        them on their own); how many went."""


class ConnectionRepository(abc.ABC):
    """Participant connections that joined and have not been closed yet."""

    @abc.abstractmethod
    async def open(self, connection: OpenConnection) -> bool:
        """Remember ``connection`` unless one with its project and ``participant_sid`` is
        already open; whether it was new."""

    @abc.abstractmethod
    async def close(self, project_id: str, participant_sid: str) -> OpenConnection | None:
        """Forget the open connection and return it; None when none was open."""

    @abc.abstractmethod
    async def list_room(self, project_id: str, livekit_room: str) -> list[OpenConnection]:
        """The open connections of one LiveKit room of the project, oldest first."""

    @abc.abstractmethod
    async def list_rooms(
        self, *, after: tuple[str, str] | None = None, limit: int
    ) -> list[tuple[str, str]]:
        """Up to ``limit`` distinct ``(project_id, livekit_room)`` with open connections,
        whichever project, in ascending order and greater than ``after`` when given: the
        rooms that reconciliation asks the media server about, a page at a time."""
