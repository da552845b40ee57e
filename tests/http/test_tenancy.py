"""Two tenants: nothing of organization B is visible or writable from A."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.http.conftest import Tenant


async def test_owner_of_a_gets_404_for_everything_of_b(
    client: AsyncTestClient[Any], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    a = tenant_a.owner_headers
    calls = [
        ("GET", f"/v1/organizations/{tenant_b.org_id}", None),
        ("PUT", f"/v1/organizations/{tenant_b.org_id}", {"name": "Owned"}),
        ("DELETE", f"/v1/organizations/{tenant_b.org_id}", None),
        ("GET", f"/v1/projects/{tenant_b.project_id}", None),
        ("PUT", f"/v1/projects/{tenant_b.project_id}", {"name": "Owned"}),
        ("DELETE", f"/v1/projects/{tenant_b.project_id}", None),
        ("POST", f"/v1/projects/{tenant_b.project_id}/regenerate-keys", None),
        ("GET", f"/v1/projects?org_id={tenant_b.org_id}", None),
        ("POST", "/v1/projects", {"org_id": tenant_b.org_id, "name": "Sneaky"}),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, json=body, headers=a)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "not_found"
    # B is untouched and its keys still work.
    assert (await client.get("/v1/project", headers=tenant_b.project_headers)).status_code == 200
    own = await client.get(f"/v1/organizations/{tenant_b.org_id}", headers=tenant_b.owner_headers)
    assert own.json()["name"] == "Bravo"


async def test_lists_only_show_the_callers_organization(
    client: AsyncTestClient[Any], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    orgs = (await client.get("/v1/organizations", headers=tenant_a.owner_headers)).json()
    assert [o["id"] for o in orgs["items"]] == [tenant_a.org_id]
    projects = (await client.get("/v1/projects", headers=tenant_a.owner_headers)).json()
    assert [p["id"] for p in projects["items"]] == [tenant_a.project_id]


async def test_member_reads_but_cannot_write(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    m = tenant_a.member_headers
    assert (await client.get(f"/v1/organizations/{tenant_a.org_id}", headers=m)).status_code == 200
    assert (await client.get(f"/v1/projects/{tenant_a.project_id}", headers=m)).status_code == 200
    writes = [
        ("PUT", f"/v1/organizations/{tenant_a.org_id}", {"name": "X"}),
        ("DELETE", f"/v1/organizations/{tenant_a.org_id}", None),
        ("POST", "/v1/projects", {"org_id": tenant_a.org_id, "name": "X"}),
        ("PUT", f"/v1/projects/{tenant_a.project_id}", {"name": "X"}),
        ("DELETE", f"/v1/projects/{tenant_a.project_id}", None),
        ("POST", f"/v1/projects/{tenant_a.project_id}/regenerate-keys", None),
    ]
    for method, path, body in writes:
        response = await client.request(method, path, json=body, headers=m)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "permission_denied"
    assert (await client.get("/v1/project", headers=tenant_a.project_headers)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/organizations"),
        ("POST", "/v1/organizations"),
        ("GET", "/v1/projects"),
        ("GET", "/v1/projects/{project_id}"),
        ("POST", "/v1/projects/{project_id}/regenerate-keys"),
        ("DELETE", "/v1/projects/{project_id}"),
    ],
)
async def test_project_credentials_cannot_reach_management_routes(
    client: AsyncTestClient[Any], tenant_a: Tenant, method: str, path: str
) -> None:
    url = path.format(project_id=tenant_a.project_id)
    for headers in (tenant_a.project_headers, {"Authorization": f"Bearer {tenant_a.api_key}"}):
        response = await client.request(method, url, headers=headers, json={})
        assert response.status_code == 403, response.text
    assert (await client.get("/v1/project", headers=tenant_a.project_headers)).status_code == 200


async def test_management_token_cannot_act_as_a_project(
    client: AsyncTestClient[Any], tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    response = await client.get("/v1/project", headers=admin_headers)
    assert response.status_code == 403
