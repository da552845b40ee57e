"""An organization's audit log in a real browser: what was done and by whom, filters,
and pages of it."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from pulse_core.models import ManagementPrincipal
from tests.dashboard.conftest import Browsing
from tests.dashboard.test_projects import create_organization
from tests.dashboard.test_users import create_project, invite
from tests.support.live_server import LiveServer


def entries(page: Page, action: str | None = None) -> Locator:
    rows = page.locator("tbody tr")
    if action is None:
        return rows
    return rows.filter(has=page.get_by_role("cell", name=action, exact=True))


def test_the_log_lists_who_did_what_and_filters_by_action(
    browsing: Browsing, admin_email: str
) -> None:
    browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    create_project(browsing, org_id, "demo")
    invite(browsing, org_id, "max@acme.test")

    page = browsing.open(f"/dashboard/organizations/{org_id}/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log of Acme")
    for action in ("organization.created", "project.created", "user.invited"):
        expect(entries(page, action)).to_have_count(1)
        expect(entries(page, action)).to_contain_text(admin_email)
        # The browser's address, as the server saw it.
        expect(entries(page, action)).to_contain_text("127.0.0.1")
    # Newest first.
    expect(entries(page).first).to_contain_text("user.invited")
    expect(entries(page).last).to_contain_text("organization.created")

    page.get_by_label("Action").fill("project.created")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/audit\?action=project.created"))
    expect(entries(page)).to_have_count(1)
    expect(entries(page, "project.created")).to_have_count(1)
    expect(page.get_by_label("Action")).to_have_value("project.created")

    page.get_by_label("Since (UTC)").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(entries(page)).to_have_count(1)
    expect(entries(page)).to_have_text("No entries match these filters.")

    page.get_by_role("link", name="Clear filters").click()
    expect(entries(page)).to_have_count(3)


def test_a_wrong_filter_is_refused_next_to_its_field(browsing: Browsing, admin_email: str) -> None:
    browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    page = browsing.open(f"/dashboard/organizations/{org_id}/audit")
    page.get_by_label("Action").fill("x" * 65)
    page.get_by_role("button", name="Filter").click()
    field = page.locator(".field", has=page.get_by_label("Action"))
    expect(field.locator(".field-error")).to_contain_text("action must be 1 to 64 characters")
    expect(page.get_by_label("Action")).to_have_attribute("aria-invalid", "true")


def test_a_long_log_comes_in_pages_that_keep_the_filter(
    browsing: Browsing, server: LiveServer, admin_email: str
) -> None:
    browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    users = server.container.services.users()

    async def invite_many() -> None:
        for n in range(55):
            await users.invite(
                ManagementPrincipal.system(), org_id, email=f"user{n}@acme.test", role="member"
            )

    server.run(invite_many())

    page = browsing.open(f"/dashboard/organizations/{org_id}/audit?action=user.invited")
    expect(entries(page, "user.invited")).to_have_count(50)
    expect(entries(page).first).to_contain_text("system")
    next_page = page.get_by_role("link", name="Next page")
    expect(next_page).to_have_attribute("href", re.compile(r"action=user\.invited&cursor="))
    next_page.click()
    expect(entries(page, "user.invited")).to_have_count(5)
    expect(entries(page)).to_have_count(5)
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)

    # Unfiltered, the organization's own creation is on the second page.
    page = browsing.open(f"/dashboard/organizations/{org_id}/audit")
    expect(entries(page, "organization.created")).to_have_count(0)
    page.get_by_role("link", name="Next page").click()
    expect(entries(page, "organization.created")).to_have_count(1)
