"""Bodies of the usage and plan routes (API.md, "Usage and quotas")."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import msgspec

from pulse_core.models.usage import Metric
from pulse_core.services.quotas import PlanUse
from pulse_core.services.usage import UsageItem


class UsageItemOut(msgspec.Struct, frozen=True, kw_only=True):
    metric: Annotated[Metric, msgspec.Meta(description="What was metered.")]
    period_start: Annotated[
        datetime, msgspec.Meta(description="Start of the UTC hour, day or month.")
    ]
    quantity: Annotated[
        int, msgspec.Meta(description="Whole minutes, bytes or a count, by metric.")
    ]


def items_of(items: Iterable[UsageItem]) -> list[UsageItemOut]:
    return [
        UsageItemOut(metric=i.metric, period_start=i.period_start, quantity=i.quantity)
        for i in items
    ]


class UsageOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[UsageItemOut]


class ProjectUsageOut(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    items: list[UsageItemOut]


class OrganizationUsageOut(msgspec.Struct, frozen=True, kw_only=True):
    items: Annotated[
        list[UsageItemOut], msgspec.Meta(description="The organization's projects together.")
    ]
    projects: list[ProjectUsageOut]


class LimitOut(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    limit: Annotated[int | None, msgspec.Meta(description="None when unlimited.")]
    used: Annotated[
        int,
        msgspec.Meta(description="In use now (counted limits) or this UTC month (monthly)."),
    ]


class PlanOut(msgspec.Struct, frozen=True, kw_only=True):
    plan: str
    limits: list[LimitOut]

    @classmethod
    def of(cls, use: PlanUse) -> PlanOut:
        return cls(
            plan=use.plan,
            limits=[LimitOut(name=u.name, limit=u.limit, used=u.used) for u in use.limits],
        )
