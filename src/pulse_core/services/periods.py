"""UTC periods: the hours, days and months that usage is rolled up and asked for in."""

from __future__ import annotations

from datetime import MAXYEAR, UTC, datetime, timedelta

from pulse_core.models.usage import Granularity


def month_start(moment: datetime) -> datetime:
    """The first instant of ``moment``'s UTC month."""
    utc = moment.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    """The first instant of the UTC month after the one ``start`` is in. OverflowError
    for December 9999 (and, like every function here, for a ``start`` whose UTC time is
    outside years 1 to 9999): callers with a user's time turn it into InvalidInput."""
    start = month_start(start)
    if start.year == MAXYEAR and start.month == 12:
        raise OverflowError("there is no month after December 9999")
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def period_start(moment: datetime, granularity: Granularity) -> datetime:
    """The start of the UTC hour, day or month that ``moment`` falls in."""
    utc = moment.astimezone(UTC)
    if granularity == "hour":
        return utc.replace(minute=0, second=0, microsecond=0)
    if granularity == "day":
        return utc.replace(hour=0, minute=0, second=0, microsecond=0)
    return month_start(utc)


def is_aligned(moment: datetime, granularity: Granularity) -> bool:
    return period_start(moment, granularity) == moment


def span(granularity: Granularity) -> timedelta | None:
    """The length of one period; None for months (they differ)."""
    return {"hour": timedelta(hours=1), "day": timedelta(days=1)}.get(granularity)
