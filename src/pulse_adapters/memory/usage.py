"""In-memory usage records, roll-ups and open connections (:mod:`pulse_core.ports.usage`).

Each method runs without awaiting anything, so under asyncio it is atomic: a record's
"already stored?" check, its storage and both of its roll-ups are one step that no other
task can interleave with. Reads filter and sort on every call; fine for tests and
embedding, where a project holds few objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pulse_core.models.usage import (
    Metric,
    OpenConnection,
    RollupGranularity,
    UsageRecord,
    UsageTotal,
)
from pulse_core.ports.usage import ConnectionRepository, UsageRepository

# (project_id, granularity, period_start, metric, kind): one roll-up.
_RollupKey = tuple[str, RollupGranularity, datetime, Metric, str]
_GRANULARITIES: tuple[RollupGranularity, ...] = ("hour", "day")


def _period_start(at: datetime, granularity: RollupGranularity) -> datetime:
    """The start of the UTC hour or day ``at`` falls in, as an aware UTC datetime."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: Pulse times are timezone-aware UTC")
    hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour if granularity == "hour" else hour.replace(hour=0)


def _rollup_keys(record: UsageRecord) -> list[_RollupKey]:
    return [
        (record.project_id, g, _period_start(record.timestamp, g), record.metric, record.kind)
        for g in _GRANULARITIES
    ]


class InMemoryUsageRepository(UsageRepository):
    def __init__(self) -> None:
        self._records: dict[str, UsageRecord] = {}
        self._rollups: dict[_RollupKey, int] = {}

    async def record(self, records: Sequence[UsageRecord]) -> int:
        # Every bucket is computed before anything is stored, so a naive timestamp
        # (ValueError) leaves nothing stored, as the other backends do.
        planned = [(r, _rollup_keys(r)) for r in records]
        new = 0
        for record, keys in planned:
            if record.id in self._records:
                continue
            self._records[record.id] = record
            for key in keys:
                self._rollups[key] = self._rollups.get(key, 0) + record.quantity
            new += 1
        return new

    async def totals(
        self,
        project_ids: Sequence[str],
        *,
        granularity: RollupGranularity,
        since: datetime,
        until: datetime,
        metrics: Sequence[Metric] = (),
    ) -> list[UsageTotal]:
        projects, wanted = frozenset(project_ids), frozenset(metrics)
        rows = sorted(
            (start, project, metric, kind, quantity)
            for (project, g, start, metric, kind), quantity in self._rollups.items()
            if project in projects
            and g == granularity
            and since <= start < until
            and (not wanted or metric in wanted)
            and quantity != 0
        )
        return [
            UsageTotal(project_id=p, metric=m, kind=k, period_start=s, quantity=q)
            for s, p, m, k, q in rows
        ]

    async def purge(self, *, records_before: datetime, rollups_before: datetime) -> int:
        old_records = [i for i, r in self._records.items() if r.timestamp < records_before]
        old_rollups = [key for key in self._rollups if key[2] < rollups_before]
        for record_id in old_records:
            del self._records[record_id]
        for key in old_rollups:
            del self._rollups[key]
        return len(old_records) + len(old_rollups)


class InMemoryConnectionRepository(ConnectionRepository):
    def __init__(self) -> None:
        self._open: dict[tuple[str, str], OpenConnection] = {}

    async def open(self, connection: OpenConnection) -> bool:
        key = (connection.project_id, connection.participant_sid)
        if key in self._open:
            return False
        self._open[key] = connection
        return True

    async def close(self, project_id: str, participant_sid: str) -> OpenConnection | None:
        return self._open.pop((project_id, participant_sid), None)

    async def list_room(self, project_id: str, livekit_room: str) -> list[OpenConnection]:
        return sorted(
            (
                c
                for c in self._open.values()
                if c.project_id == project_id and c.livekit_room == livekit_room
            ),
            key=lambda c: (c.joined_at, c.participant_sid),
        )

    async def list_rooms(
        self, *, after: tuple[str, str] | None = None, limit: int
    ) -> list[tuple[str, str]]:
        rooms = sorted({(c.project_id, c.livekit_room) for c in self._open.values()})
        return [r for r in rooms if after is None or r > after][: max(limit, 0)]
