"""A project's settings: its name, rate limit and token lifetimes; deleting it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.models import Project
from pulse_core.services import ProjectService
from pulse_http.dashboard.forms import SHOWN, Form, Refusal, edits, read_form, shown_field
from pulse_http.dashboard.pages.context import ProjectPage
from pulse_http.dashboard.session import PATH
from pulse_http.schemas.projects import UpdateProject

Req = Request[Any, Any, Any]


class ProjectPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}"

    @get("/")
    async def settings_page(self, here: NamedDependency[ProjectPage]) -> Template:
        values = _values(here.project)
        return _settings(here, values, shown_field(values))

    @post("/")
    async def save_settings(
        self,
        request: Req,
        here: NamedDependency[ProjectPage],
        projects: NamedDependency[ProjectService],
    ) -> Template | Redirect:
        """``here``, not ``editable``: the update itself refuses a member, and that
        refusal is shown on this page, with the form as it was typed."""
        form = await read_form(request)
        try:
            patch = edits(form, _patch).to_patch()
            await projects.update(here.viewer, here.project.id, patch)
        except PulseError as exc:
            return _settings(here, form.values, form.get(SHOWN), Refusal.of(exc))
        return Redirect(f"{here.url()}?notice=saved", status_code=303)

    @post("/delete")
    async def delete_project(
        self,
        editable: NamedDependency[ProjectPage],
        projects: NamedDependency[ProjectService],
    ) -> Redirect:
        project = editable.project
        await projects.delete(editable.viewer, project.id)
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
    here: ProjectPage, values: dict[str, str], shown: str, refusal: Refusal | None = None
) -> Template:
    """The settings page: the form with ``values``, and ``shown`` (what the page first
    showed, kept through a refusal: :func:`~pulse_http.dashboard.forms.edits`)."""
    return here.render("project.html", refusal=refusal, values=values, shown=shown)
