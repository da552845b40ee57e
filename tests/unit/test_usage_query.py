"""Checking a usage query (API.md, "Usage and quotas"): whatever aware times a caller
gives, near the limits of the calendar included, the query is answered or refused with
InvalidInput naming ``from`` or ``to``; never a ValueError or OverflowError (a 500)."""

from __future__ import annotations

from datetime import MAXYEAR, MINYEAR, UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryProjectRepository, InMemoryUsageRepository
from pulse_core.errors import InvalidInput
from pulse_core.models.usage import GRANULARITIES, UsageRecord
from pulse_core.services.periods import is_aligned, next_month
from pulse_core.services.usage import UsageService

PROJECT = "prj_01HZZZZZZZZZZZZZZZZZZZZZZZ"
NOW = datetime(2030, 1, 15, 12, tzinfo=UTC)
PLUS_14 = timezone(timedelta(hours=14))
MINUS_14 = timezone(timedelta(hours=-14))

# Every offset ISO 8601 (and datetime.fromisoformat) can carry: up to ±23:59.
_OFFSETS = st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
).map(timezone)
_MOMENTS = st.datetimes(
    min_value=datetime(MINYEAR, 1, 1), max_value=datetime(MAXYEAR, 12, 31, 23, 59, 59, 999999)
)
_NEAR_START = st.datetimes(min_value=datetime(MINYEAR, 1, 1), max_value=datetime(MINYEAR, 2, 1))
_NEAR_END = st.datetimes(
    min_value=datetime(MAXYEAR, 11, 1), max_value=datetime(MAXYEAR, 12, 31, 23, 59, 59, 999999)
)
_AWARE = st.one_of(_MOMENTS, _NEAR_START, _NEAR_END).flatmap(
    lambda naive: _OFFSETS.map(lambda zone: naive.replace(tzinfo=zone))
)


async def service() -> UsageService:
    usage = InMemoryUsageRepository()
    # Something to read, so that the repository is really asked.
    await usage.record(
        [
            UsageRecord(
                id="use_1",
                project_id=PROJECT,
                metric="tokens_created",
                quantity=1,
                timestamp=NOW,
            )
        ]
    )
    return UsageService(usage, InMemoryProjectRepository(), ManualClock(NOW))


@given(
    since=st.none() | _AWARE,
    until=st.none() | _AWARE,
    granularity=st.sampled_from(GRANULARITIES) | st.none(),
)
@example(since=datetime(9999, 12, 31, tzinfo=UTC), until=None, granularity=None)
@example(
    since=datetime(9999, 12, 31, 23, tzinfo=UTC),
    until=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    granularity="month",
)
@example(
    since=datetime(9999, 12, 31, 23, tzinfo=UTC),
    until=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    granularity="hour",
)
@example(since=datetime(1, 1, 1, tzinfo=PLUS_14), until=None, granularity=None)
@example(
    since=datetime(9999, 12, 1, tzinfo=UTC),
    until=datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_14),
    granularity=None,
)
async def test_a_query_is_answered_or_refused_naming_from_or_to(
    since: datetime | None, until: datetime | None, granularity: str | None
) -> None:
    usage = await service()
    try:
        query = usage.query(since=since, until=until, granularity=granularity)
    except InvalidInput as exc:
        assert exc.field in ("from", "to"), exc
        return
    assert query.since.utcoffset() == timedelta(0) == query.until.utcoffset()
    assert query.first <= query.since < query.until <= query.end
    assert is_aligned(query.first, query.granularity)
    assert is_aligned(query.end, query.granularity)
    items = await usage.project_usage(PROJECT, query)
    assert all(query.first <= item.period_start < query.end for item in items)


@pytest.mark.parametrize(
    ("since", "until", "granularity", "field"),
    [
        # The default window is the month of ``from``: December 9999 has no end.
        (datetime(9999, 12, 31, tzinfo=UTC), None, "day", "from"),
        # The month that ``to`` falls in ends after year 9999.
        (
            datetime(9999, 12, 31, 23, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
            "month",
            "to",
        ),
        (datetime(1, 1, 1, tzinfo=PLUS_14), None, "day", "from"),
        (
            datetime(9999, 12, 1, tzinfo=UTC),
            datetime(9999, 12, 31, 23, tzinfo=MINUS_14),
            "day",
            "to",
        ),
    ],
)
async def test_times_past_the_calendar_are_refused_naming_the_parameter(
    since: datetime, until: datetime | None, granularity: str, field: str
) -> None:
    usage = await service()
    with pytest.raises(InvalidInput) as caught:
        usage.query(since=since, until=until, granularity=granularity)
    assert caught.value.field == field


async def test_whole_periods_up_to_the_last_hour_there_is_are_answered() -> None:
    usage = await service()
    query = usage.query(
        since=datetime(9999, 12, 31, 22, 30, tzinfo=UTC),
        until=datetime(9999, 12, 31, 23, tzinfo=UTC),
        granularity="hour",
    )
    assert query.first == datetime(9999, 12, 31, 22, tzinfo=UTC)
    assert await usage.project_usage(PROJECT, query) == []


async def test_the_window_is_in_utc_whatever_offset_it_was_given_in() -> None:
    usage = await service()
    query = usage.query(
        since=datetime(2030, 1, 15, 14, tzinfo=timezone(timedelta(hours=2))),
        until=datetime(2030, 1, 15, 15, tzinfo=timezone(timedelta(hours=2))),
        granularity="hour",
    )
    assert query.since == NOW and query.since.tzinfo is UTC
    assert [(i.metric, i.quantity) for i in await usage.project_usage(PROJECT, query)] == [
        ("tokens_created", 1)
    ]


def test_there_is_no_month_after_december_9999() -> None:
    assert next_month(datetime(9999, 11, 5, tzinfo=UTC)) == datetime(9999, 12, 1, tzinfo=UTC)
    with pytest.raises(OverflowError):
        next_month(datetime(9999, 12, 5, tzinfo=UTC))
