"""An organization's users: who they are and whether they have signed up; owners and
admins invite people (the one-time link shown once), change a role, remove a user.

The same calls as ``/v1/organizations/{org_id}/users`` (:class:`UsersController`): the
service decides who may do what (members are refused; the last owner who has signed up
stays), the pages only decide which forms to show.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.models import ManagementPrincipal
from pulse_core.ports.clock import Clock
from pulse_core.services import OrganizationService
from pulse_core.services.users import UserPatch, UserService
from pulse_http.dashboard.forms import Refusal, read_form
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.rendering import page
from pulse_http.dashboard.session import PATH
from pulse_http.routes.access import ACCEPT_INVITE_PATH
from pulse_http.schemas.access import InviteUser, UpdateUser, UserOut
from pulse_http.settings import Settings

Req = Request[Any, Any, Any]
#: The roles an organization's user can be given (the service checks; this fills the
#: select).
ROLES = ("member", "owner")


class UserRow(msgspec.Struct, frozen=True, kw_only=True):
    """A user as the API shows them, and whether their invitation has run out (an owner
    then removes and invites them again)."""

    user: UserOut
    invite_expired: bool


class UserPages(Controller):
    path = f"{PATH}/organizations/{{org_id:str}}/users"

    @get("/")
    async def users_page(
        self,
        *,
        org_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        users: NamedDependency[UserService],
        clock: NamedDependency[Clock],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        return await _users(
            viewer, org_id, organizations=organizations, users=users, clock=clock, cursor=cursor
        )

    @post("/")
    async def invite(
        self,
        *,
        request: Req,
        org_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        users: NamedDependency[UserService],
        clock: NamedDependency[Clock],
        settings: NamedDependency[Settings],
    ) -> Template:
        form = await read_form(request)
        try:
            data = form.to(InviteUser)
            invitation = await users.invite(
                viewer, org_id, email=data.email, role=data.role, name=data.name
            )
        except PulseError as exc:
            return await _users(
                viewer,
                org_id,
                organizations=organizations,
                users=users,
                clock=clock,
                refusal=Refusal.of(exc),
                values=form.values,
            )
        # The link the API's ``invite_url`` gives, built the same way.
        url = f"{settings.resolved_public_url}{ACCEPT_INVITE_PATH}?token={quote(invitation.token)}"
        return page(
            "users_invited.html",
            viewer,
            status=201,
            org=await organizations.get(viewer, org_id),
            invited=UserOut.of(invitation.user),
            invite_url=url,
            replace_url=_url(org_id),
        )

    @post("/{user_id:str}")
    async def update_user(
        self,
        *,
        request: Req,
        org_id: FromPath[str],
        user_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        users: NamedDependency[UserService],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        form = await read_form(request)
        try:
            data = form.to(UpdateUser)
            await users.update(viewer, org_id, user_id, UserPatch(role=data.role, name=data.name))
        except PulseError as exc:
            return await _users(
                viewer,
                org_id,
                organizations=organizations,
                users=users,
                clock=clock,
                refusal=Refusal.of(exc),
                refused_user=user_id,
            )
        return Redirect(f"{_url(org_id)}?notice=saved", status_code=303)

    @post("/{user_id:str}/remove")
    async def remove_user(
        self,
        *,
        org_id: FromPath[str],
        user_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        users: NamedDependency[UserService],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        try:
            await users.remove(viewer, org_id, user_id)
        except PulseError as exc:
            return await _users(
                viewer,
                org_id,
                organizations=organizations,
                users=users,
                clock=clock,
                refusal=Refusal.of(exc),
                refused_user=user_id,
            )
        return Redirect(f"{_url(org_id)}?notice=removed", status_code=303)


def _url(org_id: str) -> str:
    return f"{PATH}/organizations/{org_id}/users"


async def _users(
    viewer: ManagementPrincipal,
    org_id: str,
    *,
    organizations: OrganizationService,
    users: UserService,
    clock: Clock,
    cursor: str | None = None,
    refusal: Refusal | None = None,
    values: dict[str, str] | None = None,
    refused_user: str | None = None,
) -> Template:
    """The users page; ``refused_user`` says which row's form a refusal answers (the
    invitation form's otherwise), so its message is shown there and nowhere else."""
    org = await organizations.get(viewer, org_id)
    listed = await users.list(viewer, org.id, limit=PAGE_SIZE, cursor=cursor)
    now = clock.now()
    rows = [
        UserRow(
            user=UserOut.of(u),
            invite_expired=u.invite_expires_at is not None and u.invite_expires_at <= now,
        )
        for u in listed.items
    ]
    return page(
        "users.html",
        viewer,
        refusal=refusal,
        org=org,
        rows=rows,
        next_cursor=listed.next_cursor,
        roles=ROLES,
        can_write=viewer.can_write(org.id),
        values=values or {},
        refused_user=refused_user,
        base_url=_url(org.id),
    )
