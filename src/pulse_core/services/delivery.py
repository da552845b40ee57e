"""Delivering one webhook: sign, check the address, POST, record the attempt, decide what
comes next (API.md, "Delivery rules").

A worker hands each ``DeliverWebhook`` job to :meth:`DeliveryService.attempt` and does
what it answers: nothing more (``None``: succeeded, dead, or dropped) or run the job
again after the returned delay. Every attempt is recorded on the delivery before the
answer is returned, so a worker that dies afterwards loses no history: the job comes back
(visibility timeout) and the delivery's own state says whether anything is left to do.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import msgspec

from pulse_core.crypto.webhook_signature import signature_header
from pulse_core.errors import InvalidInput, Unavailable
from pulse_core.models.events import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    Outgoing,
    WebhookEndpoint,
)
from pulse_core.net.url_guard import UrlGuard
from pulse_core.ports.clock import Clock
from pulse_core.ports.events import DeliveryRepository, EventRepository, WebhookEndpointRepository
from pulse_core.ports.telemetry import NO_TELEMETRY, DeliveryOutcome, Telemetry
from pulse_core.ports.webhook_sender import DeliveryFailed, WebhookRequest, WebhookSender
from pulse_core.services.usage_counter import UsageCounter

DEFAULT_SCHEDULE: Final = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
#: A receiver's ``Retry-After`` is honoured up to this long.
MAX_RETRY_AFTER_SECONDS: Final = 86400.0
GONE = 410
TEST_EVENT: Final = "webhook.test"
#: Why a delivery whose endpoint is gone is not attempted.
ENDPOINT_DELETED: Final = "the endpoint was deleted"
#: The error of an attempt whose sender failed in a way it does not name.
UNEXPECTED: Final = "the delivery failed unexpectedly"
_LOG = logging.getLogger(__name__)
#: How stale a healthy endpoint's ``last_success_at`` may get before a success rewrites it.
SUCCESS_REFRESH: Final = timedelta(minutes=1)
_HONOURS_RETRY_AFTER = frozenset({429, 503})

_encode = msgspec.json.Encoder().encode


class RetrySchedule(msgspec.Struct, frozen=True):
    """The delay, in seconds, before each attempt, the first included: its length is the
    number of attempts (``WEBHOOK_RETRY_SCHEDULE``)."""

    delays: tuple[float, ...] = DEFAULT_SCHEDULE

    @classmethod
    def parse(cls, text: str, field: str = "WEBHOOK_RETRY_SCHEDULE") -> RetrySchedule:
        """``"0,5,300"`` → three attempts; ``InvalidInput`` naming ``field`` otherwise."""
        try:
            delays = tuple(float(part) for part in text.split(","))
        except ValueError:
            raise InvalidInput(f"{field} must be comma-separated seconds", field=field) from None
        if not 1 <= len(delays) <= 50 or any(not 0 <= d <= 7 * 86400 for d in delays):
            raise InvalidInput(
                f"{field} must list 1 to 50 delays of 0 to 604800 seconds", field=field
            )
        return cls(delays)

    @property
    def attempts(self) -> int:
        return len(self.delays)

    def delay_before(self, attempt: int) -> float:
        """The delay before attempt number ``attempt`` (1-based)."""
        return self.delays[min(attempt, len(self.delays)) - 1]


DEFAULT_RETRY_SCHEDULE: Final = RetrySchedule()


def _jitter(delay: float) -> float:
    # Up to 10% later, so that deliveries failed together do not all come back together.
    return delay * (1 + random.random() / 10)  # noqa: S311 - spreading load, not secrecy


def event_body(event: Event) -> bytes:
    """What the customer receives: ``{id, type, timestamp, project_id, data}``."""
    return _encode(
        {
            "id": event.id,
            "type": event.type,
            "timestamp": event.timestamp,
            "project_id": event.project_id,
            "data": event.data,
        }
    )


class DeliveryService:
    def __init__(
        self,
        events: EventRepository,
        endpoints: WebhookEndpointRepository,
        deliveries: DeliveryRepository,
        sender: WebhookSender,
        clock: Clock,
        *,
        urls: UrlGuard,
        schedule: RetrySchedule = DEFAULT_RETRY_SCHEDULE,
        timeout_seconds: float = 15.0,
        disable_after_seconds: float = 120 * 3600.0,
        jitter: Callable[[float], float] = _jitter,
        usage: UsageCounter | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._usage = usage
        self._telemetry = telemetry
        self._events = events
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._sender = sender
        self._urls = urls
        self._clock = clock
        self._schedule = schedule
        self._timeout = timeout_seconds
        self._disable_after = timedelta(seconds=disable_after_seconds)
        self._jitter = jitter

    @property
    def schedule(self) -> RetrySchedule:
        return self._schedule

    async def attempt(self, project_id: str, delivery_id: str) -> float | None:
        """Attempt the delivery now; ``None`` when nothing is left to do, or the delay in
        seconds before the next attempt. Raises ``Unavailable`` when Pulse's own storage
        cannot answer (the job should simply run again).

        Reported to the telemetry: a span around the attempt, and how it ended."""
        attributes = {"pulse.project_id": project_id, "pulse.delivery_id": delivery_id}
        with self._telemetry.span("pulse.webhook.delivery", attributes):
            return await self._attempt(project_id, delivery_id)

    async def first_attempt(self, outgoing: Outgoing) -> float | None:
        """:meth:`attempt` for a delivery its caller has just created from
        ``outgoing.endpoint`` and ``outgoing.event``: nothing is read back before the
        POST (the delivery is read again before its outcome is saved, as always)."""
        delivery = outgoing.delivery
        attributes = {"pulse.project_id": delivery.project_id, "pulse.delivery_id": delivery.id}
        with self._telemetry.span("pulse.webhook.delivery", attributes):
            return await self._deliver(delivery, outgoing.endpoint, outgoing.event)

    async def _attempt(self, project_id: str, delivery_id: str) -> float | None:
        delivery = await self._deliveries.get(project_id, delivery_id)
        if delivery is None or delivery.status in ("succeeded", "dead"):
            return None
        endpoint = await self._endpoints.get(project_id, delivery.endpoint_id)
        if endpoint is None:
            # Its deletion dropped the delivery, unless a retry restarted it meanwhile.
            await self._finish(delivery, self._clock.now(), "dead", error=ENDPOINT_DELETED)
            return None
        event = None
        if _may_post(delivery, endpoint):
            event = await self._events.get(project_id, delivery.event_id)
        return await self._deliver(delivery, endpoint, event)

    async def _deliver(
        self, delivery: Delivery, endpoint: WebhookEndpoint, event: Event | None
    ) -> float | None:
        project_id = delivery.project_id
        now = self._clock.now()
        if not _may_post(delivery, endpoint):
            await self._finish(delivery, now, "dead", error="the endpoint is disabled")
            self._telemetry.delivered("dead", None)
            return None
        if event is None:
            await self._finish(delivery, now, "dead", error="the event is no longer kept")
            self._telemetry.delivered("dead", None)
            return None
        attempt, retry_after = await self._post(endpoint, event, now)
        if self._usage is not None:
            # Every POST Pulse makes is metered, retries included.
            self._usage.count(project_id, "webhook_deliveries")
        delay, outcome = await self._record(delivery, endpoint, attempt, retry_after)
        self._telemetry.delivered(outcome, (attempt.duration_ms or 0) / 1000)
        return delay

    async def _post(
        self, endpoint: WebhookEndpoint, event: Event, now: datetime
    ) -> tuple[DeliveryAttempt, float | None]:
        body = event_body(event)
        timestamp = int(now.timestamp())
        headers = {
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                endpoint.live_secrets(now), event.id, timestamp, body
            ),
            "content-type": "application/json",
        }
        started = self._clock.micros()
        try:
            # Checked again at delivery time, and the sender connects to exactly these
            # addresses: what was allowed when the endpoint was saved may not be now.
            checked = await self._urls.check(endpoint.url, "url")
            response = await self._sender.send(
                WebhookRequest(
                    url=endpoint.url,
                    body=body,
                    headers=headers,
                    addresses=checked.addresses,
                    timeout_seconds=self._timeout,
                )
            )
        except (InvalidInput, Unavailable) as exc:
            return self._failed(now, started, exc.detail), None
        except DeliveryFailed as exc:
            return self._failed(now, started, exc.reason), None
        except Exception:
            # A defect in a sender, met through whatever a receiver answered, must cost
            # this attempt only: not the job (the event's other deliveries, its
            # processing), nor the delivery's schedule, which an uncaught error would
            # leave pending for good. Logged for the operator, with its traceback.
            _LOG.exception("webhook_sender_failed", extra={"endpoint_id": endpoint.id})
            return self._failed(now, started, UNEXPECTED), None
        attempt = DeliveryAttempt(
            at=now,
            status_code=response.status_code,
            duration_ms=self._elapsed_ms(started),
            response_excerpt=response.excerpt or None,
        )
        retry_after = (
            response.retry_after_seconds if response.status_code in _HONOURS_RETRY_AFTER else None
        )
        return attempt, retry_after

    def _failed(self, now: datetime, started: int, error: str) -> DeliveryAttempt:
        return DeliveryAttempt(at=now, duration_ms=self._elapsed_ms(started), error=error)

    def _elapsed_ms(self, started: int) -> int:
        return max(0, (self._clock.micros() - started) // 1000)

    async def _record(
        self,
        delivery: Delivery,
        endpoint: WebhookEndpoint,
        attempt: DeliveryAttempt,
        retry_after: float | None,
    ) -> tuple[float | None, DeliveryOutcome]:
        """Record ``attempt``; the delay before the next one (None: no next one) and how
        this attempt ended."""
        code = attempt.status_code
        succeeded = code is not None and 200 <= code < 300
        await self._update_endpoint(endpoint, attempt, succeeded)
        still_enabled = True
        if not succeeded and code != GONE:
            # Whether to try again depends on the endpoint as it is now, not as it was
            # when this attempt began (an owner may have disabled it meanwhile).
            refreshed = await self._endpoints.get(endpoint.project_id, endpoint.id)
            still_enabled = refreshed is not None and refreshed.enabled
        decided: list[tuple[float | None, DeliveryOutcome]] = []

        def outcome(stored: Delivery) -> Delivery:
            # Decided on the delivery as stored when the outcome is written: a job that
            # outlived its visibility timeout may have run twice at once, and the other
            # run's outcome must be kept, not overwritten by this one's.
            attempts = (*stored.attempts, attempt)
            status: DeliveryStatus
            result: DeliveryOutcome
            delay: float | None = None
            if stored.status in ("succeeded", "dead") and not succeeded:
                status, result = stored.status, "failed"
            elif succeeded:
                status, result = "succeeded", "succeeded"
            elif (
                code == GONE
                or len(attempts) - stored.round_start >= self._schedule.attempts
                or not still_enabled
            ):
                status, result = "dead", "dead"
            else:
                delay = self._jitter(
                    self._schedule.delay_before(len(attempts) - stored.round_start + 1)
                )
                if retry_after is not None:
                    delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
                status, result = "failed", "failed"
            decided[:] = [(delay, result)]
            next_at = None if delay is None else attempt.at + timedelta(seconds=delay)
            return _with_attempt(stored, attempts, status, next_at, attempt.at)

        if await self._deliveries.change(delivery.project_id, delivery.id, outcome) is None:
            # Deleted meanwhile (with its endpoint): nothing is left to do.
            return None, "succeeded" if succeeded else "dead"
        return decided[0]

    async def _update_endpoint(
        self, endpoint: WebhookEndpoint, attempt: DeliveryAttempt, succeeded: bool
    ) -> None:
        """Endpoint health: a success clears the failing streak; 410 Gone disables the
        endpoint at once; a streak of failures longer than the limit disables it too.

        Written only when it changes what health means: a healthy endpoint's success
        refreshes ``last_success_at`` at most once a minute, not on every delivery.
        The endpoint was read at the start of this attempt; the health is worked out on
        the endpoint as stored when it is written (``WebhookEndpointRepository.change``),
        so an owner's edit made meanwhile (a new URL, a rotated secret) stays."""
        now = attempt.at
        if (
            succeeded
            and endpoint.failing_since is None
            and endpoint.last_success_at
            and (now - endpoint.last_success_at < SUCCESS_REFRESH)
        ):
            return

        def apply(current: WebhookEndpoint) -> WebhookEndpoint:
            if succeeded:
                changes: dict[str, object] = {"last_success_at": now, "failing_since": None}
            elif attempt.status_code == GONE:
                changes = {"enabled": False, "disabled_reason": "the endpoint answered 410 Gone"}
            else:
                since = current.failing_since or now
                changes = {"failing_since": since}
                if now - since >= self._disable_after:
                    hours = self._disable_after.total_seconds() / 3600
                    changes.update(
                        enabled=False,
                        disabled_reason=f"no successful delivery for {hours:g} hours",
                    )
            return msgspec.structs.replace(current, updated_at=now, **changes)

        await self._endpoints.change(endpoint.project_id, endpoint.id, apply)

    async def _finish(
        self, delivery: Delivery, now: datetime, status: DeliveryStatus, *, error: str
    ) -> None:
        attempt = DeliveryAttempt(at=now, error=error)

        def finished(stored: Delivery) -> Delivery:
            return _with_attempt(stored, (*stored.attempts, attempt), status, None, now)

        await self._deliveries.change(delivery.project_id, delivery.id, finished)


def _may_post(delivery: Delivery, endpoint: WebhookEndpoint) -> bool:
    """A disabled endpoint is posted only its owner's test events: the way to check a
    fixed receiver before turning the endpoint back on. A test that fails there is not
    tried again (the endpoint is still disabled when the outcome is recorded)."""
    return endpoint.enabled or delivery.event_type == TEST_EVENT


def _with_attempt(
    delivery: Delivery,
    attempts: tuple[DeliveryAttempt, ...],
    status: DeliveryStatus,
    next_attempt_at: datetime | None,
    now: datetime,
) -> Delivery:
    changed: Delivery = msgspec.structs.replace(
        delivery, attempts=attempts, status=status, next_attempt_at=next_attempt_at, updated_at=now
    )
    return changed
