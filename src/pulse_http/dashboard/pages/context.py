"""What a project page needs before anything else: the project (if the viewer may see
it, or change it when ``write``) and its organization, for the navigation."""

from __future__ import annotations

from pulse_core.models import ManagementPrincipal, Organization, Project
from pulse_core.services import OrganizationService, ProjectService


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
