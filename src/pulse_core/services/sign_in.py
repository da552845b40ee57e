"""Signing in and out (API.md, "Users and sign-in").

A sign-in checks the password with the slow hash and, on success, starts a session and
mints a management JWT for the user's organization and role carrying the session id.
An unknown email, a user who has not accepted their invitation, a removed user and a
wrong password are all the same 401 after the same work: a dummy hash is verified when
there is no real one. Failures are throttled per email and per client address, and every
attempt, failed or not, is in the audit log (the email typed, never the password).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import msgspec

from pulse_core import ids
from pulse_core.errors import InvalidInput, Unauthenticated
from pulse_core.models import ManagementPrincipal
from pulse_core.models.audit import Actor, Caller
from pulse_core.models.user import Session, User
from pulse_core.ports.audit import AuditRepository
from pulse_core.ports.clock import Clock
from pulse_core.ports.passwords import PasswordHasher
from pulse_core.ports.repositories import OrganizationRepository
from pulse_core.ports.users import UserRepository
from pulse_core.services import audit, validation
from pulse_core.services.authentication import ManagementAuthenticator
from pulse_core.services.sessions import SessionGuard
from pulse_core.services.throttling import FailedAuthThrottle
from pulse_core.services.users import MAX_PASSWORD_LENGTH

DEFAULT_SESSION_SECONDS: Final = 8 * 3600
INVALID_SIGN_IN = "invalid email or password"


class SignedIn(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    expires_at: datetime
    user: User

    def __repr__(self) -> str:
        return f"SignedIn(user={self.user!r}, expires_at={self.expires_at!r})"


class SignInService:
    def __init__(
        self,
        users: UserRepository,
        sessions: SessionGuard,
        passwords: PasswordHasher,
        *,
        organizations: OrganizationRepository,
        tokens: ManagementAuthenticator,
        records: AuditRepository,
        throttle: FailedAuthThrottle,
        clock: Clock,
        session_seconds: int = DEFAULT_SESSION_SECONDS,
    ) -> None:
        if not 0 < session_seconds <= tokens.max_ttl_seconds:
            raise ValueError("session_seconds must be within the management token lifetime")
        self._users = users
        self._orgs = organizations
        self._sessions = sessions
        self._passwords = passwords
        self._tokens = tokens
        self._records = records
        self._throttle = throttle
        self._clock = clock
        self._session_seconds = session_seconds
        self._dummy_hash: str | None = None

    async def sign_in(self, email: str, password: str, *, by: Caller) -> SignedIn:
        client = (by.client.ip if by.client else None) or "unknown"
        address = _normalized(email)
        self._throttle.check(f"ip:{client}")
        self._throttle.check(f"email:{address}", whose="for this email")
        user = await self._users.get_by_email(address) if address else None
        if user is not None and user.is_active and user.password_hash is not None:
            ok = await self._passwords.verify(user.password_hash, _bounded(password))
        else:
            # The same slow work as a real check, so that timing says nothing.
            await self._passwords.verify(await self._dummy(), _bounded(password))
            ok = False
        if ok and user is not None:
            # Read again after the slow check: a removal, a role change or a new
            # password made meanwhile wins over what was read before it.
            fresh = await self._users.get(user.id)
            if (
                fresh is not None
                and fresh.password_hash == user.password_hash
                and fresh.is_active
                and await self._organization_live(fresh)
            ):
                return await self._start(fresh, password, by)
        await self._failed(address, client, user, by)
        raise Unauthenticated(INVALID_SIGN_IN, code="invalid_sign_in")

    async def sign_out(self, principal: ManagementPrincipal) -> None:
        """End the principal's session; a token without one has nothing to end."""
        if principal.session_id is None:
            return
        record = audit.by(
            self._clock,
            principal,
            "user.signed_out",
            resource_type="user",
            resource_id=principal.user_id,
            org_id=principal.org_id,
        )
        await self._sessions.end(principal.session_id, audit=record)

    async def _start(self, user: User, password: str, by: Caller) -> SignedIn:
        now = self._clock.now()
        session = Session(
            id=ids.new_id(ids.SESSION, now_ms=ids.ms_of(now)),
            user_id=user.id,
            org_id=user.org_id,
            role=user.role,
            created_at=now,
            expires_at=now + timedelta(seconds=self._session_seconds),
        )
        actor = Actor(type="user", id=user.id, email=user.email)
        record = audit.audit_record(
            self._clock,
            actor,
            "user.signed_in",
            resource_type="user",
            resource_id=user.id,
            org_id=user.org_id,
            client=by.client,
        )
        await self._sessions.start(session, audit=record)
        # A role change or removal ends the user's sessions after writing the user: one
        # that wrote before this session existed is seen here, one after ends it.
        current = await self._users.get(user.id)
        if current is None or (current.role, current.org_id) != (user.role, user.org_id):
            await self._sessions.end(session.id)
            raise Unauthenticated(INVALID_SIGN_IN, code="invalid_sign_in")
        rehashed = None
        if user.password_hash is not None and self._passwords.needs_rehash(user.password_hash):
            rehashed = await self._passwords.hash(password)
        await self._users.record_sign_in(user.id, now, password_hash=rehashed)
        user = msgspec.structs.replace(
            current, last_login_at=now, password_hash=rehashed or current.password_hash
        )
        token = self._tokens.mint(
            user.id,
            role=user.role,
            org_id=user.org_id,
            ttl_seconds=self._session_seconds,
            session_id=session.id,
            email=user.email,
        )
        return SignedIn(access_token=token, expires_at=session.expires_at, user=user)

    async def _failed(self, address: str, client: str, user: User | None, by: Caller) -> None:
        record = audit.audit_record(
            self._clock,
            Actor(type="user", id=user.id if user else "unknown", email=address or None),
            "user.sign_in_failed",
            resource_type="user",
            resource_id=user.id if user else None,
            org_id=user.org_id if user else None,
            client=by.client,
        )
        await self._records.add(record)
        await self._throttle.failed(f"ip:{client}")
        if address:
            await self._throttle.failed(f"email:{address}")

    async def _organization_live(self, user: User) -> bool:
        return user.org_id is None or await self._orgs.get(user.org_id) is not None

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._passwords.hash("pulse-dummy-password-for-timing")
        return self._dummy_hash


def _normalized(email: str) -> str:
    """The email as stored, or "" when it cannot be one (then no user has it)."""
    try:
        return validation.email(email) if isinstance(email, str) else ""
    except InvalidInput:
        return ""


def _bounded(password: str) -> str:
    # A megabyte "password" must not buy a megabyte of hashing: anything longer than a
    # valid password is checked as its prefix, which cannot match a real one of that
    # length either way.
    return password[: MAX_PASSWORD_LENGTH + 1] if isinstance(password, str) else ""
