"""Reading usage (API.md, "Usage and quotas"): a project's or an organization's metered
quantities per UTC hour, day or month, from the roll-ups (never a scan of records)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec

from pulse_core.errors import InvalidInput
from pulse_core.models.usage import GRANULARITIES, METRICS, Granularity, Metric, UsageTotal
from pulse_core.ports.clock import Clock
from pulse_core.ports.repositories import ProjectRepository
from pulse_core.ports.usage import UsageRepository
from pulse_core.services import validation
from pulse_core.services.periods import is_aligned, month_start, next_month, period_start

#: The widest window one request may ask for, per granularity (hourly roll-ups are
#: kept 13 months too, but a year of hours is 8,760 rows a metric).
MAX_WINDOW: Final[dict[Granularity, timedelta]] = {
    "hour": timedelta(days=31),
    "day": timedelta(days=400),
    "month": timedelta(days=400),
}
_PAGE = 200


class UsageItem(msgspec.Struct, frozen=True, kw_only=True):
    metric: Metric
    period_start: datetime
    quantity: int


class UsageQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A checked request: ``since <= period_start < until``, both in UTC. ``first`` and
    ``end`` are that window widened to the whole periods it touches (what is read)."""

    since: datetime
    until: datetime
    granularity: Granularity
    metrics: tuple[Metric, ...]
    first: datetime
    end: datetime


async def project_ids_of(projects: ProjectRepository, org_id: str) -> list[str]:
    """The ids of every live project of ``org_id`` (its usage is summed over deleted
    ones too: :meth:`ProjectRepository.ids_of_organization`)."""
    found: list[str] = []
    after = None
    while True:
        page = await projects.list_page(org_id=org_id, after=after, limit=_PAGE)
        found += [p.id for p in page]
        if len(page) < _PAGE:
            return found
        after = page[-1].id


class UsageService:
    """Callers authorize first: the project is the caller's, or the organization one
    the management principal may read."""

    def __init__(self, usage: UsageRepository, projects: ProjectRepository, clock: Clock) -> None:
        self._usage = usage
        self._projects = projects
        self._clock = clock

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        granularity: str | None = None,
        metric: str | None = None,
    ) -> UsageQuery:
        """Check a request's parameters (``InvalidInput`` naming the one at fault). The
        default window is the current UTC month; the default granularity ``day``."""
        if granularity is None:
            granularity = "day"
        if granularity not in GRANULARITIES:
            raise InvalidInput(
                f"granularity must be one of {', '.join(GRANULARITIES)}", field="granularity"
            )
        level: Granularity = granularity
        if metric is not None and metric not in METRICS:
            raise InvalidInput(f"metric must be one of {', '.join(METRICS)}", field="metric")
        start = _utc(since, "from") if since is not None else month_start(self._clock.now())
        if until is not None:
            end, end_name = _utc(until, "to"), "to"
        else:  # the month of ``from``
            end, end_name = _within_calendar(next_month, start, "from"), "from"
        if end <= start:
            raise InvalidInput("to must be later than from", field="to")
        if end - start > MAX_WINDOW[level]:
            raise InvalidInput(
                f"a {level} query covers at most {MAX_WINDOW[level].days} days", field="to"
            )
        # A period that starts before ``since`` but overlaps it is counted whole, so is
        # one that ends after ``until``: the window read is widened to the periods it
        # touches (the last one may end after year 9999, which has no datetime).
        first = period_start(start, level)
        if not is_aligned(end, level):
            end_period = _within_calendar(lambda at: _after(at, level), end, end_name)
        else:
            end_period = end
        metrics: tuple[Metric, ...] = (metric,) if metric is not None else ()
        return UsageQuery(
            since=start,
            until=end,
            granularity=level,
            metrics=metrics,
            first=first,
            end=end_period,
        )

    async def project_usage(self, project_id: str, query: UsageQuery) -> list[UsageItem]:
        """The project's usage, one item per period and metric."""
        return _items(await self._totals([project_id], query), query.granularity)

    async def organization_usage(
        self, org_id: str, query: UsageQuery
    ) -> tuple[list[UsageItem], dict[str, list[UsageItem]]]:
        """The organization's usage (its projects together), and each project's: every
        live one, then each deleted one with usage in the window, so that the projects
        add up to the whole."""
        # Deleted projects count too: their usage happened.
        totals = await self._totals(await self._projects.ids_of_organization(org_id), query)
        project_ids = await project_ids_of(self._projects, org_id)
        per_project: dict[str, list[UsageTotal]] = defaultdict(list)
        for total in totals:
            per_project[total.project_id].append(total)
        live = set(project_ids)
        project_ids += sorted(p for p in per_project if p not in live)
        return _items(totals, query.granularity), {
            p: _items(per_project.get(p, []), query.granularity) for p in project_ids
        }

    async def _totals(self, project_ids: Sequence[str], query: UsageQuery) -> list[UsageTotal]:
        if not project_ids:
            return []
        return await self._usage.totals(
            project_ids,
            granularity="hour" if query.granularity == "hour" else "day",
            since=query.first,
            until=query.end,
            metrics=query.metrics,
        )


def _utc(moment: datetime, name: str) -> datetime:
    """``moment`` in UTC, or :class:`InvalidInput` naming the parameter ``name`` when it
    is naive or its UTC time is outside the calendar (``0001-01-01T00:00:00+14:00``)."""
    validation.aware(moment, name)
    return _within_calendar(lambda at: at.astimezone(UTC), moment, name)


def _within_calendar(step: Callable[[datetime], datetime], moment: datetime, name: str) -> datetime:
    """``step(moment)``, or :class:`InvalidInput` naming ``name`` when the result would
    fall outside years 1 to 9999 (``datetime`` raises OverflowError or ValueError)."""
    try:
        return step(moment)
    except (OverflowError, ValueError):
        raise InvalidInput(
            f"{name} is too close to the limits of the calendar (years 1 to 9999 in UTC)",
            field=name,
        ) from None


def _after(moment: datetime, level: Granularity) -> datetime:
    start = period_start(moment, level)
    if level == "month":
        return next_month(start)
    return start + (timedelta(hours=1) if level == "hour" else timedelta(days=1))


def _items(totals: Iterable[UsageTotal], level: Granularity) -> list[UsageItem]:
    """Sum roll-ups into one item per (period, metric): kinds and projects together,
    days into months when asked for months."""
    sums: dict[tuple[datetime, Metric], int] = defaultdict(int)
    if level == "month":
        months: dict[datetime, datetime] = {}
        for total in totals:
            day = total.period_start
            month = months.get(day) or months.setdefault(day, period_start(day, "month"))
            sums[(month, total.metric)] += total.quantity
    else:
        # Roll-ups of the level asked for start on its UTC periods already.
        for total in totals:
            sums[(total.period_start, total.metric)] += total.quantity
    return [
        UsageItem(metric=metric, period_start=start, quantity=quantity)
        for (start, metric), quantity in sorted(sums.items())
        if quantity
    ]
