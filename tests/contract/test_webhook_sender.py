"""AiohttpWebhookSender against a real receiver on loopback: what one delivery's answer
may leave behind for the next. One sender serves every tenant of the process, so nothing
a receiver sends back (cookies above all) may travel with another delivery."""

from __future__ import annotations

from ipaddress import IPv4Address

from pulse_adapters.http import AiohttpWebhookSender
from pulse_core.ports.webhook_sender import WebhookRequest
from tests.support.webhook_receiver import WebhookReceiver


def _request(url: str) -> WebhookRequest:
    return WebhookRequest(
        url=url,
        body=b"{}",
        headers={"content-type": "application/json", "webhook-id": "evt_1"},
        addresses=(IPv4Address("127.0.0.1"),),
        timeout_seconds=10,
    )


async def test_a_cookie_set_by_one_answer_is_never_sent_with_another_delivery(
    webhook_receiver: WebhookReceiver,
) -> None:
    # Two tenants' endpoints on one host: a cookie the first one's answer sets must not
    # reach the second (nor the first again: a delivery carries only what Pulse signed).
    # A name, pinned to loopback as a checked delivery is: clients keep cookies of names.
    base = webhook_receiver.url.removesuffix("/hooks").replace("127.0.0.1", "hooks.example.com")
    webhook_receiver.script.append((200, {"Set-Cookie": "session=tenant-a; Path=/"}))
    sender = AiohttpWebhookSender(user_agent="pulse-test")
    try:
        first = await sender.send(_request(f"{base}/hooks"))
        second = await sender.send(_request(f"{base}/other"))
    finally:
        await sender.aclose()
    assert (first.status_code, second.status_code) == (200, 200)
    received = webhook_receiver.wait_for(2)
    assert [r.path for r in received] == ["/hooks", "/other"]
    assert all("cookie" not in r.headers for r in received)
    assert received[1].headers["user-agent"] == "pulse-test"


async def test_the_answer_gives_its_status_retry_after_and_an_excerpt(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.script.append((429, {"Retry-After": "7"}))
    sender = AiohttpWebhookSender(user_agent="pulse-test")
    try:
        answer = await sender.send(_request(webhook_receiver.url))
    finally:
        await sender.aclose()
    assert (answer.status_code, answer.retry_after_seconds, answer.excerpt) == (429, 7.0, "ok")
