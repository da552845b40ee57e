"""Usage: participant, egress and ingress minutes per UTC day as bar charts, and the
organization's month so far against its plan's monthly limits; on the organization's
page, each live project's totals for the days shown, the largest first.

The numbers are the REST API's: the organization page asks
:meth:`UsageService.organization_usage` and the project page
:meth:`UsageService.project_usage` exactly as ``GET /v1/organizations/{id}/usage`` and
``GET /v1/projects/{id}/usage`` do (the window checked by :meth:`UsageService.query`, so
a window the API refuses is refused here, next to its field), and the plan is
:meth:`QuotaService.plan_use`, as ``GET /v1/organizations/{id}/plan``. Reading only:
members see it all.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Template

from pulse_core.errors import InvalidInput, PulseError
from pulse_core.models import Project
from pulse_core.models.usage import Metric
from pulse_core.ports.clock import Clock
from pulse_core.services import ProjectService
from pulse_core.services.quotas import MONTHLY_LIMITS, QuotaService
from pulse_core.services.usage import UsageItem, UsageQuery, UsageService
from pulse_http.dashboard.charts import Point, bar_chart, daily, number
from pulse_http.dashboard.forms import Refusal
from pulse_http.dashboard.pages.context import OrgPage, ProjectPage
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.session import PATH

#: ``?from=`` / ``?to=``: UTC days (``YYYY-MM-DD``), both included.
FromDay = Annotated[str | None, QueryParameter(name="from")]
ToDay = Annotated[str | None, QueryParameter(name="to")]
#: The window a page opens with: the last 30 UTC days, today included.
DEFAULT_DAYS: Final = 30
#: The metrics charted, and what they are called on the page.
CHARTED: Final[dict[Metric, str]] = {
    "participant_minutes": "Participant minutes",
    "egress_minutes": "Egress minutes",
    "ingress_minutes": "Ingress minutes",
}


class UsagePages(Controller):
    path = PATH

    @get("/organizations/{org_id:str}/usage")
    async def organization_usage(
        self,
        *,
        org_page: NamedDependency[OrgPage],
        usage: NamedDependency[UsageService],
        quotas: NamedDependency[QuotaService],
        projects: NamedDependency[ProjectService],
        clock: NamedDependency[Clock],
        since: FromDay = None,
        until: ToDay = None,
    ) -> Template:
        window = _Window.asked(since, until, clock)
        return await _usage_page(org_page, window, usage=usage, quotas=quotas, projects=projects)

    @get("/projects/{project_id:str}/usage")
    async def project_usage(
        self,
        *,
        here: NamedDependency[ProjectPage],
        usage: NamedDependency[UsageService],
        quotas: NamedDependency[QuotaService],
        clock: NamedDependency[Clock],
        since: FromDay = None,
        until: ToDay = None,
    ) -> Template:
        window = _Window.asked(since, until, clock)
        return await _usage_page(here, window, usage=usage, quotas=quotas)


class _Window:
    """The days asked for, as the form shows them (``since`` and ``until`` are both UTC
    days, ``until`` included: what a person means by "to"), and the refusal, if any."""

    def __init__(self, since: str, until: str) -> None:
        self.since = since
        self.until = until
        self.refusal: Refusal | None = None
        self.first: date | None = None
        self.days = 0

    @classmethod
    def asked(cls, since: str | None, until: str | None, clock: Clock) -> _Window:
        today = clock.now().astimezone(UTC).date()
        first = today - timedelta(days=DEFAULT_DAYS - 1)
        return cls(since or first.isoformat(), until or today.isoformat())

    def query(self, usage: UsageService) -> UsageQuery:
        """The API's query of these days (its rules: the order, the longest window)."""
        first = _day(self.since, "from")
        last = _day(self.until, "to")
        try:
            end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
        except OverflowError:  # the last day there is
            raise InvalidInput("to is too far in the future", field="to") from None
        query = usage.query(
            since=datetime(first.year, first.month, first.day, tzinfo=UTC),
            until=end,
            granularity="day",
        )
        self.first, self.days = first, (last - first).days + 1
        return query


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field} must be a day, YYYY-MM-DD", field=field) from None


async def _usage_page(
    at: OrgPage | ProjectPage,
    window: _Window,
    *,
    usage: UsageService,
    quotas: QuotaService,
    projects: ProjectService | None = None,
) -> Template:
    """Either page: the organization's projects together (and each, given ``projects``
    to name them), or one project's."""
    items: list[UsageItem] = []
    per_project: dict[str, list[UsageItem]] = {}
    try:
        query = window.query(usage)
        if isinstance(at, ProjectPage):
            items = await usage.project_usage(at.project.id, query)
        else:
            items, per_project = await usage.organization_usage(at.org.id, query)
    except PulseError as exc:
        window.refusal = Refusal.of(exc)
    charts = []
    if window.first is not None:
        for metric, title in CHARTED.items():
            points = daily(
                ((i.period_start, i.quantity) for i in items if i.metric == metric),
                window.first,
                window.days,
            )
            charts.append(_chart(metric, title, points))
    plan = await quotas.plan_use(at.org.id)
    limits = {limit.name: limit for limit in plan.limits}
    monthly = [
        {
            "title": CHARTED[metric],
            "used": limits[name].used,
            "limit": limits[name].limit,
        }
        for name, metric in MONTHLY_LIMITS.items()
        if name in limits
    ]
    # The template tells the two pages apart by ``project``: ``None`` on the
    # organization's.
    project: dict[str, Any] = {"project": None} if isinstance(at, OrgPage) else {}
    by_project = []
    if isinstance(at, OrgPage) and projects is not None and per_project:
        by_project = _by_project(per_project, await _live_projects(at, projects), window)
    return at.render(
        "usage.html",
        refusal=window.refusal,
        subject=at.project.name if isinstance(at, ProjectPage) else at.org.name,
        window=window,
        charts=charts,
        plan_name=plan.plan,
        monthly=monthly,
        number=number,
        action=at.url("/usage"),
        by_project=by_project,
        **project,
    )


def _chart(metric: Metric, title: str, points: list[Point]) -> dict[str, object]:
    unit = title.lower()
    total = sum(p.value for p in points)
    return {
        "metric": metric,
        "title": title,
        "total": total,
        # The newest day first in the table: the one people look for.
        "points": list(reversed(points)),
        "svg": bar_chart(f"{title} per UTC day", points, unit=unit, chart_id=f"chart-{metric}")
        if total
        else None,
    }


async def _live_projects(at: OrgPage, projects: ProjectService) -> dict[str, Project]:
    """The organization's live projects by id, every page of them."""
    found: dict[str, Project] = {}
    cursor: str | None = None
    while True:
        page = await projects.list(at.viewer, org_id=at.org.id, limit=PAGE_SIZE, cursor=cursor)
        found.update((p.id, p) for p in page.items)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


class _ProjectRow(msgspec.Struct, frozen=True, kw_only=True):
    """A live project's totals of the charted metrics (in :data:`CHARTED`'s order) over
    the window, and its own usage page for the same days."""

    id: str
    name: str
    url: str
    totals: tuple[int, ...]


def _by_project(
    per_project: dict[str, list[UsageItem]], live: dict[str, Project], window: _Window
) -> list[_ProjectRow]:
    """A row per live project, the largest users first."""
    rows = []
    for project_id, items in per_project.items():
        project = live.get(project_id)
        if project is None:  # deleted since the usage was read
            continue
        totals = dict.fromkeys(CHARTED, 0)
        for item in items:
            if item.metric in totals:
                totals[item.metric] += item.quantity
        days = f"from={window.since}&to={window.until}"
        rows.append(
            _ProjectRow(
                id=project_id,
                name=project.name,
                url=f"{PATH}/projects/{project_id}/usage?{days}",
                totals=tuple(totals.values()),
            )
        )
    rows.sort(key=lambda row: (tuple(-total for total in row.totals), row.name, row.id))
    return rows
