"""Metered usage: what Pulse counts per project, and the roll-ups it answers from.

A :class:`UsageRecord` is one metered quantity (one connection's participant minutes, one
egress's minutes, one flush of counted tokens). Its id is what makes metering exact: work
that may run twice (a LiveKit webhook sent again, a connection closed by both its leave
event and its room's end) derives the same id, and a stored id is never counted again.
Roll-ups (:class:`UsageTotal`) are sums of records per project, metric, kind and UTC hour
or day, kept up to date as records arrive, so a month is read without scanning records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, get_args

import msgspec

Metric = Literal[
    "participant_minutes",
    "egress_minutes",
    "ingress_minutes",
    "tokens_created",
    "api_requests",
    "webhook_deliveries",
    "recording_bytes",
]
METRICS: Final[tuple[Metric, ...]] = get_args(Metric)

#: How roll-ups are kept (``month`` is summed from ``day`` when asked for).
RollupGranularity = Literal["hour", "day"]
#: Raw records are kept 90 days (the Go service's TTL index); roll-ups 13 months.
USAGE_RECORD_RETENTION_DAYS: Final = 90
USAGE_ROLLUP_RETENTION_DAYS: Final = 400
Granularity = Literal["hour", "day", "month"]
GRANULARITIES: Final[tuple[Granularity, ...]] = get_args(Granularity)


class UsageRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One metered ``quantity`` (whole minutes, bytes or a count) of ``metric`` for
    ``project_id`` at ``timestamp``. ``kind`` refines a metric where billing differs
    (an egress's kind: ``room_composite`` transcodes, ``track`` does not); "" otherwise."""

    id: str
    project_id: str
    metric: Metric
    quantity: int
    timestamp: datetime
    kind: str = ""


class UsageTotal(msgspec.Struct, frozen=True, kw_only=True):
    """The sum of a project's records of ``metric`` and ``kind`` whose timestamp falls in
    the UTC hour or day that starts at ``period_start``."""

    project_id: str
    metric: Metric
    kind: str = ""
    period_start: datetime
    quantity: int


class OpenConnection(msgspec.Struct, frozen=True, kw_only=True):
    """A participant's connection that joined and has not left yet: what Pulse closes
    (and meters) when the leave event, the room's end or reconciliation says so.
    ``participant_sid`` is LiveKit's id of that one connection."""

    project_id: str
    participant_sid: str
    livekit_room: str
    identity: str
    joined_at: datetime
