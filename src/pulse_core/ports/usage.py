"""Usage ports: metered records with their roll-ups, and the connections still open.

The rules of :mod:`pulse_core.ports.repositories` apply: every read is scoped by project,
and a backend that is down raises ``Unavailable`` within its timeout.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

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


class Cells(Protocol):
    """A page's counters, addressed by the index :meth:`CountPage.cell` gives."""

    def __getitem__(self, index: int, /) -> int: ...

    def __setitem__(self, index: int, value: int, /) -> None: ...


class CountPage(abc.ABC):
    """Counts of one UTC hour by metric and project, written by the one process that
    opened the page (:meth:`UsageJournal.open`).

    Counting runs on the token hot path, so it is a plain ``cells[i] += quantity`` with
    the index of the metric and project, asked of :meth:`cell` once and kept by the
    caller: no call into the page, no system call. A durable journal's cells are shared
    memory backed by a file, so a count survives a crash of the process that made it
    (``kill -9`` included) once the store is done."""

    __slots__ = ("hour", "key")

    def __init__(self, key: str, hour: datetime) -> None:
        #: Unique among every page of the journal, ever: the ids of the usage records
        #: made of this page derive from it, so storing them twice stores them once.
        self.key = key
        #: The start (UTC) of the hour its counts belong to.
        self.hour = hour

    @property
    @abc.abstractmethod
    def cells(self) -> Cells:
        """The counters. :meth:`cell` may replace them (a page that grows): read this
        again after each call of it."""

    @abc.abstractmethod
    def cell(self, metric: Metric, project_id: str) -> int:
        """The index in :attr:`cells` counting ``metric`` of ``project_id`` (a Pulse
        id: at most 64 ASCII characters), made at 0 on the first call and the same on
        every later one."""

    @abc.abstractmethod
    def counts(self) -> list[tuple[Metric, str, int]]:
        """``(metric, project_id, quantity)`` of every non-zero total, in no set order."""

    def add(self, metric: Metric, project_id: str, quantity: int) -> None:
        """Add ``quantity`` to ``metric`` of ``project_id`` (what the hot path does with
        an index it kept)."""
        index = self.cell(metric, project_id)
        self.cells[index] += quantity


class UsageJournal(abc.ABC):
    """Where a process keeps the counts it has not stored yet
    (:class:`~pulse_core.services.usage_counter.UsageCounter` flushes them).

    Its methods make no network call, but a durable journal's do touch the local disk:
    the counter calls :meth:`open` once per flush interval and hour, the others once per
    flush."""

    @abc.abstractmethod
    def open(self, hour: datetime) -> CountPage:
        """A new, empty page for ``hour``. ``OSError`` when the journal cannot keep one
        (a full disk): the caller then counts in memory."""

    @abc.abstractmethod
    def settle(self, page: CountPage) -> None:
        """``page``'s counts are stored: forget it. Nothing is added to it afterwards. A
        page this journal did not hand out is ignored."""

    @abc.abstractmethod
    def orphans(self) -> list[CountPage]:
        """Pages that a journal of a process that has ended (crashed, killed, or whose
        last flush failed) left unsettled, now claimed by this one: no other journal
        returns them again unless this one's process ends before settling them too."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release what the journal holds. Pages not settled stay, for :meth:`orphans`
        of another journal."""
