from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.http.conftest import Tenant


async def test_create_get_update_list_delete(
    client: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/organizations",
        json={"name": "Acme", "admin_email": "Ops@Acme.Test", "plan": "pro"},
        headers=admin_headers,
    )
    assert created.status_code == 201
    org = created.json()
    assert org["admin_email"] == "ops@acme.test" and org["plan"] == "pro"
    assert set(org) == {"id", "name", "admin_email", "plan", "created_at", "updated_at"}
    assert org["id"].startswith("org_") and org["created_at"].endswith("Z")

    fetched = await client.get(f"/v1/organizations/{org['id']}", headers=admin_headers)
    assert fetched.json() == org

    updated = await client.put(
        f"/v1/organizations/{org['id']}", json={"name": "Acme Inc"}, headers=admin_headers
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "Acme Inc" and updated.json()["plan"] == "pro"

    listed = await client.get("/v1/organizations", headers=admin_headers)
    assert [o["id"] for o in listed.json()["items"]] == [org["id"]]

    deleted = await client.delete(f"/v1/organizations/{org['id']}", headers=admin_headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/v1/organizations/{org['id']}", headers=admin_headers)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")


async def test_duplicate_admin_email_is_409_until_deleted(
    client: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    body = {"name": "Acme", "admin_email": "ops@acme.test"}
    first = await client.post("/v1/organizations", json=body, headers=admin_headers)
    second = await client.post(
        "/v1/organizations", json={**body, "admin_email": "OPS@acme.test"}, headers=admin_headers
    )
    assert second.status_code == 409
    assert second.json()["code"] == "conflict" and second.json()["field"] == "admin_email"
    await client.delete(f"/v1/organizations/{first.json()['id']}", headers=admin_headers)
    third = await client.post("/v1/organizations", json=body, headers=admin_headers)
    assert third.status_code == 201


async def test_cursor_pagination(
    client: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    ids = []
    for i in range(5):
        r = await client.post(
            "/v1/organizations",
            json={"name": f"Org {i}", "admin_email": f"o{i}@x.test"},
            headers=admin_headers,
        )
        ids.append(r.json()["id"])
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/organizations", params=params, headers=admin_headers)).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids)


async def test_delete_cascades_to_projects_and_revokes_keys(
    client: AsyncTestClient[Any], admin_headers: dict[str, str], tenant_a: Tenant
) -> None:
    assert (await client.get("/v1/project", headers=tenant_a.project_headers)).status_code == 200
    response = await client.delete(f"/v1/organizations/{tenant_a.org_id}", headers=admin_headers)
    assert response.status_code == 204
    assert (await client.get("/v1/project", headers=tenant_a.project_headers)).status_code == 401
    project = await client.get(f"/v1/projects/{tenant_a.project_id}", headers=admin_headers)
    assert project.status_code == 404


async def test_only_admins_create_and_only_admins_change_plan(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    create = await client.post(
        "/v1/organizations",
        json={"name": "Mine", "admin_email": "me@x.test"},
        headers=tenant_a.owner_headers,
    )
    assert create.status_code == 403
    # The tenant is on the unlimited plan (tests/http/conftest.py): ask for another.
    plan = await client.put(
        f"/v1/organizations/{tenant_a.org_id}",
        json={"plan": "free"},
        headers=tenant_a.owner_headers,
    )
    assert plan.status_code == 403
    rename = await client.put(
        f"/v1/organizations/{tenant_a.org_id}", json={"name": "New"}, headers=tenant_a.owner_headers
    )
    assert rename.status_code == 200


async def test_an_owner_taking_a_used_admin_email_learns_nothing_of_the_other_organization(
    client: AsyncTestClient[Any], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    ours, theirs = tenant_a, tenant_b
    taken = await client.put(
        f"/v1/organizations/{ours.org_id}",
        json={"admin_email": "admin@bravo.test"},  # tenant_b's
        headers=ours.owner_headers,
    )
    assert taken.status_code == 409
    problem = taken.json()
    assert problem["field"] == "admin_email"
    assert "each organization on this platform needs an admin_email of its own" in problem["detail"]
    assert theirs.org_id not in taken.text and "Bravo" not in problem["detail"]
    # The same words whoever holds the address, so the answer confirms no organization.
    mine = await client.put(
        f"/v1/organizations/{theirs.org_id}",
        json={"admin_email": "admin@alpha.test"},
        headers=theirs.owner_headers,
    )
    assert mine.json()["detail"] == problem["detail"]
