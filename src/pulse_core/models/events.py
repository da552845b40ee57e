"""What happened in a project, and the webhooks that tell its backend (API.md, "Events
and webhooks").

An :class:`Event` is stored once, in the project's event log (kept 30 days). A
:class:`Delivery` is that event on its way to one :class:`WebhookEndpoint`; its attempts
are its history. Ids that re-processing must not multiply are derived, not drawn: an
event caused by a LiveKit webhook has an id derived from LiveKit's event id, and a
delivery an id derived from its event and endpoint (:func:`pulse_core.ids.derived_id`),
so applying the same input twice writes nothing new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal, get_args

import msgspec

from pulse_core import ids
from pulse_core.models.redaction import redacted_repr

EventType = Literal[
    "room.started",
    "room.finished",
    "participant.joined",
    "participant.left",
    "track.published",
    "track.unpublished",
    "egress.started",
    "egress.updated",
    "egress.ended",
    "ingress.started",
    "ingress.ended",
    "recording.ready",
    "webhook.test",
    "usage.quota_warning",
    "usage.quota_exceeded",
]
EVENT_TYPES: Final[tuple[str, ...]] = get_args(EventType)

#: How long the event log keeps an event.
EVENT_RETENTION_DAYS: Final = 30


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One thing that happened in a project (``evt_…``).

    ``data`` is the event's JSON object as the customer receives it: the project's own
    room names and Pulse's egress/ingress ids, never LiveKit's internal names.
    """

    id: str
    project_id: str
    type: EventType
    timestamp: datetime
    data: dict[str, Any]


class WebhookEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """Where a project wants its events posted (``whe_…``).

    ``event_types`` empty means every type. ``secret`` (``whsec_…``) signs every
    delivery; after a rotation ``previous_secret`` signs too, until
    ``previous_secret_expires_at``. ``disabled_reason`` says why ``enabled`` went false
    when Pulse turned it off (410 Gone, no success for too long). ``failing_since`` is
    the first failed attempt since the last success (None while healthy).
    """

    id: str
    project_id: str
    url: str
    description: str = ""
    event_types: tuple[str, ...] = ()
    enabled: bool = True
    disabled_reason: str | None = None
    secret: str
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    last_success_at: datetime | None = None
    failing_since: datetime | None = None
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:
        return redacted_repr(self, ("secret", "previous_secret"))

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint subscribes to ``event_type`` (enabled or not)."""
        return not self.event_types or event_type in self.event_types

    def live_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign a delivery made at ``now``: the current one, and the
        previous one while its grace period runs."""
        until = self.previous_secret_expires_at
        if self.previous_secret is None or until is None or now >= until:
            return [self.secret]
        return [self.secret, self.previous_secret]


DeliveryStatus = Literal["pending", "succeeded", "failed", "dead"]
DELIVERY_STATUSES: Final[tuple[str, ...]] = get_args(DeliveryStatus)
#: The statuses of a delivery with an attempt still ahead of it.
UNSENT_STATUSES: Final[tuple[DeliveryStatus, ...]] = ("pending", "failed")


class EndpointSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook endpoint to create
    (:meth:`~pulse_core.services.webhooks.WebhookService.create_endpoint`)."""

    url: str
    description: str = ""
    event_types: tuple[str, ...] = ()
    enabled: bool = True


class EndpointPatch(msgspec.Struct, frozen=True, kw_only=True):
    """What to change of an endpoint; an unset field is kept."""

    url: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    event_types: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class NewEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A new endpoint and its signing secret (shown here and on rotation only)."""

    endpoint: WebhookEndpoint
    secret: str

    def __repr__(self) -> str:
        return redacted_repr(self, ("secret",))


class SecretRotation(msgspec.Struct, frozen=True, kw_only=True):
    """An endpoint's new secret (shown here only), and until when the previous one
    still signs (None: not at all)."""

    endpoint: WebhookEndpoint
    secret: str
    previous_secret_expires_at: datetime | None

    def __repr__(self) -> str:
        return redacted_repr(self, ("secret",))


class DeliveryAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """One POST of a delivery: when, what came back (``status_code`` None when no answer
    came: refused, timed out, address not allowed), how long it took, and at most a few
    hundred characters of the answer."""

    at: datetime
    status_code: int | None = None
    duration_ms: int = 0
    error: str | None = None
    response_excerpt: str | None = None


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """An event on its way to one endpoint (``whd_…``).

    ``pending``: not attempted yet (or queued again by a retry or replay); ``failed``: the
    last attempt failed and another is scheduled for ``next_attempt_at``; ``succeeded``;
    ``dead``: the schedule is exhausted (kept, and can be retried or replayed).
    ``round_start``: how many of ``attempts`` came before the current round; a retry or
    replay starts a new round, with the whole retry schedule ahead of it again.
    """

    id: str
    project_id: str
    endpoint_id: str
    event_id: str
    event_type: EventType
    status: DeliveryStatus = "pending"
    attempts: tuple[DeliveryAttempt, ...] = ()
    round_start: int = 0
    next_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def last_status_code(self) -> int | None:
        return self.attempts[-1].status_code if self.attempts else None

    @property
    def event_at(self) -> datetime:
        """When its event happened: the time its id carries (``delivery_id_of``), which
        orders the delivery log; ``created_at`` is later for a replay of an old event."""
        return ids.moment_of(self.id)


class Outgoing(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery just created, with the endpoint and the event it was made from: all its
    first attempt needs, so that attempt reads nothing back before it posts."""

    delivery: Delivery
    endpoint: WebhookEndpoint
    event: Event
