"""Concurrent changes of organizations, users, projects and keys: none is lost, one
invitation is accepted once, two owners demoting each other at once leave the
organization an owner, a project's settings changed while its keys are rotated or while
it is deleted keep the new keys and stay deleted, an organization renamed while it is
deleted stays deleted, a key revoked twice at once is revoked (and audited) once, and
keys created at once stay within the cap.

The repositories here yield to the event loop on every read, as a real backend's I/O
does, so that concurrent requests interleave between reading and writing: the
interleaving the old read-then-write code went wrong in.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from pulse_adapters.argon2 import Argon2PasswordHasher
from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import (
    InMemoryApiKeyRepository,
    InMemoryAuditRepository,
    InMemoryLocks,
    InMemoryOrganizationRepository,
    InMemoryProjectRepository,
    InMemorySessionRepository,
    InMemoryUserRepository,
)
from pulse_core.errors import Conflict, InvalidInput, NotFound
from pulse_core.models import ManagementPrincipal, Organization, Project
from pulse_core.models.keys import ApiKey
from pulse_core.models.user import User
from pulse_core.services import OrganizationService, ProjectService
from pulse_core.services.keys import MAX_KEYS_PER_PROJECT, KeyService
from pulse_core.services.organizations import OrganizationPatch
from pulse_core.services.projects import ProjectPatch
from pulse_core.services.sessions import SessionGuard
from pulse_core.services.users import UserPatch, UserService
from tests.support import builders
from tests.support.urls import url_guard_for_tests

ADMIN = ManagementPrincipal.system()
PASSWORD = "correct horse battery staple"


class YieldingUsers(InMemoryUserRepository):
    """Every read lets the other tasks run between reading and answering, as the answer
    of a database on the network is on its way."""

    async def get(self, user_id: str) -> User | None:
        user = await super().get(user_id)
        await asyncio.sleep(0)
        return user

    async def list_page(self, *, org_id: str, after: str | None, limit: int) -> list[User]:
        users = await super().list_page(org_id=org_id, after=after, limit=limit)
        await asyncio.sleep(0)
        return users


class YieldingKeys(InMemoryApiKeyRepository):
    """As :class:`YieldingUsers`, for keys."""

    async def get(self, project_id: str, key_id: str) -> ApiKey | None:
        key = await super().get(project_id, key_id)
        await asyncio.sleep(0)
        return key

    async def list_for_project(self, project_id: str) -> list[ApiKey]:
        keys = await super().list_for_project(project_id)
        await asyncio.sleep(0)
        return keys


class YieldingOrganizations(InMemoryOrganizationRepository):
    """As :class:`YieldingUsers`, for organizations."""

    async def get(self, org_id: str) -> Organization | None:
        org = await super().get(org_id)
        await asyncio.sleep(0)
        return org


class YieldingProjects(InMemoryProjectRepository):
    """As :class:`YieldingUsers`, for projects."""

    async def get(self, project_id: str) -> Project | None:
        project = await super().get(project_id)
        await asyncio.sleep(0)
        return project


class World:
    def __init__(self) -> None:
        clock = ManualClock(datetime(2026, 12, 1, tzinfo=UTC))
        self.audit = audit = InMemoryAuditRepository()
        self.orgs = YieldingOrganizations(audit_log=audit)
        projects = YieldingProjects(audit_log=audit)
        self.organizations = OrganizationService(self.orgs, projects, clock)
        self.projects = ProjectService(
            self.orgs,
            projects,
            clock,
            pepper=b"p" * 32,
            webhook_urls=url_guard_for_tests(),
        )
        self.keys = KeyService(
            YieldingKeys(audit_log=audit),
            self.projects,
            clock,
            locks=InMemoryLocks(),
            pepper=b"p" * 32,
        )
        self.repo = YieldingUsers(audit_log=audit)
        self.users = UserService(
            self.repo,
            self.orgs,
            SessionGuard(InMemorySessionRepository(audit_log=audit), clock),
            Argon2PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
            clock,
            locks=InMemoryLocks(),
            pepper=b"p" * 32,
        )

    async def org(self) -> str:
        org = builders.org()
        await self.orgs.add(org)
        return org.id

    async def member(self, org_id: str, email: str, role: str) -> str:
        invitation = await self.users.invite(ADMIN, org_id, email=email, role=role)
        await self.users.accept(invitation.token, PASSWORD)
        return invitation.user.id


async def test_two_owners_demoting_each_other_at_once_leave_one_owner() -> None:
    world = World()
    org_id = await world.org()
    first = await world.member(org_id, "first@acme.test", "owner")
    second = await world.member(org_id, "second@acme.test", "owner")
    results = await asyncio.gather(
        world.users.update(ADMIN, org_id, first, UserPatch(role="member")),
        world.users.update(ADMIN, org_id, second, UserPatch(role="member")),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == 1 and refused[0].code == "last_owner"
    roles = sorted(u.role for u in (await world.users.list(ADMIN, org_id)).items)
    assert roles == ["member", "owner"]


async def test_removing_two_owners_at_once_leaves_one() -> None:
    world = World()
    org_id = await world.org()
    first = await world.member(org_id, "first@acme.test", "owner")
    second = await world.member(org_id, "second@acme.test", "owner")
    results = await asyncio.gather(
        world.users.remove(ADMIN, org_id, first),
        world.users.remove(ADMIN, org_id, second),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    owners = [u for u in (await world.users.list(ADMIN, org_id)).items if u.role == "owner"]
    assert len(owners) == 1 and owners[0].id in (first, second)


async def test_a_rename_and_a_role_change_at_once_both_land() -> None:
    world = World()
    org_id = await world.org()
    await world.member(org_id, "owner@acme.test", "owner")
    bob = await world.member(org_id, "bob@acme.test", "member")
    await asyncio.gather(
        world.users.update(ADMIN, org_id, bob, UserPatch(name="Robert")),
        world.users.update(ADMIN, org_id, bob, UserPatch(role="owner")),
    )
    stored = await world.users.get(ADMIN, org_id, bob)
    assert (stored.name, stored.role) == ("Robert", "owner")


async def test_one_invitation_accepted_twice_at_once_is_accepted_once() -> None:
    world = World()
    org_id = await world.org()
    invitation = await world.users.invite(ADMIN, org_id, email="bob@acme.test", role="member")
    results = await asyncio.gather(
        world.users.accept(invitation.token, PASSWORD),
        world.users.accept(invitation.token, "another pass phrase entirely"),
        return_exceptions=True,
    )
    accepted = [r for r in results if isinstance(r, User)]
    refused = [r for r in results if isinstance(r, InvalidInput)]
    assert len(accepted) == 1 and len(refused) == 1
    assert refused[0].code == "invalid_invitation"
    stored = await world.repo.get(invitation.user.id)
    assert stored is not None and stored.password_hash == accepted[0].password_hash


async def test_the_last_owner_is_still_refused_alone() -> None:
    world = World()
    org_id = await world.org()
    only = await world.member(org_id, "only@acme.test", "owner")
    with pytest.raises(Conflict):
        await world.users.update(ADMIN, org_id, only, UserPatch(role="member"))
    with pytest.raises(Conflict):
        await world.users.remove(ADMIN, org_id, only)
    assert (await world.users.get(ADMIN, org_id, only)).role == "owner"


async def test_a_key_revoked_twice_at_once_is_revoked_and_audited_once() -> None:
    world = World()
    org_id = await world.org()
    project = (await world.projects.create(ADMIN, org_id=org_id, name="App")).project
    issued = await world.keys.create(ADMIN, project.id, name="backend")
    await asyncio.gather(
        world.keys.revoke(ADMIN, project.id, issued.key.id),
        world.keys.revoke(ADMIN, project.id, issued.key.id),
    )
    revoked = await world.audit.list_page(org_id, action="key.revoked", limit=10)
    assert [r.resource_id for r in revoked] == [issued.key.id]


async def test_keys_created_at_once_at_the_cap_stay_within_it() -> None:
    world = World()
    org_id = await world.org()
    project = (await world.projects.create(ADMIN, org_id=org_id, name="App")).project
    for n in range(MAX_KEYS_PER_PROJECT - 1):
        await world.keys.create(ADMIN, project.id, name=f"key {n}")
    results = await asyncio.gather(
        world.keys.create(ADMIN, project.id, name="one more"),
        world.keys.create(ADMIN, project.id, name="and another"),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == 1 and refused[0].code == "too_many_keys"
    # The project's first key, then its named keys.
    assert len(await world.keys.list(ADMIN, project.id)) == 1 + MAX_KEYS_PER_PROJECT


async def test_a_settings_change_during_a_key_rotation_keeps_the_new_keys() -> None:
    world = World()
    org_id = await world.org()
    project = (await world.projects.create(ADMIN, org_id=org_id, name="App")).project
    _, rotation = await asyncio.gather(
        world.projects.update(ADMIN, project.id, ProjectPatch(name="Renamed")),
        world.projects.regenerate_keys(ADMIN, project.id),
    )
    stored = await world.projects.get(ADMIN, project.id)
    assert stored.api_key == rotation.api_key and stored.previous is None
    assert stored.name == "Renamed"


async def test_a_settings_change_during_a_deletion_does_not_bring_the_project_back() -> None:
    world = World()
    org_id = await world.org()
    project = (await world.projects.create(ADMIN, org_id=org_id, name="App")).project
    results = await asyncio.gather(
        world.projects.delete(ADMIN, project.id),
        world.projects.update(ADMIN, project.id, ProjectPatch(name="Renamed")),
        return_exceptions=True,
    )
    assert results[0] is None and isinstance(results[1], NotFound)
    with pytest.raises(NotFound):
        await world.projects.get(ADMIN, project.id)


async def test_an_organization_renamed_while_it_is_deleted_stays_deleted() -> None:
    world = World()
    org_id = await world.org()
    results = await asyncio.gather(
        world.organizations.delete(ADMIN, org_id),
        world.organizations.update(ADMIN, org_id, OrganizationPatch(name="Renamed")),
        return_exceptions=True,
    )
    assert results[0] is None and isinstance(results[1], NotFound)
    assert await world.orgs.get(org_id) is None


async def test_a_rename_and_a_plan_change_at_once_both_land() -> None:
    world = World()
    org_id = await world.org()
    await asyncio.gather(
        world.organizations.update(ADMIN, org_id, OrganizationPatch(name="Renamed")),
        world.organizations.update(ADMIN, org_id, OrganizationPatch(plan="pro")),
    )
    stored = await world.orgs.get(org_id)
    assert stored is not None and (stored.name, stored.plan) == ("Renamed", "pro")


async def test_an_owner_resending_the_plan_never_undoes_an_admins_plan_change() -> None:
    world = World()
    org_id = await world.org()
    owner = ManagementPrincipal(subject="usr_owner", role="owner", org_id=org_id)
    # The owner's form sends every field back, the plan as it read it ("free").
    await asyncio.gather(
        world.organizations.update(ADMIN, org_id, OrganizationPatch(plan="pro")),
        world.organizations.update(owner, org_id, OrganizationPatch(name="Renamed", plan="free")),
    )
    stored = await world.orgs.get(org_id)
    assert stored is not None and (stored.name, stored.plan) == ("Renamed", "pro")
