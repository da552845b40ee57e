"""Counting what happens too often for a database write each time: tokens created, API
requests, webhook deliveries.

``count`` adds to a cell of a page of the :class:`~pulse_core.ports.usage.UsageJournal`
and does nothing else (it runs on the token hot path). A durable journal keeps its pages
in files mapped into memory, so a count survives a crash of the process once it is made.
``flush`` stores the counts so far as one usage record per page, metric and project, and
the shell calls it every few seconds and once more at shutdown. Each flush also stores
the pages that crashed processes left in the journal. A flush that fails keeps its pages
for the next one; a record's id derives from its page, so a write that timed out but
landed, or a page stored again after a crash, is not counted twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pulse_core import ids
from pulse_core.errors import Unavailable
from pulse_core.models.usage import Metric, UsageRecord
from pulse_core.ports.clock import Clock
from pulse_core.ports.usage import Cells, CountPage, UsageJournal, UsageRepository

_log = logging.getLogger("pulse.usage")
_HOUR = 3600
#: Pages closed and not stored yet past which a flush keeps the current page open. Each
#: durable page holds a file, a mapping and a descriptor until it is stored.
MAX_UNSENT_PAGES = 4


class HeldCountPage(CountPage):
    """A page in this process's memory only: a crash loses it. The counter's fallback
    when its journal cannot open a page, and the in-memory journal's page."""

    __slots__ = ("_cells", "_keys")

    def __init__(self, key: str, hour: datetime) -> None:
        super().__init__(key, hour)
        self._cells: list[int] = []
        self._keys: dict[tuple[Metric, str], int] = {}

    @property
    def cells(self) -> Cells:
        return self._cells

    def cell(self, metric: Metric, project_id: str) -> int:
        index = self._keys.get((metric, project_id))
        if index is None:
            index = self._keys[metric, project_id] = len(self._cells)
            self._cells.append(0)
        return index

    def counts(self) -> list[tuple[Metric, str, int]]:
        cells = self._cells
        return [
            (metric, project, cells[i]) for (metric, project), i in self._keys.items() if cells[i]
        ]


class UsageCounter:
    __slots__ = (
        "_cells",
        "_clock",
        "_held",
        "_hour_end",
        "_index",
        "_journal",
        "_page",
        "_time",
        "_unsent",
        "_usage",
    )

    def __init__(self, usage: UsageRepository, clock: Clock, journal: UsageJournal) -> None:
        self._usage = usage
        self._clock = clock
        self._journal = journal
        # The hot path reads the clock through this bound method and compares it with
        # the end of the current page's hour: no division, no tuple key per count.
        self._time = clock.time
        self._hour_end = float("-inf")
        self._page: CountPage | None = None
        # The current page's cells, and their indexes: metric -> project id -> index.
        self._cells: Cells = []
        self._index: dict[Metric, dict[str, int]] = {}
        #: Pages closed to counting (an hour ended, or a flush began) and not stored yet.
        self._unsent: list[CountPage] = []
        # Pages counted in memory since the journal last failed to open one.
        self._held = 0

    def count(self, project_id: str, metric: Metric, quantity: int = 1) -> None:
        """Add ``quantity`` of ``metric`` to ``project_id`` in the current hour."""
        if self._time() >= self._hour_end:
            self._next_page()
        try:
            self._cells[self._index[metric][project_id]] += quantity
        except KeyError:
            self._first_count(metric, project_id, quantity)

    def _first_count(self, metric: Metric, project_id: str, quantity: int) -> None:
        """A metric and project not counted yet in the current page."""
        assert self._page is not None  # count() opened one
        try:
            index = self._page.cell(metric, project_id)
        except OSError as exc:  # the page could not grow (a full disk)
            self._next_page(held=exc)
            assert self._page is not None
            index = self._page.cell(metric, project_id)
        self._index.setdefault(metric, {})[project_id] = index
        self._cells = self._page.cells  # a page that grew has new cells
        self._cells[index] += quantity

    def _next_page(self, *, held: OSError | None = None) -> None:
        """Close the current page and open one for the current hour: in the journal,
        or, when it cannot keep one (``held``: it already failed), in memory."""
        self._close_page()
        hour = int(self._time()) // _HOUR * _HOUR
        start = datetime.fromtimestamp(hour, UTC)
        page: CountPage | None = None
        if held is None:
            try:
                page = self._journal.open(start)
                self._held = 0
            except OSError as exc:
                held = exc
        if page is None:
            # Counting must not fail a request: these counts are kept in memory, as
            # they were before the journal, and a crash before the next flush loses them.
            if not self._held:
                _log.error("usage journal cannot keep a page (%s); counting in memory", held)
            self._held += 1
            page = HeldCountPage(ids.new_id(ids.USAGE, now_ms=hour * 1000), start)
        self._page = page
        self._cells = page.cells
        self._index = {}
        self._hour_end = float(hour + _HOUR)

    def _close_page(self) -> None:
        if self._page is not None:
            self._unsent.append(self._page)
            self._page = None
            self._hour_end = float("-inf")

    @property
    def pending(self) -> int:
        """How many counts are not stored yet."""
        pages = [*self._unsent, *([self._page] if self._page is not None else [])]
        return sum(quantity for page in pages for _, _, quantity in page.counts())

    async def flush(self) -> int:
        """Store everything counted so far, and what crashed processes left in the
        journal; how many records were written. When the write fails (or is cancelled,
        at shutdown) the pages stay for the next flush and the error is raised.

        While :data:`MAX_UNSENT_PAGES` wait (the store is down), the current page stays
        open and takes every count: an outage costs one page, not one per flush."""
        if len(self._unsent) < MAX_UNSENT_PAGES:
            self._close_page()
        try:
            self._unsent.extend(self._journal.orphans())
        except OSError as exc:  # this process's own pages are stored all the same
            _log.error("usage journal: ended processes' pages not read (%s)", exc)
        pages = list(self._unsent)
        records = [
            UsageRecord(
                id=ids.derived_id(
                    ids.USAGE,
                    now_ms=ids.ms_of(page.hour),
                    seed=f"{page.key}/{metric}/{project_id}",
                ),
                project_id=project_id,
                metric=metric,
                quantity=quantity,
                timestamp=page.hour,
            )
            for page in pages
            for metric, project_id, quantity in page.counts()
        ]
        if records:
            try:
                await self._usage.record(records)
            except BaseException as exc:
                # A cancelled write (the schedule stopped mid-flush) may or may not have
                # landed: the ids make offering the records again harmless either way.
                if isinstance(exc, Unavailable):
                    _log.warning(
                        "usage flush failed; %d records kept for the next one", len(records)
                    )
                raise
        for page in pages:
            try:
                self._journal.settle(page)
            except OSError as exc:
                # Stored, so forgotten here; left on disk, a later flush offers it again
                # under the same ids, which the store skips.
                _log.error("usage journal: a stored page was not removed (%s)", exc)
        # Pages closed while the write was awaited (an hour ended) wait for the next.
        self._unsent = [page for page in self._unsent if page not in pages]
        return len(records)

    def close(self) -> None:
        """Release the journal; after the last :meth:`flush`. Pages it could not store
        stay in a durable journal for the next process's flush."""
        self._close_page()
        self._journal.close()
