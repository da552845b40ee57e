"""Usage pages in a real browser: minutes from signed LiveKit events become a bar in the
day's chart, a row of its table and the month's use against the plan."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import httpx
from playwright.sync_api import Page, expect

from pulse_core import rooms
from pulse_core.models import ManagementPrincipal
from pulse_http.settings import DEV_LIVEKIT_API_KEY, DEV_LIVEKIT_API_SECRET
from tests.dashboard.conftest import PASSWORD, Browsing
from tests.dashboard.test_projects import create_organization
from tests.support import livekit_webhooks as lk
from tests.support.live_server import LiveServer

DEADLINE_SECONDS = 60.0
PRO_MINUTES = "150,000"  # the pro plan's monthly participant minutes


def create_project(browsing: Browsing, name: str = "demo") -> str:
    page = browsing.page
    page.get_by_label("Project name").fill(name)
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("link", name="Continue").click()
    match = re.search(r"/dashboard/projects/(prj_[0-9A-Za-z]+)", page.url)
    assert match, page.url
    return match.group(1)


def send_connection(base_url: str, livekit_room: str, identity: str, seconds: int) -> str:
    """A participant who stayed ``seconds`` and left now, as LiveKit reports it (signed
    with the server's LiveKit key and secret, the development defaults); their UTC day."""
    left = int(time.time())
    joined = left - seconds
    who = lk.participant(identity, sid=f"PA_{identity}", joined_at=joined)
    room = lk.room(livekit_room)
    for name, at in (("participant_joined", joined), ("participant_left", left)):
        event = lk.webhook_event(name, created_at=at, room=room, participant=who)
        body, headers = lk.signed(
            event, api_key=DEV_LIVEKIT_API_KEY, api_secret=DEV_LIVEKIT_API_SECRET
        )
        answer = httpx.post(f"{base_url}/v1/livekit/webhook", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
    return datetime.fromtimestamp(left, tz=UTC).date().isoformat()


def bar(page: Page, metric: str, day: str) -> str | None:
    """The value the chart's bar of ``day`` carries, None while there is no chart."""
    found = page.locator(f"#chart-{metric} rect[data-label='{day}']")
    return found.get_attribute("data-value") if found.count() else None


def reload_until_charted(page: Page, metric: str, day: str) -> None:
    """The worker applies LiveKit's events after answering them: reload until the bar
    is there (bounded)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while bar(page, metric, day) is None:
        assert time.monotonic() < deadline, f"no {metric} bar for {day}"
        page.wait_for_timeout(250)
        page.reload()


def expect_five_minutes_today(page: Page, today: str) -> None:
    chart = page.locator("#usage-participant_minutes")
    assert bar(page, "participant_minutes", today) == "5"
    expect(chart.locator("svg[role='img'] > title")).to_contain_text(
        f"5 participant minutes in total, the most 5 on {today}"
    )
    chart.get_by_text("Participant minutes, day by day").click()
    expect(chart.locator(f"tr[data-day='{today}'] td")).to_have_text("5")
    month = page.get_by_role("row", name=re.compile(r"^Participant minutes"))
    expect(month.get_by_role("cell").nth(0)).to_have_text("5")
    expect(month.get_by_role("cell").nth(1)).to_have_text(PRO_MINUTES)
    meter = page.get_by_label(f"Participant minutes: 5 of {PRO_MINUTES}")
    expect(meter).to_have_attribute("value", "5")
    expect(meter).to_have_attribute("max", "150000")
    # No egress or ingress: said in words, not drawn as an empty chart.
    expect(page.locator("#usage-egress_minutes")).to_contain_text("No egress minutes from")
    expect(page.locator("#chart-egress_minutes")).to_have_count(0)


def test_minutes_from_signed_livekit_events_show_in_the_charts_and_against_the_plan(
    browsing: Browsing, admin_email: str
) -> None:
    page = browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    project_id = create_project(browsing)

    page.get_by_role("navigation", name="Project").get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage of demo")
    expect(page.locator("#usage-participant_minutes")).to_contain_text(
        "No participant minutes from"
    )
    expect(page.locator("svg.chart")).to_have_count(0)
    # Thirty days by default, today last; the table lists them newest first.
    page.get_by_text("Participant minutes, day by day").click()
    days = page.locator("#usage-participant_minutes tbody tr")
    expect(days).to_have_count(30)

    today = send_connection(browsing.base_url, rooms.to_livekit(project_id, "standup"), "ada", 300)
    reload_until_charted(page, "participant_minutes", today)
    expect_five_minutes_today(page, today)

    # The organization's page: its projects together, the same minutes.
    page.goto(f"{browsing.base_url}/dashboard/organizations/{org_id}/usage")
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage of Acme")
    expect_five_minutes_today(page, today)
    # And the project's own row, linked to its page.
    row = page.locator(f"#usage-by-project tr[data-project='{project_id}']")
    expect(row.get_by_role("cell")).to_have_text(["5", "0", "0"])
    row.get_by_role("link", name="demo").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage of demo")
    page.goto(f"{browsing.base_url}/dashboard/organizations/{org_id}/usage")

    # One day asked for: one bar, its date under it.
    page.get_by_label("From (day)").fill(today)
    page.get_by_label("To (day, included)").fill(today)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#chart-participant_minutes rect")).to_have_count(1)
    expect(page.locator("#chart-participant_minutes text.axis-date")).to_have_text(today)


def test_a_window_the_api_refuses_is_refused_next_to_its_field(
    browsing: Browsing, admin_email: str
) -> None:
    page = browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    page.goto(f"{browsing.base_url}/dashboard/organizations/{org_id}/usage")
    page.get_by_label("From (day)").fill("2026-03-10")
    page.get_by_label("To (day, included)").fill("2026-03-01")
    page.get_by_role("button", name="Show").click()
    field = page.locator(".field", has=page.get_by_label("To (day, included)"))
    expect(field.locator(".field-error")).to_have_text("to must be later than from")
    expect(page.get_by_label("To (day, included)")).to_have_attribute("aria-invalid", "true")
    # The 400-day limit is the API's too.
    page.get_by_label("From (day)").fill("2024-01-01")
    page.get_by_label("To (day, included)").fill("2026-03-01")
    page.get_by_role("button", name="Show").click()
    expect(field.locator(".field-error")).to_have_text("a day query covers at most 400 days")


def test_the_time_zone_chosen_is_remembered_and_the_form_lines_up(
    browsing: Browsing, admin_email: str
) -> None:
    page = browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    page.goto(f"{browsing.base_url}/dashboard/organizations/{org_id}/usage")
    # The inputs and the button on one line, though only the zone has a hint under it.
    tops = [
        page.get_by_label(label).bounding_box()
        for label in ("From (day)", "To (day, included)", "Time zone")
    ] + [page.get_by_role("button", name="Show").bounding_box()]
    assert all(box is not None for box in tops)
    assert max(b["y"] for b in tops if b) - min(b["y"] for b in tops if b) < 2, tops

    page.get_by_label("Time zone").fill("Asia/Tokyo")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#usage-participant_minutes thead")).to_contain_text("Day (Asia/Tokyo)")
    # The menu's link names no zone: the page opens in the one chosen.
    page.get_by_role("navigation", name="Organization").get_by_role("link", name="Usage").click()
    expect(page).to_have_url(f"{browsing.base_url}/dashboard/organizations/{org_id}/usage")
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Tokyo")


def test_a_member_reads_the_usage_of_their_organization_and_no_other(
    browsing: Browsing, second_browsing: Browsing, admin_email: str, server: LiveServer
) -> None:
    browsing.sign_in(admin_email)
    org_id = create_organization(browsing)
    other_id = create_organization(browsing, "Other")
    users = server.container.services.users()
    invitation = server.run(
        users.invite(ManagementPrincipal.system(), org_id, email="max@acme.test", role="member")
    )
    server.run(users.accept(invitation.token, PASSWORD))

    page = second_browsing.sign_in("max@acme.test")
    page.goto(f"{second_browsing.base_url}/dashboard/organizations/{org_id}/usage")
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage of Acme")
    expect(page.get_by_label(f"Participant minutes: 0 of {PRO_MINUTES}")).to_be_visible()

    answer = page.goto(f"{second_browsing.base_url}/dashboard/organizations/{other_id}/usage")
    assert answer is not None
    assert answer.status == 404
