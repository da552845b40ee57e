"""The usage contract (pulse_core.ports.usage), run on every backend: records counted
once, roll-ups exact and aligned to UTC, totals filtered and ordered, purge, and the
open connections."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse_core.models.usage import Metric, RollupGranularity, UsageRecord, UsageTotal
from tests.support import builders
from tests.support.repositories import RepoFactory, RepoSet

# A Tuesday; times stay in the future, so that a real MongoDB's TTL monitor leaves the
# test's documents alone.
DAY = datetime(2030, 4, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
US = timedelta(microseconds=1)
FAR_PAST, FAR_FUTURE = DAY - timedelta(days=30), DAY + timedelta(days=30)


async def _totals(
    repos: RepoSet,
    projects: list[str],
    granularity: RollupGranularity = "hour",
    *,
    since: datetime = FAR_PAST,
    until: datetime = FAR_FUTURE,
    metrics: tuple[Metric, ...] = (),
) -> list[UsageTotal]:
    return await repos.usage.totals(
        projects, granularity=granularity, since=since, until=until, metrics=metrics
    )


def _total(
    project: str, start: datetime, quantity: int, metric: Metric = "tokens_created", kind: str = ""
) -> UsageTotal:
    return UsageTotal(
        project_id=project, metric=metric, kind=kind, period_start=start, quantity=quantity
    )


# -- recording and dedupe ---------------------------------------------------------------


async def test_a_record_is_counted_once_however_often_it_is_offered(repos: RepoSet) -> None:
    first = builders.usage("prj_a", at=DAY + 10 * HOUR, quantity=5)
    second = builders.usage("prj_a", at=DAY + 10 * HOUR, quantity=7)
    assert await repos.usage.record([first, first, second]) == 2  # same id within a call
    assert await repos.usage.record([second, first]) == 0  # and across calls
    third = builders.usage("prj_a", at=DAY + 10 * HOUR, quantity=1)
    assert await repos.usage.record([first, third, second, third]) == 1
    assert await repos.usage.record([]) == 0
    assert await _totals(repos, ["prj_a"]) == [_total("prj_a", DAY + 10 * HOUR, 13)]
    assert await _totals(repos, ["prj_a"], "day") == [_total("prj_a", DAY, 13)]


async def test_a_naive_timestamp_is_refused_and_nothing_of_the_call_is_stored(
    repos: RepoSet,
) -> None:
    good = builders.usage("prj_a", at=DAY)
    naive = builders.usage("prj_a", at=DAY.replace(tzinfo=None))
    with pytest.raises(ValueError):
        await repos.usage.record([good, naive])
    assert await _totals(repos, ["prj_a"]) == []
    assert await repos.usage.record([good]) == 1


# -- roll-ups ---------------------------------------------------------------------------


async def test_rollups_are_utc_hours_and_days(repos: RepoSet) -> None:
    midnight = DAY + timedelta(days=1)
    ist = timezone(timedelta(hours=5, minutes=30))
    await repos.usage.record(
        [
            builders.usage("prj_a", at=DAY + 9 * HOUR, quantity=1),
            builders.usage("prj_a", at=DAY + 9 * HOUR + 59 * timedelta(minutes=1), quantity=2),
            builders.usage("prj_a", at=midnight - US, quantity=4),  # 23:59:59.999999
            builders.usage("prj_a", at=midnight, quantity=8),
            # 04:00 in India is 22:30 UTC the day before: bucketed by its UTC time.
            builders.usage("prj_a", at=(midnight + 4 * HOUR).astimezone(ist), quantity=16),
        ]
    )
    assert await _totals(repos, ["prj_a"]) == [
        _total("prj_a", DAY + 9 * HOUR, 3),
        _total("prj_a", DAY + 23 * HOUR, 4),
        _total("prj_a", midnight, 8),
        _total("prj_a", midnight + 4 * HOUR, 16),
    ]
    days = await _totals(repos, ["prj_a"], "day")
    assert days == [_total("prj_a", DAY, 7), _total("prj_a", midnight, 24)]
    assert all(t.period_start.utcoffset() == timedelta(0) for t in days)


async def test_kinds_and_metrics_are_kept_apart(repos: RepoSet) -> None:
    at = DAY + 3 * HOUR
    await repos.usage.record(
        [
            builders.usage("prj_a", at=at, metric="egress_minutes", kind="room_composite"),
            builders.usage("prj_a", at=at, metric="egress_minutes", kind="track", quantity=2),
            builders.usage("prj_a", at=at, metric="egress_minutes", kind="track", quantity=3),
            builders.usage("prj_a", at=at, metric="ingress_minutes", quantity=4),
        ]
    )
    assert await _totals(repos, ["prj_a"], "day") == [
        _total("prj_a", DAY, 1, "egress_minutes", "room_composite"),
        _total("prj_a", DAY, 5, "egress_minutes", "track"),
        _total("prj_a", DAY, 4, "ingress_minutes"),
    ]


async def test_projects_never_mix(repos: RepoSet) -> None:
    at = DAY + 5 * HOUR
    await repos.usage.record(
        [
            builders.usage("prj_a", at=at, quantity=1),
            builders.usage("prj_b", at=at, quantity=10),
            builders.usage("prj_a", at=at, quantity=2),
        ]
    )
    assert await _totals(repos, ["prj_a"]) == [_total("prj_a", at, 3)]
    assert await _totals(repos, ["prj_b"]) == [_total("prj_b", at, 10)]
    assert await _totals(repos, ["prj_c"]) == []
    assert await _totals(repos, []) == []


# -- totals -----------------------------------------------------------------------------


async def test_totals_filter_by_project_metric_and_period_start_and_keep_their_order(
    repos: RepoSet,
) -> None:
    records = [
        builders.usage("prj_b", at=DAY + 2 * HOUR, metric="api_requests", quantity=1),
        builders.usage("prj_a", at=DAY + 2 * HOUR, metric="tokens_created", quantity=2),
        builders.usage("prj_a", at=DAY + 2 * HOUR, metric="api_requests", quantity=3),
        builders.usage("prj_a", at=DAY + 1 * HOUR, metric="tokens_created", quantity=4),
        builders.usage("prj_b", at=DAY + 3 * HOUR, metric="tokens_created", quantity=5),
        builders.usage("prj_c", at=DAY + 2 * HOUR, metric="tokens_created", quantity=6),
        builders.usage("prj_a", at=DAY + 4 * HOUR, metric="tokens_created", quantity=0),
    ]
    await repos.usage.record(records)
    # Ordered by (period_start, project_id, metric, kind); zero quantities left out.
    assert await _totals(repos, ["prj_b", "prj_a"]) == [
        _total("prj_a", DAY + 1 * HOUR, 4),
        _total("prj_a", DAY + 2 * HOUR, 3, "api_requests"),
        _total("prj_a", DAY + 2 * HOUR, 2),
        _total("prj_b", DAY + 2 * HOUR, 1, "api_requests"),
        _total("prj_b", DAY + 3 * HOUR, 5),
    ]
    # since <= period_start < until: the bounds select whole periods by their start.
    window = await _totals(repos, ["prj_a", "prj_b"], since=DAY + 2 * HOUR, until=DAY + 3 * HOUR)
    assert [(t.project_id, t.period_start) for t in window] == [
        ("prj_a", DAY + 2 * HOUR),
        ("prj_a", DAY + 2 * HOUR),
        ("prj_b", DAY + 2 * HOUR),
    ]
    # A bound inside a period: that period's start is before `since`, so it is out.
    assert await _totals(repos, ["prj_a"], "day", since=DAY + HOUR) == []
    assert await _totals(repos, ["prj_a"], "day", until=DAY) == []
    only = await _totals(repos, ["prj_a", "prj_b", "prj_c"], "day", metrics=("api_requests",))
    assert only == [
        _total("prj_a", DAY, 3, "api_requests"),
        _total("prj_b", DAY, 1, "api_requests"),
    ]


# -- purge ------------------------------------------------------------------------------


async def test_purge_deletes_records_and_rollups_by_their_own_cutoffs(repos: RepoSet) -> None:
    old = builders.usage("prj_a", at=DAY - timedelta(days=2) + HOUR, quantity=1)
    recent = builders.usage("prj_a", at=DAY + HOUR, quantity=2)
    await repos.usage.record([old, recent])
    # Records older than DAY go; roll-ups whose period starts before DAY - 1 day go:
    # the old record's hour and day, not the recent ones.
    purged = await repos.usage.purge(records_before=DAY, rollups_before=DAY - timedelta(days=1))
    assert purged == 1 + 2
    assert await _totals(repos, ["prj_a"], "day") == [_total("prj_a", DAY, 2)]
    # The purged record is forgotten (offered again, it is new); the kept one is not.
    assert await repos.usage.record([old, recent]) == 1
    assert await repos.usage.purge(records_before=FAR_PAST, rollups_before=FAR_PAST) == 0


# -- the roll-ups equal their records, whatever arrives how ------------------------------

_BASE = DAY + 22 * HOUR  # the window spans two midnights
_OFFSETS = st.one_of(
    st.integers(0, 50 * 3600 * 10**6),
    st.sampled_from([2 * 3600 * 10**6 + d for d in (-1, 0, 1)]),  # around midnight
    st.sampled_from([26 * 3600 * 10**6 + d for d in (-1, 0)]),  # around 00:00 + 24 h
)
_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=45))]
)
_METRICS: list[Metric] = ["participant_minutes", "egress_minutes"]
# (project, metric, kind, quantity, microseconds after _BASE, the timestamp's zone)
Content = tuple[str, Metric, str, int, int, tzinfo]
_CONTENT = st.tuples(
    st.sampled_from(["prj_a", "prj_b"]),
    st.sampled_from(_METRICS),
    st.sampled_from(["", "track"]),
    st.integers(0, 10**9),
    _OFFSETS,
    _ZONES,
)
# (id, content) offers; an id's first content is its content, so repeats are identical.
_OFFERS = st.lists(st.tuples(st.integers(0, 11), _CONTENT), max_size=30)


def _offered(offers: list[tuple[int, Content]]) -> list[UsageRecord]:
    contents: dict[int, Content] = {}
    records = []
    for key, content in offers:
        project, metric, kind, quantity, offset, zone = contents.setdefault(key, content)
        at = (_BASE + offset * US).astimezone(zone)
        records.append(
            builders.usage(
                project,
                at=at,
                metric=metric,
                kind=kind,
                quantity=quantity,
                record_id=f"use_{key:02d}",
            )
        )
    return records


def _expected(records: list[UsageRecord], granularity: RollupGranularity) -> list[UsageTotal]:
    sums: dict[tuple[datetime, str, Metric, str], int] = defaultdict(int)
    for record in {r.id: r for r in records}.values():
        start = record.timestamp.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        if granularity == "day":
            start = start.replace(hour=0)
        sums[(start, record.project_id, record.metric, record.kind)] += record.quantity
    return [
        UsageTotal(project_id=p, metric=m, kind=k, period_start=s, quantity=q)
        for (s, p, m, k), q in sorted(sums.items())
        if q != 0
    ]


# A fresh repository set per example, from the factory. The profile in tests/conftest.py
# bounds the examples (and sets no deadline).
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offers=_OFFERS, cuts=st.lists(st.integers(0, 30), max_size=4))
def test_rollups_equal_the_sum_of_their_distinct_records(
    repos_factory: RepoFactory, offers: list[tuple[int, Content]], cuts: list[int]
) -> None:
    records = _offered(offers)
    bounds = [0, *sorted(c % (len(records) + 1) for c in cuts), len(records)]
    calls = [records[a:b] for a, b in itertools.pairwise(bounds)]

    async def scenario() -> None:
        repo_set = await repos_factory()
        try:
            new = [await repo_set.usage.record(call) for call in calls]
            assert sum(new) == len({r.id for r in records})
            for granularity in ("hour", "day"):
                got = await _totals(repo_set, ["prj_a", "prj_b"], granularity)
                assert got == _expected(records, granularity)
        finally:
            await repo_set.aclose()

    asyncio.run(scenario())


# -- open connections -------------------------------------------------------------------


async def test_a_connection_opens_once_and_closes_once(repos: RepoSet) -> None:
    connection = builders.connection("prj_a", at=DAY)
    assert await repos.connections.open(connection) is True
    again = builders.connection(
        "prj_a", room="elsewhere", at=DAY + HOUR, participant_sid=connection.participant_sid
    )
    assert await repos.connections.open(again) is False
    # The same sid in another project is another connection.
    theirs = builders.connection("prj_b", at=DAY, participant_sid=connection.participant_sid)
    assert await repos.connections.open(theirs) is True

    assert await repos.connections.close("prj_a", connection.participant_sid) == connection
    assert await repos.connections.close("prj_a", connection.participant_sid) is None
    assert await repos.connections.close("prj_a", "PA_never") is None
    assert await repos.connections.list_room("prj_b", theirs.livekit_room) == [theirs]
    assert await repos.connections.open(connection) is True  # closed: may open again


async def test_list_room_is_scoped_by_project_and_room_oldest_first(repos: RepoSet) -> None:
    late = builders.connection("prj_a", room="lk_1", at=DAY + 2 * HOUR)
    early = builders.connection("prj_a", room="lk_1", at=DAY)
    middle = builders.connection("prj_a", room="lk_1", at=DAY + HOUR)
    others = [
        builders.connection("prj_a", room="lk_2", at=DAY),
        builders.connection("prj_b", room="lk_1", at=DAY),
    ]
    for connection in [late, early, *others, middle]:
        assert await repos.connections.open(connection)
    assert await repos.connections.list_room("prj_a", "lk_1") == [early, middle, late]
    assert await repos.connections.list_room("prj_a", "lk_3") == []
    await repos.connections.close("prj_a", middle.participant_sid)
    assert await repos.connections.list_room("prj_a", "lk_1") == [early, late]


async def test_list_rooms_is_distinct_and_bounded(repos: RepoSet) -> None:
    assert await repos.connections.list_rooms(limit=10) == []
    rooms = {("prj_a", "lk_1"), ("prj_a", "lk_2"), ("prj_b", "lk_1")}
    for project, room in sorted(rooms):
        for _ in range(3):
            await repos.connections.open(builders.connection(project, room=room, at=DAY))
    listed = await repos.connections.list_rooms(limit=10)
    assert sorted(listed) == sorted(rooms) and len(listed) == len(rooms)
    two = await repos.connections.list_rooms(limit=2)
    assert len(two) == 2 and set(two) <= rooms
    assert await repos.connections.list_rooms(limit=0) == []


async def test_list_rooms_pages_in_order_after_a_cursor(repos: RepoSet) -> None:
    rooms = [("prj_a", "lk_1"), ("prj_a", "lk_2"), ("prj_b", "lk_0"), ("prj_b", "lk_1")]
    for project, room in reversed(rooms):
        await repos.connections.open(builders.connection(project, room=room, at=DAY))
    assert await repos.connections.list_rooms(limit=10) == rooms
    assert await repos.connections.list_rooms(after=("prj_a", "lk_1"), limit=2) == rooms[1:3]
    assert await repos.connections.list_rooms(after=("prj_a", "lk_9"), limit=10) == rooms[2:]
    assert await repos.connections.list_rooms(after=rooms[-1], limit=10) == []
