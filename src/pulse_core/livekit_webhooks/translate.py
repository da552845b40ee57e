"""LiveKit's events in Pulse's words: which project, which Pulse event, what ``data``.

A LiveKit event names LiveKit's room (``<project id>_<room>``, :mod:`pulse_core.rooms`)
and LiveKit's egress and ingress ids (``EG_…``, ``IN_…``). A Pulse event shows the
project's own room name and Pulse's ids (API.md, "Events and webhooks"), so:

- :func:`livekit_room_of` and :func:`project_room_of` find the project from the room;
  a web egress records a URL and has no room, so its project comes from Pulse's egress
  record instead (found by ``egress_info.egress_id``);
- :func:`translate` takes the project the processor settled on and, for egress and
  ingress events, the Pulse id of the record (the processor looks the record up anyway,
  to update it). Without that id there is no Pulse event: an egress or ingress Pulse
  did not create is not the project's to hear about, and LiveKit's id must not leak.

Everything here is pure: no clock, no I/O. Times in ``data`` are RFC 3339 strings (UTC,
``Z``), so ``data`` is plain JSON that any event store round-trips unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, TypeAlias

from pulse_core import rooms
from pulse_core.livekit_webhooks.protocol import Egress, Ingress, LiveKitEvent, Participant
from pulse_core.models.events import EventType
from pulse_core.models.media import EgressStatus, IngressStatus

#: Every event name LiveKit sends (livekit/protocol ``webhook/consts.go``) and the Pulse
#: event it becomes; None: acknowledged and not published (Pulse has no agents API).
LIVEKIT_EVENTS: Final[Mapping[str, EventType | None]] = {
    "room_started": "room.started",
    "room_finished": "room.finished",
    "participant_joined": "participant.joined",
    "participant_left": "participant.left",
    # Left before the connection was ever fully up: still a departure, with its reason.
    "participant_connection_aborted": "participant.left",
    "track_published": "track.published",
    "track_unpublished": "track.unpublished",
    "egress_started": "egress.started",
    "egress_updated": "egress.updated",
    "egress_ended": "egress.ended",
    "ingress_started": "ingress.started",
    "ingress_ended": "ingress.ended",
    "agent_job_started": None,
    "agent_job_ended": None,
}

_EGRESS_STATUS: Final[Mapping[str, EgressStatus]] = {
    "EGRESS_STARTING": "starting",
    "EGRESS_ACTIVE": "active",
    "EGRESS_ENDING": "ending",
    "EGRESS_COMPLETE": "complete",
    "EGRESS_FAILED": "failed",
    "EGRESS_ABORTED": "aborted",
    # Stopped by LiveKit's time limit: the outputs were finished and uploaded.
    "EGRESS_LIMIT_REACHED": "complete",
}
_INGRESS_STATUS: Final[Mapping[str, IngressStatus]] = {
    "ENDPOINT_INACTIVE": "inactive",
    "ENDPOINT_BUFFERING": "buffering",
    "ENDPOINT_PUBLISHING": "publishing",
    "ENDPOINT_ERROR": "error",
    "ENDPOINT_COMPLETE": "complete",
}
#: The ``error`` of an egress LiveKit's time limit stopped without saying why.
LIMIT_REACHED_ERROR: Final = "stopped at LiveKit's time limit"
_EGRESS_EVENTS: Final = frozenset({"egress_started", "egress_updated", "egress_ended"})
_INGRESS_EVENTS: Final = frozenset({"ingress_started", "ingress_ended"})

#: A Pulse event type and its ``data``.
Translation: TypeAlias = tuple[EventType, dict[str, Any]]


def egress_status(egress: Egress) -> EgressStatus:
    """Pulse's status of ``egress`` (as the LiveKit media engine adapter maps it: a
    status this code does not know is ``failed``, the conservative reading)."""
    return _EGRESS_STATUS.get(egress.status, "failed")


def egress_error(egress: Egress) -> str | None:
    if egress.error:
        return egress.error
    if egress.status == "EGRESS_LIMIT_REACHED":
        return LIMIT_REACHED_ERROR
    return None


def ingress_status(ingress: Ingress) -> IngressStatus:
    """Pulse's status of ``ingress``; a status this code does not know is ``error``."""
    return _INGRESS_STATUS.get(ingress.state.status, "error")


def livekit_room_of(event: LiveKitEvent) -> str | None:
    """The LiveKit room ``event`` is about; None when it names none (a web egress)."""
    if event.room is not None and event.room.name:
        return event.room.name
    if event.egress_info is not None and event.egress_info.room_name:
        return event.egress_info.room_name
    if event.ingress_info is not None and event.ingress_info.room_name:
        return event.ingress_info.room_name
    return None


def project_room_of(event: LiveKitEvent) -> tuple[str, str] | None:
    """``(project_id, room)`` of the Pulse room ``event`` is about; None when it names
    no room or a room Pulse did not name (:func:`pulse_core.rooms.from_livekit`)."""
    livekit_room = livekit_room_of(event)
    return None if livekit_room is None else rooms.from_livekit(livekit_room)


def translate(
    event: LiveKitEvent, project_id: str, *, pulse_id: str | None = None
) -> Translation | None:
    """The Pulse event type and ``data`` of ``event`` for project ``project_id``, or
    None when it makes no Pulse event.

    ``pulse_id`` is the Pulse id (``eg_…`` / ``ig_…``) of the egress or ingress an
    ``egress_*`` / ``ingress_*`` event is about; it is ignored for other events.

    None when: the event name is not one Pulse publishes (:data:`LIVEKIT_EVENTS`); the
    event names a room of another project, or (for room, participant and track events)
    no Pulse room at all; its message is missing (a participant event without a
    participant); or an egress/ingress event comes without ``pulse_id``.
    """
    event_type = LIVEKIT_EVENTS.get(event.event)
    if event_type is None:
        return None
    room: str | None = None
    livekit_room = livekit_room_of(event)
    if livekit_room is not None:
        owner = rooms.from_livekit(livekit_room)
        if owner is None or owner[0] != project_id:
            # Another project's room, or a room Pulse did not create: saying anything
            # about it to this project would cross tenants.
            return None
        room = owner[1]
    data: dict[str, Any] | None
    if event.event in _EGRESS_EVENTS:
        if event.egress_info is None or not pulse_id:
            return None
        data = _egress_data(event.egress_info, pulse_id, room)
    elif event.event in _INGRESS_EVENTS:
        if event.ingress_info is None or not pulse_id:
            return None
        data = _ingress_data(event.ingress_info, pulse_id, room)
    elif room is None:
        return None
    else:
        data = _room_data(event, room)
    return None if data is None else (event_type, data)


def _room_data(event: LiveKitEvent, room: str) -> dict[str, Any] | None:
    """``data`` of a room, participant or track event; None when its message is missing."""
    data: dict[str, Any] = {"room": room, "room_sid": event.room.sid if event.room else ""}
    if event.event in ("room_started", "room_finished"):
        return data
    participant = event.participant
    if participant is None:
        return None
    if event.event.startswith("participant_"):
        data["participant"] = _participant_data(participant)
        if event.event != "participant_joined":
            data["reason"] = _leave_reason(event.event, participant)
        return data
    track = event.track
    if track is None:
        return None
    data["participant"] = {"identity": participant.identity, "sid": participant.sid}
    data["track"] = {
        "sid": track.sid,
        "kind": track.type.lower(),
        "source": track.source.lower(),
        "muted": track.muted,
        "name": track.name,
    }
    return data


def _rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds").replace(
        "+00:00", "Z"
    )


def _participant_data(participant: Participant) -> dict[str, Any]:
    return {
        "identity": participant.identity,
        "sid": participant.sid,
        "name": participant.name,
        "kind": participant.kind.lower(),
        "joined_at": _rfc3339(participant.joined_time),
    }


def _leave_reason(name: str, participant: Participant) -> str:
    """Why the participant left: ``connection_aborted`` when it never fully connected,
    otherwise LiveKit's disconnect reason in lower case (``client_initiated``,
    ``participant_removed``, ``room_deleted``, …; ``unknown`` when LiveKit gives none)."""
    if name == "participant_connection_aborted":
        return "connection_aborted"
    reason = participant.disconnect_reason
    return "unknown" if reason == "UNKNOWN_REASON" else reason.lower()


def _egress_data(egress: Egress, pulse_id: str, room: str | None) -> dict[str, Any]:
    # No file names or locations: they are storage keys and bucket URLs, LiveKit's view
    # of Pulse's storage; the processor knows the egress's outputs as the project named
    # them (and publishes recording.ready per file).
    return {
        "egress_id": pulse_id,
        "room": room,
        "status": egress_status(egress),
        "started_at": _rfc3339(egress.started_time),
        "ended_at": _rfc3339(egress.ended_time),
        "error": egress_error(egress),
    }


def _ingress_data(ingress: Ingress, pulse_id: str, room: str | None) -> dict[str, Any]:
    return {
        "ingress_id": pulse_id,
        "room": room,
        "status": ingress_status(ingress),
        "participant_identity": ingress.participant_identity,
        "started_at": _rfc3339(ingress.state.started_time),
        "ended_at": _rfc3339(ingress.state.ended_time),
        "error": ingress.state.error or None,
    }
