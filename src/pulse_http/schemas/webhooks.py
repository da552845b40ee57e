"""Bodies of the events and webhooks routes (API.md, "Events and webhooks")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec

from pulse_core.models.events import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EndpointPatch,
    EndpointSpec,
    Event,
    EventType,
    WebhookEndpoint,
)
from pulse_core.services.webhook_deliveries import Replayed
from pulse_http.schemas import NEXT_CURSOR, doc

_URL = doc(
    "Where deliveries are posted: `http` or `https` (`https` only in production), on a "
    "public address.",
    "https://hooks.example.com/pulse",
)
_DESCRIPTION = doc("What the endpoint is for.", "Billing service")
_EVENT_TYPES = doc(
    "The event types it receives; empty: every type.", ["participant.joined", "egress.ended"]
)
_ENABLED = doc("Whether deliveries are made to it.", True)
_SECRET = doc(
    "The signing secret (`whsec_…`), for the Standard Webhooks signature: shown this once.",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
)
_ENDPOINT_ID = doc("The endpoint's id.", "whe_01M8T76XCQ3V4A7Y5QH2R9N1KD")
_EVENT_ID = doc(
    "The event's id (the `webhook-id` header of its deliveries).", "evt_01M8T76XCV5X7C9A8SK4T1Q3NF"
)
_AT = "2026-12-02T01:52:03Z"


class CreateEndpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new webhook endpoint."""

    url: Annotated[str, _URL]
    description: Annotated[str, _DESCRIPTION] = ""
    event_types: Annotated[list[str], _EVENT_TYPES] = msgspec.field(default_factory=list)
    enabled: Annotated[bool, _ENABLED] = True

    def to_domain(self) -> EndpointSpec:
        return EndpointSpec(
            url=self.url,
            description=self.description,
            event_types=tuple(self.event_types),
            enabled=self.enabled,
        )


class UpdateEndpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Changes to a webhook endpoint; fields left out keep their value."""

    url: Annotated[str | msgspec.UnsetType, _URL] = msgspec.UNSET
    description: Annotated[str | msgspec.UnsetType, _DESCRIPTION] = msgspec.UNSET
    event_types: Annotated[list[str] | msgspec.UnsetType, _EVENT_TYPES] = msgspec.UNSET
    enabled: Annotated[
        bool | msgspec.UnsetType,
        doc("Whether deliveries are made to it; enabling clears `disabled_reason`.", True),
    ] = msgspec.UNSET

    def to_patch(self) -> EndpointPatch:
        types = self.event_types
        return EndpointPatch(
            url=self.url,
            description=self.description,
            event_types=msgspec.UNSET if types is msgspec.UNSET else tuple(types),
            enabled=self.enabled,
        )


class RotateSecret(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the endpoint's secret is rotated."""

    grace_period_seconds: Annotated[
        int,
        doc(
            "How long deliveries are also signed with the old secret: 0 (it stops at once) to "
            "604800; default 86400.",
            86400,
        ),
    ] = 86400


class Replay(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The window of events to deliver again."""

    # A first call: `cursor` only goes on where one stopped.
    __openapi_example__: ClassVar[Mapping[str, Any]] = {
        "since": "2026-12-01T00:00:00Z",
        "until": "2026-12-02T00:00:00Z",
    }

    since: Annotated[
        datetime,
        msgspec.Meta(
            tz=True,
            description="From this time (inclusive), with a time zone.",
            examples=["2026-12-01T00:00:00Z"],
        ),
    ]
    until: (
        Annotated[
            datetime,
            msgspec.Meta(
                tz=True,
                description="Until this time (exclusive), with a time zone; null: now.",
                examples=["2026-12-02T00:00:00Z"],
            ),
        ]
        | None
    ) = None
    cursor: Annotated[
        str | None,
        doc(
            "Go on where a replay of the same window stopped: its answer's `next_cursor`.",
            "evt_01M8T76XCQ3V4A7Y5QH2R9N1KD",
        ),
    ] = None


class EndpointOut(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook endpoint (never its secret)."""

    id: Annotated[str, _ENDPOINT_ID]
    url: Annotated[str, _URL]
    description: Annotated[str, _DESCRIPTION]
    event_types: Annotated[list[str], _EVENT_TYPES]
    enabled: Annotated[bool, _ENABLED]
    disabled_reason: Annotated[
        str | None,
        doc(
            "Why Pulse disabled it (a 410 Gone, or no success for "
            "`WEBHOOK_DISABLE_AFTER_HOURS`); null while enabled.",
            "the endpoint answered 410 Gone",
        ),
    ]
    created_at: Annotated[datetime, doc("When it was created.", _AT)]
    updated_at: Annotated[datetime, doc("When it last changed.", _AT)]

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=list(endpoint.event_types),
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class EndpointCreated(EndpointOut, frozen=True, kw_only=True):
    """A new webhook endpoint, with its secret: the only time it is shown."""

    secret: Annotated[str, _SECRET]


class EndpointList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of webhook endpoints."""

    items: Annotated[list[EndpointOut], doc("This page's endpoints.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


class SecretRotated(msgspec.Struct, frozen=True, kw_only=True):
    """The endpoint's new secret."""

    secret: Annotated[str, _SECRET]
    previous_secret_expires_at: Annotated[
        datetime | None,
        doc("Until when deliveries are also signed with the old secret; null: no longer.", _AT),
    ]


class ReplayQueued(msgspec.Struct, frozen=True, kw_only=True):
    """How many deliveries a replay queued. One call walks at most 10,000 events of the
    window, newest first; when it stops there, `next_cursor` goes on from where it
    stopped (the same call again, with `cursor`)."""

    count: Annotated[int, doc("Events queued for delivery again.", 3)]
    next_cursor: Annotated[
        str | None,
        doc(
            "Null when the whole window was replayed; else the `cursor` to go on with.",
            "evt_01M8T76XCQ3V4A7Y5QH2R9N1KD",
        ),
    ]

    @classmethod
    def of(cls, replayed: Replayed) -> ReplayQueued:
        return cls(count=replayed.count, next_cursor=replayed.next_cursor)


class AttemptOut(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt of a delivery."""

    at: Annotated[datetime, doc("When it was made.", _AT)]
    status_code: Annotated[
        int | None, doc("The endpoint's HTTP status; null when no answer came.", 500)
    ]
    duration_ms: Annotated[int, doc("How long it took, in milliseconds.", 120)]
    error: Annotated[
        str | None,
        doc("Why no answer came (refused, timed out, address not allowed).", "timed out"),
    ]
    response_excerpt: Annotated[
        str | None, doc("The start of the endpoint's answer (a few KB at most).", "Internal error")
    ]

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> AttemptOut:
        return cls(
            at=attempt.at,
            status_code=attempt.status_code,
            duration_ms=attempt.duration_ms,
            error=attempt.error,
            response_excerpt=attempt.response_excerpt,
        )


class DeliveryOut(msgspec.Struct, frozen=True, kw_only=True):
    """One event's delivery to one endpoint."""

    id: Annotated[str, doc("The delivery's id.", "dlv_01M8T76XCT4W6B8Z7RJ3S0P2ME")]
    endpoint_id: Annotated[str, _ENDPOINT_ID]
    event_id: Annotated[str, _EVENT_ID]
    event_type: Annotated[EventType, doc("The event's type.", "participant.joined")]
    status: Annotated[
        DeliveryStatus,
        doc(
            "`pending` (an attempt is due), `succeeded` (a 2xx), `failed` (will be retried) "
            "or `dead` (attempts exhausted; retry or replay it).",
            "succeeded",
        ),
    ]
    attempts_count: Annotated[int, doc("Attempts made so far.", 1)]
    next_attempt_at: Annotated[
        datetime | None, doc("When the next attempt is due; null: none is.", _AT)
    ]
    last_status_code: Annotated[
        int | None, doc("The last attempt's HTTP status; null: none yet.", 200)
    ]
    created_at: Annotated[datetime, doc("When it was created.", _AT)]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(
            id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts_count=len(delivery.attempts),
            next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            created_at=delivery.created_at,
        )


class DeliveryDetail(DeliveryOut, frozen=True, kw_only=True):
    """A delivery with every attempt."""

    attempts: Annotated[list[AttemptOut], doc("Every attempt, oldest first.")]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryDetail:
        summary = DeliveryOut.of(delivery)
        return cls(
            **msgspec.structs.asdict(summary),
            attempts=[AttemptOut.of(a) for a in delivery.attempts],
        )


class DeliveryList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of deliveries."""

    items: Annotated[list[DeliveryOut], doc("This page's deliveries, newest first.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


class EventOut(msgspec.Struct, frozen=True, kw_only=True):
    """Something that happened in the project (the body of its webhook deliveries)."""

    id: Annotated[str, _EVENT_ID]
    type: Annotated[EventType, doc("What happened.", "participant.joined")]
    timestamp: Annotated[datetime, doc("When it happened.", _AT)]
    project_id: Annotated[str, doc("The project's id.", "prj_01M8T76XBA01F2Z16J4GCEBSZ1")]
    data: Annotated[
        dict[str, Any],
        doc(
            "The event's details, by type; room names are the project's own and ids are Pulse's.",
            {"room": "demo", "participant": {"identity": "alice", "name": "Alice"}},
        ),
    ]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            id=event.id,
            type=event.type,
            timestamp=event.timestamp,
            project_id=event.project_id,
            data=event.data,
        )


class EventList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of events."""

    items: Annotated[list[EventOut], doc("This page's events, newest first.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]
