"""What a page needs before anything else: the project (if the viewer may see it, or
change it when ``write``) and its organization, for the navigation; or, on an
organization's own pages, the organization.

:class:`ProjectPage` is that, given to every handler under ``/dashboard/projects/{id}``
by the router's ``here`` (reading) and ``editable`` (changing) dependencies, so that a
page states which it needs once, in its signature, and the check is the services' own.
:class:`OrgPage` is the same for the handlers under ``/dashboard/organizations/{id}``,
given by ``org_page``: there is no ``editable`` twin, because an organization's forms
show a member's refused post in the page (the services refuse it), not as an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from pulse_core.models import ManagementPrincipal, Organization, Project
from pulse_core.services import OrganizationService, ProjectService
from pulse_http.dashboard.forms import Refusal
from pulse_http.dashboard.rendering import page
from pulse_http.dashboard.session import PATH

Req = Request[Any, Any, Any]


async def project_scope(
    viewer: ManagementPrincipal,
    project_id: str,
    projects: ProjectService,
    organizations: OrganizationService,
    *,
    write: bool = False,
) -> tuple[Project, Organization]:
    """``NotFound`` unless the viewer may see the project; ``PermissionDenied`` when
    ``write`` and they may only read it (the services' own rule)."""
    if write:
        project = await projects.writable(viewer, project_id)
    else:
        project = await projects.get(viewer, project_id)
    return project, await organizations.get(viewer, project.org_id)


class _Drawn:
    """How an organization's and a project's pages are drawn alike: with the
    organization's navigation, and the forms only to those who may change it."""

    viewer: ManagementPrincipal
    org: Organization

    @property
    def can_write(self) -> bool:
        """Whether to show the forms; the services refuse a member's post regardless."""
        return self.viewer.can_write(self.org.id)

    def render(
        self,
        template: str,
        *,
        refusal: Refusal | None = None,
        status: int = 200,
        **context: Any,
    ) -> Template:
        return page(
            template,
            self.viewer,
            org=self.org,
            can_write=self.can_write,
            refusal=refusal,
            status=status,
            **context,
        )


@dataclass(frozen=True)
class OrgPage(_Drawn):
    """The viewer on one organization's pages (overview, users, audit log, usage)."""

    viewer: ManagementPrincipal
    org: Organization

    def url(self, suffix: str = "") -> str:
        """The organization's own pages: ``url("/users")`` is its users page."""
        return f"{PATH}/organizations/{self.org.id}{suffix}"


@dataclass(frozen=True)
class ProjectPage(_Drawn):
    """The viewer on one project's pages: every one shows the project's navigation
    under its organization's (whose people may change the project)."""

    viewer: ManagementPrincipal
    project: Project
    org: Organization

    def url(self, suffix: str = "") -> str:
        """The project's own pages: ``url("/keys")`` is its keys page."""
        return f"{PATH}/projects/{self.project.id}{suffix}"

    def render(
        self,
        template: str,
        *,
        refusal: Refusal | None = None,
        status: int = 200,
        **context: Any,
    ) -> Template:
        return super().render(
            template, refusal=refusal, status=status, project=self.project, **context
        )


#: Where the dependencies below leave the page they checked, in the request's state: an
#: error raised after the check is drawn with the navigation of the project or the
#: organization it happened in (:func:`drawn_before`).
DRAWN = "dashboard_drawn"


def _remember(request: Req, drawn: OrgPage | ProjectPage) -> None:
    request.scope.setdefault("state", {})[DRAWN] = drawn


def drawn_before(request: Req) -> dict[str, Any]:
    """The navigation of the page whose check passed before an error (``org`` and, on a
    project's pages, ``project``), for the error page; nothing when no check passed."""
    drawn = request.scope.get("state", {}).get(DRAWN)
    if isinstance(drawn, ProjectPage):
        return {"org": drawn.org, "project": drawn.project}
    if isinstance(drawn, OrgPage):
        return {"org": drawn.org}
    return {}


async def provide_org_page(
    request: Req,
    org_id: FromPath[str],
    viewer: NamedDependency[ManagementPrincipal],
    organizations: NamedDependency[OrganizationService],
) -> OrgPage:
    """``org_page``: ``NotFound`` (the error page's 404) unless the viewer may see the
    organization. Only reading is checked here: each action's service refuses a member
    (``PermissionDenied``), and the page decides whether that is an error or a refusal
    shown next to the form."""
    drawn = OrgPage(viewer, await organizations.get(viewer, org_id))
    _remember(request, drawn)
    return drawn


async def provide_here(
    request: Req,
    project_id: FromPath[str],
    viewer: NamedDependency[ManagementPrincipal],
    projects: NamedDependency[ProjectService],
    organizations: NamedDependency[OrganizationService],
) -> ProjectPage:
    """``here``, for a page that reads: ``NotFound`` (the error page's 404) unless the
    viewer may see the project."""
    project, org = await project_scope(viewer, project_id, projects, organizations)
    drawn = ProjectPage(viewer, project, org)
    _remember(request, drawn)
    return drawn


async def provide_editable(
    request: Req,
    project_id: FromPath[str],
    viewer: NamedDependency[ManagementPrincipal],
    projects: NamedDependency[ProjectService],
    organizations: NamedDependency[OrganizationService],
) -> ProjectPage:
    """``editable``, for an action that changes the project: also ``PermissionDenied``
    (the error page's 403) when the viewer may only read it, by ``projects.writable``
    as the management routes check; a foreign project is still a 404."""
    project, org = await project_scope(viewer, project_id, projects, organizations, write=True)
    drawn = ProjectPage(viewer, project, org)
    _remember(request, drawn)
    return drawn
