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

#: Counts of one hour: metric -> project id -> quantity.
_Hour = dict[Metric, defaultdict[str, int]]


class UsageCounter:
    __slots__ = (
        "_clock",
        "_closed",
        "_current",
        "_hour",
        "_hour_end",
        "_time",
        "_unsent",
        "_usage",
    )

    def __init__(self, usage: UsageRepository, clock: Clock) -> None:
        self._usage = usage
        self._clock = clock
        # The hot path reads the clock through this bound method and compares it with
        # the end of the current hour: no division, no tuple key per count.
        self._time = clock.time
        self._hour = -1
        self._hour_end = float("-inf")
        self._current: _Hour = {}
        #: Earlier hours not flushed yet, by their start (epoch seconds).
        self._closed: dict[int, _Hour] = {}
        # Records of a failed flush, offered again (same ids) by the next one.
        self._unsent: list[UsageRecord] = []

    def count(self, project_id: str, metric: Metric, quantity: int = 1) -> None:
        """Add ``quantity`` of ``metric`` to ``project_id`` in the current hour."""
        if self._time() >= self._hour_end:
            self._next_hour()
        counts = self._current.get(metric)
        if counts is None:
            counts = self._current[metric] = defaultdict(int)
        counts[project_id] += quantity

    def _next_hour(self) -> None:
        if self._current:
            self._closed[self._hour] = self._current
        self._hour = int(self._time()) // _HOUR * _HOUR
        self._hour_end = float(self._hour + _HOUR)
        self._current = self._closed.pop(self._hour, {})

    @property
    def pending(self) -> int:
        """How many counts are not stored yet."""
        hours = [self._current, *self._closed.values()]
        counted = sum(q for hour in hours for counts in hour.values() for q in counts.values())
        return counted + sum(r.quantity for r in self._unsent)

    async def flush(self) -> int:
        """Store everything counted so far; how many records were written. When the
        write fails (or is cancelled, at shutdown) the records stay for the next flush,
        with the same ids, and the error is raised."""
        hours = {**self._closed, self._hour: self._current}
        self._closed, self._current = {}, {}
        now_ms = ids.ms_of(self._clock.now())
        records = self._unsent + [
            UsageRecord(
                id=ids.new_id(ids.USAGE, now_ms=now_ms),
                project_id=project_id,
                metric=metric,
                quantity=quantity,
                timestamp=datetime.fromtimestamp(hour, UTC),
            )
            for hour, counts_of in hours.items()
            for metric, counts in counts_of.items()
            for project_id, quantity in counts.items()
            if quantity
        ]
        self._unsent = []
        if not records:
            return 0
        try:
            await self._usage.record(records)
        except BaseException as exc:
            # A cancelled write (the schedule stopped mid-flush) may or may not have
            # landed: the ids make offering the records again harmless either way.
            self._unsent = records
            if isinstance(exc, Unavailable):
                _log.warning("usage flush failed; %d records kept for the next one", len(records))
            raise
        return len(records)
