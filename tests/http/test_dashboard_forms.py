"""The dashboard's forms over HTTP, on both persistence backends: a refusal is said
plainly next to the field it is about, in the form that was posted only, and the form
comes back as it was typed.

Forms carry text and leave blank fields out, so a blank required field or a mistyped
date reaches msgspec's parser, whose own words ("Object missing required field `name`",
"Invalid RFC3339 encoded datetime") describe JSON, not the page."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from pulse_http.container import Container
from pulse_http.dashboard.forms import Form, plain_message
from pulse_http.schemas.access import CreateKey
from tests.http.conftest import Tenant
from tests.http.test_dashboard_keys import csrf_of, signed_in_as
from tests.http.test_dashboard_webhooks import new_endpoint

Client = AsyncTestClient[Any]


def errors_of(page: str) -> dict[str, str]:
    """Every field error of ``page``: its element id to its message."""
    error = r'<small id="([^"]+)" class="field-error" role="alert">([^<]*)</small>'
    found = re.findall(error, page)
    return {element: html.unescape(message) for element, message in found}


def value_of(page: str, element: str) -> str:
    match = re.search(rf'<input id="{re.escape(element)}"[^>]*\svalue="([^"]*)"', page)
    assert match, page[:3000]
    return html.unescape(match.group(1))


async def _post(client: Client, page_url: str, url: str, form: dict[str, str]) -> str:
    """``form`` posted to ``url`` from the page at ``page_url``, refused: the page."""
    page = await client.get(page_url)
    assert page.status_code == 200, page.text[:2000]
    refused = await client.post(url, data={**form, "_csrf_token": csrf_of(page.text)})
    assert refused.status_code == 400, refused.text[:3000]
    return refused.text


# -- one refusal, at the form that was posted ----------------------------------------------


async def test_a_refused_project_name_is_shown_at_the_new_project_form_only(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    overview = f"/dashboard/organizations/{tenant_a.org_id}"
    page = await _post(client, overview, f"{overview}/projects", {"name": "x" * 500})

    errors = errors_of(page)
    assert list(errors) == ["e-project-name"], errors
    assert page.count('class="field invalid"') == 1
    assert page.count('aria-invalid="true"') == 1
    # The organization's name is still the stored one, with no error at it.
    assert value_of(page, "f-org-name") == "Alpha"


async def test_a_refused_organization_name_is_shown_at_the_settings_form_only(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    overview = f"/dashboard/organizations/{tenant_a.org_id}"
    form = {"name": "x" * 500, "admin_email": "admin@alpha.test"}
    page = await _post(client, overview, overview, form)

    errors = errors_of(page)
    assert list(errors) == ["e-org-name"], errors
    assert page.count('class="field invalid"') == 1
    assert value_of(page, "f-project-name") == ""


async def test_a_refused_organization_save_shows_what_was_typed(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    overview = f"/dashboard/organizations/{tenant_a.org_id}"
    form = {"name": "Alpha renamed", "admin_email": "not an email"}
    page = await _post(client, overview, overview, form)

    assert "admin_email" in errors_of(page).get("e-org-admin_email", "")
    assert value_of(page, "f-org-name") == "Alpha renamed"
    assert value_of(page, "f-org-admin_email") == "not an email"
    # Nothing was saved.
    stored = await client.get(
        f"/v1/organizations/{tenant_a.org_id}", headers=tenant_a.owner_headers
    )
    assert stored.json()["name"] == "Alpha"


async def test_an_admins_refused_save_keeps_the_plan_chosen(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    signed_in_as(client, container, "admin", None)
    overview = f"/dashboard/organizations/{tenant_a.org_id}"
    form = {"name": "Alpha", "admin_email": "not an email", "plan": "free"}
    page = await _post(client, overview, overview, form)

    assert re.search(r'<option value="free" selected>', page), page[:3000]


# -- plain messages for what the parser refuses -------------------------------------------


@pytest.mark.parametrize(
    ("path", "form", "field", "message"),
    [
        ("/keys", {"name": "", "scopes": "rooms:read"}, "name", "name is required"),
        ("/webhooks", {"url": "", "event_types": "room.started"}, "url", "url is required"),
        ("/tokens", {"identity": "", "room": "demo"}, "identity", "identity is required"),
        (
            "/media/ingress",
            {"type": "rtmp", "room": "", "participant_identity": "cam"},
            "room",
            "room is required",
        ),
        (
            "/keys",
            {"name": "ci", "expires_at": "next tuesday"},
            "expires_at",
            "expires_at must be a date and time",
        ),
        (
            "/tokens",
            {"identity": "ana", "room": "demo", "ttl_seconds": "soon"},
            "ttl_seconds",
            "ttl_seconds must be a whole number",
        ),
    ],
)
async def test_a_blank_or_mistyped_field_is_refused_plainly_at_the_field(
    client: Client,
    container: Container,
    tenant_a: Tenant,
    path: str,
    form: dict[str, str],
    field: str,
    message: str,
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}{path}"
    page = await _post(client, url, url, form)

    assert errors_of(page) == {f"e-{field}": message}
    assert "Object missing" not in page and "RFC3339" not in page and "Expected `" not in page


async def test_a_blank_replay_since_is_refused_plainly(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    endpoint_id = await new_endpoint(client, tenant_a, event_types=["room.started"])
    signed_in_as(client, container, "owner", tenant_a.org_id)
    endpoint = f"/dashboard/projects/{tenant_a.project_id}/webhooks/{endpoint_id}"
    page = await _post(client, endpoint, f"{endpoint}/replay", {"since": "", "until": ""})

    assert errors_of(page).get("e-since") == "since is required"
    assert "Object missing" not in page


def test_the_parsers_words_are_said_plainly_and_rules_keep_theirs() -> None:
    """Only the parser's words are rewritten: a rule's own message is the API's."""
    assert plain_message("url", "must not be private") == "url: must not be private"
    assert plain_message("a.b", "Object missing required field `b`") == "a.b is required"
    assert plain_message("n", "Expected `int` >= 0") == "n must be at least 0"
    zoned = "Expected `datetime` with a timezone component"
    assert plain_message("at", zoned) == "at must be a date and time with a time zone"
    assert plain_message("n", "Expected `str` of length <= 3") == "n must be at most 3 characters"
    with pytest.raises(Exception, match="name is required") as refused:
        Form({"name": ""}, {}).to(CreateKey)
    assert getattr(refused.value, "field", None) == "name"


# -- hints that say what is accepted --------------------------------------------------------


async def test_the_ingress_url_hint_names_only_the_schemes_accepted(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    page = await client.get(f"/dashboard/projects/{tenant_a.project_id}/media/ingress")
    assert page.status_code == 200, page.text[:2000]
    hint = re.search(r'<small id="h-url" class="hint">([^<]*)</small>', page.text)
    assert hint, page.text[:3000]
    assert "http://, https:// or srt://" in html.unescape(hint.group(1))
    assert "rtmp" not in hint.group(1)

    # And rtmp:// is indeed refused, with the schemes the hint names.
    url = f"/dashboard/projects/{tenant_a.project_id}/media/ingress"
    form = {
        "type": "url",
        "room": "demo",
        "participant_identity": "cam",
        "url": "rtmp://live.example.com/app",
    }
    refused = await _post(client, url, url, form)
    message = errors_of(refused).get("e-url", "")
    assert "http://" in message and "srt://" in message and "rtmp" not in message.split("URL")[0]
