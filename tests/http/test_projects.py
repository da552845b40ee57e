from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from tests.http.conftest import Tenant


async def test_create_shows_the_secret_once(client: AsyncTestClient[Any], tenant_a: Tenant) -> None:
    assert tenant_a.api_key.startswith("pulse_key_")
    assert tenant_a.api_secret.startswith("pulse_secret_")
    fetched = await client.get(
        f"/v1/projects/{tenant_a.project_id}", headers=tenant_a.owner_headers
    )
    assert fetched.status_code == 200
    body = fetched.json()
    assert body["api_key"] == tenant_a.api_key
    assert "api_secret" not in body and tenant_a.api_secret not in fetched.text
    assert not any("hash" in key for key in body)
    listed = await client.get("/v1/projects", headers=tenant_a.owner_headers)
    assert tenant_a.api_secret not in listed.text


async def test_settings_round_trip_and_partial_update(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    created = await client.post(
        "/v1/projects",
        json={
            "org_id": tenant_a.org_id,
            "name": "Configured",
            "webhook_url": "https://hooks.example.com/pulse",
            "rate_limit": {"requests": 100, "period": "minute", "burst": 20},
            "token_ttl_default_seconds": 600,
            "token_ttl_max_seconds": 3600,
        },
        headers=tenant_a.owner_headers,
    )
    assert created.status_code == 201, created.text
    project = created.json()
    assert project["rate_limit"] == {"requests": 100, "period": "minute", "burst": 20}
    updated = await client.put(
        f"/v1/projects/{project['id']}",
        json={"webhook_url": None, "name": "Renamed"},
        headers=tenant_a.owner_headers,
    )
    assert updated.status_code == 200
    body = updated.json()
    assert body["webhook_url"] is None and body["name"] == "Renamed"
    assert body["token_ttl_default_seconds"] == 600


async def test_token_ttls_that_disagree_are_refused_naming_the_one_sent(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    path = f"/v1/projects/{tenant_a.project_id}"
    headers = tenant_a.owner_headers
    ok = await client.put(path, json={"token_ttl_default_seconds": 3600}, headers=headers)
    assert ok.status_code == 200, ok.text
    for body, field in (
        ({"token_ttl_max_seconds": 600}, "token_ttl_max_seconds"),  # below the stored default
        (
            {"token_ttl_max_seconds": 600, "token_ttl_default_seconds": 900},
            "token_ttl_default_seconds",
        ),
    ):
        refused = await client.put(path, json=body, headers=headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == field, refused.json()
    kept = await client.get(path, headers=headers)
    assert kept.json()["token_ttl_max_seconds"] is None
    assert kept.json()["token_ttl_default_seconds"] == 3600


async def test_project_credentials_authenticate(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    me = await client.get("/v1/project", headers=tenant_a.project_headers)
    assert me.status_code == 200
    assert me.json()["id"] == tenant_a.project_id


def _other_last(value: str) -> str:
    """``value`` with another last character (never the same one: a key may end in x)."""
    return value[:-1] + ("y" if value.endswith("x") else "x")


async def test_wrong_credentials_are_one_401_whatever_was_wrong(
    client: AsyncTestClient[Any], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    variants = [
        {},
        {"X-Pulse-Key": tenant_a.api_key},
        {"X-Pulse-Key": tenant_a.api_key, "X-Pulse-Secret": tenant_b.api_secret},
        {"X-Pulse-Key": tenant_a.api_key, "X-Pulse-Secret": _other_last(tenant_a.api_secret)},
        {"X-Pulse-Key": _other_last(tenant_a.api_key), "X-Pulse-Secret": tenant_a.api_secret},
        {"X-Pulse-Key": "pulse_key_nope", "X-Pulse-Secret": tenant_a.api_secret},
        {"Authorization": f"Bearer {tenant_a.api_key}"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
    ]
    bodies = set()
    for headers in variants:
        response = await client.get("/v1/project", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"]
        body = response.json()
        bodies.add((body["detail"], body["code"], body["title"]))
    assert len(bodies) == 1


async def test_regenerate_without_grace_revokes_at_once(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    response = await client.post(
        f"/v1/projects/{tenant_a.project_id}/regenerate-keys", headers=tenant_a.owner_headers
    )
    assert response.status_code == 200
    keys = response.json()
    assert keys["previous_key_expires_at"] is None
    assert (await client.get("/v1/project", headers=tenant_a.project_headers)).status_code == 401
    fresh = {"X-Pulse-Key": keys["api_key"], "X-Pulse-Secret": keys["api_secret"]}
    assert (await client.get("/v1/project", headers=fresh)).status_code == 200


async def test_regenerate_with_grace_keeps_the_old_pair_until_it_expires(
    client: AsyncTestClient[Any], clock: ManualClock, tenant_a: Tenant
) -> None:
    response = await client.post(
        f"/v1/projects/{tenant_a.project_id}/regenerate-keys",
        json={"grace_period_seconds": 60},
        headers=tenant_a.owner_headers,
    )
    assert response.status_code == 200, response.text
    keys = response.json()
    assert keys["previous_key_expires_at"] is not None
    fresh = {"X-Pulse-Key": keys["api_key"], "X-Pulse-Secret": keys["api_secret"]}
    assert (await client.get("/v1/project", headers=tenant_a.project_headers)).status_code == 200
    assert (await client.get("/v1/project", headers=fresh)).status_code == 200
    clock.advance(61)
    assert (await client.get("/v1/project", headers=tenant_a.project_headers)).status_code == 401
    assert (await client.get("/v1/project", headers=fresh)).status_code == 200


async def test_grace_period_out_of_range_is_400(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    for value in (-1, 86_401):
        response = await client.post(
            f"/v1/projects/{tenant_a.project_id}/regenerate-keys",
            json={"grace_period_seconds": value},
            headers=tenant_a.owner_headers,
        )
        assert response.status_code == 400
        assert response.json()["field"] == "grace_period_seconds"


async def test_deleting_a_project_revokes_its_keys(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    assert (await client.get("/v1/project", headers=tenant_a.project_headers)).status_code == 200
    response = await client.delete(
        f"/v1/projects/{tenant_a.project_id}", headers=tenant_a.owner_headers
    )
    assert response.status_code == 204
    assert (await client.get("/v1/project", headers=tenant_a.project_headers)).status_code == 401


async def test_project_list_is_scoped_and_paginated(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    for i in range(3):
        await client.post(
            "/v1/projects",
            json={"org_id": tenant_a.org_id, "name": f"P{i}"},
            headers=tenant_a.owner_headers,
        )
    page = await client.get(
        "/v1/projects",
        params={"org_id": tenant_a.org_id, "limit": 3},
        headers=tenant_a.owner_headers,
    )
    body = page.json()
    assert len(body["items"]) == 3 and body["next_cursor"]
    rest = await client.get(
        "/v1/projects",
        params={"org_id": tenant_a.org_id, "limit": 3, "cursor": body["next_cursor"]},
        headers=tenant_a.owner_headers,
    )
    assert len(rest.json()["items"]) == 1 and rest.json()["next_cursor"] is None
