"""The dashboard's home, the platform's organizations (admins) and an organization's
overview: its projects, its plan and limits with their current use."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.models import ManagementPrincipal
from pulse_core.plans import PlanCatalog
from pulse_core.services import OrganizationService, ProjectService
from pulse_core.services.quotas import QuotaService
from pulse_http.dashboard.forms import SHOWN, Refusal, edits, read_form, shown_field
from pulse_http.dashboard.pages.context import OrgPage
from pulse_http.dashboard.rendering import page
from pulse_http.dashboard.session import PATH, SIGN_IN
from pulse_http.schemas.organizations import CreateOrganization, UpdateOrganization
from pulse_http.schemas.projects import CreateProject

Req = Request[Any, Any, Any]
#: Rows per page of the dashboard's lists.
PAGE_SIZE = 50


class OrganizationPages(Controller):
    path = PATH

    @get("/")
    async def home(self, viewer: NamedDependency[ManagementPrincipal]) -> Redirect:
        if viewer.is_admin or viewer.org_id is None:
            return Redirect(f"{PATH}/organizations", status_code=303)
        return Redirect(f"{PATH}/organizations/{viewer.org_id}", status_code=303)

    @get("/organizations")
    async def organizations(
        self,
        viewer: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        plans: NamedDependency[PlanCatalog],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        listed = await organizations.list(viewer, limit=PAGE_SIZE, cursor=cursor)
        return page(
            "organizations.html",
            viewer,
            organizations=listed.items,
            next_cursor=listed.next_cursor,
            plans=plans.names(),
            values={},
        )

    @post("/organizations")
    async def create_organization(
        self,
        request: Req,
        viewer: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        plans: NamedDependency[PlanCatalog],
    ) -> Template | Redirect:
        form = await read_form(request)
        try:
            data = form.to(CreateOrganization)
            org = await organizations.create(
                viewer, name=data.name, admin_email=data.admin_email, plan=data.plan
            )
        except PulseError as exc:
            listed = await organizations.list(viewer, limit=PAGE_SIZE)
            return page(
                "organizations.html",
                viewer,
                refusal=Refusal.of(exc),
                organizations=listed.items,
                next_cursor=listed.next_cursor,
                plans=plans.names(),
                values=form.values,
            )
        return Redirect(f"{PATH}/organizations/{org.id}?notice=created", status_code=303)

    @get("/organizations/{org_id:str}")
    async def overview(
        self,
        *,
        org_page: NamedDependency[OrgPage],
        projects: NamedDependency[ProjectService],
        quotas: NamedDependency[QuotaService],
        plans: NamedDependency[PlanCatalog],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        return await _overview(org_page, projects, quotas, plans, cursor=cursor)

    @post("/organizations/{org_id:str}")
    async def update_organization(
        self,
        *,
        request: Req,
        org_page: NamedDependency[OrgPage],
        organizations: NamedDependency[OrganizationService],
        projects: NamedDependency[ProjectService],
        quotas: NamedDependency[QuotaService],
        plans: NamedDependency[PlanCatalog],
    ) -> Template | Redirect:
        form = await read_form(request)
        try:
            data = edits(form, lambda f: f.to(UpdateOrganization))
            await organizations.update(org_page.viewer, org_page.org.id, data.to_patch())
        except PulseError as exc:
            refusal, shown = Refusal.of(exc), form.get(SHOWN)
            return await _overview(
                org_page,
                projects,
                quotas,
                plans,
                refusal=refusal,
                posted="settings",
                values=form.values,
                shown=shown,
            )
        return Redirect(org_page.url("?notice=saved"), status_code=303)

    @post("/organizations/{org_id:str}/delete")
    async def delete_organization(
        self,
        org_page: NamedDependency[OrgPage],
        organizations: NamedDependency[OrganizationService],
    ) -> Redirect:
        """Owners and admins (the service's rule): its projects go with it, and its
        people's sessions end, this one's too when an owner deletes their own."""
        viewer = org_page.viewer
        await organizations.delete(viewer, org_page.org.id)
        target = f"{PATH}/organizations" if viewer.is_admin else SIGN_IN
        return Redirect(f"{target}?notice=deleted", status_code=303)

    @post("/organizations/{org_id:str}/projects")
    async def create_project(
        self,
        *,
        request: Req,
        org_page: NamedDependency[OrgPage],
        projects: NamedDependency[ProjectService],
        quotas: NamedDependency[QuotaService],
        plans: NamedDependency[PlanCatalog],
    ) -> Template:
        form = await read_form(request)
        org_id = org_page.org.id
        try:
            data = form.to(CreateProject, org_id=org_id)
            issued = await projects.create(
                org_page.viewer, org_id=org_id, name=data.name, settings=data.settings()
            )
        except PulseError as exc:
            refusal = Refusal.of(exc)
            return await _overview(
                org_page,
                projects,
                quotas,
                plans,
                refusal=refusal,
                posted="project",
                values=form.values,
            )
        project = issued.project
        # The new project's page, under its organization's navigation (``org_page.org``:
        # the project was created in it).
        return org_page.render(
            "secret_once.html",
            status=201,
            project=project,
            heading=f"Project {project.name} created",
            api_key=project.api_key,
            api_secret=issued.api_secret,
            expires_at=None,
            replace_url=f"{PATH}/projects/{project.id}",
        )


async def _overview(
    org_page: OrgPage,
    projects: ProjectService,
    quotas: QuotaService,
    plans: PlanCatalog,
    *,
    cursor: str | None = None,
    refusal: Refusal | None = None,
    posted: Literal["project", "settings"] | None = None,
    values: dict[str, str] | None = None,
    shown: str | None = None,
) -> Template:
    """The overview, also redrawn with a refused form: the form ``posted`` (the new
    project's or the settings') shows ``refusal`` and is filled with ``values`` as they
    were typed; the other form keeps its own (both have a ``name`` field). ``shown`` is
    what the settings form first showed, kept through its refusal."""
    org = org_page.org
    stored = {"name": org.name, "admin_email": org.admin_email}
    if org_page.viewer.is_admin:
        stored["plan"] = org.plan  # the field only an admin is shown
    if shown is None:
        shown = shown_field(stored)
    typed = values or {}
    listed = await projects.list(org_page.viewer, org_id=org.id, limit=PAGE_SIZE, cursor=cursor)
    return org_page.render(
        "organization.html",
        refusal=refusal,
        posted=posted,
        projects=listed.items,
        next_cursor=listed.next_cursor,
        plan=await quotas.plan_use(org.id),
        plans=plans.names(),
        values=typed if posted == "project" else {},
        settings={k: typed.get(k, v) for k, v in stored.items()}
        if posted == "settings"
        else stored,
        shown=shown,
    )
