"""The Mongo usage adapter's crash safety (see pulse_adapters.mongo.usage): ``record``
is six single-document steps; a process that dies between (or inside) any two of them
leaves records pending, and ``repair`` makes the roll-ups exact again, never counting a
record twice.

A crash is simulated by wrapping the adapter's collections: the chosen write call
applies the first half of its operations (or none) and raises instead of returning,
and nothing after it runs, as if the process had died there. A new repository object on
the same database then plays the restarted process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pulse_adapters.clock import ManualClock
from pulse_adapters.mongo import MongoDatabase, MongoUsageRepository
from pulse_core.models.usage import Metric, UsageRecord, UsageTotal
from tests.support import builders
from tests.support.mongo import MongoTestServer

DAY = datetime(2030, 4, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
# The write calls of one record() of new records, in order (see the module doc).
STEPS = ("insert", "create roll-ups", "count", "mark counted", "release", "unmark")


class SimulatedCrash(Exception):
    """The process died here (not a PyMongoError, so no adapter translates it)."""


@dataclass
class CrashPlan:
    at_write: int  # the write call, counted from 0 across both collections, that dies
    partial: bool  # whether it applies the first half of its operations before dying
    writes: int = 0


class Crashing:
    """A collection whose writes follow ``plan``; reads pass through."""

    def __init__(self, collection: Any, plan: CrashPlan) -> None:
        self._collection = collection
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def _write(self, items: list[Any], call: Callable[[list[Any]], Awaitable[Any]]) -> Any:
        step, self._plan.writes = self._plan.writes, self._plan.writes + 1
        if step == self._plan.at_write:
            if self._plan.partial and len(items) > 1:
                await call(items[: len(items) // 2])
            raise SimulatedCrash(STEPS[step] if step < len(STEPS) else str(step))
        return await call(items)

    async def insert_many(self, docs: Sequence[Any], **kwargs: Any) -> Any:
        return await self._write(list(docs), lambda d: self._collection.insert_many(d, **kwargs))

    async def bulk_write(self, ops: Sequence[Any], **kwargs: Any) -> Any:
        return await self._write(list(ops), lambda o: self._collection.bulk_write(o, **kwargs))

    async def update_many(self, query: Any, update: Any, **kwargs: Any) -> Any:
        return await self._write(
            [None], lambda _: self._collection.update_many(query, update, **kwargs)
        )


def crashing(db: MongoDatabase, clock: ManualClock, plan: CrashPlan) -> MongoUsageRepository:
    repo = MongoUsageRepository(db, clock=clock)
    repo._records = Crashing(repo._records, plan)  # type: ignore[assignment]
    repo._rollups = Crashing(repo._rollups, plan)  # type: ignore[assignment]
    return repo


@pytest.fixture
async def db(mongo_server: MongoTestServer) -> AsyncIterator[MongoDatabase]:
    database = MongoDatabase(mongo_server.uri, mongo_server.new_db_name(), timeout_seconds=5.0)
    await database.connect()
    try:
        yield database
    finally:
        await database.database.client.drop_database(database.database.name)
        await database.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DAY + 30 * HOUR)


def _batch() -> list[UsageRecord]:
    """Records over two projects, two hours and two kinds, some sharing roll-ups."""
    return [
        builders.usage(project, at=DAY + hour * HOUR, kind=kind, quantity=quantity)
        for quantity, (project, hour, kind) in enumerate(
            [
                ("prj_a", 1, ""),
                ("prj_a", 1, ""),
                ("prj_a", 2, "track"),
                ("prj_b", 1, ""),
                ("prj_b", 2, ""),
                ("prj_a", 2, ""),
            ],
            start=1,
        )
    ]


def _expected(records: Sequence[UsageRecord]) -> dict[str, list[UsageTotal]]:
    sums: dict[tuple[str, datetime, str, Metric, str], int] = defaultdict(int)
    for record in {r.id: r for r in records}.values():
        hour = record.timestamp.replace(minute=0, second=0, microsecond=0)
        for granularity, start in (("hour", hour), ("day", hour.replace(hour=0))):
            sums[(granularity, start, record.project_id, record.metric, record.kind)] += (
                record.quantity
            )
    expected: dict[str, list[UsageTotal]] = {"hour": [], "day": []}
    for (granularity, start, project, metric, kind), quantity in sorted(sums.items()):
        expected[granularity].append(
            UsageTotal(
                project_id=project,
                metric=metric,
                kind=kind,
                period_start=start,
                quantity=quantity,
            )
        )
    return expected


async def _assert_exact(db: MongoDatabase, records: Sequence[UsageRecord]) -> None:
    repo = MongoUsageRepository(db)
    expected = _expected(records)
    for granularity in ("hour", "day"):
        got = await repo.totals(
            ["prj_a", "prj_b"],
            granularity=granularity,
            since=DAY - 2 * HOUR,
            until=DAY + 48 * HOUR,
        )
        assert got == expected[granularity], granularity
    # Nothing is left half-done: no pending record, no marker on a roll-up.
    assert await db.collection("usage_metrics").count_documents({"pending": {"$exists": 1}}) == 0
    assert await db.collection("usage_rollups").count_documents({"applied.0": {"$exists": 1}}) == 0


CRASHES = [
    pytest.param(step, partial, id=f"{STEPS[step]}{'-halfway' if partial else ''}")
    for step in range(len(STEPS))
    for partial in (False, True)
    if not partial or STEPS[step] in ("insert", "create roll-ups", "count", "release")
]


@pytest.mark.parametrize(("step", "partial"), CRASHES)
async def test_repair_after_a_crash_at_any_step_makes_the_rollups_exact(
    db: MongoDatabase, clock: ManualClock, step: int, partial: bool
) -> None:
    earlier = _batch()  # finished before: the roll-ups exist and hold counts already
    assert await MongoUsageRepository(db).record(earlier) == len(earlier)
    batch = _batch()
    with pytest.raises(SimulatedCrash):
        await crashing(db, clock, CrashPlan(at_write=step, partial=partial)).record(batch)

    restarted = MongoUsageRepository(db, clock=clock)
    clock.advance(600)
    finished = await restarted.repair(pending_before=clock.now())
    stored = len(batch) // 2 if (step, partial) == (0, True) else 0 if step == 0 else len(batch)
    assert finished == stored
    await _assert_exact(db, [*earlier, *batch[:stored]])
    # Offered again, the stored ones are not new; the others are, and counted once.
    assert await restarted.record(batch) == len(batch) - stored
    await _assert_exact(db, [*earlier, *batch])
    assert await restarted.repair(pending_before=clock.now()) == 0


async def test_a_retry_before_repair_does_not_count_twice(
    db: MongoDatabase, clock: ManualClock
) -> None:
    batch = _batch()
    with pytest.raises(SimulatedCrash):
        await crashing(db, clock, CrashPlan(at_write=2, partial=True)).record(batch)
    # The caller retries at once: its records are stored, pending, so not new again.
    assert await MongoUsageRepository(db, clock=clock).record(batch) == 0
    clock.advance(600)
    assert await MongoUsageRepository(db).repair(pending_before=clock.now()) == len(batch)
    await _assert_exact(db, batch)


async def test_repair_leaves_records_younger_than_its_cutoff_alone(
    db: MongoDatabase, clock: ManualClock
) -> None:
    batch = _batch()
    with pytest.raises(SimulatedCrash):
        await crashing(db, clock, CrashPlan(at_write=1, partial=False)).record(batch)
    # A live call may still be finishing these: not yet repair's to finish.
    repo = MongoUsageRepository(db, clock=clock)
    assert await repo.repair(pending_before=clock.now()) == 0
    assert await db.collection("usage_metrics").count_documents({"pending": "count"}) == len(batch)
    clock.advance(1)
    assert await repo.repair(pending_before=clock.now()) == len(batch)
    await _assert_exact(db, batch)


@pytest.mark.parametrize("step", range(len(STEPS) - 1), ids=STEPS[1:])
async def test_a_repair_that_crashes_is_finished_by_the_next(
    db: MongoDatabase, clock: ManualClock, step: int
) -> None:
    batch = _batch()
    with pytest.raises(SimulatedCrash):
        await crashing(db, clock, CrashPlan(at_write=2, partial=True)).record(batch)
    clock.advance(600)
    # repair's writes are record()'s from "create roll-ups" on.
    with pytest.raises(SimulatedCrash):
        await crashing(db, clock, CrashPlan(at_write=step, partial=True)).repair(
            pending_before=clock.now()
        )
    assert await MongoUsageRepository(db).repair(pending_before=clock.now()) == len(batch)
    await _assert_exact(db, batch)


async def test_finished_records_keep_the_go_layout(db: MongoDatabase) -> None:
    record = builders.usage("prj_a", at=DAY, metric="egress_minutes", kind="track", quantity=3)
    await MongoUsageRepository(db).record([record])
    stored = await db.collection("usage_metrics").find_one({"_id": record.id})
    assert stored == {
        "_id": record.id,
        "project_id": "prj_a",
        "event_type": "egress_minutes",
        "value": 3,
        "kind": "track",
        "timestamp": DAY,
    }
    day = await db.collection("usage_rollups").find_one({"granularity": "day"})
    assert day is not None
    assert day["_id"] == '["prj_a","day","2030-04-02T00:00:00Z","egress_minutes","track"]'
    assert day["quantity"] == 3 and day["applied"] == []
    assert day["expires_at"] == DAY + timedelta(days=400)
