"""Counting what happens too often for a database write each time: tokens created, API
requests, webhook deliveries.

``count`` is a dictionary update and nothing else (it runs on the token hot path);
``flush`` writes the counts so far as one usage record per project, metric and UTC hour,
and the shell calls it every few seconds and once more at shutdown, so a clean stop loses
nothing. A flush that fails keeps its counts for the next one; its records' ids were
chosen before the write, so a write that timed out but landed is not counted twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime

from pulse_core import ids
from pulse_core.errors import Unavailable
from pulse_core.models.usage import Metric, UsageRecord
from pulse_core.ports.clock import Clock
from pulse_core.ports.usage import UsageRepository

_log = logging.getLogger("pulse.usage")
_HOUR = 3600

#: (project id, metric, start of the UTC hour in epoch seconds)
_Key = tuple[str, Metric, int]


class UsageCounter:
    def __init__(self, usage: UsageRepository, clock: Clock) -> None:
        self._usage = usage
        self._clock = clock
        self._counts: defaultdict[_Key, int] = defaultdict(int)
        # Records of a failed flush, offered again (same ids) by the next one.
        self._unsent: list[UsageRecord] = []

    def count(self, project_id: str, metric: Metric, quantity: int = 1) -> None:
        """Add ``quantity`` of ``metric`` to ``project_id`` in the current hour."""
        hour = int(self._clock.time()) // _HOUR * _HOUR
        self._counts[(project_id, metric, hour)] += quantity

    @property
    def pending(self) -> int:
        """How many counts are not stored yet."""
        return sum(self._counts.values()) + sum(r.quantity for r in self._unsent)

    async def flush(self) -> int:
        """Store everything counted so far; how many records were written. On
        ``Unavailable`` the counts stay for the next flush and the error is raised."""
        counts, self._counts = self._counts, defaultdict(int)
        now_ms = ids.ms_of(self._clock.now())
        records = self._unsent + [
            UsageRecord(
                id=ids.new_id(ids.USAGE, now_ms=now_ms),
                project_id=project_id,
                metric=metric,
                quantity=quantity,
                timestamp=datetime.fromtimestamp(hour, UTC),
            )
            for (project_id, metric, hour), quantity in counts.items()
            if quantity
        ]
        self._unsent = []
        if not records:
            return 0
        try:
            await self._usage.record(records)
        except Unavailable:
            _log.warning("usage flush failed; %d records kept for the next one", len(records))
            self._unsent = records
            raise
        return len(records)
