"""An organization's users in a real browser: inviting, the invitation link shown once,
accepting it, what a member may see and do, role changes and removal."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Locator, Page, expect

from pulse_http.routes.access import ACCEPT_INVITE_PATH
from tests.dashboard.conftest import Browsing
from tests.dashboard.test_projects import create_organization
from tests.support.live_server import LiveServer

MEMBER_PASSWORD = "a member's own pass phrase"


def create_project(browsing: Browsing, org_id: str, name: str = "demo") -> str:
    """Create a project from the organization's page; its settings page's path."""
    page = browsing.open(f"/dashboard/organizations/{org_id}")
    page.get_by_label("Project name").fill(name)
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("link", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    return urlsplit(page.url).path


def invite(
    browsing: Browsing, org_id: str, email: str, role: str = "member", name: str = ""
) -> str:
    """Invite ``email`` from the users page; the invitation's token, from the link shown."""
    page = browsing.open(f"/dashboard/organizations/{org_id}/users")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Role", exact=True).select_option(role)
    if name:
        page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Invitation for {email}")
    link = urlsplit(page.locator("#invite-url").inner_text().strip())
    assert link.path == ACCEPT_INVITE_PATH, link
    return parse_qs(link.query)["token"][0]


def accept(browsing: Browsing, token: str, email: str, password: str = MEMBER_PASSWORD) -> Page:
    """Open the invitation link, choose a password and sign in with it."""
    page = browsing.open(f"{ACCEPT_INVITE_PATH}?token={token}")
    expect(page.get_by_role("main")).to_contain_text(f"as {email}")
    page.get_by_label("New password").fill(password)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_have_text("Your password is set. Sign in with it.")
    return browsing.sign_in(email, password)


def row(page: Page, email: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=email, exact=True))


def csrf_token(page: Page) -> str:
    token = page.locator("input[name=_csrf_token]").first.get_attribute("value")
    assert token
    return token


def test_a_member_sees_everything_and_changes_nothing(
    browsing: Browsing, second_browsing: Browsing, admin_email: str
) -> None:
    browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    project_path = create_project(browsing, org_id)
    users_path = f"/dashboard/organizations/{org_id}/users"

    token = invite(browsing, org_id, "max@acme.test", name="Max")
    page = browsing.page
    # Shown once: the page's address is already the users page, and reloading it shows
    # the list, not the link.
    expect(page).to_have_url(re.compile(f"{users_path}$"))
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users of Acme")
    assert token not in page.content()
    expect(row(page, "max@acme.test")).to_contain_text("invited")
    expect(row(page, "max@acme.test").get_by_label("Name of max@acme.test")).to_have_value("Max")

    member = accept(second_browsing, token, "max@acme.test")
    expect(member.get_by_role("heading", level=1)).to_have_text("Acme")
    expect(member.get_by_role("link", name="demo")).to_be_visible()
    expect(member.get_by_role("button", name="Create project")).to_have_count(0)
    expect(member.get_by_role("button", name="Save")).to_have_count(0)

    second_browsing.open(project_path)
    expect(member.get_by_role("heading", level=1)).to_have_text("demo")
    expect(member.get_by_label("Name")).to_be_disabled()
    expect(member.get_by_role("button", name="Save settings")).to_have_count(0)
    expect(member.get_by_role("button", name="Delete project")).to_have_count(0)
    project_csrf = csrf_token(member)

    second_browsing.open(users_path)
    expect(member.get_by_role("heading", level=1)).to_have_text("Users of Acme")
    expect(row(member, "max@acme.test")).to_contain_text("active")
    expect(row(member, "max@acme.test")).to_contain_text("member")
    expect(member.get_by_role("button", name="Invite")).to_have_count(0)
    expect(member.get_by_role("button", name="Remove")).to_have_count(0)
    expect(member.get_by_role("combobox")).to_have_count(0)

    # Forged posts with a valid CSRF token: the services refuse a member's writes.
    answer = member.request.post(
        f"{second_browsing.base_url}{project_path}",
        form={"_csrf_token": project_csrf, "name": "renamed by a member"},
        max_redirects=0,
    )
    # The service's refusal, not the CSRF check's (also a 403): the token was good.
    assert answer.status == 403, answer.status
    assert "members may not change projects" in answer.text()
    answer = member.request.post(
        f"{second_browsing.base_url}{users_path}",
        form={"_csrf_token": csrf_token(member), "email": "eve@acme.test", "role": "owner"},
        max_redirects=0,
    )
    assert answer.status == 403, answer.status
    assert "members may not manage users" in answer.text()

    browsing.open(project_path)
    expect(page.get_by_label("Name")).to_have_value("demo")
    browsing.open(users_path)
    expect(row(page, "max@acme.test")).to_have_count(1)
    expect(row(page, "eve@acme.test")).to_have_count(0)


def test_an_email_already_used_is_refused_next_to_the_email_field(
    browsing: Browsing, admin_email: str
) -> None:
    browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    invite(browsing, org_id, "max@acme.test")

    page = browsing.open(f"/dashboard/organizations/{org_id}/users")
    page.get_by_label("Email").fill("max@acme.test")
    page.get_by_label("Name", exact=True).fill("Max again")
    page.get_by_role("button", name="Invite").click()
    field = page.locator(".field", has=page.get_by_label("Email"))
    expect(field.locator(".field-error")).to_contain_text("email")
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    # What was typed stays, and nobody was added.
    expect(page.get_by_label("Name", exact=True)).to_have_value("Max again")
    expect(row(page, "max@acme.test")).to_have_count(1)
    expect(page.locator("#invite-url")).to_have_count(0)


def test_role_changes_removal_and_the_last_owner(
    browsing: Browsing, server: LiveServer, admin_email: str
) -> None:
    browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    olga = invite(browsing, org_id, "olga@acme.test")
    invite(browsing, org_id, "ivy@acme.test")
    server.run(server.container.services.users().accept(olga, MEMBER_PASSWORD))

    users_path = f"/dashboard/organizations/{org_id}/users"
    page = browsing.open(users_path)
    olga_role = row(page, "olga@acme.test").get_by_label("Role of olga@acme.test")
    change = row(page, "olga@acme.test").get_by_role("button", name="Change role of olga@acme.test")
    remove = row(page, "olga@acme.test").get_by_role("button", name="Remove")
    refusal = page.locator("p.error[role=alert]")
    olga_role.select_option("owner")
    change.click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(olga_role).to_have_value("owner")

    # Olga is the only owner who has signed up: she can be neither demoted nor removed.
    olga_role.select_option("member")
    change.click()
    expect(refusal).to_contain_text("at least one owner")
    browsing.open(users_path)
    expect(refusal).to_have_count(0)
    remove.click()
    expect(refusal).to_contain_text("at least one owner")
    assert browsing.dialogs[-1].startswith("confirm: Remove olga@acme.test")
    browsing.open(users_path)
    expect(olga_role).to_have_value("owner")

    row(page, "ivy@acme.test").get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_have_text("Removed.")
    expect(row(page, "ivy@acme.test")).to_have_count(0)
    expect(row(page, "olga@acme.test")).to_have_count(1)

    # A rename keeps the role; a name the API refuses is shown in that row.
    name = row(page, "olga@acme.test").get_by_label("Name of olga@acme.test")
    name.fill("Olga K.")
    row(page, "olga@acme.test").get_by_role("button", name="Rename olga@acme.test").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(name).to_have_value("Olga K.")
    expect(olga_role).to_have_value("owner")
    name.fill("x" * 500)
    row(page, "olga@acme.test").get_by_role("button", name="Rename olga@acme.test").click()
    expect(row(page, "olga@acme.test").locator(".field-error")).to_be_visible()
    browsing.open(users_path)
    expect(name).to_have_value("Olga K.")
