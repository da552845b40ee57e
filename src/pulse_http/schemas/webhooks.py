"""Bodies of the events and webhooks routes (API.md, "Events and webhooks")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from pulse_core.models.events import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from pulse_core.services.webhooks import EndpointPatch, EndpointSpec


class CreateEndpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: str
    description: str = ""
    event_types: list[str] = msgspec.field(default_factory=list)
    enabled: bool = True

    def to_domain(self) -> EndpointSpec:
        return EndpointSpec(
            url=self.url,
            description=self.description,
            event_types=tuple(self.event_types),
            enabled=self.enabled,
        )


class UpdateEndpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    event_types: list[str] | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET

    def to_patch(self) -> EndpointPatch:
        types = self.event_types
        return EndpointPatch(
            url=self.url,
            description=self.description,
            event_types=msgspec.UNSET if types is msgspec.UNSET else tuple(types),
            enabled=self.enabled,
        )


class RotateSecret(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    grace_period_seconds: int = 86400


class Replay(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    since: datetime
    until: datetime | None = None


class EndpointOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

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
    secret: str


class EndpointList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[EndpointOut]
    next_cursor: str | None


class SecretRotated(msgspec.Struct, frozen=True, kw_only=True):
    secret: str
    previous_secret_expires_at: datetime | None


class ReplayQueued(msgspec.Struct, frozen=True, kw_only=True):
    count: int


class AttemptOut(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response_excerpt: str | None

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
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    created_at: datetime

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
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryDetail:
        summary = DeliveryOut.of(delivery)
        return cls(
            **msgspec.structs.asdict(summary),
            attempts=[AttemptOut.of(a) for a in delivery.attempts],
        )


class DeliveryList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeliveryOut]
    next_cursor: str | None


class EventOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    timestamp: datetime
    project_id: str
    data: dict[str, Any]

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
    items: list[EventOut]
    next_cursor: str | None
