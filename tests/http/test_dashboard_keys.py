"""The keys page over HTTP, on both persistence backends: what a member may see and is
refused, another tenant's keys kept apart, and the list paged.

The browser test (tests/dashboard/test_keys.py) shows the forms working; these show the
refusals that need a member or many keys, cheaper without a browser."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http.container import Container
from pulse_http.dashboard.session import COOKIE
from tests.http.conftest import Tenant

Client = AsyncTestClient[Any]


def csrf_of(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def signed_in_as(client: Client, container: Container, role: str, org_id: str | None) -> None:
    token = container.services.management_auth().mint(f"{role}-1", role=role, org_id=org_id)
    client.cookies.set(COOKIE, token, path="/dashboard")


async def named_key(client: Client, tenant: Tenant, name: str) -> dict[str, Any]:
    created = await client.post(
        f"/v1/projects/{tenant.project_id}/keys",
        json={"name": name, "scopes": ["rooms:read"]},
        headers=tenant.owner_headers,
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def test_a_member_sees_the_keys_without_forms_and_every_write_is_refused(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    key = await named_key(client, tenant_a, "billing")
    url = f"/dashboard/projects/{tenant_a.project_id}/keys"
    signed_in_as(client, container, "member", tenant_a.org_id)

    page = await client.get(url)
    assert page.status_code == 200, page.text
    assert tenant_a.api_key in page.text
    assert key["api_key"] in page.text and "billing" in page.text
    assert "Create key" not in page.text and "Rotate primary key" not in page.text
    assert "/revoke" not in page.text
    assert key["api_secret"] not in page.text

    token = csrf_of(page.text)
    posts: list[tuple[str, dict[str, str]]] = [
        (url, {"name": "sneaky", "scopes": "rooms:read"}),
        (f"{url}/rotate", {"grace_period_seconds": "0"}),
        (f"{url}/{key['id']}/revoke", {}),
    ]
    for target, form in posts:
        refused = await client.post(target, data={**form, "_csrf_token": token})
        assert refused.status_code == 403, (target, refused.text)
        assert "Not allowed" in refused.text

    # Nothing changed: no new key, the same primary pair, the named key still works.
    listed = await client.get(
        f"/v1/projects/{tenant_a.project_id}/keys", headers=tenant_a.owner_headers
    )
    items = listed.json()["items"]
    assert [k["name"] for k in items] == ["primary", "billing"]
    assert items[0]["api_key"] == tenant_a.api_key
    assert items[1]["revoked_at"] is None


async def test_another_organizations_keys_are_not_found(
    client: Client, container: Container, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    key = await named_key(client, tenant_b, "theirs")
    signed_in_as(client, container, "owner", tenant_a.org_id)
    own = await client.get(f"/dashboard/projects/{tenant_a.project_id}/keys")
    assert own.status_code == 200
    token = csrf_of(own.text)

    other = f"/dashboard/projects/{tenant_b.project_id}/keys"
    page = await client.get(other)
    assert page.status_code == 404
    assert tenant_b.api_key not in page.text and key["api_key"] not in page.text
    revoke = await client.post(f"{other}/{key['id']}/revoke", data={"_csrf_token": token})
    assert revoke.status_code == 404
    listed = await client.get(
        f"/v1/projects/{tenant_b.project_id}/keys", headers=tenant_b.owner_headers
    )
    assert listed.json()["items"][1]["revoked_at"] is None


async def test_revoking_the_primary_key_is_refused_on_the_page(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}/keys"
    page = await client.get(url)
    refused = await client.post(f"{url}/primary/revoke", data={"_csrf_token": csrf_of(page.text)})
    assert refused.status_code == 409
    assert "rotated with regenerate-keys" in refused.text
    assert "<h1>Keys</h1>" in refused.text


def last_used_cell(html: str, key_id: str) -> str:
    """The "Last used" cell of the key's row."""
    row = re.search(rf'<tr data-key-id="{key_id}">(.*?)</tr>', html, re.S)
    assert row, html[:2000]
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    return str(cells[4]).strip()


async def test_the_primary_keys_last_use_is_shown_like_the_others(
    client: Client, container: Container, tenant_a: Tenant, clock: ManualClock
) -> None:
    signed_in_as(client, container, "member", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}/keys"
    assert last_used_cell((await client.get(url)).text, "primary") == "—"

    clock.advance(90)
    used = await client.get("/v1/project", headers=tenant_a.project_headers)
    assert used.status_code == 200, used.text
    client.blocking_portal.call(container.services.key_usage().flush)
    shown = last_used_cell((await client.get(url)).text, "primary")
    assert shown.startswith(f'<time datetime="{clock.now().isoformat()}">'), shown


async def test_the_list_is_paged(client: Client, container: Container, tenant_a: Tenant) -> None:
    for i in range(50):
        await named_key(client, tenant_a, f"svc-{i:02d}")
    listed = await client.get(
        f"/v1/projects/{tenant_a.project_id}/keys",
        params={"limit": 200},  # one page of the API's (its default is 50)
        headers=tenant_a.owner_headers,
    )
    # The API's order (by id; keys made in the same millisecond of the test's stopped
    # clock are in no particular order), without the primary key.
    names = [k["name"] for k in listed.json()["items"][1:]]
    assert sorted(names) == [f"svc-{i:02d}" for i in range(50)]
    signed_in_as(client, container, "owner", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}/keys"

    first = await client.get(url)
    assert first.status_code == 200
    shown = re.findall(r"<td>(svc-\d\d)<br>", first.text)
    assert shown == names[:49]  # the primary key, then 49 named keys
    more = re.search(r'href="([^"]+cursor=[^"]+)" rel="next"', first.text)
    assert more, "no next page link"

    second = await client.get(more.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert re.findall(r"<td>(svc-\d\d)<br>", second.text) == names[49:]
    assert 'rel="next"' not in second.text
    assert 'data-key-id="primary"' not in second.text


async def test_a_blank_grace_period_is_refused_and_the_primary_key_keeps_working(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    """The API's default grace is 0: a cleared field must not revoke the key at once."""
    signed_in_as(client, container, "owner", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}/keys"
    page = await client.get(url)
    prefilled = r'name="grace_period_seconds" type="number" value="3600"\s+required'
    assert re.search(prefilled, page.text)

    refused = await client.post(
        f"{url}/rotate", data={"grace_period_seconds": " ", "_csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 400, refused.text[:2000]
    assert (
        '<small id="e-grace_period_seconds" class="field-error" role="alert">'
        "grace period is required; 0 revokes the old key at once</small>"
    ) in refused.text
    # Not rotated: the same key, still working.
    still = await client.get("/v1/project", headers=tenant_a.project_headers)
    assert still.status_code == 200, still.text
    listed = await client.get(
        f"/v1/projects/{tenant_a.project_id}/keys", headers=tenant_a.owner_headers
    )
    assert listed.json()["items"][0]["api_key"] == tenant_a.api_key

    # 0, typed, still rotates at once: it is a choice the hint explains.
    page = await client.get(url)
    rotated = await client.post(
        f"{url}/rotate", data={"grace_period_seconds": "0", "_csrf_token": csrf_of(page.text)}
    )
    assert rotated.status_code == 200, rotated.text[:2000]
    gone = await client.get("/v1/project", headers=tenant_a.project_headers)
    assert gone.status_code == 401
