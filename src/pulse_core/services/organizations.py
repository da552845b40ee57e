"""Organizations: create, read, list, update, and soft delete with cascade."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime

import msgspec

from pulse_core import ids
from pulse_core.errors import Conflict, NotFound, PermissionDenied
from pulse_core.models import ManagementPrincipal, Organization, Page
from pulse_core.models.audit import AuditRecord
from pulse_core.plans import PlanCatalog
from pulse_core.ports.clock import Clock
from pulse_core.ports.repositories import OrganizationRepository, ProjectRepository
from pulse_core.services import audit, pagination, validation

# An admin_email belongs to one live organization platform-wide (the Go service's unique
# index). The refusal says that rule and nothing about which organization holds the
# address: an owner changing their own admin_email must not learn who the others are.
ADMIN_EMAIL_TAKEN = (
    "admin_email is not available: each organization on this platform needs an "
    "admin_email of its own"
)


class OrganizationPatch(msgspec.Struct, frozen=True, kw_only=True):
    """A partial update: fields left ``UNSET`` keep their value."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    admin_email: str | msgspec.UnsetType = msgspec.UNSET
    plan: str | msgspec.UnsetType = msgspec.UNSET


@contextlib.asynccontextmanager
async def _admin_email_rule() -> AsyncIterator[None]:
    try:
        yield
    except Conflict as exc:
        if exc.field != "admin_email":
            raise
        raise Conflict(ADMIN_EMAIL_TAKEN, field="admin_email") from None


class OrganizationService:
    def __init__(
        self,
        organizations: OrganizationRepository,
        projects: ProjectRepository,
        clock: Clock,
        plans: PlanCatalog | None = None,
        *,
        on_deleted: Callable[[str], Awaitable[object]] | None = None,
        on_projects_deleted: Callable[[Sequence[str]], Awaitable[object]] | None = None,
        on_plan_changed: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        # ``on_deleted`` runs after an organization is deleted: the container has its
        # users' sessions ended there; ``on_projects_deleted`` with the ids of the
        # projects that went with it (as ProjectService's ``on_deleted``: the media they
        # left running is stopped). ``on_plan_changed`` runs after an admin sets its
        # plan: the container has the token allowance of this process refreshed there
        # (the other processes refresh it within 10 seconds).
        self._on_deleted = on_deleted
        self._on_projects_deleted = on_projects_deleted
        self._on_plan_changed = on_plan_changed
        self._plans = plans or PlanCatalog()
        self._orgs = organizations
        self._projects = projects
        self._clock = clock

    async def create(
        self, actor: ManagementPrincipal, *, name: str, admin_email: str, plan: str = "free"
    ) -> Organization:
        """Admins only. ``Conflict`` if a live organization has ``admin_email``."""
        if not actor.is_admin:
            raise PermissionDenied("only platform admins create organizations")
        now = self._clock.now()
        org = Organization(
            id=ids.new_id(ids.ORGANIZATION, now_ms=ids.ms_of(now)),
            name=validation.name(name),
            admin_email=validation.email(admin_email, "admin_email"),
            plan=self._plans.check(plan),
            created_at=now,
            updated_at=now,
        )
        async with _admin_email_rule():
            await self._orgs.add(org, audit=self._record(actor, "organization.created", org))
        return org

    async def get(self, actor: ManagementPrincipal, org_id: str) -> Organization:
        """The organization if the actor may see it; ``NotFound`` otherwise."""
        org = None
        if ids.is_valid_id(org_id, ids.ORGANIZATION) and actor.can_read(org_id):
            org = await self._orgs.get(org_id)
        if org is None:
            raise NotFound("organization not found")
        return org

    async def list(
        self, actor: ManagementPrincipal, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Organization]:
        """Admins see every live organization; others only their own."""
        size = pagination.check_limit(limit)
        after = pagination.check_cursor(cursor, ids.ORGANIZATION)
        if actor.is_admin:
            rows = await self._orgs.list_page(after=after, limit=size + 1)
            return pagination.page_of(rows, size, lambda o: o.id)
        own = await self._orgs.get(actor.org_id) if actor.org_id else None
        items = [own] if own is not None and (after is None or own.id > after) else []
        return Page(items=items, next_cursor=None)

    async def update(
        self, actor: ManagementPrincipal, org_id: str, patch: OrganizationPatch
    ) -> Organization:
        org = await self.get(actor, org_id)
        if not actor.can_write(org.id):
            raise PermissionDenied("members may not change the organization")
        changes: dict[str, object] = {}
        if patch.name is not msgspec.UNSET:
            changes["name"] = validation.name(patch.name)
        if patch.admin_email is not msgspec.UNSET:
            changes["admin_email"] = validation.email(patch.admin_email, "admin_email")
        if patch.plan is not msgspec.UNSET:
            if not actor.is_admin:
                if patch.plan != org.plan:
                    raise PermissionDenied("only platform admins change the plan")
                # The plan as read, sent back unchanged (a whole form): not written, so it
                # cannot put back a plan an admin changed meanwhile.
            else:
                changes["plan"] = self._plans.check(patch.plan)
        now = self._clock.now()
        # The plan is its own change with its own audit action, after the rest: a rename
        # sent with the plan is recorded as an update, and a plan sent unchanged (a
        # whole form) records nothing, as any field that changes nothing.
        plan = {"plan": changes.pop("plan")} if "plan" in changes else {}
        changed = org
        if changes:
            async with _admin_email_rule():
                changed = await self._change(
                    org, _applying(changes, now), actor, "organization.updated"
                )
        if plan:
            changed = await self._change(
                org, _applying(plan, now), actor, "organization.plan_changed"
            )
            if self._on_plan_changed is not None:
                await self._on_plan_changed(org.id)
        return changed

    async def delete(self, actor: ManagementPrincipal, org_id: str) -> None:
        """Soft delete; its projects go with it and their keys stop working at once.

        Projects are deleted before the organization, so an interrupted delete leaves a
        live organization with fewer projects (and is safe to repeat), never live keys
        under a deleted organization.
        """
        org = await self.get(actor, org_id)
        if not actor.can_write(org.id):
            raise PermissionDenied("members may not delete the organization")
        now = self._clock.now()
        deleted = await self._projects.delete_for_organization(org.id, now)
        if self._on_projects_deleted is not None:
            await self._on_projects_deleted(deleted)

        def apply(stored: Organization) -> Organization:
            return msgspec.structs.replace(stored, is_deleted=True, deleted_at=now, updated_at=now)

        await self._change(org, apply, actor, "organization.deleted")
        if self._on_deleted is not None:
            await self._on_deleted(org.id)

    async def _change(
        self,
        org: Organization,
        apply: Callable[[Organization], Organization],
        actor: ManagementPrincipal,
        action: str,
    ) -> Organization:
        """``apply`` to the organization as stored now (``OrganizationRepository.change``);
        ``NotFound`` if it was deleted meanwhile."""
        changed = await self._orgs.change(org.id, apply, audit=self._record(actor, action, org))
        if changed is None:
            raise NotFound("organization not found")
        return changed

    def _record(self, actor: ManagementPrincipal, action: str, org: Organization) -> AuditRecord:
        return audit.by(
            self._clock,
            actor,
            action,
            resource_type="organization",
            resource_id=org.id,
            org_id=org.id,
        )


def _applying(changes: dict[str, object], now: datetime) -> Callable[[Organization], Organization]:
    """The change that sets ``changes`` on the organization as stored, or writes nothing
    when it holds them already."""

    def apply(stored: Organization) -> Organization:
        if all(getattr(stored, name) == value for name, value in changes.items()):
            return stored
        return msgspec.structs.replace(stored, updated_at=now, **changes)

    return apply
