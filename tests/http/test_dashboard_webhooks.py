"""The webhooks pages over HTTP, on both persistence backends: what a link can make an
endpoint's page say."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from pulse_core.services.webhooks import MAX_REPLAY_EVENTS
from pulse_http.container import Container
from tests.http.conftest import Tenant
from tests.http.test_dashboard_keys import signed_in_as

Client = AsyncTestClient[Any]
NOTICE = "queued for delivery again."


@pytest.mark.parametrize(
    ("replayed", "shown"),
    [
        ("3", "3 events"),
        ("1", "1 event"),
        ("0", "0 events"),
        (str(MAX_REPLAY_EVENTS), f"{MAX_REPLAY_EVENTS} events"),
        ("-5", None),
        ("+5", None),
        (" 5", None),
        ("5.0", None),
        ("\u0665", None),  # ARABIC-INDIC DIGIT FIVE: a digit, not one a redirect writes
        ("abc", None),
        ("", None),
        (str(MAX_REPLAY_EVENTS + 1), None),
        ("9" * 5000, None),
    ],
)
async def test_the_replay_notice_shows_only_a_count_a_replay_can_queue(
    client: Client, container: Container, tenant_a: Tenant, replayed: str, shown: str | None
) -> None:
    created = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": "https://hooks.example.com/pulse", "event_types": ["room.started"]},
        headers=tenant_a.project_headers,
    )
    assert created.status_code == 201, created.text
    signed_in_as(client, container, "member", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}/webhooks/{created.json()['id']}"

    page = await client.get(url, params={"replayed": replayed})
    assert page.status_code == 200, page.text[:2000]
    if shown is None:
        assert NOTICE not in page.text
    else:
        assert f"{shown} {NOTICE}" in page.text
