"""The dashboard's edit forms write only what the person changed, on both persistence
backends. A form is sent back whole, every field as the page showed it; without this,
saving one field would also write back every other field as it was when the page was
opened, undoing what someone else (another tab, the API, an admin) changed meanwhile.

Each test opens the page, changes one setting through the API, then saves another from
the page: both changes stay. A setting both changed is the page's (the last writer of
that field). A form without the page's record of what it showed (a page from before
this) is written whole, as it always was."""

from __future__ import annotations

import html
import re
from typing import Any

from litestar.testing import AsyncTestClient

from pulse_adapters.memory import InMemoryRoomEngine
from pulse_core import rooms
from pulse_http.container import Container
from tests.http.conftest import Tenant
from tests.http.test_dashboard_keys import csrf_of, signed_in_as

Client = AsyncTestClient[Any]


def shown_of(page: str) -> str:
    match = re.search(r'name="shown" value="([^"]*)"', page)
    assert match, page[:2000]
    return html.unescape(match.group(1))


async def _open(client: Client, url: str) -> tuple[str, str]:
    page = await client.get(url)
    assert page.status_code == 200, page.text
    return csrf_of(page.text), shown_of(page.text)


async def _save(client: Client, url: str, form: dict[str, Any]) -> None:
    saved = await client.post(url, data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:2000]


# -- project settings --------------------------------------------------------------------


def _project_form(**typed: str) -> dict[str, str]:
    """The settings form as the page shows a new project, with ``typed`` on top."""
    return {
        "name": "Alpha app",
        "token_ttl_default_seconds": "",
        "token_ttl_max_seconds": "",
        "rate_limit.requests": "",
        "rate_limit.period": "second",
        "rate_limit.burst": "",
        **typed,
    }


async def _change_project(client: Client, tenant: Tenant, changes: dict[str, Any]) -> None:
    """Change the project through the API, as someone else would."""
    url = f"/v1/projects/{tenant.project_id}"
    changed = await client.put(url, json=changes, headers=tenant.owner_headers)
    assert changed.status_code == 200, changed.text


async def _project(client: Client, tenant: Tenant) -> dict[str, Any]:
    found = await client.get(f"/v1/projects/{tenant.project_id}", headers=tenant.owner_headers)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


async def test_project_settings_keep_a_change_made_while_the_page_was_open(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    url = f"/dashboard/projects/{tenant_a.project_id}"
    signed_in_as(client, container, "owner", tenant_a.org_id)
    token, shown = await _open(client, url)
    assert (await _project(client, tenant_a))["name"] == "Alpha app"  # as the form shows

    await _change_project(
        client,
        tenant_a,
        {"token_ttl_max_seconds": 600, "rate_limit": {"requests": 50, "period": "second"}},
    )
    form = _project_form(name="Alpha renamed", token_ttl_default_seconds="300")
    await _save(client, url, {**form, "shown": shown, "_csrf_token": token})

    project = await _project(client, tenant_a)
    assert project["name"] == "Alpha renamed"
    assert project["token_ttl_default_seconds"] == 300
    assert project["token_ttl_max_seconds"] == 600  # the API's, kept
    assert project["rate_limit"]["requests"] == 50  # the API's, kept

    # Changed on both sides since the page was opened: the page's value is written.
    token, shown = await _open(client, url)
    await _change_project(client, tenant_a, {"token_ttl_max_seconds": 900})
    form = _project_form(
        name="Alpha renamed",
        token_ttl_default_seconds="300",
        token_ttl_max_seconds="1200",
        **{"rate_limit.requests": "50"},
    )
    await _save(client, url, {**form, "shown": shown, "_csrf_token": token})
    assert (await _project(client, tenant_a))["token_ttl_max_seconds"] == 1200


async def test_a_form_without_what_it_showed_is_written_whole(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    url = f"/dashboard/projects/{tenant_a.project_id}"
    signed_in_as(client, container, "owner", tenant_a.org_id)
    token, _ = await _open(client, url)
    await _change_project(client, tenant_a, {"token_ttl_max_seconds": 600})
    for shown in (None, "not json", '["a list"]', '{"name": 5}'):
        form: dict[str, str] = {**_project_form(name="Whole"), "_csrf_token": token}
        if shown is not None:
            form["shown"] = shown
        await _save(client, url, form)
        project = await _project(client, tenant_a)
        assert project["name"] == "Whole"
        assert project["token_ttl_max_seconds"] is None  # the blank field, written
        await _change_project(client, tenant_a, {"token_ttl_max_seconds": 600})


async def test_a_refused_save_keeps_what_the_page_first_showed(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    """The page shown again with the refusal carries the first page's record, so the
    corrected save still writes only the person's changes."""
    url = f"/dashboard/projects/{tenant_a.project_id}"
    signed_in_as(client, container, "owner", tenant_a.org_id)
    token, shown = await _open(client, url)
    await _change_project(client, tenant_a, {"token_ttl_max_seconds": 600})
    refused = await client.post(
        url,
        data={
            **_project_form(token_ttl_default_seconds="-5"),
            "shown": shown,
            "_csrf_token": token,
        },
    )
    assert refused.status_code == 400, refused.text[:2000]
    assert shown_of(refused.text) == shown
    form = _project_form(token_ttl_default_seconds="120")
    await _save(client, url, {**form, "shown": shown_of(refused.text), "_csrf_token": token})
    project = await _project(client, tenant_a)
    assert project["token_ttl_default_seconds"] == 120
    assert project["token_ttl_max_seconds"] == 600


# -- webhook endpoints -------------------------------------------------------------------


async def test_an_endpoint_keeps_a_change_made_while_its_page_was_open(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    created = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": "https://hooks.example.com/a", "description": "first"},
        headers=tenant_a.project_headers,
    )
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    url = f"/dashboard/projects/{tenant_a.project_id}/webhooks/{endpoint_id}"
    signed_in_as(client, container, "owner", tenant_a.org_id)
    token, shown = await _open(client, url)

    api = f"/v1/webhooks/endpoints/{endpoint_id}"
    changed = await client.patch(
        api,
        json={"event_types": ["room.started"], "enabled": False},
        headers=tenant_a.project_headers,
    )
    assert changed.status_code == 200, changed.text
    # The page still shows every type and enabled; only the description is edited.
    form = {
        "url": "https://hooks.example.com/a",
        "description": "edited",
        "enabled": "true",
        "shown": shown,
        "_csrf_token": token,
    }
    await _save(client, url, form)
    endpoint = (await client.get(api, headers=tenant_a.project_headers)).json()
    assert endpoint["description"] == "edited"
    assert endpoint["event_types"] == ["room.started"]  # the API's, kept
    assert endpoint["enabled"] is False  # the API's, kept


# -- organizations -----------------------------------------------------------------------


async def test_an_organization_keeps_a_change_made_while_its_page_was_open(
    client: Client, container: Container, tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    url = f"/dashboard/organizations/{tenant_a.org_id}"
    signed_in_as(client, container, "owner", tenant_a.org_id)
    token, shown = await _open(client, url)
    before = (
        await client.get(f"/v1/organizations/{tenant_a.org_id}", headers=admin_headers)
    ).json()

    changed = await client.put(
        f"/v1/organizations/{tenant_a.org_id}",
        json={"admin_email": "ops@alpha.example"},
        headers=admin_headers,
    )
    assert changed.status_code == 200, changed.text
    form = {
        "name": "Alpha Inc.",
        "admin_email": before["admin_email"],
        "shown": shown,
        "_csrf_token": token,
    }
    await _save(client, url, form)
    after = (await client.get(f"/v1/organizations/{tenant_a.org_id}", headers=admin_headers)).json()
    assert after["name"] == "Alpha Inc."
    assert after["admin_email"] == "ops@alpha.example"  # the admin's, kept


# -- a participant ------------------------------------------------------------------------


async def test_a_participant_keeps_what_the_app_changed_while_the_page_was_open(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    """The page shows Alice's name and metadata; the app changes her metadata; the
    person saves a permission and, on a later page, her metadata while the app renames
    her: each keeps the other's change. A form without ``shown`` is written whole."""
    created = await client.post(
        "/v1/rooms", json={"name": "studio"}, headers=tenant_a.project_headers
    )
    assert created.status_code == 201, created.text
    engine = container.adapters.room_engine()
    assert isinstance(engine, InMemoryRoomEngine)
    engine.simulate_join(
        rooms.to_livekit(tenant_a.project_id, "studio"), "alice", name="Alice", metadata="m1"
    )
    api = "/v1/rooms/studio/participants/alice"

    async def app_changes(**changes: str) -> None:
        changed = await client.patch(api, json=changes, headers=tenant_a.project_headers)
        assert changed.status_code == 200, changed.text

    async def alice() -> dict[str, Any]:
        found = await client.get(api, headers=tenant_a.project_headers)
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        return body

    signed_in_as(client, container, "owner", tenant_a.org_id)
    page = f"/dashboard/projects/{tenant_a.project_id}/rooms/studio/participant"
    opened = f"{page}?identity=alice"
    as_shown = {"identity": "alice", "name": "Alice", "metadata": "m1", "attributes": ""}

    token, shown = await _open(client, opened)
    await app_changes(metadata="from the app")
    form = {**as_shown, "permission.can_publish": "false"}
    await _save(client, page, {**form, "shown": shown, "_csrf_token": token})
    found = await alice()
    assert (found["name"], found["metadata"]) == ("Alice", "from the app")
    assert found["permission"]["can_publish"] is False

    token, shown = await _open(client, opened)
    await app_changes(name="Alice (host)")
    form = {**as_shown, "metadata": "from the page"}
    await _save(client, page, {**form, "shown": shown, "_csrf_token": token})
    found = await alice()
    assert (found["name"], found["metadata"]) == ("Alice (host)", "from the page")

    # A form from before the page carried what it showed: every field as posted.
    await _save(client, page, {**as_shown, "_csrf_token": token})
    found = await alice()
    assert (found["name"], found["metadata"]) == ("Alice", "m1")
