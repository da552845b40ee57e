"""Signing in, organizations and projects, in a real browser."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from playwright.sync_api import expect

from tests.dashboard.conftest import PASSWORD, Browsing

XSS = "<script>alert(1)</script>"


def create_organization(browsing: Browsing, name: str = "Acme") -> str:
    page = browsing.open("/dashboard/organizations")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Admin email").fill(f"owner@{name.lower()}.test")
    page.get_by_label("Plan").select_option("pro")
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    match = re.search(r"/dashboard/organizations/(org_[0-9A-Za-z]+)", page.url)
    assert match, page.url
    return match.group(1)


def test_sign_in_create_a_project_and_see_its_secret_once(
    browsing: Browsing, admin_email: str
) -> None:
    page = browsing.sign_in(admin_email)
    expect(page).to_have_url(re.compile(r"/dashboard/organizations$"))
    org_id = create_organization(browsing)
    expect(page.get_by_text("Plan: pro")).to_be_visible()

    page.get_by_label("Project name").fill(XSS)
    page.get_by_role("button", name="Create project").click()
    secret = page.locator("#api-secret").inner_text()
    assert re.fullmatch(r"[A-Za-z0-9_\-]{20,}", secret), secret
    # The name is text: shown as typed, never run (the fixture fails on any alert).
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Project {XSS} created")

    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(XSS)
    assert secret not in page.content()
    assert "#api-secret" not in page.content()

    page.goto(f"{browsing.base_url}/dashboard/organizations/{org_id}")
    expect(page.get_by_role("link", name=XSS)).to_be_visible()


def test_settings_refusals_are_shown_next_to_their_field(
    browsing: Browsing, admin_email: str
) -> None:
    page = browsing.sign_in(admin_email)
    create_organization(browsing)
    page.get_by_label("Project name").fill("demo")
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("link", name="Continue").click()

    page.get_by_label("Requests per period").fill("0")
    page.get_by_role("button", name="Save settings").click()
    field = page.locator(".field", has=page.get_by_label("Requests per period"))
    expect(field.locator(".field-error")).to_contain_text("requests")
    expect(page.get_by_label("Requests per period")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Requests per period").fill("20")
    page.get_by_label("Period", exact=True).select_option("minute")
    page.get_by_label("Default token lifetime (seconds)").fill("600")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_label("Requests per period")).to_have_value("20")
    expect(page.get_by_label("Period", exact=True)).to_have_value("minute")
    expect(page.get_by_label("Default token lifetime (seconds)")).to_have_value("600")


def test_sign_out_ends_the_session_and_pages_ask_to_sign_in_again(
    browsing: Browsing, admin_email: str
) -> None:
    page = browsing.sign_in(admin_email)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    page.goto(f"{browsing.base_url}/dashboard/organizations?cursor=")
    expect(page).to_have_url(
        re.compile(r"/dashboard/sign-in\?next=/dashboard/organizations%3Fcursor%3D$")
    )
    # Signing in again goes back to the page that asked, its query included.
    page.get_by_label("Email").fill(admin_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/organizations\?cursor=$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Organizations")


def test_a_wrong_password_is_refused_on_the_page(browsing: Browsing, admin_email: str) -> None:
    page = browsing.sign_in(admin_email, "not the password at all")
    expect(page.get_by_role("alert")).to_have_text("invalid email or password")
    expect(page.get_by_label("Email")).to_have_value(admin_email)


def test_an_admin_deletes_an_organization_and_its_keys_stop_working(
    browsing: Browsing, admin_email: str
) -> None:
    page = browsing.sign_in(admin_email)
    create_organization(browsing, "Doomed")
    page.get_by_label("Project name").fill("app")
    page.get_by_role("button", name="Create project").click()
    key = page.locator("#api-key").inner_text()
    secret = page.locator("#api-secret").inner_text()
    page.get_by_role("link", name="Doomed").click()
    page.get_by_role("button", name="Delete organization").click()
    expect(page.get_by_role("status")).to_have_text("Deleted.")
    expect(page.get_by_role("link", name="Doomed")).to_have_count(0)
    assert browsing.dialogs[-1].startswith("confirm: Delete Doomed")
    request = urllib.request.Request(
        f"{browsing.base_url}/v1/project", headers={"X-Pulse-Key": key, "X-Pulse-Secret": secret}
    )
    try:
        urllib.request.urlopen(request)
        raise AssertionError("the deleted organization's key still works")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
