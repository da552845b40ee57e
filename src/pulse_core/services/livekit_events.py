"""Applying LiveKit's webhooks: what each event changes in Pulse, and the Pulse event it
becomes (API.md, "LiveKit's webhooks (inbound)").

Runs from the queue (the inbound route only verifies and enqueues). Applying an event
twice changes nothing the first time did not: the Pulse event id is derived from
LiveKit's event id (and the event log keeps one), record updates never move an ended
egress back, and deliveries are created once per event and endpoint.
"""

from __future__ import annotations

import logging
from datetime import datetime

import msgspec

from pulse_core import ids, rooms
from pulse_core.errors import InvalidInput
from pulse_core.livekit_webhooks.protocol import Egress as EgressInfo
from pulse_core.livekit_webhooks.protocol import Ingress as IngressInfo
from pulse_core.livekit_webhooks.protocol import LiveKitEvent, parse_livekit_event
from pulse_core.livekit_webhooks.translate import (
    egress_error,
    egress_status,
    ingress_status,
    project_room_of,
    translate,
)
from pulse_core.models.events import Event, Outgoing
from pulse_core.models.jobs import ApplyLiveKitEvent
from pulse_core.models.media import (
    ENDED_EGRESS_STATUSES,
    ENDED_INGRESS_STATUSES,
    Egress,
    EgressFile,
    FileOutput,
    Ingress,
)
from pulse_core.ports.media_records import EgressRecordRepository, IngressRecordRepository
from pulse_core.ports.repositories import ProjectRepository
from pulse_core.services.event_log import EventLog
from pulse_core.services.media_teardown import MediaTeardown
from pulse_core.services.metering import UsageMeter

_log = logging.getLogger("pulse.livekit_events")
_DEPARTURES = frozenset({"participant_left", "participant_connection_aborted"})
# What a room of no live project does as it opens again: with a token of a deleted
# project, minted before the deletion and not yet expired.
_OPENINGS = frozenset({"room_started", "participant_joined"})


def event_id_of(livekit_event_id: str, at: datetime) -> str:
    """The Pulse event of LiveKit's event ``livekit_event_id``, however often it came."""
    return ids.derived_id(ids.EVENT, now_ms=ids.ms_of(at), seed=f"livekit:{livekit_event_id}")


class LiveKitEventProcessor:
    def __init__(
        self,
        projects: ProjectRepository,
        egress: EgressRecordRepository,
        ingress: IngressRecordRepository,
        log: EventLog,
        meter: UsageMeter | None = None,
        *,
        teardown: MediaTeardown | None = None,
    ) -> None:
        self._meter = meter
        self._teardown = teardown
        self._projects = projects
        self._egress = egress
        self._ingress = ingress
        self._log = log

    async def apply(self, job: ApplyLiveKitEvent, *, redelivered: bool = False) -> list[Outgoing]:
        """Apply one verified LiveKit webhook; the deliveries it created, not queued: the
        caller attempts them (and queues what needs another attempt). Events of no live
        project, of egresses and ingresses Pulse did not create, and of kinds Pulse does
        not publish are dropped (LiveKit was already answered 200); the end of a session
        of an ingress deleted since, and the ends of a deleted project's egresses and
        ingresses, are applied and metered, not published. A room of no live project that
        opens (``room_started``, ``participant_joined``) is ended, given a
        ``teardown``."""
        try:
            event = parse_livekit_event(job.body)
        except InvalidInput as exc:
            _log.warning("unreadable LiveKit event dropped: %s", exc.detail)
            return []
        at = event.created_time or job.received_at
        if event.egress_info is not None and event.event.startswith("egress_"):
            return await self._apply_egress(event, event.egress_info, at, redelivered)
        if event.ingress_info is not None and event.event.startswith("ingress_"):
            return await self._apply_ingress(event, at, redelivered)
        owner = project_room_of(event)
        if owner is None:
            return []
        if await self._projects.get(owner[0]) is None:
            if self._teardown is not None and event.event in _OPENINGS:
                # A room of a deleted project, opened again: ended, as the deletion
                # ended the project's rooms (media_teardown's docstring).
                await self._teardown.end_room(rooms.to_livekit(*owner))
            return []
        if self._meter is not None:
            await self._meter_room_event(event, owner[0], at)
        return await self._publish(event, owner[0], at, redelivered)

    async def _meter_room_event(self, event: LiveKitEvent, project_id: str, at: datetime) -> None:
        assert self._meter is not None
        livekit_room = event.room.name if event.room is not None else ""
        if event.event == "participant_joined" and event.participant is not None:
            await self._meter.participant_joined(project_id, livekit_room, event.participant, at)
        elif event.event in _DEPARTURES and event.participant is not None:
            await self._meter.participant_left(project_id, event.participant, at)
        elif event.event == "room_finished" and livekit_room:
            await self._meter.room_finished(project_id, livekit_room, at)

    async def _apply_egress(
        self, event: LiveKitEvent, info: EgressInfo, at: datetime, redelivered: bool
    ) -> list[Outgoing]:
        record = await self._egress.get_by_engine_id(info.egress_id)
        if record is None:
            return []
        # A deleted project's egress may run on until the media server stops it: its end
        # still ends the record (it counts against no limit then) and is metered, but
        # nobody is told any more.
        live = await self._projects.get(record.project_id) is not None
        # Applied to the record as stored when it is written: a refresh from the engine
        # made meanwhile cannot undo this end or drop its files, nor the reverse.
        updated = await self._egress.change(
            record.project_id, record.id, lambda stored: _egress_after(stored, info, at)
        )
        if updated is None:
            return []
        if updated.ended and self._meter is not None:
            await self._meter.egress_ended(
                updated, started=info.started_time, ended=info.ended_time
            )
        if not live:
            return []
        created = await self._publish(event, record.project_id, at, redelivered, pulse_id=record.id)
        # Told once: when this report ended it or brought its files (or again, when
        # LiveKit's report comes again after a crash).
        files_arrived = not record.files and bool(updated.files)
        if updated.status == "complete" and (not record.ended or files_arrived or redelivered):
            for file in updated.files:
                if file.recording_id is not None:
                    created += await self._recording_ready(event, updated, file, at, redelivered)
        return created

    async def _apply_ingress(
        self, event: LiveKitEvent, at: datetime, redelivered: bool
    ) -> list[Outgoing]:
        info = event.ingress_info
        assert info is not None
        record = await self._ingress.get_by_engine_id(info.ingress_id)
        if record is None:
            await self._meter_deleted_ingress(event, info, at)
            return []
        # As an egress's end: a deleted project's ingress is applied and metered, not told.
        live = await self._projects.get(record.project_id) is not None
        status = ingress_status(info)
        if status != record.status:

            def applied(stored: Ingress) -> Ingress:
                if stored.status == status:
                    return stored
                return msgspec.structs.replace(stored, status=status, updated_at=at)

            if await self._ingress.change(record.project_id, record.id, applied) is None:
                await self._meter_deleted_ingress(event, info, at)  # deleted meanwhile
                return []
        if self._meter is not None and _ingress_ended(event, status):
            await self._meter.ingress_ended(record, info.state, at)
        if not live:
            return []
        return await self._publish(event, record.project_id, at, redelivered, pulse_id=record.id)

    async def _meter_deleted_ingress(
        self, event: LiveKitEvent, info: IngressInfo, at: datetime
    ) -> None:
        """Meter the session LiveKit reports ended for an ingress whose record is gone: a
        publisher cut off by the deletion is reported after it. The deletion meters the
        same session (the same usage record, counted once) unless it failed to, or was
        retried once the engine had already let the ingress go. Only an ingress Pulse
        made (its engine name is Pulse's id) in a room of a live project is metered."""
        if self._meter is None or not _ingress_ended(event, ingress_status(info)):
            return
        owner = project_room_of(event)
        if owner is None or not ids.is_valid_id(info.name, ids.INGRESS):
            return
        if await self._projects.get(owner[0]) is None:
            return
        await self._meter.ingress_session(
            owner[0], info.name, info.state.started_at, info.state.ended_at, at
        )

    async def _publish(
        self,
        event: LiveKitEvent,
        project_id: str,
        at: datetime,
        redelivered: bool,
        *,
        pulse_id: str | None = None,
    ) -> list[Outgoing]:
        translated = translate(event, project_id, pulse_id=pulse_id)
        if translated is None:
            return []
        event_type, data = translated
        return await self._log.publish_unqueued(
            Event(
                id=event_id_of(event.id, at),
                project_id=project_id,
                type=event_type,
                timestamp=at,
                data=data,
            ),
            requeue_pending=redelivered,
        )

    async def _recording_ready(
        self, event: LiveKitEvent, egress: Egress, file: EgressFile, at: datetime, redelivered: bool
    ) -> list[Outgoing]:
        return await self._log.publish_unqueued(
            Event(
                id=ids.derived_id(
                    ids.EVENT, now_ms=ids.ms_of(at), seed=f"recording:{event.id}:{file.path}"
                ),
                project_id=egress.project_id,
                type="recording.ready",
                timestamp=at,
                data={
                    "recording_id": file.recording_id,
                    "egress_id": egress.id,
                    "room": egress.room,
                    "path": file.path,
                    "size": file.size,
                    "duration_seconds": file.duration_seconds,
                },
            ),
            requeue_pending=redelivered,
        )


def _egress_after(record: Egress, info: EgressInfo, at: datetime) -> Egress:
    """The record once ``info`` is applied. An ended egress stays as it ended: LiveKit
    retries and may deliver an older update after the final one. Only its files can
    still arrive: a read that asked the engine may have ended it first, and the engine's
    answer there names no files; LiveKit's report of the end does."""
    status = egress_status(info)
    if record.ended:
        if record.files or not info.files or status not in ENDED_EGRESS_STATUSES:
            return record
        with_files: Egress = msgspec.structs.replace(
            record, files=_files(record, info), updated_at=at
        )
        return with_files
    changes: dict[str, object] = {"status": status, "updated_at": at}
    if status in ENDED_EGRESS_STATUSES:
        changes["ended_at"] = info.ended_time or at
        changes["files"] = _files(record, info)
    error = egress_error(info)
    if error:
        changes["error"] = error
    updated: Egress = msgspec.structs.replace(record, **changes)
    return updated


def _files(record: Egress, info: EgressInfo) -> list[EgressFile]:
    """The files LiveKit reports, matched to the record's planned file outputs by the end
    of their name (LiveKit reports the full storage key or path it wrote)."""
    planned = [o for o in record.outputs if isinstance(o, FileOutput)]
    files = []
    for result in info.files:
        match = next((o for o in planned if result.filename.endswith(o.filepath)), None)
        if match is None and len(planned) == 1 and len(info.files) == 1:
            match = planned[0]
        files.append(
            EgressFile(
                path=match.filepath if match else result.filename.rsplit("/", 1)[-1],
                recording_id=match.recording_id if match else None,
                size=int(result.size),
                duration_seconds=result.duration_seconds,
            )
        )
    return files


def _ingress_ended(event: LiveKitEvent, status: str) -> bool:
    """Whether ``event`` reports the end of a publishing session."""
    return event.event == "ingress_ended" or status in ENDED_INGRESS_STATUSES
