"""A project's API keys: the list (with when each was last used, never a secret),
creating a named key, revoking one, and rotating the project's first pair.

The same services as ``/v1/projects/{id}/keys`` and ``…/regenerate-keys``: a new secret
is shown once, on a page that points the browser's history back at the list so a reload
cannot show it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.models import ManagementPrincipal, Organization, Project
from pulse_core.models.keys import SCOPES
from pulse_core.ports.clock import Clock
from pulse_core.services import OrganizationService, ProjectService
from pulse_core.services.keys import KeyService, KeyView
from pulse_http.dashboard.forms import Form, Refusal, read_form
from pulse_http.dashboard.pages.context import project_scope
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.rendering import page
from pulse_http.dashboard.session import PATH
from pulse_http.schemas.access import CreateKey
from pulse_http.schemas.projects import RegenerateKeys

Req = Request[Any, Any, Any]


def keys_url(project_id: str) -> str:
    return f"{PATH}/projects/{project_id}/keys"


class KeyPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}/keys"

    @get("/")
    async def keys_page(
        self,
        *,
        project_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
        keys: NamedDependency[KeyService],
        clock: NamedDependency[Clock],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        project, org = await project_scope(viewer, project_id, projects, organizations)
        return await _listing(viewer, project, org, keys=keys, clock=clock, cursor=cursor)

    @post("/")
    async def create_key(
        self,
        *,
        request: Req,
        project_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
        keys: NamedDependency[KeyService],
        clock: NamedDependency[Clock],
    ) -> Template:
        form = await read_form(request)
        # A member's post ends here, on the error page (the services' own rule).
        project, org = await project_scope(viewer, project_id, projects, organizations, write=True)
        try:
            data = form.to(CreateKey, lists=["scopes"])
            issued = await keys.create(
                viewer,
                project.id,
                name=data.name,
                scopes=data.scopes,
                expires_at=data.expires_at,
            )
        except PulseError as exc:
            return await _listing(
                viewer, project, org, keys=keys, clock=clock, form=form, refusal=Refusal.of(exc)
            )
        return page(
            "secret_once.html",
            viewer,
            status=201,
            project=project,
            org=org,
            heading=f"Key {issued.key.name} created",
            api_key=issued.key.api_key,
            api_secret=issued.api_secret,
            expires_at=None,
            replace_url=keys_url(project.id),
        )

    @post("/rotate")
    async def rotate_primary(
        self,
        *,
        request: Req,
        project_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
        keys: NamedDependency[KeyService],
        clock: NamedDependency[Clock],
    ) -> Template:
        form = await read_form(request)
        project, org = await project_scope(viewer, project_id, projects, organizations, write=True)
        try:
            data = form.to(RegenerateKeys)
            rotation = await projects.regenerate_keys(
                viewer, project.id, grace_period_seconds=data.grace_period_seconds
            )
        except PulseError as exc:
            return await _listing(
                viewer, project, org, keys=keys, clock=clock, form=form, refusal=Refusal.of(exc)
            )
        return page(
            "secret_once.html",
            viewer,
            project=rotation.project,
            org=org,
            heading="Primary key rotated",
            api_key=rotation.api_key,
            api_secret=rotation.api_secret,
            expires_at=rotation.previous_key_expires_at,
            replace_url=keys_url(project.id),
        )

    @post("/{key_id:str}/revoke")
    async def revoke_key(
        self,
        *,
        project_id: FromPath[str],
        key_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
        keys: NamedDependency[KeyService],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        project, org = await project_scope(viewer, project_id, projects, organizations, write=True)
        try:
            await keys.revoke(viewer, project.id, key_id)
        except PulseError as exc:
            return await _listing(
                viewer, project, org, keys=keys, clock=clock, refusal=Refusal.of(exc)
            )
        return Redirect(f"{keys_url(project.id)}?notice=revoked", status_code=303)


def page_of(listed: list[KeyView], cursor: str | None) -> tuple[list[KeyView], str | None]:
    """One page of the keys, after the key ``cursor`` names. The service lists them
    whole (at most 50 live, plus revoked ones), by id, so oldest first, and a revoked
    key's record stays: a key id is a stable place to go on from. An unknown cursor
    starts over."""
    start = 0
    if cursor is not None:
        start = next((i + 1 for i, k in enumerate(listed) if k.id == cursor), 0)
    shown = listed[start : start + PAGE_SIZE]
    more = start + PAGE_SIZE < len(listed)
    return shown, shown[-1].id if more and shown else None


def state_of(key: KeyView, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


async def _listing(
    viewer: ManagementPrincipal,
    project: Project,
    org: Organization,
    *,
    keys: KeyService,
    clock: Clock,
    cursor: str | None = None,
    form: Form | None = None,
    refusal: Refusal | None = None,
) -> Template:
    """The keys page; after a refused form, that form as it was typed and its error."""
    shown, next_cursor = page_of(await keys.list(viewer, project.id), cursor)
    now = clock.now()
    previous = project.previous
    return page(
        "keys.html",
        viewer,
        refusal=refusal,
        project=project,
        org=org,
        keys=[(k, state_of(k, now)) for k in shown],
        every_scope=SCOPES,
        previous=previous if previous is not None and previous.expires_at > now else None,
        next_cursor=next_cursor,
        first_page=cursor is None,
        can_write=viewer.can_write(project.org_id),
        values=form.values if form else {},
        ticked=form.every("scopes") if form else [],
    )
