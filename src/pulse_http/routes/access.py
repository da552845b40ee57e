"""Users, sign-in, keys and the audit log (API.md, "Users and sign-in", "Projects" keys,
"Audit log"). The rules live in the services; these handlers translate."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from pulse_core.models import ManagementPrincipal
from pulse_core.models.audit import Actor, Caller
from pulse_core.services.audit import AuditService
from pulse_core.services.keys import KeyService
from pulse_core.services.sign_in import SignInService
from pulse_core.services.users import UserPatch, UserService
from pulse_http.auth import MANAGEMENT, Authenticators, client_info
from pulse_http.routes.params import Since, moment
from pulse_http.schemas.access import (
    AcceptInvite,
    AuditList,
    AuditRecordOut,
    CreateKey,
    InviteUser,
    KeyCreated,
    KeyList,
    KeyOut,
    SignedInOut,
    SignIn,
    UpdateUser,
    UserInvited,
    UserList,
    UserOut,
)
from pulse_http.settings import Settings

#: Where the dashboard takes an invitation (API.md: ``…/dashboard/accept-invite?token=``).
ACCEPT_INVITE_PATH = "/dashboard/accept-invite"


def anonymous_caller(request: Request[Any, Any, Any]) -> Caller:
    """A caller not signed in yet: where the request came from, for the audit log."""
    authenticators: Authenticators = request.app.state["authenticators"]
    client = request.scope.get("client")
    address = authenticators.client_address(request.headers, client[0] if client else None)
    return Caller(
        actor=Actor(type="user", id="unknown"),
        client=client_info(request.scope["state"], request.headers, address),
    )


class UsersController(Controller):
    path = "/v1/organizations/{org_id:str}/users"
    tags = ["users"]
    opt = MANAGEMENT

    @post("/", status_code=201)
    async def invite_user(
        self,
        org_id: FromPath[str],
        data: JSONBody[InviteUser],
        principal: NamedDependency[ManagementPrincipal],
        users: NamedDependency[UserService],
        settings: NamedDependency[Settings],
    ) -> UserInvited:
        """Invite someone into the organization (owners and admins).

        The answer holds the one-time invitation link (`invite_url`, valid 7 days): the
        invitee sets a password with it (`POST /v1/auth/accept-invite`). 409 when the
        email already belongs to a user."""
        invitation = await users.invite(
            principal, org_id, email=data.email, role=data.role, name=data.name
        )
        url = f"{settings.resolved_public_url}{ACCEPT_INVITE_PATH}?token={quote(invitation.token)}"
        out = UserOut.of(invitation.user)
        return UserInvited(**{f: getattr(out, f) for f in out.__struct_fields__}, invite_url=url)

    @get("/")
    async def list_users(
        self,
        org_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        users: NamedDependency[UserService],
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> UserList:
        """List the organization's users, invited ones included."""
        page = await users.list(principal, org_id, limit=limit, cursor=cursor)
        return UserList(items=[UserOut.of(u) for u in page.items], next_cursor=page.next_cursor)

    @patch("/{user_id:str}")
    async def update_user(
        self,
        org_id: FromPath[str],
        user_id: FromPath[str],
        data: JSONBody[UpdateUser],
        principal: NamedDependency[ManagementPrincipal],
        users: NamedDependency[UserService],
    ) -> UserOut:
        """Change a user's role or name; a role change signs them out everywhere."""
        patch_ = UserPatch(role=data.role, name=data.name)
        return UserOut.of(await users.update(principal, org_id, user_id, patch_))

    @delete("/{user_id:str}", status_code=204)
    async def remove_user(
        self,
        org_id: FromPath[str],
        user_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        users: NamedDependency[UserService],
    ) -> None:
        """Remove a user from the organization; their sessions end at once."""
        await users.remove(principal, org_id, user_id)


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["sign-in"]

    @post("/accept-invite", status_code=200, opt={"problems": (503,)})
    async def accept_invite(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[AcceptInvite],
        users: NamedDependency[UserService],
    ) -> UserOut:
        """Accept an invitation with a password; the link cannot be used again.

        `token` is the invitation link's `token` query parameter. An unknown, used or
        expired invitation is 400 `invalid_invitation`."""
        return UserOut.of(
            await users.accept(data.token, data.password, by=anonymous_caller(request))
        )

    @post("/login", status_code=200, opt={"problems": (401, 429, 503)})
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SignIn],
        sign_in: NamedDependency[SignInService],
    ) -> SignedInOut:
        """Sign in: a management token for the user's organization and role.

        Send it as `Authorization: Bearer <access_token>` until `expires_at` or sign-out.
        A wrong email or password is the same 401; repeated failures are throttled
        (429)."""
        signed = await sign_in.sign_in(data.email, data.password, by=anonymous_caller(request))
        return SignedInOut(
            access_token=signed.access_token,
            expires_at=signed.expires_at,
            user=UserOut.of(signed.user),
        )

    @post("/logout", status_code=204, opt=MANAGEMENT)
    async def logout(
        self,
        principal: NamedDependency[ManagementPrincipal],
        sign_in: NamedDependency[SignInService],
    ) -> None:
        """Sign out: this sign-in's token stops working at once."""
        await sign_in.sign_out(principal)


class KeysController(Controller):
    path = "/v1/projects/{project_id:str}/keys"
    tags = ["projects"]
    opt = MANAGEMENT

    @post("/", status_code=201)
    async def create_key(
        self,
        project_id: FromPath[str],
        data: JSONBody[CreateKey],
        principal: NamedDependency[ManagementPrincipal],
        keys: NamedDependency[KeyService],
    ) -> KeyCreated:
        """Create another key pair for the project, with optional scopes and expiry.

        One per service or environment of the customer. `api_secret` is shown this once.
        `scopes` omitted or empty: every scope."""
        issued = await keys.create(
            principal, project_id, name=data.name, scopes=data.scopes, expires_at=data.expires_at
        )
        out = KeyOut.of(issued.key)
        return KeyCreated(
            **{f: getattr(out, f) for f in out.__struct_fields__}, api_secret=issued.api_secret
        )

    @get("/")
    async def list_keys(
        self,
        project_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        keys: NamedDependency[KeyService],
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> KeyList:
        """List the project's keys with when each was last used (never a secret).

        The first key, then the others oldest first, revoked and expired ones too."""
        page = await keys.page(principal, project_id, limit=limit, cursor=cursor)
        return KeyList(items=[KeyOut.of(k) for k in page.items], next_cursor=page.next_cursor)

    @delete("/{key_id:str}", status_code=204)
    async def revoke_key(
        self,
        project_id: FromPath[str],
        key_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        keys: NamedDependency[KeyService],
    ) -> None:
        """Revoke a key at once.

        The project's first key cannot be revoked (409): rotate it with
        `POST /v1/projects/{project_id}/regenerate-keys`."""
        await keys.revoke(principal, project_id, key_id)


class AuditController(Controller):
    path = "/v1/organizations/{org_id:str}/audit-log"
    tags = ["audit"]
    opt = MANAGEMENT

    @get("/")
    async def list_audit_log(
        self,
        *,
        org_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        audit: NamedDependency[AuditService],
        action: FromQuery[str | None] = None,
        resource_id: FromQuery[str | None] = None,
        since: Since = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> AuditList:
        """List the organization's audit log, newest first: who changed what, and every
        sign-in."""
        page = await audit.list(
            principal,
            org_id,
            action=action,
            resource_id=resource_id,
            since=moment(since, "since"),
            limit=limit,
            cursor=cursor,
        )
        return AuditList(
            items=[AuditRecordOut.of(r) for r in page.items], next_cursor=page.next_cursor
        )
