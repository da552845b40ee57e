"""The monthly minutes of a plan (API.md, "Usage and quotas"), on both backends:
participant minutes metered from signed LiveKit join/leave events stop new tokens once
spent (at once on the replica that metered them: the periodic refresh is off here), an
organization under its limit mints on; egress minutes spent stop new egresses; and
``usage.quota_warning`` (80 %) and ``usage.quota_exceeded`` (100 %) reach every project
of the organization once each.

Waits are on the event log: the worker publishes ``participant.left`` only after the
leave was metered and the quota hooks ran (LiveKitEventProcessor.apply), so once it is
there, everything the leave caused is too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_core import rooms
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_tenant
from tests.support import livekit_webhooks as lk
from tests.support.quotas import (
    TINY,
    assert_quota,
    limits_of,
    no_periodic_allowance_refresh,
    post_livekit,
    quota_settings,
    real_time_clock,
    until,
)

Client = AsyncTestClient[Any]
EVENTS = "/v1/events?limit=200"
NOTICES = ("usage.quota_warning", "usage.quota_exceeded")
START_BODY = {"room": "demo", "kind": "room_composite"}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return quota_settings(settings, tmp_path)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    no_periodic_allowance_refresh(monkeypatch)
    return real_time_clock()


async def _tiny(client: Client, container: Container, admin: dict[str, str], name: str) -> Tenant:
    return await make_tenant(client, container, admin, name, plan=TINY)


async def _connection(client: Client, tenant: Tenant, sid: str, minutes: int) -> None:
    """Someone in the tenant's room for ``minutes`` whole minutes, ending now, as LiveKit
    reports it (joined, then left); returns once the leave was applied."""
    left = int(time.time())
    joined = left - minutes * 60
    livekit_room = rooms.to_livekit(tenant.project_id, "call")
    person = lk.participant(f"user-{sid}", sid=sid, joined_at=joined)
    for name, at in (("participant_joined", joined), ("participant_left", left)):
        event = lk.webhook_event(
            name, created_at=at, room=lk.room(livekit_room), participant=person
        )
        await post_livekit(client, event)
    await until(
        client,
        EVENTS,
        tenant.project_headers,
        lambda body: any(
            e["type"] == "participant.left" and e["data"]["participant"]["sid"] == sid
            for e in body["items"]
        ),
    )


async def _mint(client: Client, tenant: Tenant) -> Any:
    body = {"identity": "someone", "room": "call"}
    return await client.post("/v1/tokens/create", json=body, headers=tenant.project_headers)


async def _notices(client: Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    items = (await client.get(EVENTS, headers=headers)).json()["items"]
    return [e for e in items if e["type"] in NOTICES]


async def test_tokens_stop_once_the_months_participant_minutes_are_spent(
    client: Client, container: Container, admin_headers: dict[str, str]
) -> None:
    spender = await _tiny(client, container, admin_headers, "Spender")
    saver = await _tiny(client, container, admin_headers, "Saver")
    assert (await _mint(client, spender)).status_code == 201

    await _connection(client, spender, "PA_spender_1", minutes=6)
    assert (await _mint(client, spender)).status_code == 201  # 6 of 10
    await _connection(client, saver, "PA_saver_1", minutes=9)
    await _connection(client, spender, "PA_spender_2", minutes=4)

    # 10 of 10: refused by this replica, which metered it (no refresh has run).
    assert_quota(await _mint(client, spender), "monthly_participant_minutes", 10, 10)
    # 9 of 10, on the same plan: unaffected.
    assert (await _mint(client, saver)).status_code == 201
    # Other calls of the spender still work; only new tokens stop.
    assert (await client.get("/v1/project", headers=spender.project_headers)).status_code == 200

    plan = f"/v1/organizations/{spender.org_id}/plan"
    page = limits_of((await client.get(plan, headers=spender.owner_headers)).json())
    assert page["monthly_participant_minutes"] == (10, 10)
    saver_plan = f"/v1/organizations/{saver.org_id}/plan"
    saved = limits_of((await client.get(saver_plan, headers=saver.owner_headers)).json())
    assert saved["monthly_participant_minutes"] == (10, 9)


async def test_quota_notices_reach_every_project_once_each(
    client: Client, container: Container, admin_headers: dict[str, str]
) -> None:
    tenant = await _tiny(client, container, admin_headers, "Noticed")
    second = await client.post(
        "/v1/projects",
        json={"org_id": tenant.org_id, "name": "Second"},
        headers=tenant.owner_headers,
    )
    assert second.status_code == 201, second.text
    projects = [
        tenant.project_headers,
        {"X-Pulse-Key": second.json()["api_key"], "X-Pulse-Secret": second.json()["api_secret"]},
    ]

    await _connection(client, tenant, "PA_n1", minutes=7)  # 70 %: nothing yet
    for headers in projects:
        assert await _notices(client, headers) == []

    await _connection(client, tenant, "PA_n2", minutes=1)  # 80 %
    for headers in projects:
        [warning] = await _notices(client, headers)
        assert warning["type"] == "usage.quota_warning"
        assert warning["data"]["limit"] == "monthly_participant_minutes"
        assert (warning["data"]["value"], warning["data"]["used"]) == (10, 8)
        assert warning["data"]["organization_id"] == tenant.org_id

    await _connection(client, tenant, "PA_n3", minutes=2)  # 100 %
    await _connection(client, tenant, "PA_n4", minutes=3)  # more: told already
    await _connection(client, tenant, "PA_n5", minutes=1)
    for headers in projects:
        notices = await _notices(client, headers)
        assert sorted(n["type"] for n in notices) == sorted(NOTICES), notices
        [exceeded] = [n for n in notices if n["type"] == "usage.quota_exceeded"]
        assert (exceeded["data"]["value"], exceeded["data"]["used"]) == (10, 10)
        assert exceeded["data"]["limit"] == "monthly_participant_minutes"
    plan = f"/v1/organizations/{tenant.org_id}/plan"
    page = (await client.get(plan, headers=tenant.owner_headers)).json()
    assert limits_of(page)["monthly_participant_minutes"] == (10, 14)


async def test_an_egress_is_refused_once_the_months_egress_minutes_are_spent(
    client: Client, container: Container, admin_headers: dict[str, str], clock: ManualClock
) -> None:
    tenant = await _tiny(client, container, admin_headers, "Recorder")
    h = tenant.project_headers

    async def record(minutes: int) -> Any:
        started = await client.post("/v1/media/egress/start", json=START_BODY, headers=h)
        if started.status_code != 201:
            return started
        egress_id = started.json()["id"]
        # A second short of whole minutes: rounded up, exactly ``minutes``. (Not whole
        # minutes on the dot: MongoDB keeps the start to the millisecond, and the end's
        # extra microseconds would round up to one minute more.)
        clock.advance(minutes * 60 - 1)
        stop = await client.post("/v1/media/egress/stop", json={"egress_id": egress_id}, headers=h)
        assert stop.status_code == 200, stop.text
        # Seen complete: metered (and the quota hooks run) within this read.
        done = await client.get(f"/v1/media/egress/{egress_id}", headers=h)
        assert done.json()["status"] == "complete", done.text
        return started

    assert (await record(2)).status_code == 201
    below = await record(1)
    assert below.status_code == 201, below.text  # 2 of 3 used: one below passes
    assert_quota(await record(1), "monthly_egress_minutes", 3, 3)

    plan = f"/v1/organizations/{tenant.org_id}/plan"
    limits = limits_of((await client.get(plan, headers=tenant.owner_headers)).json())
    assert limits["monthly_egress_minutes"] == (3, 3)
    assert limits["max_concurrent_egress"] == (1, 0)
    # 2 of 3 was under 80 %; 3 of 3 is past both lines at once: the warning and the
    # exceeded notice, told within the read above (in the same millisecond: by type).
    notices = sorted(await _notices(client, h), key=lambda e: str(e["type"]))
    assert [n["type"] for n in notices] == ["usage.quota_exceeded", "usage.quota_warning"]
    for notice in notices:
        assert (notice["data"]["limit"], notice["data"]["used"]) == ("monthly_egress_minutes", 3)
    # Tokens are another limit: still minted.
    assert (await _mint(client, tenant)).status_code == 201
