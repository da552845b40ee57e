"""Usage and the plan (API.md, "Usage and quotas"): the calling project's usage, and for
management a project's, an organization's (with each project's) and its plan's limits
with their current use.

``from`` and ``to`` are ISO 8601 with a time zone, ``to`` exclusive; periods are whole
UTC hours, days or months, so a window that starts or ends inside one includes it.
"""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from pulse_core.models import ManagementPrincipal, Project
from pulse_core.services import OrganizationService, ProjectService
from pulse_core.services.quotas import QuotaService
from pulse_core.services.usage import UsageQuery, UsageService
from pulse_http.auth import MANAGEMENT, project_route
from pulse_http.routes.params import From, To, moment
from pulse_http.schemas.usage import (
    OrganizationUsageOut,
    PlanOut,
    ProjectUsageOut,
    UsageOut,
    items_of,
)


def _query(
    usage: UsageService,
    since: str | None,
    until: str | None,
    granularity: str | None,
    metric: str | None,
) -> UsageQuery:
    return usage.query(
        since=moment(since, "from"),
        until=moment(until, "to"),
        granularity=granularity,
        metric=metric,
    )


class UsageController(Controller):
    path = "/v1/usage"
    tags = ["usage"]
    opt = project_route("usage:read")

    @get("/")
    async def get_usage(
        self,
        *,
        project: NamedDependency[Project],
        usage: NamedDependency[UsageService],
        since: From = None,
        until: To = None,
        granularity: FromQuery[str | None] = None,
        metric: FromQuery[str | None] = None,
    ) -> UsageOut:
        """Get the calling project's usage, ordered by period then metric.

        Metered: participant, egress and ingress minutes, tokens created, API requests,
        webhook deliveries, recording bytes; visible within seconds of what caused it.
        Needs `usage:read`."""
        query = _query(usage, since, until, granularity, metric)
        return UsageOut(items=items_of(await usage.project_usage(project.id, query)))


class ManagedUsageController(Controller):
    path = "/v1"
    tags = ["usage"]
    opt = MANAGEMENT

    @get("/projects/{project_id:str}/usage")
    async def get_project_usage(
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
        """Get a project's usage (the same answer as ``GET /v1/usage``)."""
        project = await projects.get(principal, project_id)
        query = _query(usage, since, until, granularity, metric)
        return UsageOut(items=items_of(await usage.project_usage(project.id, query)))

    @get("/organizations/{org_id:str}/usage")
    async def get_organization_usage(
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
        """Get an organization's usage: its projects together, then each project's."""
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
    async def get_organization_plan(
        self,
        *,
        org_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        quotas: NamedDependency[QuotaService],
    ) -> PlanOut:
        """Get an organization's plan: each limit (null: unlimited) and its current use."""
        org = await organizations.get(principal, org_id)
        return PlanOut.of(await quotas.plan_use(org.id))
