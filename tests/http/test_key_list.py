"""``GET /v1/projects/{id}/keys`` is a paged list like every other (API.md: ``{items,
next_cursor}``, ``?limit=`` 1..200, default 50, ``?cursor=``; a bad one is a 400 naming
it), the first key first; revoked and expired keys stay listed. A key's
``expires_at`` is answered and listed in UTC whatever offset it was given with (API.md:
timestamps are ISO 8601 UTC)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http.container import Container
from tests.http.conftest import Tenant

Client = AsyncTestClient[Any]


def _base(tenant: Tenant) -> str:
    return f"/v1/projects/{tenant.project_id}/keys"


async def _create(client: Client, tenant: Tenant, **body: Any) -> dict[str, Any]:
    created = await client.post(_base(tenant), json=body, headers=tenant.owner_headers)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


async def _page(client: Client, tenant: Tenant, **params: Any) -> dict[str, Any]:
    listed = await client.get(_base(tenant), params=params, headers=tenant.owner_headers)
    assert listed.status_code == 200, listed.text
    result: dict[str, Any] = listed.json()
    return result


def _advance(clock: ManualClock, container: Container, tenant: Tenant, seconds: float) -> None:
    """Move time on, and sign the owner in again (a management token lasts a day)."""
    clock.advance(seconds)
    auth = container.services.management_auth()
    token = auth.mint("owner", role="owner", org_id=tenant.org_id)
    tenant.owner_headers["Authorization"] = f"Bearer {token}"


async def _all_ids(client: Client, tenant: Tenant, limit: int) -> list[str]:
    """Every key id, page after page of ``limit``."""
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = await _page(client, tenant, **params)
        assert len(page["items"]) <= limit
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the pages never ended")


async def test_expires_at_is_answered_and_listed_in_utc(client: Client, tenant_a: Tenant) -> None:
    created = await _create(client, tenant_a, name="offset", expires_at="2031-01-01T00:00:00+05:00")
    assert created["expires_at"] == "2030-12-31T19:00:00Z"
    listed = await _page(client, tenant_a)
    (item,) = [i for i in listed["items"] if i["id"] == created["id"]]
    assert item["expires_at"] == "2030-12-31T19:00:00Z"
    for at in ("created_at", "revoked_at", "last_used_at"):
        assert item[at] is None or item[at].endswith("Z"), item


async def test_an_expiry_past_the_calendar_in_utc_is_400(client: Client, tenant_a: Tenant) -> None:
    refused = await client.post(
        _base(tenant_a),
        json={"name": "far", "expires_at": "9999-12-31T23:00:00-05:00"},
        headers=tenant_a.owner_headers,
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "expires_at"


async def test_keys_are_a_paged_list_first_key_first(
    client: Client, tenant_a: Tenant, clock: ManualClock
) -> None:
    made = []
    for i in range(5):
        made.append((await _create(client, tenant_a, name=f"k{i}"))["id"])
        clock.advance(1)
    expected = ["primary", *made]
    whole = await _page(client, tenant_a)
    assert [i["id"] for i in whole["items"]] == expected
    assert whole["next_cursor"] is None
    for limit in (1, 2, 3, 6):
        assert await _all_ids(client, tenant_a, limit) == expected, limit
    first = await _page(client, tenant_a, limit=2)
    assert first["next_cursor"] == made[0]
    after_primary = await _page(client, tenant_a, limit=2, cursor="primary")
    assert [i["id"] for i in after_primary["items"]] == made[:2]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "prj_01HZZZZZZZZZZZZZZZZZZZZZZZ"}, "cursor"),
    ],
)
async def test_a_bad_limit_or_cursor_is_400_naming_it(
    client: Client, tenant_a: Tenant, params: dict[str, Any], field: str
) -> None:
    response = await client.get(_base(tenant_a), params=params, headers=tenant_a.owner_headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field


async def test_revoked_and_expired_keys_stay_listed(
    client: Client, tenant_a: Tenant, clock: ManualClock, container: Container
) -> None:
    revoked = await _create(client, tenant_a, name="revoked")
    clock.advance(1)
    expiring = (clock.now() + timedelta(days=2)).isoformat()
    expired = await _create(client, tenant_a, name="expiring", expires_at=expiring)
    clock.advance(1)
    live = await _create(client, tenant_a, name="live")
    gone = await client.delete(f"{_base(tenant_a)}/{revoked['id']}", headers=tenant_a.owner_headers)
    assert gone.status_code == 204
    _advance(clock, container, tenant_a, timedelta(days=3).total_seconds())
    everything = ["primary", revoked["id"], expired["id"], live["id"]]
    assert await _all_ids(client, tenant_a, 1) == everything
    assert await _all_ids(client, tenant_a, 50) == everything
