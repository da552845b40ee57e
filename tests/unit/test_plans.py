"""Plans: the built-in catalog, an operator's PLANS_FILE (TOML or JSON) and its errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse_core.errors import InvalidInput
from pulse_core.plans import BUILTIN_PLANS, LIMITS, PlanCatalog, parse_plans

TOML = """
[plans.tiny]
max_projects = 1
max_concurrent_egress = 1
monthly_participant_minutes = 1000

[plans.free]
max_projects = -1
"""


def test_built_in_plans_name_every_limit() -> None:
    assert set(BUILTIN_PLANS) == {"free", "pro", "enterprise"}
    for plan in BUILTIN_PLANS.values():
        assert set(plan.limits) == set(LIMITS)
    assert all(v is None for v in BUILTIN_PLANS["enterprise"].limits.values())
    assert BUILTIN_PLANS["free"].limit("max_projects") == 3


def test_a_toml_file_adds_plans_and_overrides_built_in_ones_whole() -> None:
    catalog = PlanCatalog(parse_plans(TOML, source="plans.toml"))
    tiny = catalog.get("tiny")
    assert tiny.limit("max_projects") == 1
    assert tiny.limit("monthly_participant_minutes") == 1000
    # Left out of the table: unlimited, like -1.
    assert tiny.limit("max_concurrent_ingress") is None
    assert catalog.get("free").limit("max_projects") is None
    assert catalog.get("free").limit("max_concurrent_egress") is None
    assert catalog.get("pro") == BUILTIN_PLANS["pro"]
    assert catalog.names() == ["free", "pro", "enterprise", "tiny"]


def test_a_json_file_reads_the_same() -> None:
    text = json.dumps({"plans": {"tiny": {"max_projects": 1}}})
    assert parse_plans(text, source="/etc/pulse/plans.json")["tiny"].limit("max_projects") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[plans.tiny]\nmax_projects = 1.5\n", "plans.tiny.max_projects: must be an integer"),
        ("[plans.tiny]\nmax_projects = -2\n", "plans.tiny.max_projects: must be an integer"),
        ("[plans.tiny]\nmax_projects = true\n", "plans.tiny.max_projects: must be an integer"),
        ("[plans.tiny]\nmax_rooms = 1\n", "plans.tiny.max_rooms: unknown limit"),
        ("[plan.tiny]\nmax_projects = 1\n", "expected one table 'plans'"),
        ("plans = 3\n", "expected one table 'plans'"),
        ("[plans]\ntiny = 3\n", "plans.tiny must be a table"),
        ('[plans."bad name"]\nmax_projects = 1\n', "plan name 'bad name'"),
        ("[plans.tiny\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_plan_and_limit(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"plans\.toml") as caught:
        parse_plans(text, source="plans.toml")
    assert message in str(caught.value)


def test_bad_json_is_refused_as_json() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_plans("{", source="plans.json")


def test_setting_an_unknown_plan_is_refused_on_the_plan_field() -> None:
    catalog = PlanCatalog()
    assert catalog.check("pro") == "pro"
    with pytest.raises(InvalidInput) as caught:
        catalog.check("platinum")
    assert caught.value.field == "plan"
    assert "free, pro, enterprise" in caught.value.detail


def test_a_plan_removed_from_the_file_has_no_limits_rather_than_failing() -> None:
    assert PlanCatalog().get("gone").limit("max_projects") is None


@given(
    st.dictionaries(
        st.sampled_from(LIMITS), st.integers(min_value=-1, max_value=10**12), max_size=len(LIMITS)
    )
)
def test_any_valid_table_round_trips_with_minus_one_as_unlimited(limits: dict[str, int]) -> None:
    plan = parse_plans(json.dumps({"plans": {"p": limits}}), source="p.json")["p"]
    for name in LIMITS:
        given_value = limits.get(name, -1)
        assert plan.limit(name) == (None if given_value == -1 else given_value)
