"""A project's webhooks in a real browser: an endpoint added for a real receiver on
loopback, its secret shown once, a test event delivered by the live server's in-process
worker and verified with the ``standardwebhooks`` library, the delivery log and its
attempts; the address policy's refusal next to the URL field; rotation, disabling and
deleting."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from pulse_core.models import ManagementPrincipal
from tests.dashboard.conftest import PASSWORD, Browsing
from tests.dashboard.test_projects import create_organization
from tests.support.live_server import LiveServer
from tests.support.webhook_receiver import WebhookReceiver

DEADLINE_SECONDS = 60.0


def open_webhooks(browsing: Browsing) -> Page:
    """Signed in already: a new organization (Acme) and project, on the project's
    webhooks page."""
    page = browsing.page
    create_organization(browsing)
    page.get_by_label("Project name").fill("demo")
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("link", name="Continue").click()
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    return page


def add_endpoint(page: Page, url: str, *, types: tuple[str, ...] = ()) -> str:
    """Add an endpoint; the secret shown once."""
    page.get_by_label("Endpoint URL").fill(url)
    page.get_by_label("Description").fill("the test receiver")
    for event_type in types:
        page.get_by_label(event_type, exact=True).check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("#webhook-secret").inner_text()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]{20,}", secret), secret
    return secret


def reload_until(page: Page, text: str, where: str = "table.deliveries tbody tr") -> None:
    """Reload until the first ``where`` says ``text`` (the worker delivers in the
    background; a loaded machine may take a while)."""
    first = page.locator(where).first
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            expect(first).to_contain_text(text, timeout=2000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.reload()


def test_add_an_endpoint_send_a_test_event_and_see_it_delivered(
    browsing: Browsing, admin_email: str, webhook_receiver: WebhookReceiver
) -> None:
    browsing.sign_in(admin_email)
    page = open_webhooks(browsing)
    secret = add_endpoint(page, webhook_receiver.url, types=("participant.joined",))

    # Reloaded, the page is the endpoint's own, without the secret.
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(webhook_receiver.url)
    assert secret not in page.content()
    expect(page.get_by_label("participant.joined", exact=True)).to_be_checked()
    expect(page.get_by_label("room.started", exact=True)).not_to_be_checked()

    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("status")).to_have_text("Queued.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Delivery log")
    reload_until(page, "succeeded")
    newest = page.locator("table.deliveries tbody tr").first
    expect(newest).to_contain_text("webhook.test")
    expect(newest).to_contain_text("200")

    [received] = webhook_receiver.wait_for(1)
    # The receiver's own check, with the secret the page showed once.
    Webhook(secret).verify(received.body, received.headers, json_parse=False)
    assert received.event["type"] == "webhook.test"

    newest.get_by_role("link", name="webhook.test").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delivery of webhook.test")
    expect(page.locator("code", has_text=received.headers["webhook-id"])).to_be_visible()
    attempt = page.locator("table.attempts tbody tr")
    expect(attempt).to_have_count(1)
    expect(attempt.locator("td").nth(2)).to_have_text("200")
    expect(attempt).to_contain_text("ok")  # the receiver's answer

    # The test event is in the project's events too.
    page.get_by_role("link", name="Events").click()
    expect(page.locator("table tbody tr").first).to_contain_text("webhook.test")


def test_a_private_address_is_refused_next_to_the_url_field(
    browsing: Browsing, admin_email: str
) -> None:
    browsing.sign_in(admin_email)
    page = open_webhooks(browsing)
    page.get_by_label("Endpoint URL").fill("http://10.0.0.1/hook")
    page.get_by_label("egress.ended", exact=True).check()
    page.get_by_role("button", name="Add endpoint").click()

    field = page.locator(".field", has=page.get_by_label("Endpoint URL"))
    expect(field.locator(".field-error")).to_contain_text("private")
    expect(page.get_by_label("Endpoint URL")).to_have_attribute("aria-invalid", "true")
    # What was typed stays, and nothing was added.
    expect(page.get_by_label("Endpoint URL")).to_have_value("http://10.0.0.1/hook")
    expect(page.get_by_label("egress.ended", exact=True)).to_be_checked()
    expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()
    assert page.locator("#webhook-secret").count() == 0


def test_rotate_disable_and_delete_an_endpoint(
    browsing: Browsing, admin_email: str, webhook_receiver: WebhookReceiver
) -> None:
    browsing.sign_in(admin_email)
    page = open_webhooks(browsing)
    first = add_endpoint(page, webhook_receiver.url)
    page.get_by_role("link", name="Continue").click()

    page.get_by_label("Grace period (seconds)").fill("700000")
    page.get_by_role("button", name="Rotate secret").click()
    field = page.locator(".field", has=page.get_by_label("Grace period (seconds)"))
    expect(field.locator(".field-error")).to_contain_text("grace_period_seconds")

    page.get_by_label("Grace period (seconds)").fill("3600")
    page.get_by_role("button", name="Rotate secret").click()
    second = page.locator("#webhook-secret").inner_text()
    assert second.startswith("whsec_") and second != first
    expect(page.get_by_text("also signed with the previous secret until")).to_be_visible()
    page.get_by_role("link", name="Continue").click()

    page.get_by_label("Description").fill("renamed <b>here</b>")
    page.get_by_role("button", name="Save endpoint").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_label("Description")).to_have_value("renamed <b>here</b>")

    page.get_by_role("link", name="Endpoints").click()
    row = page.locator("tbody tr", has_text=webhook_receiver.url)
    expect(row.locator(".badge")).to_have_text("enabled")
    expect(row).to_contain_text("every event")
    row.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(row.locator(".badge")).to_have_text("disabled")
    row.get_by_role("button", name="Enable").click()
    expect(row.locator(".badge")).to_have_text("enabled")

    row.get_by_role("link", name=webhook_receiver.url).click()
    page.get_by_role("button", name="Delete endpoint").click()
    expect(page.get_by_role("status")).to_have_text("Deleted.")
    expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()
    assert any(d.startswith("confirm: Delete the endpoint") for d in browsing.dialogs)


def send_a_test_that_is_gone(page: Page, receiver: WebhookReceiver) -> None:
    """From the endpoint's page: a test event the receiver answers 410 Gone (the delivery
    is dead at once and the endpoint disabled), then the endpoint enabled again."""
    endpoint_url = page.url
    receiver.script.append(410)
    page.get_by_role("button", name="Send test event").click()
    reload_until(page, "dead")
    page.goto(endpoint_url)
    expect(page.locator("p.muted .badge")).to_have_text("disabled")
    page.get_by_label("Enabled (deliveries are made to it)").check()
    page.get_by_role("button", name="Save endpoint").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")


def test_retry_and_replay_a_dead_delivery(
    browsing: Browsing, admin_email: str, webhook_receiver: WebhookReceiver
) -> None:
    browsing.sign_in(admin_email)
    page = open_webhooks(browsing)
    add_endpoint(page, webhook_receiver.url)
    page.get_by_role("link", name="Continue").click()
    endpoint_url = page.url

    send_a_test_that_is_gone(page, webhook_receiver)
    page.get_by_role("link", name="Delivery log", exact=True).click()
    newest = page.locator("table.deliveries tbody tr").first
    expect(newest).to_contain_text("dead")
    newest.get_by_role("link", name="webhook.test").click()
    expect(page.locator("table.attempts")).to_contain_text("410")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_have_text("Queued.")
    reload_until(page, "succeeded", ".facts dd")
    expect(page.locator("table.attempts tbody tr").last).to_contain_text("200")
    _gone, retried = webhook_receiver.wait_for(2)

    # A second dead delivery, delivered again by a replay of the last hour: the first
    # event succeeded already and is left out.
    page.goto(endpoint_url)
    send_a_test_that_is_gone(page, webhook_receiver)
    since = datetime.now(UTC) - timedelta(hours=1)
    page.get_by_label("Since (UTC)").fill(since.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("status")).to_have_text("1 event queued for delivery again.")
    received = webhook_receiver.wait_for(4)
    assert received[3].headers["webhook-id"] not in (retried.headers["webhook-id"], None)
    assert received[3].headers["webhook-id"] == received[2].headers["webhook-id"]


def test_a_member_sees_the_endpoints_and_cannot_change_them(
    browsing: Browsing,
    second_browsing: Browsing,
    admin_email: str,
    server: LiveServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    browsing.sign_in(admin_email)
    page = open_webhooks(browsing)
    add_endpoint(page, webhook_receiver.url)
    page.get_by_role("link", name="Continue").click()
    endpoint_path = page.url.removeprefix(browsing.base_url)
    acme = page.get_by_role("navigation", name="Organization").get_by_role("link", name="Acme")
    org_id = (acme.get_attribute("href") or "").rsplit("/", 1)[-1]
    users = server.container.services.users()
    system = ManagementPrincipal.system()
    invitation = server.run(users.invite(system, org_id, email="max@acme.test", role="member"))
    server.run(users.accept(invitation.token, PASSWORD))

    member = second_browsing.sign_in("max@acme.test")
    second_browsing.open(endpoint_path.rsplit("/", 1)[0])
    expect(member.get_by_role("link", name=webhook_receiver.url)).to_be_visible()
    expect(member.get_by_role("button")).to_have_text(["Sign out"])  # no other button
    member.get_by_role("link", name=webhook_receiver.url).click()
    expect(member.get_by_label("Endpoint URL")).to_be_disabled()
    expect(member.get_by_role("button")).to_have_text(["Sign out"])

    # A forged post with a valid CSRF token: the service refuses, the endpoint stays.
    token = member.locator("input[name=_csrf_token]").first.get_attribute("value")
    assert token
    answer = member.request.post(
        f"{second_browsing.base_url}{endpoint_path}/delete",
        form={"_csrf_token": token},
        max_redirects=0,
    )
    assert answer.status == 403, answer.status
    member.reload()
    expect(member.get_by_role("heading", level=1)).to_have_text(webhook_receiver.url)
