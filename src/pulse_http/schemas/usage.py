"""Bodies of the usage and plan routes (API.md, "Usage and quotas")."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import msgspec

from pulse_core.models.usage import Metric
from pulse_core.services.quotas import PlanUse
from pulse_core.services.usage import UsageItem
from pulse_http.schemas import doc


class UsageItemOut(msgspec.Struct, frozen=True, kw_only=True):
    """How much of one metric was used in one period."""

    metric: Annotated[Metric, doc("What was metered.", "participant_minutes")]
    period_start: Annotated[
        datetime, doc("Start of the UTC hour, day or month.", "2026-12-01T00:00:00Z")
    ]
    quantity: Annotated[
        int,
        doc("Whole minutes, bytes or a count, by metric (minutes rounded up).", 42),
    ]


def items_of(items: Iterable[UsageItem]) -> list[UsageItemOut]:
    return [
        UsageItemOut(metric=i.metric, period_start=i.period_start, quantity=i.quantity)
        for i in items
    ]


_ITEMS = doc("Ordered by `period_start`, then `metric`.")


class UsageOut(msgspec.Struct, frozen=True, kw_only=True):
    """A project's usage in the window."""

    items: Annotated[list[UsageItemOut], _ITEMS]


class ProjectUsageOut(msgspec.Struct, frozen=True, kw_only=True):
    """One project's usage in the window."""

    project_id: Annotated[str, doc("The project's id.", "prj_01M8T76XBA01F2Z16J4GCEBSZ1")]
    items: Annotated[list[UsageItemOut], _ITEMS]


class OrganizationUsageOut(msgspec.Struct, frozen=True, kw_only=True):
    """An organization's usage in the window: its projects together, then each one's."""

    items: Annotated[list[UsageItemOut], doc("The organization's projects together.")]
    projects: Annotated[list[ProjectUsageOut], doc("Each project's usage.")]


class LimitOut(msgspec.Struct, frozen=True, kw_only=True):
    """One limit of the plan and its current use."""

    name: Annotated[
        str,
        doc(
            "The limit: `max_projects`, `max_concurrent_egress`, `max_concurrent_ingress`, "
            "`max_participants_per_room`, `monthly_participant_minutes`, …",
            "max_projects",
        ),
    ]
    limit: Annotated[int | None, doc("Its value; null when unlimited.", 3)]
    used: Annotated[
        int,
        doc("In use now (counted limits) or this UTC month (monthly limits).", 1),
    ]


class PlanOut(msgspec.Struct, frozen=True, kw_only=True):
    """An organization's plan: its limits and their current use."""

    plan: Annotated[str, doc("The plan's name.", "free")]
    limits: Annotated[list[LimitOut], doc("Each limit of the plan.")]

    @classmethod
    def of(cls, use: PlanUse) -> PlanOut:
        return cls(
            plan=use.plan,
            limits=[LimitOut(name=u.name, limit=u.limit, used=u.used) for u in use.limits],
        )
