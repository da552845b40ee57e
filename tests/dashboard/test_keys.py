"""A project's keys in a real browser: a new key's secret shown once and working, the
primary pair rotated with a grace period, a key revoked, refusals next to their field.

Each secret the page shows is tried against the REST API (``GET /v1/project``), so the
page is shown to hand out the credentials the API admits, not merely some text."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import Browsing
from tests.dashboard.test_projects import create_organization


def answer(base_url: str, api_key: str, api_secret: str) -> int:
    response = httpx.get(
        f"{base_url}/v1/project",
        headers={"X-Pulse-Key": api_key, "X-Pulse-Secret": api_secret},
        timeout=30,
    )
    return response.status_code


def shown_once(page: Page) -> tuple[str, str]:
    api_key = page.locator("#api-key").inner_text().strip()
    api_secret = page.locator("#api-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9_\-]{20,}", api_secret), api_secret
    return api_key, api_secret


def open_keys_of_a_new_project(browsing: Browsing, admin_email: str) -> tuple[Page, str, str]:
    """Signed in as an admin, on the keys page of a new project; its first pair."""
    page = browsing.sign_in(admin_email)
    create_organization(browsing)
    page.get_by_label("Project name").fill("demo")
    page.get_by_role("button", name="Create project").click()
    primary_key, primary_secret = shown_once(page)
    page.get_by_role("link", name="Continue").click()
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Keys").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Keys")
    return page, primary_key, primary_secret


def test_create_rotate_and_revoke_keys_with_secrets_shown_once(
    browsing: Browsing, admin_email: str
) -> None:
    page, primary_key, primary_secret = open_keys_of_a_new_project(browsing, admin_email)
    base = browsing.base_url
    primary_row = page.locator("tr[data-key-id=primary]")
    expect(primary_row).to_contain_text(primary_key)
    expect(primary_row).to_contain_text("every scope")

    # A named key with two scopes: its secret shown once.
    page.get_by_label("Key name").fill("billing")
    page.get_by_label("tokens:create").check()
    page.get_by_label("rooms:read").check()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Key billing created")
    key, secret = shown_once(page)
    assert answer(base, key, secret) == 200

    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Keys")
    assert secret not in page.content()
    row = page.locator("tr", has_text="billing")
    expect(row).to_contain_text(key)
    expect(row.locator("ul.scopes li")).to_have_text(["tokens:create", "rooms:read"])
    expect(row).to_contain_text("active")

    # Rotating the primary pair: a new secret shown once; the old pair works until the
    # grace period's end, which the page states.
    page.get_by_label("Grace period (seconds)").fill("3600")
    page.get_by_role("button", name="Rotate primary key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Primary key rotated")
    expect(page.get_by_text("The previous secret keeps working until")).to_be_visible()
    new_key, new_secret = shown_once(page)
    assert new_key != primary_key
    assert answer(base, new_key, new_secret) == 200
    assert answer(base, primary_key, primary_secret) == 200
    page.reload()
    assert new_secret not in page.content()
    expect(page.locator("tr[data-key-id=primary]")).to_contain_text(new_key)
    expect(page.get_by_role("note")).to_contain_text(primary_key)

    # Revoking the named key (after the confirmation): the API refuses it at once.
    page.get_by_role("button", name="Revoke billing").click()
    expect(page.get_by_role("status")).to_have_text("Revoked.")
    expect(row).to_contain_text("revoked")
    expect(page.get_by_role("button", name="Revoke billing")).to_have_count(0)
    assert answer(base, key, secret) == 401
    assert answer(base, new_key, new_secret) == 200
    assert any(d.startswith("confirm: Revoke billing?") for d in browsing.dialogs)


def test_refused_key_forms_show_the_error_next_to_the_field(
    browsing: Browsing, admin_email: str
) -> None:
    page, primary_key, primary_secret = open_keys_of_a_new_project(browsing, admin_email)

    # A grace period longer than a day: refused, nothing rotated.
    page.get_by_label("Grace period (seconds)").fill("90000")
    page.get_by_role("button", name="Rotate primary key").click()
    grace = page.locator(".field", has=page.get_by_label("Grace period (seconds)"))
    expect(grace.locator(".field-error")).to_contain_text("grace_period_seconds")
    expect(page.get_by_label("Grace period (seconds)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Grace period (seconds)")).to_have_value("90000")
    expect(page.locator("tr[data-key-id=primary]")).to_contain_text(primary_key)
    assert answer(browsing.base_url, primary_key, primary_secret) == 200

    # A key without a name: refused at the name, the ticked scopes kept.
    page.get_by_label("usage:read").check()
    page.get_by_role("button", name="Create key").click()
    name = page.locator(".field", has=page.get_by_label("Key name"))
    expect(name.locator(".field-error")).to_be_visible()
    expect(page.get_by_label("Key name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("usage:read")).to_be_checked()

    # A scope the API does not know (a tampered form): refused next to the scopes.
    page.get_by_label("Key name").fill("tampered")
    page.get_by_label("rooms:write").evaluate("box => { box.value = 'rooms:admin'; }")
    page.get_by_label("rooms:write").check()
    page.get_by_role("button", name="Create key").click()
    scopes = page.get_by_role("group", name="Scopes")
    expect(scopes.locator(".field-error")).to_contain_text("unknown scope 'rooms:admin'")
    expect(scopes).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Key name")).to_have_value("tampered")
    expect(page.locator("tr", has_text="tampered")).to_have_count(0)
