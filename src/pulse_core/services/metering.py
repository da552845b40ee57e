"""Metering what LiveKit reports: participant, egress and ingress minutes and recording
bytes (API.md, "Usage and quotas").

Every quantity is rounded up to the whole minute per connection, egress or ingress
session, as LiveKit Cloud bills, and is counted at the time it ended. Each record's id is
derived from what it measures (the participant's connection sid, the egress id, the
ingress session's start), so whichever of several paths closes a connection (its leave
event, a duplicate of it, its room's end, reconciliation) the first one counts and the
others change nothing, in any order.

Egress and ingress participants (the media server's own, ``kind`` ``EGRESS`` /
``INGRESS``) are not participant minutes: their time is metered as egress and ingress
minutes already.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from pulse_core import ids
from pulse_core.errors import NotFound
from pulse_core.livekit_webhooks.protocol import IngressState, from_nanoseconds
from pulse_core.livekit_webhooks.protocol import Participant as LiveKitParticipant
from pulse_core.models.media import Egress, Ingress
from pulse_core.models.usage import OpenConnection, UsageRecord
from pulse_core.ports.clock import Clock
from pulse_core.ports.rooms import RoomEngine
from pulse_core.ports.usage import ConnectionRepository, UsageRepository

_log = logging.getLogger("pulse.usage")
_UNMETERED_KINDS = frozenset({"EGRESS", "INGRESS"})
#: How many rooms one reconciliation pass asks the media server about.
RECONCILE_ROOMS = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

OnRecorded = Callable[[Sequence[UsageRecord]], Awaitable[None]]


def whole_minutes(start: datetime, end: datetime) -> int:
    """Minutes from ``start`` to ``end`` rounded up (0 when ``end`` is not later), both
    taken to the millisecond: what every store keeps (Mongo's dates hold no more), so a
    duration is billed alike whichever database held its start."""
    millis = (end - _EPOCH) // _MILLISECOND - (start - _EPOCH) // _MILLISECOND
    return max(0, -(-millis // 60_000))


class UsageMeter:
    """``on_recorded`` hears of every record stored (the quota monitor's hook)."""

    def __init__(
        self,
        usage: UsageRepository,
        connections: ConnectionRepository,
        clock: Clock,
        *,
        on_recorded: OnRecorded | None = None,
    ) -> None:
        self._usage = usage
        self._connections = connections
        self._clock = clock
        self._on_recorded = on_recorded
        self._reconciled: tuple[str, str] | None = None

    # -- participants ----------------------------------------------------------------

    async def participant_joined(
        self, project_id: str, livekit_room: str, participant: LiveKitParticipant, at: datetime
    ) -> None:
        if not participant.sid or participant.kind in _UNMETERED_KINDS:
            return
        await self._connections.open(
            OpenConnection(
                project_id=project_id,
                participant_sid=participant.sid,
                livekit_room=livekit_room,
                identity=participant.identity,
                joined_at=participant.joined_time or at,
            )
        )

    async def participant_left(
        self, project_id: str, participant: LiveKitParticipant, at: datetime
    ) -> None:
        if not participant.sid or participant.kind in _UNMETERED_KINDS:
            return
        opened = await self._connections.close(project_id, participant.sid)
        # The join as first seen, so that every path derives the same record id.
        joined = opened.joined_at if opened else (participant.joined_time or at)
        await self._record([_connection_record(project_id, participant.sid, joined, at)])

    async def room_finished(self, project_id: str, livekit_room: str, at: datetime) -> None:
        """Close every connection of the room still open that joined before it finished:
        their leave events were lost. One that joined after is in a later room of the
        same name (LiveKit reuses names; its end can arrive late, or again); closing it
        here would bill it nothing and make its own leave a duplicate."""
        connections = await self._connections.list_room(project_id, livekit_room)
        await self._close_all([c for c in connections if c.joined_at <= at], at)

    async def reconcile(self, rooms: RoomEngine) -> int:
        """Close the open connections that the media server no longer has (it lost their
        leave event, or the whole room); how many were closed. One pass covers up to
        :data:`RECONCILE_ROOMS` rooms, the next pass the next ones."""
        closed = 0
        page = await self._connections.list_rooms(after=self._reconciled, limit=RECONCILE_ROOMS)
        # The next pass goes on after this page, then starts over.
        self._reconciled = page[-1] if len(page) == RECONCILE_ROOMS else None
        for project_id, livekit_room in page:
            try:
                live = {p.sid for p in await rooms.list_participants(livekit_room)}
            except NotFound:
                live = set()
            now = self._clock.now()
            gone = [
                c
                for c in await self._connections.list_room(project_id, livekit_room)
                if c.participant_sid not in live
            ]
            closed += await self._close_all(gone, now)
        return closed

    async def _close_all(self, connections: Sequence[OpenConnection], at: datetime) -> int:
        records = []
        for connection in connections:
            if await self._connections.close(connection.project_id, connection.participant_sid):
                records.append(
                    _connection_record(
                        connection.project_id, connection.participant_sid, connection.joined_at, at
                    )
                )
        await self._record(records)
        return len(records)

    # -- egress and ingress ----------------------------------------------------------

    async def egress_ended(
        self, egress: Egress, *, started: datetime | None = None, ended: datetime | None = None
    ) -> None:
        """Meter an egress that has ended: its minutes by kind, and its files' bytes.
        ``started`` / ``ended``: the media server's own times when it reported them (an
        egress starts some moments after Pulse asked for it); else the record's."""
        if not egress.ended:
            return
        ended = ended or egress.ended_at or egress.updated_at
        began = started or egress.started_at
        seed = f"egress:{egress.project_id}:{egress.id}"
        at_ms = ids.ms_of(egress.started_at)
        records = [
            UsageRecord(
                id=ids.derived_id(ids.USAGE, now_ms=at_ms, seed=seed),
                project_id=egress.project_id,
                metric="egress_minutes",
                kind=egress.kind,
                quantity=whole_minutes(began, ended),
                timestamp=ended,
            )
        ]
        size = sum(f.size for f in egress.files)
        if size:
            records.append(
                UsageRecord(
                    id=ids.derived_id(ids.USAGE, now_ms=at_ms, seed=f"bytes:{seed}"),
                    project_id=egress.project_id,
                    metric="recording_bytes",
                    quantity=size,
                    timestamp=ended,
                )
            )
        await self._record(records)

    async def ingress_ended(self, ingress: Ingress, state: IngressState, at: datetime) -> None:
        """Meter one publishing session of an ingress (an endpoint may publish again)."""
        await self.ingress_session(
            ingress.project_id, ingress.id, state.started_at, state.ended_at, at
        )

    async def ingress_session(
        self, project_id: str, ingress_id: str, started_ns: int, ended_ns: int, at: datetime
    ) -> None:
        """Meter the publishing session of the project's ingress ``ingress_id`` (Pulse's
        id) that started at ``started_ns`` (LiveKit's nanoseconds; 0: none, nothing is
        metered) and ended at ``ended_ns`` (0: not reported, ``at`` is taken). One usage
        record per session, whoever meters it first: LiveKit's ``ingress_ended`` (with or
        without the ingress's record) or the ingress's deletion."""
        started = from_nanoseconds(started_ns)
        if started is None:
            return
        ended = from_nanoseconds(ended_ns) or at
        await self._record(
            [
                UsageRecord(
                    id=ids.derived_id(
                        ids.USAGE,
                        now_ms=ids.ms_of(started),
                        seed=f"ingress:{project_id}:{ingress_id}:{started_ns}",
                    ),
                    project_id=project_id,
                    metric="ingress_minutes",
                    quantity=whole_minutes(started, ended),
                    timestamp=ended,
                )
            ]
        )

    async def _record(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        await self._usage.record(records)
        if self._on_recorded is not None:
            try:
                await self._on_recorded(records)
            except Exception:  # a quota notice must never undo metering
                _log.exception("quota check after metering failed")


def _connection_record(
    project_id: str, participant_sid: str, joined: datetime, left: datetime
) -> UsageRecord:
    return UsageRecord(
        id=ids.derived_id(
            ids.USAGE,
            now_ms=ids.ms_of(joined),
            seed=f"participant:{project_id}:{participant_sid}",
        ),
        project_id=project_id,
        metric="participant_minutes",
        quantity=whole_minutes(joined, left),
        timestamp=left,
    )
