"""Usage: participant, egress and ingress minutes per UTC day as bar charts, and the
organization's month so far against its plan's monthly limits.

The numbers are the REST API's: the organization page asks
:meth:`UsageService.organization_usage` and the project page
:meth:`UsageService.project_usage` exactly as ``GET /v1/organizations/{id}/usage`` and
``GET /v1/projects/{id}/usage`` do (the window checked by :meth:`UsageService.query`, so
a window the API refuses is refused here, next to its field), and the plan is
:meth:`QuotaService.plan_use`, as ``GET /v1/organizations/{id}/plan``. Reading only:
members see it all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Final

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Template

from pulse_core.errors import InvalidInput, PulseError
from pulse_core.models import ManagementPrincipal, Organization, Project
from pulse_core.models.usage import Metric
from pulse_core.ports.clock import Clock
from pulse_core.services import OrganizationService
from pulse_core.services.quotas import MONTHLY_LIMITS, QuotaService
from pulse_core.services.usage import UsageItem, UsageQuery, UsageService
from pulse_http.dashboard.charts import Point, bar_chart, daily, number
from pulse_http.dashboard.forms import Refusal
from pulse_http.dashboard.pages.context import ProjectPage
from pulse_http.dashboard.rendering import page
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
        org_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        usage: NamedDependency[UsageService],
        quotas: NamedDependency[QuotaService],
        clock: NamedDependency[Clock],
        since: FromDay = None,
        until: ToDay = None,
    ) -> Template:
        org = await organizations.get(viewer, org_id)
        window = _Window.asked(since, until, clock)
        items: list[UsageItem] = []
        try:
            query = window.query(usage)
            items, _ = await usage.organization_usage(org.id, query)
        except PulseError as exc:
            window.refusal = Refusal.of(exc)
        return await _usage_page(viewer, org, None, window=window, items=items, quotas=quotas)

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
        items: list[UsageItem] = []
        try:
            query = window.query(usage)
            items = await usage.project_usage(here.project.id, query)
        except PulseError as exc:
            window.refusal = Refusal.of(exc)
        return await _usage_page(
            here.viewer, here.org, here.project, window=window, items=items, quotas=quotas
        )


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
    viewer: ManagementPrincipal,
    org: Organization,
    project: Project | None,
    *,
    window: _Window,
    items: Sequence[UsageItem],
    quotas: QuotaService,
) -> Template:
    charts = []
    if window.first is not None:
        for metric, title in CHARTED.items():
            points = daily(
                ((i.period_start, i.quantity) for i in items if i.metric == metric),
                window.first,
                window.days,
            )
            charts.append(_chart(metric, title, points))
    plan = await quotas.plan_use(org.id)
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
    base = f"{PATH}/projects/{project.id}" if project else f"{PATH}/organizations/{org.id}"
    return page(
        "usage.html",
        viewer,
        refusal=window.refusal,
        org=org,
        project=project,
        subject=project.name if project else org.name,
        window=window,
        charts=charts,
        plan_name=plan.plan,
        monthly=monthly,
        number=number,
        action=f"{base}/usage",
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
