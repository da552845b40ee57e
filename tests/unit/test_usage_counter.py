"""``UsageCounter``: what is counted is stored once, per UTC hour, whatever the order of
counts, hours and flushes, and whichever flushes fail before or after their write lands;
on the in-memory journal and on the file-backed one. A journal that cannot open a page
costs durability, never a count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_adapters.clock import ManualClock
from pulse_adapters.local import LocalUsageJournal
from pulse_adapters.memory import InMemoryUsageJournal, InMemoryUsageRepository
from pulse_core.errors import Unavailable
from pulse_core.models.usage import METRICS, Metric, UsageRecord
from pulse_core.ports.usage import CountPage, UsageJournal
from pulse_core.services.usage_counter import MAX_UNSENT_PAGES, HeldCountPage, UsageCounter

T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
PROJECTS = ("prj_01HZZZZZZZZZZZZZZZZZZZZZZA", "prj_01HZZZZZZZZZZZZZZZZZZZZZZB")


class FlakyUsage(InMemoryUsageRepository):
    """Fails the next write as told: before it lands, or after (a timeout on a write that
    the database did apply)."""

    def __init__(self) -> None:
        super().__init__()
        self.next_failure: str | None = None

    async def record(self, records: Sequence[UsageRecord]) -> int:
        failure, self.next_failure = self.next_failure, None
        if failure == "before":
            raise Unavailable("usage store down")
        stored = await super().record(records)
        if failure == "after":
            raise Unavailable("usage store timed out")
        return stored


async def stored(usage: InMemoryUsageRepository) -> Counter[tuple[datetime, Metric, str]]:
    rows = await usage.totals(
        list(PROJECTS),
        granularity="hour",
        since=T0 - timedelta(days=1),
        until=T0 + timedelta(days=2),
    )
    return Counter({(r.period_start, r.metric, r.project_id): r.quantity for r in rows})


_STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("count"),
            st.sampled_from(PROJECTS),
            st.sampled_from(("tokens_created", "api_requests", "webhook_deliveries")),
            st.integers(1, 5),
        ),
        st.tuples(st.just("wait"), st.integers(1, 5400)),
        st.tuples(st.just("flush"), st.sampled_from((None, "before", "after"))),
    ),
    max_size=40,
)


@pytest.mark.parametrize("kind", ["memory", "local"])
@settings(deadline=None, max_examples=60)
@given(steps=_STEPS)
async def test_every_count_is_stored_once_in_its_hour(
    kind: str, steps: list[tuple[object, ...]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    clock = ManualClock(T0)
    usage = FlakyUsage()
    journal: UsageJournal = (
        InMemoryUsageJournal()
        if kind == "memory"
        else LocalUsageJournal(tmp_path_factory.mktemp("journal"))
    )
    counter = UsageCounter(usage, clock, journal)
    expected: Counter[tuple[datetime, Metric, str]] = Counter()
    for step in steps:
        if step[0] == "count":
            _, project_id, metric, quantity = step
            counter.count(str(project_id), metric, int(str(quantity)))  # type: ignore[arg-type]
            hour = clock.now().replace(minute=0, second=0, microsecond=0)
            expected[hour, metric, str(project_id)] += int(str(quantity))  # type: ignore[index]
        elif step[0] == "wait":
            clock.advance(int(str(step[1])))
        else:
            usage.next_failure = step[1]  # type: ignore[assignment]
            try:
                await counter.flush()
            except Unavailable:
                assert step[1] is not None
            usage.next_failure = None  # not used when there was nothing to write
    await counter.flush()
    assert await stored(usage) == expected
    assert counter.pending == 0
    counter.close()


class BrokenJournal(InMemoryUsageJournal):
    """A journal on a full disk, until told otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    def open(self, hour: datetime) -> CountPage:
        if self.broken:
            raise OSError(28, "No space left on device")
        return super().open(hour)


async def test_a_journal_that_cannot_open_a_page_costs_no_count() -> None:
    clock = ManualClock(T0)
    usage = InMemoryUsageRepository()
    journal = BrokenJournal()
    counter = UsageCounter(usage, clock, journal)
    counter.count(PROJECTS[0], "tokens_created")
    counter.count(PROJECTS[0], "tokens_created", 2)
    assert await counter.flush() == 1
    journal.broken = False
    counter.count(PROJECTS[0], "tokens_created")
    assert await counter.flush() == 1
    assert await stored(usage) == {(T0, "tokens_created", PROJECTS[0]): 4}


async def test_a_flush_stores_what_an_ended_process_left(tmp_path: Path) -> None:
    """The pages a journal keeps when its flush fails at stop are stored by the next
    counter's first flush, once, under the ids they had."""
    usage = FlakyUsage()
    first = UsageCounter(usage, ManualClock(T0), LocalUsageJournal(tmp_path))
    first.count(PROJECTS[0], "api_requests", 3)
    usage.next_failure = "after"  # landed, but the process could not know
    with pytest.raises(Unavailable):
        await first.flush()
    first.close()
    second = UsageCounter(usage, ManualClock(T0), LocalUsageJournal(tmp_path))
    assert second.pending == 0
    assert await second.flush() == 1  # offered again: the store skips it by its id
    assert await stored(usage) == {(T0, "api_requests", PROJECTS[0]): 3}
    second.close()
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 (a local directory)


def test_every_metric_fits_a_journal_slot(tmp_path: Path) -> None:
    journal = LocalUsageJournal(tmp_path)
    page = journal.open(T0)
    for metric in METRICS:
        page.add(metric, f"prj_{'Z' * 60}", 1)
    assert len(page.counts()) == len(METRICS)
    journal.close()


class UnreadableJournal(InMemoryUsageJournal):
    """Its directory of ended processes cannot be read, nor a stored page removed."""

    def orphans(self) -> list[CountPage]:
        raise PermissionError(13, "Permission denied")

    def settle(self, page: CountPage) -> None:
        raise PermissionError(13, "Permission denied")


async def test_a_journal_it_cannot_read_or_tidy_still_has_its_own_counts_stored_once() -> None:
    usage = InMemoryUsageRepository()
    counter = UsageCounter(usage, ManualClock(T0), UnreadableJournal())
    counter.count(PROJECTS[0], "webhook_deliveries", 2)
    assert await counter.flush() == 1
    assert counter.pending == 0
    assert await counter.flush() == 0
    assert await stored(usage) == {(T0, "webhook_deliveries", PROJECTS[0]): 2}


class CrampedPage(HeldCountPage):
    """A page on a full disk: it cannot take a second metric and project."""

    def cell(self, metric: Metric, project_id: str) -> int:
        if self.counts() and (metric, project_id) not in {(m, p) for m, p, _ in self.counts()}:
            raise OSError(28, "No space left on device")
        return super().cell(metric, project_id)


class CrampedJournal(InMemoryUsageJournal):
    def open(self, hour: datetime) -> CountPage:
        return CrampedPage(super().open(hour).key, hour)


async def test_a_page_that_cannot_grow_costs_no_count_and_fails_no_request() -> None:
    usage = InMemoryUsageRepository()
    counter = UsageCounter(usage, ManualClock(T0), CrampedJournal())
    for project_id in PROJECTS:
        for metric in ("tokens_created", "api_requests"):
            counter.count(project_id, metric, 3)  # type: ignore[arg-type]
    await counter.flush()
    assert await stored(usage) == {
        (T0, metric, p): 3 for p in PROJECTS for metric in ("tokens_created", "api_requests")
    }


async def test_an_outage_of_the_store_holds_a_bounded_number_of_pages(tmp_path: Path) -> None:
    usage = FlakyUsage()
    clock = ManualClock(T0)
    counter = UsageCounter(usage, clock, LocalUsageJournal(tmp_path))
    for _ in range(4 * MAX_UNSENT_PAGES):
        counter.count(PROJECTS[0], "api_requests")
        clock.advance(5)
        usage.next_failure = "before"
        with pytest.raises(Unavailable):
            await counter.flush()
    assert len(list(tmp_path.glob("*/*.page"))) <= MAX_UNSENT_PAGES + 1  # noqa: ASYNC240
    await counter.flush()  # the store is back
    await counter.flush()
    assert await stored(usage) == {(T0, "api_requests", PROJECTS[0]): 4 * MAX_UNSENT_PAGES}
    counter.close()
