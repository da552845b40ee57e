"""Plans enforced through the REST API (API.md, "Usage and quotas"), on both backends:
each counted limit refuses at its value with a 403 problem+json naming the limit, its
value and the current use, passes one below, and frees a slot when the object goes;
rooms and tokens get the plan's participant cap; the plan page; who may set which plan; and a bad
PLANS_FILE stopping the start. The monthly minutes are in test_quota_minutes.py.

The organization under test is on ``tiny``, a plan of the operator's PLANS_FILE
(tests/support/quotas.py); the other tenants are on ``enterprise`` (unlimited).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from livekit import api
from livekit.protocol import egress as lk_egress

from pulse_adapters.clock import ManualClock
from pulse_core import rooms
from pulse_http.container import Container
from pulse_http.dashboard.session import COOKIE
from pulse_http.settings import ConfigError, Settings, load_settings
from tests.http.conftest import Tenant, make_tenant, offline_container
from tests.support import livekit_webhooks as lk
from tests.support.quotas import (
    LIMIT_NAMES,
    TINY,
    TINY_LIMITS,
    assert_quota,
    limits_of,
    no_periodic_allowance_refresh,
    post_livekit,
    quota_settings,
    real_time_clock,
    until,
)

Client = AsyncTestClient[Any]
START = "/v1/media/egress/start"
INGRESS = "/v1/media/ingress/create"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return quota_settings(settings, tmp_path)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    no_periodic_allowance_refresh(monkeypatch)
    return real_time_clock()


@pytest.fixture
async def tiny(client: Client, container: Container, admin_headers: dict[str, str]) -> Tenant:
    """An organization on ``tiny`` with its first project (of two allowed)."""
    return await make_tenant(client, container, admin_headers, "Tiny", plan=TINY)


async def _egress(client: Client, tenant: Tenant, room: str = "demo") -> Any:
    return await client.post(
        START, json={"room": room, "kind": "room_composite"}, headers=tenant.project_headers
    )


async def _ingress(client: Client, tenant: Tenant, identity: str) -> Any:
    body = {"room": "stage", "type": "rtmp", "participant_identity": identity}
    return await client.post(INGRESS, json=body, headers=tenant.project_headers)


# -- counted limits ------------------------------------------------------------------------


async def test_a_project_beyond_max_projects_is_refused_until_one_is_deleted(
    client: Client, tiny: Tenant, admin_headers: dict[str, str]
) -> None:
    create = {"org_id": tiny.org_id, "name": "Second"}
    second = await client.post("/v1/projects", json=create, headers=tiny.owner_headers)
    assert second.status_code == 201, second.text  # one below the limit
    third = await client.post("/v1/projects", json=create, headers=tiny.owner_headers)
    assert_quota(third, "max_projects", 2, 2)
    # The limit is the organization's, whoever asks.
    as_admin = await client.post("/v1/projects", json=create, headers=admin_headers)
    assert_quota(as_admin, "max_projects", 2, 2)

    gone = await client.delete(f"/v1/projects/{second.json()['id']}", headers=tiny.owner_headers)
    assert gone.status_code == 204
    again = await client.post("/v1/projects", json=create, headers=tiny.owner_headers)
    assert again.status_code == 201, again.text


async def test_a_second_concurrent_egress_is_refused_until_the_first_ends(
    client: Client, tiny: Tenant, settings: Settings, clock: ManualClock
) -> None:
    h = tiny.project_headers
    first = await _egress(client, tiny)
    assert first.status_code == 201, first.text
    assert_quota(await _egress(client, tiny, "other"), "max_concurrent_egress", 1, 1)

    # Stopped, and seen complete: the slot is free.
    stopped = await client.post(
        "/v1/media/egress/stop", json={"egress_id": first.json()["id"]}, headers=h
    )
    assert stopped.status_code == 200, stopped.text
    done = await client.get(f"/v1/media/egress/{first.json()['id']}", headers=h)
    assert done.json()["status"] == "complete"
    second = await _egress(client, tiny)
    assert second.status_code == 201, second.text
    assert_quota(await _egress(client, tiny), "max_concurrent_egress", 1, 1)

    # Ended by LiveKit (its egress_ended webhook): free again.
    second_id = second.json()["id"]
    async with offline_container(settings) as offline:
        record = await offline.adapters.egress_records().get(tiny.project_id, second_id)
    assert record is not None
    started = clock.now()
    info = lk_egress.EgressInfo(
        egress_id=record.engine_id,
        room_name=rooms.to_livekit(tiny.project_id, "demo"),
        status=lk_egress.EgressStatus.EGRESS_COMPLETE,
        started_at=int(started.timestamp() * 1e9),
        ended_at=int((started + timedelta(seconds=30)).timestamp() * 1e9),
    )
    await post_livekit(client, lk.egress_event("egress_ended", info))
    await until(
        client,
        "/v1/events?limit=200",
        h,
        lambda body: any(
            e["type"] == "egress.ended" and e["data"]["egress_id"] == second_id
            for e in body["items"]
        ),
    )
    third = await _egress(client, tiny)
    assert third.status_code == 201, third.text


async def test_a_second_ingress_is_refused_until_the_first_is_deleted(
    client: Client, tiny: Tenant
) -> None:
    first = await _ingress(client, tiny, "obs")
    assert first.status_code == 201, first.text
    assert_quota(await _ingress(client, tiny, "obs-2"), "max_concurrent_ingress", 1, 1)
    deleted = await client.delete(
        f"/v1/media/ingress/{first.json()['id']}", headers=tiny.project_headers
    )
    assert deleted.status_code == 204
    second = await _ingress(client, tiny, "obs-2")
    assert second.status_code == 201, second.text
    assert_quota(await _ingress(client, tiny, "obs-3"), "max_concurrent_ingress", 1, 1)


async def test_limits_are_per_organization(
    client: Client, container: Container, admin_headers: dict[str, str], tiny: Tenant
) -> None:
    other = await make_tenant(client, container, admin_headers, "Other", plan=TINY)
    assert (await _egress(client, tiny)).status_code == 201
    assert (await _egress(client, other)).status_code == 201
    assert (await _ingress(client, tiny, "obs")).status_code == 201
    assert (await _ingress(client, other, "obs")).status_code == 201


# -- rooms ---------------------------------------------------------------------------------


async def test_rooms_get_the_plans_participant_cap_and_may_not_ask_above_it(
    client: Client, container: Container, admin_headers: dict[str, str], tiny: Tenant
) -> None:
    h = tiny.project_headers

    async def room(name: str, **body: Any) -> Any:
        return await client.post("/v1/rooms", json={"name": name, **body}, headers=h)

    capped = await room("open")
    assert capped.status_code == 201 and capped.json()["max_participants"] == 5
    above = await room("big", max_participants=6)
    body = assert_quota(above, "max_participants_per_room", 5, 6)
    assert body["field"] == "max_participants"
    assert (await client.get("/v1/rooms/big", headers=h)).status_code == 404  # not created
    below = await room("small", max_participants=3)
    assert below.status_code == 201 and below.json()["max_participants"] == 3
    at = await room("full", max_participants=5)
    assert at.status_code == 201 and at.json()["max_participants"] == 5

    unlimited = await make_tenant(client, container, admin_headers, "Unlimited")
    free = await client.post("/v1/rooms", json={"name": "open"}, headers=unlimited.project_headers)
    assert free.status_code == 201 and free.json()["max_participants"] is None


async def test_tokens_carry_the_plans_participant_cap_for_rooms_livekit_creates_on_join(
    client: Client,
    container: Container,
    settings: Settings,
    admin_headers: dict[str, str],
    tiny: Tenant,
) -> None:
    """A room LiveKit creates on a join takes the joining token's ``roomConfig``: every
    token of a capped plan carries the cap, read here as livekit-api reads it. The first
    token of the organization already does (no refresh has run: the mint looks the plan
    up), on the fast path, on Litestar's route and on the dashboard; a plan change
    reaches the tokens of the replica that made it at once; an unlimited plan's tokens
    carry none."""
    verifier = api.TokenVerifier(settings.livekit_api_key, settings.livekit_api_secret)

    def cap_in(token: str) -> int | None:
        config = verifier.verify(token).room_config
        return None if config is None else config.max_participants

    async def cap_of(tenant: Tenant, **headers: str) -> int | None:
        minted = await client.post(
            "/v1/tokens/create",
            json={"identity": "someone", "room": "call"},
            headers={**tenant.project_headers, **headers},
        )
        assert minted.status_code == 201, minted.text
        token = minted.json()["token"]
        checked = await client.post(
            "/v1/tokens/validate", json={"token": token}, headers=tenant.project_headers
        )
        assert checked.json()["valid"] is True, checked.text
        return cap_in(token)

    unlimited = await make_tenant(client, container, admin_headers, "Unlimited")
    assert await cap_of(tiny) == 5  # the fast path
    assert await cap_of(tiny, **{"Idempotency-Key": "first"}) == 5  # Litestar's route
    assert await cap_of(unlimited) is None

    owner = container.services.management_auth().mint("owner-1", role="owner", org_id=tiny.org_id)
    client.cookies.set(COOKIE, owner, path="/dashboard")
    page = f"/dashboard/projects/{tiny.project_id}/tokens"
    form = (await client.get(page)).text
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form)
    assert csrf is not None, form[:2000]
    minted = await client.post(
        page, data={"identity": "x", "room": "call", "_csrf_token": csrf.group(1)}
    )
    token = re.search(r'id="access-token">([^<]+)<', minted.text)
    assert minted.status_code == 201 and token is not None, minted.text[:2000]
    assert cap_in(token.group(1)) == 5

    moved = await client.put(
        f"/v1/organizations/{tiny.org_id}", json={"plan": "free"}, headers=admin_headers
    )
    assert moved.status_code == 200, moved.text
    assert await cap_of(tiny) == 100  # at once on this replica; no refresh has run
    assert await cap_of(unlimited) is None


async def test_a_plan_whose_rooms_hold_no_one_gets_no_tokens_and_no_rooms(
    client: Client, container: Container, admin_headers: dict[str, str]
) -> None:
    """A cap of 0 is not LiveKit's 0 ("no limit"): the plan's tokens and rooms are
    refused, naming the limit."""
    closed = await make_tenant(client, container, admin_headers, "Closed", plan="no-video")
    h = closed.project_headers
    minted = await client.post("/v1/tokens/create", json={"identity": "a", "room": "x"}, headers=h)
    assert_quota(minted, "max_participants_per_room", 0, 0)
    room = await client.post("/v1/rooms", json={"name": "x"}, headers=h)
    assert_quota(room, "max_participants_per_room", 0, 0)
    assert (await client.get("/v1/rooms/x", headers=h)).status_code == 404


# -- the plan page -------------------------------------------------------------------------


async def test_the_plan_page_shows_each_limit_and_its_use(
    client: Client, container: Container, admin_headers: dict[str, str], tiny: Tenant
) -> None:
    path = f"/v1/organizations/{tiny.org_id}/plan"
    empty = await client.get(path, headers=tiny.owner_headers)
    assert empty.status_code == 200, empty.text
    page = empty.json()
    assert set(page) == {"plan", "limits"} and page["plan"] == TINY
    assert [item["name"] for item in page["limits"]] == LIMIT_NAMES
    assert all(set(item) == {"name", "limit", "used"} for item in page["limits"])
    assert limits_of(page) == {
        name: (value, 1 if name == "max_projects" else 0) for name, value in TINY_LIMITS.items()
    }

    await client.post(
        "/v1/projects", json={"org_id": tiny.org_id, "name": "Second"}, headers=tiny.owner_headers
    )
    assert (await _egress(client, tiny)).status_code == 201
    assert (await _ingress(client, tiny, "obs")).status_code == 201
    busy = limits_of((await client.get(path, headers=tiny.member_headers)).json())
    assert busy == {
        **{name: (value, 0) for name, value in TINY_LIMITS.items()},
        "max_projects": (2, 2),
        "max_concurrent_egress": (1, 1),
        "max_concurrent_ingress": (1, 1),
    }
    assert (await client.get(path, headers=admin_headers)).status_code == 200

    # Another organization's owner learns nothing of it.
    other = await make_tenant(client, container, admin_headers, "Other")
    hidden = await client.get(path, headers=other.owner_headers)
    assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
    # Unlimited: every limit null, the use still counted.
    theirs = (
        await client.get(f"/v1/organizations/{other.org_id}/plan", headers=other.owner_headers)
    ).json()
    assert theirs["plan"] == "enterprise"
    assert limits_of(theirs) == {
        name: (None, 1 if name == "max_projects" else 0) for name in LIMIT_NAMES
    }


async def test_a_plans_file_plan_leaves_unnamed_limits_and_minus_one_unlimited(
    client: Client, admin_headers: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/organizations",
        json={"name": "Roomy", "admin_email": "ops@roomy.test", "plan": "roomy"},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    page = await client.get(f"/v1/organizations/{created.json()['id']}/plan", headers=admin_headers)
    assert page.json()["plan"] == "roomy"
    assert limits_of(page.json()) == {
        name: (7 if name == "max_projects" else None, 0) for name in LIMIT_NAMES
    }


# -- setting the plan ----------------------------------------------------------------------


async def test_only_configured_plans_are_set_and_only_by_admins(
    client: Client, admin_headers: dict[str, str], tiny: Tenant
) -> None:
    body = {"name": "Gold", "admin_email": "ops@gold.test"}
    unknown = await client.post(
        "/v1/organizations", json={**body, "plan": "gold"}, headers=admin_headers
    )
    assert unknown.status_code == 400, unknown.text
    assert unknown.json()["code"] == "invalid_input" and unknown.json()["field"] == "plan"
    assert TINY in unknown.json()["detail"]  # the configured plans are named

    path = f"/v1/organizations/{tiny.org_id}"
    bad = await client.put(path, json={"plan": "gold"}, headers=admin_headers)
    assert bad.status_code == 400 and bad.json()["field"] == "plan"
    moved = await client.put(path, json={"plan": "pro"}, headers=admin_headers)
    assert moved.status_code == 200 and moved.json()["plan"] == "pro"
    back = await client.put(path, json={"plan": TINY}, headers=admin_headers)
    assert back.status_code == 200 and back.json()["plan"] == TINY

    # The owner may not change it (organizations.py: only admins change the plan;
    # sending the plan it already has changes nothing and is allowed).
    denied = await client.put(path, json={"plan": "enterprise"}, headers=tiny.owner_headers)
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    same = await client.put(path, json={"plan": TINY}, headers=tiny.owner_headers)
    assert same.status_code == 200 and same.json()["plan"] == TINY
    member = await client.put(path, json={"plan": "enterprise"}, headers=tiny.member_headers)
    assert member.status_code == 403
    page = (await client.get(f"{path}/plan", headers=tiny.owner_headers)).json()
    assert page["plan"] == TINY


# -- PLANS_FILE ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("plans.toml", "[plans.tiny\nmax_projects = 1\n", "not valid TOML"),
        ("plans.toml", "[plans.tiny]\nmax_rooms = 1\n", "plans.tiny.max_rooms: unknown limit"),
        ("plans.toml", "[plans.tiny]\nmax_projects = 'two'\n", "plans.tiny.max_projects"),
        ("plans.toml", "[tiny]\nmax_projects = 1\n", "expected one table 'plans'"),
        ("plans.json", '{"plans": {"tiny": {"max_projects": -2}}}', "plans.tiny.max_projects"),
        ("plans.json", "{plans: 1}", "not valid JSON"),
    ],
)
def test_a_bad_plans_file_stops_the_start_naming_plans_file(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="PLANS_FILE") as raised:
        load_settings({"PLANS_FILE": str(path)}, env_file=None)
    assert message in str(raised.value) and str(path) in str(raised.value)


def test_a_missing_plans_file_stops_the_start_and_a_good_one_loads(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PLANS_FILE"):
        load_settings({"PLANS_FILE": str(tmp_path / "absent.toml")}, env_file=None)
    good = tmp_path / "plans.json"
    good.write_text('{"plans": {"tiny": {"max_projects": 1}}}', encoding="utf-8")
    assert load_settings({"PLANS_FILE": str(good)}, env_file=None).plans_file == str(good)
