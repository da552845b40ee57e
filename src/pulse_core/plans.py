"""Plans: named sets of limits that an organization's ``plan`` selects.

Three plans are built in; an operator's ``PLANS_FILE`` (TOML or JSON, one table per plan
under ``plans``) adds plans and overrides built-in ones whole: a limit the file leaves
out of a plan it names is unlimited, like ``-1``. Pure: the shell reads the file and
hands its text here.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from typing import Final, Literal, get_args

import msgspec

from pulse_core.errors import InvalidInput

LimitName = Literal[
    "max_projects",
    "max_concurrent_egress",
    "max_concurrent_ingress",
    "max_participants_per_room",
    "monthly_participant_minutes",
    "monthly_egress_minutes",
    "monthly_ingress_minutes",
]
LIMITS: Final[tuple[LimitName, ...]] = get_args(LimitName)
UNLIMITED: Final = -1


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """A plan: each limit's value, None when unlimited."""

    name: str
    limits: Mapping[str, int | None]

    def limit(self, name: LimitName) -> int | None:
        return self.limits.get(name)


def _plan(name: str, **limits: int) -> Plan:
    return Plan(name=name, limits={limit: limits.get(limit) for limit in LIMITS})


# Sized like the free and paid tiers of hosted LiveKit platforms: enough to build on for
# free, enough to run a product on pro; enterprise is whatever the contract says.
BUILTIN_PLANS: Final[Mapping[str, Plan]] = {
    "free": _plan(
        "free",
        max_projects=3,
        max_concurrent_egress=2,
        max_concurrent_ingress=2,
        max_participants_per_room=100,
        monthly_participant_minutes=5_000,
        monthly_egress_minutes=60,
        monthly_ingress_minutes=60,
    ),
    "pro": _plan(
        "pro",
        max_projects=50,
        max_concurrent_egress=20,
        max_concurrent_ingress=20,
        max_participants_per_room=1_000,
        monthly_participant_minutes=150_000,
        monthly_egress_minutes=3_000,
        monthly_ingress_minutes=3_000,
    ),
    "enterprise": _plan("enterprise"),
}


class PlanCatalog:
    """The plans an organization may be on: built-in ones, then the operator's."""

    def __init__(self, overrides: Mapping[str, Plan] | None = None) -> None:
        self._plans = {**BUILTIN_PLANS, **(overrides or {})}

    def __iter__(self) -> Iterator[Plan]:
        return iter(self._plans.values())

    def names(self) -> list[str]:
        return list(self._plans)

    def get(self, name: str) -> Plan:
        """The plan ``name``; one that is not configured (any more) has no limits rather
        than failing every request of its organizations: refusing unknown names happens
        when a plan is set (:meth:`check`)."""
        return self._plans.get(name) or Plan(name=name, limits={})

    def check(self, name: str) -> str:
        """``name`` when it is a configured plan; ``InvalidInput`` on ``plan`` if not."""
        if name not in self._plans:
            raise InvalidInput(f"plan must be one of {', '.join(self._plans)}", field="plan")
        return name


def parse_plans(text: str, *, source: str) -> dict[str, Plan]:
    """The plans of a ``PLANS_FILE``'s ``text``, TOML unless ``source`` ends in
    ``.json``: ``{"plans": {"<name>": {"<limit>": <int>, ...}}}``. ``ValueError``
    naming the file, plan and limit when anything is off."""
    try:
        raw = json.loads(text) if source.endswith(".json") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{source}: not valid {_format(source)}: {exc}") from None
    if not isinstance(raw, dict) or set(raw) != {"plans"} or not isinstance(raw["plans"], dict):
        raise ValueError(f"{source}: expected one table 'plans' holding a table per plan")
    plans: dict[str, Plan] = {}
    for name, table in raw["plans"].items():
        if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"{source}: plan name {name!r} must be 1-64 letters, digits, - or _")
        if not isinstance(table, dict):
            raise ValueError(f"{source}: plans.{name} must be a table of limits")
        limits: dict[str, int | None] = {}
        for limit, value in table.items():
            where = f"{source}: plans.{name}.{limit}"
            if limit not in LIMITS:
                raise ValueError(f"{where}: unknown limit; known: {', '.join(LIMITS)}")
            if isinstance(value, bool) or not isinstance(value, int) or value < UNLIMITED:
                raise ValueError(f"{where}: must be an integer >= 0, or -1 for unlimited")
            limits[limit] = None if value == UNLIMITED else value
        plans[name] = Plan(name=name, limits={limit: limits.get(limit) for limit in LIMITS})
    return plans


def _format(source: str) -> str:
    return "JSON" if source.endswith(".json") else "TOML"
