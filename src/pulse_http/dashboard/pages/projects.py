"""A project's settings: its name, rate limit and token lifetimes; deleting it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.models import ManagementPrincipal, Project
from pulse_core.services import OrganizationService, ProjectService
from pulse_http.dashboard.forms import Form, Refusal, read_form
from pulse_http.dashboard.pages.context import project_scope
from pulse_http.dashboard.rendering import page
from pulse_http.dashboard.session import PATH
from pulse_http.schemas.projects import UpdateProject

Req = Request[Any, Any, Any]


class ProjectPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}"

    @get("/")
    async def settings_page(
        self,
        project_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
    ) -> Template:
        project, org = await project_scope(viewer, project_id, projects, organizations)
        return _settings(viewer, project, org, _values(project))

    @post("/")
    async def save_settings(
        self,
        request: Req,
        project_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
    ) -> Template | Redirect:
        form = await read_form(request)
        project, org = await project_scope(viewer, project_id, projects, organizations)
        try:
            await projects.update(viewer, project.id, _patch(form).to_patch())
        except PulseError as exc:
            return _settings(viewer, project, org, form.values, Refusal.of(exc))
        return Redirect(f"{PATH}/projects/{project.id}?notice=saved", status_code=303)

    @post("/delete")
    async def delete_project(
        self,
        project_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
    ) -> Redirect:
        project = await projects.writable(viewer, project_id)
        await projects.delete(viewer, project.id)
        return Redirect(f"{PATH}/organizations/{project.org_id}?notice=deleted", status_code=303)


def _patch(form: Form) -> UpdateProject:
    """The form as the API's update: a blank setting resets it to the platform default,
    a blank rate limit removes the project's own."""
    limit = {k: v for k, v in form.values.items() if k.startswith("rate_limit.") and v != ""}
    values = {k: v for k, v in form.values.items() if not k.startswith("rate_limit.")}
    trimmed = Form(values, {})
    rate_limit: dict[str, Any] | None = None
    if "rate_limit.requests" in limit:
        rate_limit = {k.removeprefix("rate_limit."): v for k, v in limit.items()}
    return trimmed.to(UpdateProject, blank_is_null=True, rate_limit=rate_limit)


def _values(project: Project) -> dict[str, str]:
    settings = project.settings
    limit = settings.rate_limit

    def text(value: object) -> str:
        return "" if value is None else str(value)

    return {
        "name": project.name,
        "token_ttl_default_seconds": text(settings.token_ttl_default_seconds),
        "token_ttl_max_seconds": text(settings.token_ttl_max_seconds),
        "rate_limit.requests": text(limit.requests if limit else None),
        "rate_limit.period": limit.period if limit else "second",
        "rate_limit.burst": text(limit.burst if limit else None),
    }


def _settings(
    viewer: ManagementPrincipal,
    project: Project,
    org: Any,
    values: dict[str, str],
    refusal: Refusal | None = None,
) -> Template:
    return page(
        "project.html",
        viewer,
        refusal=refusal,
        project=project,
        org=org,
        values=values,
        can_write=viewer.can_write(project.org_id),
    )
