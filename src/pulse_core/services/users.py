"""Users of an organization (API.md, "Users and sign-in"): invitations, accepting one
with a password, role changes and removal, and platform admins made by the operator.

An invitation is a one-time secret valid 7 days: the link carries ``<user id>.<secret>``
and Pulse keeps only a peppered hash of the secret, compared in constant time; accepting
clears it. Changing a user's role or removing them revokes their sessions at once (the
session check is what makes a signed-in token stop working, not its expiry).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Final

import msgspec

from pulse_core import ids
from pulse_core.crypto import credentials
from pulse_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from pulse_core.models import ManagementPrincipal, Organization, Page
from pulse_core.models.audit import SYSTEM, AuditRecord, Caller
from pulse_core.models.user import User, UserRole
from pulse_core.ports.clock import Clock
from pulse_core.ports.locks import Locks
from pulse_core.ports.passwords import PasswordHasher
from pulse_core.ports.repositories import OrganizationRepository
from pulse_core.ports.users import UserRepository
from pulse_core.services import audit, pagination, validation
from pulse_core.services.sessions import SessionGuard

INVITATION_TTL: Final = timedelta(days=7)
MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 256
_ORG_ROLES: Final = ("owner", "member")
#: The owners lock (UserService._owners_held) is held for a few reads and one write.
OWNERS_LOCK_LEASE_SECONDS: Final = 30.0
OWNERS_LOCK_WAIT_SECONDS: Final = 10.0
INVALID_INVITATION = "this invitation is not valid (used, expired or unknown)"


class Invitation(msgspec.Struct, frozen=True, kw_only=True):
    """An invited user and the one-time token of their invitation link."""

    user: User
    token: str

    def __repr__(self) -> str:
        return f"Invitation(user={self.user!r})"


class InvitationView(msgspec.Struct, frozen=True, kw_only=True):
    """What an invitation link offers, for the page that accepts it: who is invited,
    into which organization (None for a platform admin), as what, until when."""

    email: str
    organization: str | None
    role: UserRole
    expires_at: datetime


class UserPatch(msgspec.Struct, frozen=True, kw_only=True):
    role: str | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET


def check_password(password: str) -> str:
    """At least :data:`MIN_PASSWORD_LENGTH` characters, at most
    :data:`MAX_PASSWORD_LENGTH`; any characters (pass phrases welcome)."""
    if not isinstance(password, str) or not (
        MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH
    ):
        raise InvalidInput(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            field="password",
        )
    if not password.strip():
        raise InvalidInput("password must not be only spaces", field="password")
    return password


def _owns(user: User) -> bool:
    """Counts as an owner of its organization: the organization keeps at least one."""
    return user.role == "owner" and user.is_active


def _role(value: str) -> UserRole:
    if value not in _ORG_ROLES:
        raise InvalidInput("role must be owner or member", field="role")
    return value  # type: ignore[return-value]


class UserService:
    def __init__(
        self,
        users: UserRepository,
        organizations: OrganizationRepository,
        sessions: SessionGuard,
        passwords: PasswordHasher,
        clock: Clock,
        *,
        locks: Locks,
        pepper: bytes,
    ) -> None:
        self._locks = locks
        self._users = users
        self._orgs = organizations
        self._sessions = sessions
        self._passwords = passwords
        self._clock = clock
        self._secrets = credentials.SecretHasher(pepper)

    async def invite(
        self, actor: ManagementPrincipal, org_id: str, *, email: str, role: str, name: str = ""
    ) -> Invitation:
        """Owners and admins invite; ``Conflict`` on ``email`` if a user has it."""
        await self._check_writer(actor, org_id)
        now = self._clock.now()
        secret = secrets.token_urlsafe(32)
        user = User(
            id=ids.new_id(ids.USER, now_ms=ids.ms_of(now)),
            email=validation.email(email),
            org_id=org_id,
            name=validation.text(name, "name", max_length=validation.MAX_NAME) if name else "",
            role=_role(role),
            invite_hash=self._secrets.hash(secret),
            invite_expires_at=now + INVITATION_TTL,
            created_at=now,
            updated_at=now,
        )
        await self._users.add(user, audit=self._record(actor, "user.invited", user))
        return Invitation(user=user, token=f"{user.id}.{secret}")

    async def invitation(self, token: str) -> InvitationView:
        """What an invitation link is for, shown before its password is chosen;
        ``InvalidInput`` (``invalid_invitation``) when it could not be accepted."""
        user, org = await self._invited(token, self._clock.now())
        assert user.invite_expires_at is not None  # checked by _invited
        return InvitationView(
            email=user.email,
            organization=org.name if org is not None else None,
            role=user.role,
            expires_at=user.invite_expires_at,
        )

    async def _invited(self, token: str, now: datetime) -> tuple[User, Organization | None]:
        """The user ``token`` invites and their organization, or ``InvalidInput``."""
        user_id, _, secret = token.partition(".") if isinstance(token, str) else ("", "", "")
        user = await self._users.get(user_id) if ids.is_valid_id(user_id, ids.USER) else None
        org = None
        if user is not None and user.org_id is not None:
            org = await self._orgs.get(user.org_id)
        if (
            user is None
            or (user.org_id is not None and org is None)
            or user.invite_hash is None
            or user.invite_expires_at is None
            or now >= user.invite_expires_at
            or not self._secrets.matches(secret, user.invite_hash)
        ):
            raise InvalidInput(INVALID_INVITATION, field="token", code="invalid_invitation")
        return user, org

    async def accept(self, token: str, password: str, *, by: Caller = SYSTEM) -> User:
        """Set the invited user's password; the invitation cannot be used again."""
        check_password(password)
        now = self._clock.now()
        user, _ = await self._invited(token, now)
        password_hash = await self._passwords.hash(password)

        def accept(stored: User) -> User:
            # The hash above is slow: the same link may have been used meanwhile.
            if stored.invite_hash != user.invite_hash:
                raise InvalidInput(INVALID_INVITATION, field="token", code="invalid_invitation")
            return msgspec.structs.replace(
                stored,
                password_hash=password_hash,
                invite_hash=None,
                invite_expires_at=None,
                updated_at=now,
            )

        record = audit.audit_record(
            self._clock,
            msgspec.structs.replace(by.actor, type="user", id=user.id, email=user.email),
            "user.invite_accepted",
            resource_type="user",
            resource_id=user.id,
            org_id=user.org_id,
            client=by.client,
        )
        accepted = await self._users.change(user.id, accept, audit=record)
        if accepted is None:  # removed meanwhile
            raise InvalidInput(INVALID_INVITATION, field="token", code="invalid_invitation")
        return accepted

    async def create_admin(self, email: str, password: str) -> User:
        """A platform admin who can sign in (``pulse create-admin``)."""
        now = self._clock.now()
        user = User(
            id=ids.new_id(ids.USER, now_ms=ids.ms_of(now)),
            email=validation.email(email),
            org_id=None,
            role="admin",
            password_hash=await self._passwords.hash(check_password(password)),
            created_at=now,
            updated_at=now,
        )
        actor = ManagementPrincipal.system()
        await self._users.add(user, audit=self._record(actor, "user.admin_created", user))
        return user

    async def list(
        self,
        actor: ManagementPrincipal,
        org_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[User]:
        await self._check_reader(actor, org_id)
        size = pagination.check_limit(limit)
        after = pagination.check_cursor(cursor, ids.USER)
        rows = await self._users.list_page(org_id=org_id, after=after, limit=size + 1)
        return pagination.page_of(rows, size, lambda u: u.id)

    async def get(self, actor: ManagementPrincipal, org_id: str, user_id: str) -> User:
        await self._check_reader(actor, org_id)
        user = await self._users.get(user_id) if ids.is_valid_id(user_id, ids.USER) else None
        if user is None or user.org_id != org_id:
            raise NotFound("user not found")
        return user

    async def update(
        self, actor: ManagementPrincipal, org_id: str, user_id: str, patch: UserPatch
    ) -> User:
        """Owners and admins change a user's role or name; a role change signs the user
        out everywhere. The organization keeps at least one owner."""
        await self._check_writer(actor, org_id)
        user = await self.get(actor, org_id, user_id)
        changes: dict[str, object] = {}
        if patch.name is not msgspec.UNSET:
            changes["name"] = validation.text(patch.name, "name", max_length=validation.MAX_NAME)
        if patch.role is not msgspec.UNSET:
            changes["role"] = _role(patch.role)
        now = self._clock.now()

        def apply(stored: User) -> User:
            if all(getattr(stored, name) == value for name, value in changes.items()):
                return stored
            return msgspec.structs.replace(stored, updated_at=now, **changes)

        if "role" not in changes:
            return await self._change(org_id, user, apply, actor, "user.updated")
        async with self._owners_held(org_id):
            updated = await self._change(org_id, user, apply, actor, "user.updated")
        if updated.role != user.role:
            await self._sessions.end_all(user.id)
        return updated

    async def remove(self, actor: ManagementPrincipal, org_id: str, user_id: str) -> None:
        """Remove the user; their sessions end at once."""
        await self._check_writer(actor, org_id)
        user = await self.get(actor, org_id, user_id)
        now = self._clock.now()

        def apply(stored: User) -> User:
            return msgspec.structs.replace(
                stored, removed_at=now, updated_at=now, invite_hash=None, invite_expires_at=None
            )

        async with self._owners_held(org_id):
            await self._change(org_id, user, apply, actor, "user.removed")
        await self._sessions.end_all(user.id)

    async def _change(
        self,
        org_id: str,
        user: User,
        apply: Callable[[User], User],
        actor: ManagementPrincipal,
        action: str,
    ) -> User:
        """``apply`` to the user as stored now (``UserRepository.change``), refused if it
        would take away the organization's last active owner. A caller whose ``apply``
        may take an owner away holds :meth:`_owners_held` around this."""
        fresh = await self._users.get(user.id)
        if fresh is not None and _owns(fresh) and not _owns(apply(fresh)):
            await self._keep_an_owner(org_id, fresh)
        changed = await self._users.change(user.id, apply, audit=self._record(actor, action, user))
        if changed is None:
            raise NotFound("user not found")
        return changed

    def _owners_held(self, org_id: str) -> AbstractAsyncContextManager[None]:
        """The organization's owners stay as they are inside: every change that may leave
        it an owner fewer (a role change, a removal) holds this lock while it checks that
        another active owner remains and writes; nothing else takes an owner away."""
        return self._locks.hold(
            f"users:owners:{org_id}",
            lease_seconds=OWNERS_LOCK_LEASE_SECONDS,
            wait_seconds=OWNERS_LOCK_WAIT_SECONDS,
        )

    async def _keep_an_owner(self, org_id: str, leaving: User) -> None:
        async for user in self._members(org_id):
            if user.id != leaving.id and _owns(user):
                return
        raise Conflict(
            "an organization keeps at least one owner who has signed up", code="last_owner"
        )

    async def _members(self, org_id: str) -> AsyncIterator[User]:
        """Every user of the organization, a page at a time."""
        after = None
        while True:
            page = await self._users.list_page(org_id=org_id, after=after, limit=200)
            for user in page:
                yield user
            if len(page) < 200:
                return
            after = page[-1].id

    async def end_organization(self, org_id: str) -> None:
        """End every session of the organization's users (it was deleted)."""
        async for user in self._members(org_id):
            await self._sessions.end_all(user.id)

    async def _check_reader(self, actor: ManagementPrincipal, org_id: str) -> None:
        if not ids.is_valid_id(org_id, ids.ORGANIZATION) or not actor.can_read(org_id):
            raise NotFound("organization not found")
        if await self._orgs.get(org_id) is None:
            raise NotFound("organization not found")

    async def _check_writer(self, actor: ManagementPrincipal, org_id: str) -> None:
        await self._check_reader(actor, org_id)
        if not actor.can_write(org_id):
            raise PermissionDenied("members may not manage users")

    def _record(self, actor: ManagementPrincipal, action: str, user: User) -> AuditRecord:
        return audit.by(
            self._clock,
            actor,
            action,
            resource_type="user",
            resource_id=user.id,
            org_id=user.org_id,
        )
