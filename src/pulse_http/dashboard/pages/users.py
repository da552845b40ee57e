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
from pulse_core.ports.clock import Clock
from pulse_core.services.users import UserPatch, UserService
from pulse_http.dashboard.forms import Refusal, read_form
from pulse_http.dashboard.pages.context import OrgPage
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
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
        org_page: NamedDependency[OrgPage],
        users: NamedDependency[UserService],
        clock: NamedDependency[Clock],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        return await _users(org_page, users, clock, cursor=cursor)

    @post("/")
    async def invite(
        self,
        *,
        request: Req,
        org_page: NamedDependency[OrgPage],
        users: NamedDependency[UserService],
        clock: NamedDependency[Clock],
        settings: NamedDependency[Settings],
    ) -> Template:
        # A member's post is refused by ``users.invite`` (the service's rule), in the page.
        form = await read_form(request)
        try:
            data = form.to(InviteUser)
            invitation = await users.invite(
                org_page.viewer, org_page.org.id, email=data.email, role=data.role, name=data.name
            )
        except PulseError as exc:
            refusal = Refusal.of(exc)
            return await _users(org_page, users, clock, refusal=refusal, values=form.values)
        # The link the API's ``invite_url`` gives, built the same way.
        url = f"{settings.resolved_public_url}{ACCEPT_INVITE_PATH}?token={quote(invitation.token)}"
        return org_page.render(
            "users_invited.html",
            status=201,
            invited=UserOut.of(invitation.user),
            invite_url=url,
            replace_url=org_page.url("/users"),
        )

    @post("/{user_id:str}")
    async def update_user(
        self,
        *,
        request: Req,
        user_id: FromPath[str],
        org_page: NamedDependency[OrgPage],
        users: NamedDependency[UserService],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        form = await read_form(request)
        try:
            data = form.to(UpdateUser)
            patch = UserPatch(role=data.role, name=data.name)
            await users.update(org_page.viewer, org_page.org.id, user_id, patch)
        except PulseError as exc:
            refusal = Refusal.of(exc)
            return await _users(org_page, users, clock, refusal=refusal, refused_user=user_id)
        return Redirect(org_page.url("/users?notice=saved"), status_code=303)

    @post("/{user_id:str}/remove")
    async def remove_user(
        self,
        *,
        user_id: FromPath[str],
        org_page: NamedDependency[OrgPage],
        users: NamedDependency[UserService],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        try:
            await users.remove(org_page.viewer, org_page.org.id, user_id)
        except PulseError as exc:
            refusal = Refusal.of(exc)
            return await _users(org_page, users, clock, refusal=refusal, refused_user=user_id)
        return Redirect(org_page.url("/users?notice=removed"), status_code=303)


async def _users(
    org_page: OrgPage,
    users: UserService,
    clock: Clock,
    *,
    cursor: str | None = None,
    refusal: Refusal | None = None,
    values: dict[str, str] | None = None,
    refused_user: str | None = None,
) -> Template:
    """The users page; ``refused_user`` says which row's form a refusal answers (the
    invitation form's otherwise), so its message is shown there and nowhere else."""
    listed = await users.list(org_page.viewer, org_page.org.id, limit=PAGE_SIZE, cursor=cursor)
    now = clock.now()
    rows = [
        UserRow(
            user=UserOut.of(u),
            invite_expired=u.invite_expires_at is not None and u.invite_expires_at <= now,
        )
        for u in listed.items
    ]
    return org_page.render(
        "users.html",
        refusal=refusal,
        rows=rows,
        next_cursor=listed.next_cursor,
        roles=ROLES,
        values=values or {},
        refused_user=refused_user,
        base_url=org_page.url("/users"),
    )
