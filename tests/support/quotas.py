"""What the quota tests share: an operator's PLANS_FILE with a tiny plan, settings and a
container on it, and the checks of a quota refusal.

Not a plugin: functions imported by tests/http/test_quota*.py and
tests/integration/test_quota_replicas.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http import lifecycle
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.support import livekit_webhooks as lk

TINY = "tiny"
ONE_EGRESS = "one-egress"
#: The operator's plans: ``tiny`` small enough to meet every limit in a test; ``roomy``
#: leaves out every limit but one (left out: unlimited) and says -1 for another;
#: ``one-egress`` limits concurrent egresses only (a test may start and end many);
#: ``no-video`` lets no one into a room (0, which LiveKit would read as no limit).
PLANS_TOML = """\
[plans.tiny]
max_projects = 2
max_concurrent_egress = 1
max_concurrent_ingress = 1
max_participants_per_room = 5
monthly_participant_minutes = 10
monthly_egress_minutes = 3
monthly_ingress_minutes = 60

[plans.roomy]
max_projects = 7
monthly_egress_minutes = -1

[plans.one-egress]
max_concurrent_egress = 1

[plans.no-video]
max_participants_per_room = 0
"""
LIMIT_NAMES = [
    "max_projects",
    "max_concurrent_egress",
    "max_concurrent_ingress",
    "max_participants_per_room",
    "monthly_participant_minutes",
    "monthly_egress_minutes",
    "monthly_ingress_minutes",
]
TINY_LIMITS = {
    "max_projects": 2,
    "max_concurrent_egress": 1,
    "max_concurrent_ingress": 1,
    "max_participants_per_room": 5,
    "monthly_participant_minutes": 10,
    "monthly_egress_minutes": 3,
    "monthly_ingress_minutes": 60,
}
#: Bounds only: a loaded 2-core machine must never fail a test by being slow.
PATIENCE_SECONDS = 60.0


def write_plans(directory: Path) -> Path:
    path = directory / "plans.toml"
    path.write_text(PLANS_TOML, encoding="utf-8")
    return path


def quota_settings(settings: Settings, directory: Path, **changes: Any) -> Settings:
    """``settings`` with the plans of :data:`PLANS_TOML`, the LiveKit key the test
    webhooks are signed with, and rate limits no test meets (the clock stands still)."""
    return msgspec.structs.replace(
        settings,
        plans_file=str(write_plans(directory)),
        livekit_api_key=lk.API_KEY,
        livekit_api_secret=lk.API_SECRET,
        rate_limit_requests=100_000,
        rate_limit_burst=100_000,
        **changes,
    )


def no_periodic_allowance_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps created after this never run the 10-second token allowance refresh during a
    test: a refusal they give comes from the replica's own metering, at once."""
    monkeypatch.setattr(lifecycle, "QUOTA_REFRESH_SECONDS", 3600.0)


def real_time_clock() -> ManualClock:
    """LiveKit's webhook tokens are checked against the clock: start it at the real time."""
    return ManualClock(datetime.now(tz=UTC))


def admin_headers(container: Container) -> dict[str, str]:
    token = container.services.management_auth().mint("test-admin", role="admin")
    return {"Authorization": f"Bearer {token}"}


def assert_quota(response: Any, limit: str, value: int, used: int) -> dict[str, Any]:
    """``response`` is the 403 problem+json refusing ``limit`` (``value``) at ``used``."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == "quota_exceeded" and body["type"] == "urn:pulse:problem:quota_exceeded"
    assert (body["limit"], body["value"], body["used"]) == (limit, value, used), body
    assert body["status"] == 403 and body["detail"]
    return body


async def until(
    client: AsyncTestClient[Any],
    path: str,
    headers: dict[str, str],
    check: Callable[[Any], bool],
) -> Any:
    """GET ``path`` until ``check`` holds of its JSON (the in-process worker applies
    LiveKit's events in the background); a bounded wait, never a fixed sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_SECONDS
    while True:
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        if check(body):
            return body
        if loop.time() > deadline:
            raise AssertionError(f"{path} never became what was expected: {body}")
        await asyncio.sleep(0.05)


async def post_livekit(client: AsyncTestClient[Any], event: Any) -> None:
    """POST ``event`` as LiveKit's server does (signed protojson)."""
    body, headers = lk.signed(event)
    response = await client.post("/v1/livekit/webhook", content=body, headers=headers)
    assert response.status_code == 200, response.text


def limits_of(plan_page: dict[str, Any]) -> dict[str, tuple[int | None, int]]:
    """``{name: (limit, used)}`` of a ``GET /v1/organizations/{id}/plan`` answer."""
    return {item["name"]: (item["limit"], item["used"]) for item in plan_page["limits"]}
