"""What a sign-in meets while it runs: a demotion or removal made during the slow password
check wins, an organization deleted ends its users' sessions, and an owner who never
accepted their invitation can be withdrawn."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from pulse_adapters.argon2 import Argon2PasswordHasher
from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import (
    InMemoryAuditRepository,
    InMemoryLocks,
    InMemoryOrganizationRepository,
    InMemoryProjectRepository,
    InMemoryRateLimiter,
    InMemorySessionRepository,
    InMemoryUserRepository,
)
from pulse_core.errors import Unauthenticated
from pulse_core.models import ManagementPrincipal
from pulse_core.models.audit import SYSTEM
from pulse_core.ports.rate_limit import RateLimit
from pulse_core.services import OrganizationService
from pulse_core.services.authentication import ManagementAuthenticator
from pulse_core.services.credential_cache import CredentialCache, CredentialCachingProjectRepository
from pulse_core.services.sessions import SessionGuard
from pulse_core.services.sign_in import SignInService
from pulse_core.services.throttling import FailedAuthThrottle
from pulse_core.services.users import UserPatch, UserService

ADMIN = ManagementPrincipal.system()
PASSWORD = "correct horse battery staple"


class PausingHasher(Argon2PasswordHasher):
    """Cheap argon2 whose verify waits for the test once ``armed``."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.armed = False
        self.inside = asyncio.Event()
        self.go_on = asyncio.Event()

    async def verify(self, password_hash: str, password: str) -> bool:
        if self.armed:
            self.inside.set()
            await self.go_on.wait()
        return await super().verify(password_hash, password)


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(datetime(2026, 12, 1, tzinfo=UTC))
        audit = InMemoryAuditRepository()
        self.orgs_repo = InMemoryOrganizationRepository(audit_log=audit)
        projects = CredentialCachingProjectRepository(
            InMemoryProjectRepository(audit_log=audit), CredentialCache(self.clock)
        )
        users = InMemoryUserRepository(audit_log=audit)
        self.guard = SessionGuard(InMemorySessionRepository(audit_log=audit), self.clock)
        self.hasher = PausingHasher()
        self.tokens = ManagementAuthenticator("x" * 32, self.clock)
        self.users = UserService(
            users,
            self.orgs_repo,
            self.guard,
            self.hasher,
            self.clock,
            locks=InMemoryLocks(),
            pepper=b"p" * 32,
        )
        self.orgs = OrganizationService(
            self.orgs_repo,
            projects,
            self.clock,
            on_deleted=self.users.end_organization,
        )
        limit = RateLimit(requests=100, period_seconds=60, burst=100)
        self.sign_in = SignInService(
            users,
            self.guard,
            self.hasher,
            organizations=self.orgs_repo,
            tokens=self.tokens,
            records=audit,
            throttle=FailedAuthThrottle(InMemoryRateLimiter(self.clock), self.clock, limit=limit),
            clock=self.clock,
        )

    async def member(self, org_id: str, email: str, role: str) -> str:
        invitation = await self.users.invite(ADMIN, org_id, email=email, role=role)
        await self.users.accept(invitation.token, PASSWORD)
        return invitation.user.id


async def test_a_demotion_during_the_password_check_wins() -> None:
    world = World()
    org = await world.orgs.create(ADMIN, name="Acme", admin_email="ops@acme.test")
    await world.member(org.id, "first@acme.test", "owner")
    second = await world.member(org.id, "second@acme.test", "owner")
    world.hasher.armed = True
    signing_in = asyncio.create_task(world.sign_in.sign_in("second@acme.test", PASSWORD, by=SYSTEM))
    await world.hasher.inside.wait()
    await world.users.update(ADMIN, org.id, second, UserPatch(role="member"))
    world.hasher.go_on.set()
    signed = await signing_in
    principal = world.tokens.authenticate(signed.access_token)
    assert principal.role == "member" and signed.user.role == "member"
    await world.guard.check(principal)
    stored = await world.users.get(ADMIN, org.id, second)
    assert stored.role == "member" and stored.last_login_at == world.clock.now()


async def test_a_removal_during_the_password_check_refuses_the_sign_in() -> None:
    world = World()
    org = await world.orgs.create(ADMIN, name="Acme", admin_email="ops@acme.test")
    await world.member(org.id, "owner@acme.test", "owner")
    gone = await world.member(org.id, "gone@acme.test", "member")
    world.hasher.armed = True
    signing_in = asyncio.create_task(world.sign_in.sign_in("gone@acme.test", PASSWORD, by=SYSTEM))
    await world.hasher.inside.wait()
    await world.users.remove(ADMIN, org.id, gone)
    world.hasher.go_on.set()
    with pytest.raises(Unauthenticated):
        await signing_in


async def test_deleting_the_organization_ends_its_users_sessions_and_sign_ins() -> None:
    world = World()
    org = await world.orgs.create(ADMIN, name="Acme", admin_email="ops@acme.test")
    await world.member(org.id, "owner@acme.test", "owner")
    signed = await world.sign_in.sign_in("owner@acme.test", PASSWORD, by=SYSTEM)
    principal = world.tokens.authenticate(signed.access_token)
    await world.guard.check(principal)
    await world.orgs.delete(ADMIN, org.id)
    with pytest.raises(Unauthenticated):
        await world.guard.check(principal)
    with pytest.raises(Unauthenticated):
        await world.sign_in.sign_in("owner@acme.test", PASSWORD, by=SYSTEM)


async def test_an_owner_who_never_accepted_can_be_withdrawn() -> None:
    world = World()
    org = await world.orgs.create(ADMIN, name="Acme", admin_email="ops@acme.test")
    typo = await world.users.invite(ADMIN, org.id, email="ownr@acme.test", role="owner")
    await world.users.remove(ADMIN, org.id, typo.user.id)
    again = await world.users.invite(ADMIN, org.id, email="owner@acme.test", role="owner")
    updated = await world.users.update(ADMIN, org.id, again.user.id, UserPatch(role="member"))
    assert updated.role == "member"
