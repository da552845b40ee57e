from __future__ import annotations

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from pulse_core.models import ManagementPrincipal, Project
from pulse_core.services import ProjectService
from pulse_http.auth import MANAGEMENT, project_route
from pulse_http.schemas.projects import (
    CreateProject,
    KeysRegenerated,
    ProjectCreated,
    ProjectList,
    ProjectOut,
    RegenerateKeys,
    UpdateProject,
)


class ProjectsController(Controller):
    """An organization's projects (management): owners and admins change them, members
    read them."""

    path = "/v1/projects"
    tags = ["projects"]
    opt = MANAGEMENT

    @post("/", status_code=201, opt={"problems": (404,)})
    async def create_project(
        self,
        data: JSONBody[CreateProject],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
    ) -> ProjectCreated:
        """Create a project in an organization, with its first key pair.

        The answer holds `api_key` and `api_secret`: the secret is shown here (and when the
        keys are regenerated) only; Pulse keeps a peppered hash of it. 404 for an
        organization the caller may not see; 403 `quota_exceeded` past the plan's
        `max_projects`."""
        issued = await projects.create(
            principal, org_id=data.org_id, name=data.name, settings=data.settings()
        )
        out = ProjectOut.of(issued.project)
        return ProjectCreated(**msgspec.structs.asdict(out), api_secret=issued.api_secret)

    @get("/", opt={"problems": (404,)})
    async def list_projects(
        self,
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        org_id: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> ProjectList:
        """List the projects the caller may see, oldest first (`org_id`: one organization's)."""
        page = await projects.list(principal, org_id=org_id, limit=limit, cursor=cursor)
        return ProjectList(
            items=[ProjectOut.of(p) for p in page.items], next_cursor=page.next_cursor
        )

    @get("/{project_id:str}")
    async def get_project(
        self,
        project_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
    ) -> ProjectOut:
        """Get a project and its settings (never its secret)."""
        return ProjectOut.of(await projects.get(principal, project_id))

    @put("/{project_id:str}")
    async def update_project(
        self,
        project_id: FromPath[str],
        data: JSONBody[UpdateProject],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
    ) -> ProjectOut:
        """Change a project's name or settings; fields left out keep their value, `null`
        resets a setting to the platform default."""
        return ProjectOut.of(await projects.update(principal, project_id, data.to_patch()))

    @delete("/{project_id:str}", status_code=204)
    async def delete_project(
        self,
        project_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
    ) -> None:
        """Delete a project (soft): its keys stop working at once."""
        await projects.delete(principal, project_id)

    @post("/{project_id:str}/regenerate-keys", status_code=200)
    async def regenerate_keys(
        self,
        project_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        data: JSONBody[RegenerateKeys | None] = None,
    ) -> KeysRegenerated:
        """Rotate the project's first key pair: a new key and secret (shown this once).

        The previous pair keeps working for `grace_period_seconds` (0 to 86400; default 0:
        revoked at once), until `previous_key_expires_at`."""
        grace = data.grace_period_seconds if data is not None else 0
        rotation = await projects.regenerate_keys(principal, project_id, grace_period_seconds=grace)
        return KeysRegenerated(
            api_key=rotation.api_key,
            api_secret=rotation.api_secret,
            previous_key_expires_at=rotation.previous_key_expires_at,
        )


class CurrentProjectController(Controller):
    """``GET /v1/project``: the project the presented credentials belong to, so a
    customer can check their key and secret (and see their settings) in one call."""

    path = "/v1/project"
    tags = ["projects"]
    opt = project_route(None)

    @get("/")
    async def get_current_project(self, project: NamedDependency[Project]) -> ProjectOut:
        """Get the project the presented key belongs to: a way to check a key and secret,
        and to read the project's settings (token TTL bounds, rate limit). Needs no
        scope."""
        return ProjectOut.of(project)
