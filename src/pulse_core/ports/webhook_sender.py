"""Posting a webhook over HTTP: the one piece of delivery that is I/O."""

from __future__ import annotations

import abc

import msgspec

from pulse_core.net.hosts import IPAddress


class WebhookRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One POST. ``addresses`` are the addresses ``url``'s host was checked against the
    address policy as, just now: the sender connects to one of them and to nothing else
    (no second lookup, so no DNS-rebinding window), keeping the name for ``Host`` and
    TLS."""

    url: str
    body: bytes
    headers: dict[str, str]
    addresses: tuple[IPAddress, ...]
    timeout_seconds: float


class WebhookResponse(msgspec.Struct, frozen=True, kw_only=True):
    """What came back: the status, the ``Retry-After`` it carried (seconds, when it was
    a number or an HTTP date), and the first ``excerpt`` characters of the body."""

    status_code: int
    retry_after_seconds: float | None = None
    excerpt: str = ""


class DeliveryFailed(Exception):
    """No answer: refused, reset, timed out, TLS failed, or the peer was not an allowed
    address. ``reason`` is short, safe to show the customer (no internal addresses)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookSender(abc.ABC):
    """Sends webhook POSTs."""

    @abc.abstractmethod
    async def send(self, request: WebhookRequest) -> WebhookResponse:
        """POST ``request.body`` with ``request.headers`` to ``request.url``, connecting
        only to ``request.addresses``; follow no redirect (a 3xx is an answer like any
        other); read at most a few KB of the answer; give up after
        ``request.timeout_seconds`` in all. Any status code is a :class:`WebhookResponse`;
        no answer at all raises :class:`DeliveryFailed`. A status that came in time is
        the answer even when its body did not come to its end (cut short, or still
        arriving at the timeout): the receiver has said what it did with the delivery,
        and the excerpt holds what came, if anything."""

    async def aclose(self) -> None:
        """Release connections (default: nothing to release)."""
        return None
