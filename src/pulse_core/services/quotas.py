"""Plans enforced: each organization's limits checked where they can be (API.md, "Usage
and quotas"), and what its plan page shows.

- Counted limits (projects, concurrent egresses and ingresses) are checked and the new
  object created while holding the organization's lock for that limit, so two requests
  at the limit, on two replicas, cannot both pass: the count is the database's, the lock
  is what makes count-then-create one step.
- Monthly minutes are summed from the daily roll-ups of the current UTC month.
- Token minting is the hot path: it reads :class:`TokenAllowance`, each organization's
  participant cap per room and whether it is over its monthly participant minutes, which
  metering updates at once on the replica that metered and a periodic refresh updates
  everywhere (an organization's first token in a process looks its plan up).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final

import msgspec

from pulse_core.errors import LARGER_PLAN, NotFound, QuotaExceeded
from pulse_core.models import Organization, Project
from pulse_core.models.usage import Metric, UsageRecord
from pulse_core.plans import LIMITS, LimitName, Plan, PlanCatalog
from pulse_core.ports.clock import Clock
from pulse_core.ports.locks import Locks
from pulse_core.ports.media_records import EgressRecordRepository, IngressRecordRepository
from pulse_core.ports.repositories import OrganizationRepository, ProjectRepository
from pulse_core.ports.usage import UsageRepository
from pulse_core.services.periods import month_start, next_month
from pulse_core.services.quota_notices import QuotaNotices
from pulse_core.services.usage import project_ids_of

#: Long enough for a media server call inside the block (its own timeout is shorter).
LOCK_LEASE_SECONDS: Final = 30.0
LOCK_WAIT_SECONDS: Final = 10.0

#: The monthly limits and the metric each one caps.
MONTHLY_LIMITS: Final[dict[LimitName, Metric]] = {
    "monthly_participant_minutes": "participant_minutes",
    "monthly_egress_minutes": "egress_minutes",
    "monthly_ingress_minutes": "ingress_minutes",
}
_CAPPED_METRICS: Final = frozenset(MONTHLY_LIMITS.values())


class LimitUse(msgspec.Struct, frozen=True, kw_only=True):
    """One limit of a plan (None: unlimited) and how much of it is used now."""

    name: str
    limit: int | None
    used: int


class PlanUse(msgspec.Struct, frozen=True, kw_only=True):
    plan: str
    limits: list[LimitUse]


def no_participants() -> QuotaExceeded:
    """The refusal of a plan whose ``max_participants_per_room`` is 0: LiveKit reads a
    room limit of 0 as none at all, so such a plan is held to it by Pulse, at the token
    and at the room."""
    return QuotaExceeded(
        "max_participants_per_room",
        value=0,
        used=0,
        detail="the plan's max_participants_per_room is 0: its rooms hold no participants; "
        + LARGER_PLAN,
    )


class TokenAllowance:
    """What token minting needs of each organization's plan, read on every token (dict
    lookups): which organizations may not mint (over their monthly participant minutes),
    with the limit and the use that stopped them, and each known organization's
    participant cap per room. :class:`QuotaService` keeps it and sets :attr:`learn`."""

    def __init__(self) -> None:
        self.blocked: dict[str, QuotaExceeded] = {}
        #: The organizations whose plan was looked up, and their ``max_participants_per_room``
        #: (None: unlimited).
        self.room_caps: dict[str, int | None] = {}
        #: Organizations that minted since the last refresh: the ones to look at.
        self.seen: set[str] = set()
        #: Looks one organization's plan up and records it here: set by the
        #: :class:`QuotaService` that keeps this allowance (None: none does).
        self.learn: Callable[[str], Awaitable[None]] | None = None

    def knows(self, org_id: str) -> bool:
        return org_id in self.room_caps

    def check(self, org_id: str) -> int | None:
        """Raise ``QuotaExceeded`` if ``org_id`` may not mint (its monthly minutes spent,
        or a plan whose rooms hold no one); its participant cap per room otherwise (None:
        unlimited, or its plan not looked up yet)."""
        if org_id in self.blocked:
            raise self.refusal(org_id)
        self.seen.add(org_id)
        cap = self.room_caps.get(org_id)
        if cap == 0:
            raise no_participants()
        return cap

    def refusal(self, org_id: str) -> QuotaExceeded:
        """A fresh error each time: one raised again and again would grow its
        traceback with every request."""
        known = self.blocked[org_id]
        return QuotaExceeded(known.limit, value=known.value, used=known.used)


class QuotaService:
    def __init__(
        self,
        plans: PlanCatalog,
        *,
        organizations: OrganizationRepository,
        projects: ProjectRepository,
        egress: EgressRecordRepository,
        ingress: IngressRecordRepository,
        usage: UsageRepository,
        locks: Locks,
        clock: Clock,
        allowance: TokenAllowance | None = None,
        notices: QuotaNotices | None = None,
    ) -> None:
        self._notices = notices
        self.plans = plans
        self._orgs = organizations
        self._projects = projects
        self._egress = egress
        self._ingress = ingress
        self._usage = usage
        self._locks = locks
        self._clock = clock
        self.allowance = allowance or TokenAllowance()
        self.allowance.learn = self.refresh_organization

    async def plan_of(self, org_id: str) -> Plan:
        org = await self._orgs.get(org_id)
        if org is None:
            raise NotFound(f"organization {org_id} not found")
        return self.plans.get(org.plan)

    # -- counted limits --------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def project_slot(self, org_id: str) -> AsyncIterator[None]:
        """Hold while creating a project of ``org_id``: ``QuotaExceeded`` at the limit."""
        async with self._counted("max_projects", org_id) as (limit, _):
            if limit is not None:
                used = len(await self._project_ids(org_id))
                if used >= limit:
                    raise QuotaExceeded("max_projects", value=limit, used=used)
            yield

    @contextlib.asynccontextmanager
    async def egress_slot(self, project: Project) -> AsyncIterator[None]:
        """Hold while starting an egress of ``project``: refuses at the organization's
        concurrent egress limit and once its monthly egress minutes are spent."""
        async with self._counted("max_concurrent_egress", project.org_id) as (limit, plan):
            await self._check_month(plan, project.org_id, "monthly_egress_minutes")
            if limit is not None:
                used = await self._egress.count_active(await self._project_ids(project.org_id))
                if used >= limit:
                    raise QuotaExceeded("max_concurrent_egress", value=limit, used=used)
            yield

    @contextlib.asynccontextmanager
    async def ingress_slot(self, project: Project) -> AsyncIterator[None]:
        """Hold while creating an ingress of ``project`` (its concurrent limit and
        monthly ingress minutes)."""
        async with self._counted("max_concurrent_ingress", project.org_id) as (limit, plan):
            await self._check_month(plan, project.org_id, "monthly_ingress_minutes")
            if limit is not None:
                used = await self._ingress.count_active(await self._project_ids(project.org_id))
                if used >= limit:
                    raise QuotaExceeded("max_concurrent_ingress", value=limit, used=used)
            yield

    async def participants_cap(self, project: Project) -> int | None:
        """The most participants a room of ``project`` may hold (None: no limit)."""
        return (await self.plan_of(project.org_id)).limit("max_participants_per_room")

    @contextlib.asynccontextmanager
    async def _counted(
        self, limit_name: LimitName, org_id: str
    ) -> AsyncIterator[tuple[int | None, Plan]]:
        plan = await self.plan_of(org_id)
        limit = plan.limit(limit_name)
        if limit is None:
            yield None, plan
            return
        async with self._locks.hold(
            f"quota:{limit_name}:{org_id}",
            lease_seconds=LOCK_LEASE_SECONDS,
            wait_seconds=LOCK_WAIT_SECONDS,
        ):
            yield limit, plan

    # -- monthly limits --------------------------------------------------------------

    async def _check_month(self, plan: Plan, org_id: str, limit_name: LimitName) -> None:
        limit = plan.limit(limit_name)
        if limit is None:
            return
        used = await self.month_use(org_id, MONTHLY_LIMITS[limit_name])
        if used >= limit:
            raise QuotaExceeded(limit_name, value=limit, used=used)

    async def month_use(self, org_id: str, metric: Metric) -> int:
        """The organization's ``metric`` so far this UTC month."""
        start = month_start(self._clock.now())
        # Deleted projects included: deleting one must not hand its minutes back.
        totals = await self._usage.totals(
            await self._projects.ids_of_organization(org_id),
            granularity="day",
            since=start,
            until=next_month(start),
            metrics=[metric],
        )
        return sum(t.quantity for t in totals)

    async def refresh_allowance(self, org_ids: Sequence[str] | None = None) -> None:
        """Recompute whether each organization may mint tokens: ``org_ids``, or those
        that minted or were blocked since the last refresh."""
        allowance = self.allowance
        if org_ids is None:
            org_ids = list(allowance.seen | set(allowance.blocked))
            allowance.seen = set()
        for org_id in org_ids:
            org = await self._orgs.get(org_id)
            refusal = None if org is None else await self._minutes_refusal(org)
            if refusal is None:
                allowance.blocked.pop(org_id, None)
            else:
                allowance.blocked[org_id] = refusal
            if org is None:
                allowance.room_caps.pop(org_id, None)
            else:
                cap = self.plans.get(org.plan).limit("max_participants_per_room")
                allowance.room_caps[org_id] = cap

    async def refresh_organization(self, org_id: str) -> None:
        """:meth:`refresh_allowance` of one organization (its plan just changed, or its
        first token in this process is about to be minted)."""
        await self.refresh_allowance([org_id])

    async def _minutes_refusal(self, org: Organization) -> QuotaExceeded | None:
        limit = self.plans.get(org.plan).limit("monthly_participant_minutes")
        if limit is None:
            return None
        used = await self.month_use(org.id, "participant_minutes")
        if used < limit:
            return None
        return QuotaExceeded("monthly_participant_minutes", value=limit, used=used)

    # -- notices -------------------------------------------------------------------

    async def after_recorded(self, records: Sequence[UsageRecord]) -> None:
        """Metering's hook: refresh token allowance of the organizations whose
        participant minutes grew, and tell their projects (``usage.quota_warning`` at
        80 %, ``usage.quota_exceeded`` at 100 %, once a month each) when a monthly
        limit is near or spent."""
        grown: dict[str, set[Metric]] = {}
        for record in records:
            if record.metric in _CAPPED_METRICS and record.quantity:
                project = await self._projects.get(record.project_id)
                if project is not None:
                    grown.setdefault(project.org_id, set()).add(record.metric)
        for org_id, metrics in grown.items():
            if "participant_minutes" in metrics:
                await self.refresh_allowance([org_id])
            if self._notices is not None:
                plan = await self.plan_of(org_id)
                for limit_name, metric in MONTHLY_LIMITS.items():
                    limit = plan.limit(limit_name)
                    if metric in metrics and limit is not None:
                        used = await self.month_use(org_id, metric)
                        await self._notices.notify(
                            org_id, await self._project_ids(org_id), limit_name, limit, used
                        )

    # -- the plan page ---------------------------------------------------------------

    async def plan_use(self, org_id: str) -> PlanUse:
        """The organization's plan, each limit and its current use."""
        plan = await self.plan_of(org_id)
        project_ids = await self._project_ids(org_id)
        used: dict[str, int] = {
            "max_projects": len(project_ids),
            "max_concurrent_egress": await self._egress.count_active(project_ids),
            "max_concurrent_ingress": await self._ingress.count_active(project_ids),
            # A per-room cap has no organization-wide use to show.
            "max_participants_per_room": 0,
        }
        for limit_name, metric in MONTHLY_LIMITS.items():
            used[limit_name] = await self.month_use(org_id, metric)
        return PlanUse(
            plan=plan.name,
            limits=[
                LimitUse(name=name, limit=plan.limit(name), used=used[name]) for name in LIMITS
            ],
        )

    async def _project_ids(self, org_id: str) -> list[str]:
        return await project_ids_of(self._projects, org_id)
