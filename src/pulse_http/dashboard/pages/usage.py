"""Usage: participant, egress and ingress minutes per day as bar charts, and the
organization's month so far against its plan's monthly limits; on the organization's
page, each live project's totals for the days shown, the largest first.

Days are UTC days unless the page is asked for a time zone (``?tz=``, an IANA name):
then the usage is read by the hour and each hour counted on the local day it starts in
(so in a zone whose offset is not whole hours, an hour that spans local midnight counts
on the day before), and the window is at most 30 days (:data:`MAX_ZONED_DAYS`). The zone
last asked for is remembered in the browser (:data:`ZONE_COOKIE`), so that a usage page
opened from the menu shows the days its reader chose; a cookie naming no zone the
machine knows is ignored, not refused, since the reader did not type it.

The numbers are the REST API's: the organization page asks
:meth:`UsageService.organization_usage` and the project page
:meth:`UsageService.project_usage` exactly as ``GET /v1/organizations/{id}/usage`` and
``GET /v1/projects/{id}/usage`` do (the window checked by :meth:`UsageService.query`, so
a window the API refuses is refused here, next to its field), and the plan is
:meth:`QuotaService.plan_use`, as ``GET /v1/organizations/{id}/plan``. Reading only:
members see it all.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Annotated, Any, Final
from urllib.parse import quote, unquote

import msgspec
from litestar import Controller, get
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import CookieParameter, QueryParameter
from litestar.response import Template

from pulse_core.errors import InvalidInput, PulseError
from pulse_core.models import Project
from pulse_core.models.usage import Metric
from pulse_core.ports.clock import Clock
from pulse_core.services import ProjectService
from pulse_core.services.quotas import MONTHLY_LIMITS, QuotaService
from pulse_core.services.usage import MAX_WINDOW, UsageItem, UsageQuery, UsageService
from pulse_http.dashboard.charts import Point, bar_chart, daily, number
from pulse_http.dashboard.forms import Refusal
from pulse_http.dashboard.pages.context import OrgPage, ProjectPage
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.session import PATH, secure_cookies
from pulse_http.settings import Settings

#: ``?from=`` / ``?to=``: days (``YYYY-MM-DD``), both included, in ``?tz=`` (UTC).
FromDay = Annotated[str | None, QueryParameter(name="from")]
ToDay = Annotated[str | None, QueryParameter(name="to")]
Zone = Annotated[str | None, QueryParameter(name="tz")]
#: The cookie that remembers the zone last asked for, for a year, on this browser;
#: percent-encoded, since a cookie's value may not hold the ``/`` of ``Asia/Tokyo``.
ZONE_COOKIE: Final = "pulse_tz"
ZONE_COOKIE_SECONDS: Final = 365 * 24 * 3600
RememberedZone = Annotated[str | None, CookieParameter(name=ZONE_COOKIE)]
#: The longest window outside UTC: a day short of the API's hourly window
#: (``MAX_WINDOW["hour"]``), which a day of 25 hours would otherwise overrun.
MAX_ZONED_DAYS: Final = MAX_WINDOW["hour"].days - 1
#: The window a page opens with: the last 30 days, today included.
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
        settings: NamedDependency[Settings],
        since: FromDay = None,
        until: ToDay = None,
        tz: Zone = None,
        remembered: RememberedZone = None,
    ) -> Template:
        window = _Window.asked(since, until, tz if tz is not None else _known(remembered), clock)
        page = await _usage_page(org_page, window, usage=usage, quotas=quotas, projects=projects)
        return _remember(page, window, asked=tz, settings=settings)

    @get("/projects/{project_id:str}/usage")
    async def project_usage(
        self,
        *,
        here: NamedDependency[ProjectPage],
        usage: NamedDependency[UsageService],
        quotas: NamedDependency[QuotaService],
        clock: NamedDependency[Clock],
        settings: NamedDependency[Settings],
        since: FromDay = None,
        until: ToDay = None,
        tz: Zone = None,
        remembered: RememberedZone = None,
    ) -> Template:
        window = _Window.asked(since, until, tz if tz is not None else _known(remembered), clock)
        page = await _usage_page(here, window, usage=usage, quotas=quotas)
        return _remember(page, window, asked=tz, settings=settings)


def _known(remembered: str | None) -> str | None:
    """The remembered zone, if the machine still knows it (a browser may hold a stale
    or tampered cookie: the page then opens in UTC)."""
    if remembered is None:
        return None
    name = unquote(remembered)
    return name if _zone(name) is not None else None


def _remember(
    page: Template, window: _Window, *, asked: str | None, settings: Settings
) -> Template:
    """Remember a zone the reader asked for, if it is one (a refused zone changes
    nothing); the days asked for are not remembered: a page opens on the latest."""
    if asked is not None and _zone(window.tz) is not None:
        page.set_cookie(
            Cookie(
                key=ZONE_COOKIE,
                value=quote(window.tz, safe=""),
                path=PATH,
                max_age=ZONE_COOKIE_SECONDS,
                httponly=True,
                secure=secure_cookies(settings),
                samesite="strict",
            )
        )
    return page


class _Window:
    """The days asked for, as the form shows them (``since`` and ``until`` are both days
    of the time zone ``tz``, ``until`` included: what a person means by "to"), and the
    refusal, if any."""

    def __init__(self, since: str, until: str, tz: str) -> None:
        self.since = since
        self.until = until
        self.tz = tz
        self.refusal: Refusal | None = None
        self.first: date | None = None
        self.days = 0
        self.zone: tzinfo = UTC

    @classmethod
    def asked(cls, since: str | None, until: str | None, tz: str | None, clock: Clock) -> _Window:
        tz = (tz or "UTC").strip() or "UTC"
        zone = _zone(tz) or UTC  # an unknown zone is refused by query()
        today = clock.now().astimezone(zone).date()
        first = today - timedelta(days=DEFAULT_DAYS - 1)
        return cls(since or first.isoformat(), until or today.isoformat(), tz)

    @property
    def days_query(self) -> str:
        """These days and their zone as the page's query string (for links to other
        pages; the zone always, since a page without one opens in the remembered zone)."""
        return f"from={self.since}&to={self.until}&tz={quote(self.tz, safe='/')}"

    def query(self, usage: UsageService) -> UsageQuery:
        """The API's query of these days (its rules: the order, the longest window):
        by the day in UTC, by the hour in another zone."""
        zone = _zone(self.tz)
        if zone is None:
            raise InvalidInput(
                f"tz must be a time zone name such as Europe/Paris, not {self.tz[:60]!r}",
                field="tz",
            )
        first = _day(self.since, "from")
        last = _day(self.until, "to")
        try:
            after = last + timedelta(days=1)
        except OverflowError:  # the last day there is
            raise InvalidInput("to is too far in the future", field="to") from None
        since, until = _midnight(first, zone), _midnight(after, zone)
        if zone is not UTC and since < until and (last - first).days >= MAX_ZONED_DAYS:
            raise InvalidInput(
                f"outside UTC, a window covers at most {MAX_ZONED_DAYS} days", field="to"
            )
        query = usage.query(since=since, until=until, granularity="day" if zone is UTC else "hour")
        self.first, self.days, self.zone = first, (last - first).days + 1, zone
        return query


def _midnight(day: date, zone: tzinfo) -> datetime:
    """The first moment of ``day`` in ``zone``, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


@functools.cache
def _zone_names() -> frozenset[str]:
    # Read once, on first use: the names the machine's time zone database holds.
    return frozenset(zoneinfo.available_timezones())


def _zone(name: str) -> tzinfo | None:
    """The time zone ``name`` (``UTC``, or an IANA name the machine knows), else None."""
    if name == "UTC":
        return UTC
    if name not in _zone_names():
        return None
    return zoneinfo.ZoneInfo(name)


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
                window.zone,
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
        "svg": bar_chart(f"{title} per day", points, unit=unit, chart_id=f"chart-{metric}")
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
        rows.append(
            _ProjectRow(
                id=project_id,
                name=project.name,
                url=f"{PATH}/projects/{project_id}/usage?{window.days_query}",
                totals=tuple(totals.values()),
            )
        )
    rows.sort(key=lambda row: (tuple(-total for total in row.totals), row.name, row.id))
    return rows
