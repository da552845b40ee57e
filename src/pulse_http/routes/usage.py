"""Usage and the plan (API.md, "Usage and quotas"): the calling project's usage, and for
management a project's, an organization's (with each project's) and its plan's limits
with their current use.

``from`` and ``to`` are ISO 8601 with a time zone, ``to`` exclusive; periods are whole
UTC hours, days or months, so a window that starts or ends inside one includes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from pulse_core.errors import InvalidInput
from pulse_core.models import ManagementPrincipal, Project
from pulse_core.services import OrganizationService, ProjectService
from pulse_core.services.quotas import QuotaService
from pulse_core.services.usage import UsageQuery, UsageService
from pulse_http.auth import MANAGEMENT, project_route
from pulse_http.schemas.usage import (
    OrganizationUsageOut,
    PlanOut,
    ProjectUsageOut,
    UsageOut,
    items_of,
)

# Strings, parsed here: Litestar would name a malformed value by the argument's name
# (``since``), not the query parameter's (``from``).
From = Annotated[str | None, QueryParameter(name="from", format="date-time")]
To = Annotated[str | None, QueryParameter(name="to", format="date-time")]


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO 8601 date and time (e.g. 2026-11-01T00:00:00Z)", field=name
        ) from None


def _query(
    usage: UsageService,
    since: str | None,
    until: str | None,
    granularity: str | None,
    metric: str | None,
) -> UsageQuery:
    return usage.query(
        since=_moment(since, "from"),
        until=_moment(until, "to"),
        granularity=granularity,
        metric=metric,
    )


class UsageController(Controller):
    path = "/v1/usage"
    tags = ["usage"]
    opt = project_route("usage:read")

    @get("/")
    async def project_usage(
        self,
        *,
        project: NamedDependency[Project],
        usage: NamedDependency[UsageService],
        since: From = None,
        until: To = None,
        granularity: FromQuery[str | None] = None,
        metric: FromQuery[str | None] = None,
    ) -> UsageOut:
        """The calling project's usage, by period then metric."""
        query = _query(usage, since, until, granularity, metric)
        return UsageOut(items=items_of(await usage.project_usage(project.id, query)))


class ManagedUsageController(Controller):
    path = "/v1"
    tags = ["usage"]
    opt = MANAGEMENT

    @get("/projects/{project_id:str}/usage")
    async def project_usage(
        self,
        *,
        project_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        usage: NamedDependency[UsageService],
        since: From = None,
        until: To = None,
        granularity: FromQuery[str | None] = None,
        metric: FromQuery[str | None] = None,
    ) -> UsageOut:
        """A project's usage (the same shape as ``GET /v1/usage``)."""
        project = await projects.get(principal, project_id)
        query = _query(usage, since, until, granularity, metric)
        return UsageOut(items=items_of(await usage.project_usage(project.id, query)))

    @get("/organizations/{org_id:str}/usage")
    async def organization_usage(
        self,
        *,
        org_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        usage: NamedDependency[UsageService],
        since: From = None,
        until: To = None,
        granularity: FromQuery[str | None] = None,
        metric: FromQuery[str | None] = None,
    ) -> OrganizationUsageOut:
        """The organization's usage, then each project's."""
        org = await organizations.get(principal, org_id)
        query = _query(usage, since, until, granularity, metric)
        total, per_project = await usage.organization_usage(org.id, query)
        return OrganizationUsageOut(
            items=items_of(total),
            projects=[
                ProjectUsageOut(project_id=p, items=items_of(items))
                for p, items in per_project.items()
            ],
        )

    @get("/organizations/{org_id:str}/plan")
    async def organization_plan(
        self,
        *,
        org_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        quotas: NamedDependency[QuotaService],
    ) -> PlanOut:
        """The organization's plan: each limit (null: unlimited) and its current use."""
        org = await organizations.get(principal, org_id)
        return PlanOut.of(await quotas.plan_use(org.id))
