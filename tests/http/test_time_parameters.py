"""Times a client sends are ISO 8601 with a time zone, or a 400 naming the field.

Found by fuzzing the OpenAPI document (issue 15): a time without a zone in
``/v1/events?since=`` or in a replay's body reached the stores, which compare only
timezone-aware times, and was a 500; a number was taken for a Unix timestamp. Each is now
a 400 naming the parameter, on every route that takes a time, with either backend.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.http.conftest import Tenant

Client = AsyncTestClient[Any]
NOT_TIMES = [
    ("2026-11-01T00:00:00", "must carry a time zone"),
    ("2026-11-01", "must carry a time zone"),
    ("1700000000", "must be an ISO 8601 date and time"),
    ("-1.5e-29", "must be an ISO 8601 date and time"),
    ("yesterday", "must be an ISO 8601 date and time"),
]


def _refused(response: Any, field: str, words: str) -> None:
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["field"] == field
    assert words in problem["detail"]


@pytest.mark.parametrize(("value", "words"), NOT_TIMES)
async def test_query_times_need_a_time_zone(
    client: Client, tenant_a: Tenant, admin_headers: dict[str, str], value: str, words: str
) -> None:
    project = tenant_a.project_headers
    for path, headers, name in (
        ("/v1/events", project, "since"),
        ("/v1/events", project, "until"),
        (f"/v1/projects/{tenant_a.project_id}/events", admin_headers, "since"),
        (f"/v1/projects/{tenant_a.project_id}/events", admin_headers, "until"),
        (f"/v1/organizations/{tenant_a.org_id}/audit-log", admin_headers, "since"),
        ("/v1/usage", project, "from"),
        ("/v1/usage", project, "to"),
        (f"/v1/organizations/{tenant_a.org_id}/usage", admin_headers, "from"),
    ):
        response = await client.get(path, params={name: value}, headers=headers)
        _refused(response, name, words)


async def test_query_times_with_a_zone_are_taken(
    client: Client, tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    for value in ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00+02:00"):
        events = await client.get(
            "/v1/events", params={"since": value}, headers=tenant_a.project_headers
        )
        assert events.status_code == 200, events.text
        audit = await client.get(
            f"/v1/organizations/{tenant_a.org_id}/audit-log",
            params={"since": value},
            headers=admin_headers,
        )
        assert audit.status_code == 200, audit.text


async def test_body_times_need_a_time_zone(client: Client, tenant_a: Tenant) -> None:
    endpoint = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": "https://hooks.example.com/pulse"},
        headers=tenant_a.project_headers,
    )
    assert endpoint.status_code == 201, endpoint.text
    replay = f"/v1/webhooks/endpoints/{endpoint.json()['id']}/replay"
    for body, field in (
        ({"since": "2026-11-01T00:00:00"}, "since"),
        ({"since": "2026-11-01T00:00:00Z", "until": "2026-11-02T00:00:00"}, "until"),
    ):
        response = await client.post(replay, json=body, headers=tenant_a.project_headers)
        _refused(response, field, "timezone")
    taken = await client.post(
        replay, json={"since": "2026-11-01T00:00:00Z"}, headers=tenant_a.project_headers
    )
    assert taken.status_code == 202, taken.text
    key = await client.post(
        f"/v1/projects/{tenant_a.project_id}/keys",
        json={"name": "naive", "expires_at": "2030-01-01T00:00:00"},
        headers=tenant_a.owner_headers,
    )
    _refused(key, "expires_at", "timezone")
