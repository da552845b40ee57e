"""Request and response bodies of the room endpoints (API.md, "Rooms and participants").

Responses show only what their types declare: room names are the caller's own, never the
namespaced names LiveKit sees, and no project id appears. Request bodies reject unknown
fields; ``data`` is standard base64 (with padding), decoded by msgspec, so anything else
is a 400 naming ``data``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from pulse_core.models.rooms import (
    CreateRoom,
    Participant,
    ParticipantPatch,
    ParticipantPermission,
    PermissionPatch,
    Room,
    SendData,
    Track,
)


class CreateRoomBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    empty_timeout_seconds: int | None = None
    departure_timeout_seconds: int | None = None
    max_participants: int | None = None
    metadata: str | None = None

    def to_domain(self) -> CreateRoom:
        return CreateRoom(
            name=self.name,
            empty_timeout_seconds=self.empty_timeout_seconds,
            departure_timeout_seconds=self.departure_timeout_seconds,
            max_participants=self.max_participants,
            metadata=self.metadata,
        )


class UpdateRoomBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``{"metadata": "..."}``; "" clears it."""

    metadata: str


class PermissionBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    can_publish: bool | None = None
    can_subscribe: bool | None = None
    can_publish_data: bool | None = None
    hidden: bool | None = None


class UpdateParticipantBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str | None = None
    metadata: str | None = None
    attributes: dict[str, str] | None = None
    permission: PermissionBody | None = None

    def to_domain(self) -> ParticipantPatch:
        permission = self.permission
        return ParticipantPatch(
            name=self.name,
            metadata=self.metadata,
            attributes=self.attributes,
            permission=None
            if permission is None
            else PermissionPatch(
                can_publish=permission.can_publish,
                can_subscribe=permission.can_subscribe,
                can_publish_data=permission.can_publish_data,
                hidden=permission.hidden,
            ),
        )


class MuteTrackBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    track_sid: str
    muted: bool


#: The packet's bytes as standard base64 (RFC 4648 §4, padded).
Base64Data = Annotated[bytes, msgspec.Meta(description="standard base64, padded")]


class SendDataBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data: Base64Data
    topic: str | None = None
    destination_identities: list[str] = msgspec.field(default_factory=list)
    reliable: bool = True

    def to_domain(self) -> SendData:
        return SendData(
            data=self.data,
            topic=self.topic,
            destination_identities=list(self.destination_identities),
            reliable=self.reliable,
        )


# -- responses -------------------------------------------------------------------------


class RoomOut(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    sid: str
    created_at: datetime
    num_participants: int
    num_publishers: int
    max_participants: int | None
    metadata: str | None
    active_recording: bool
    empty_timeout_seconds: int
    departure_timeout_seconds: int

    @classmethod
    def of(cls, room: Room) -> RoomOut:
        return cls(
            name=room.name,
            sid=room.sid,
            created_at=room.created_at,
            num_participants=room.num_participants,
            num_publishers=room.num_publishers,
            max_participants=room.max_participants,
            metadata=room.metadata,
            active_recording=room.active_recording,
            empty_timeout_seconds=room.empty_timeout_seconds,
            departure_timeout_seconds=room.departure_timeout_seconds,
        )


class RoomList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RoomOut]
    next_cursor: str | None


class TrackOut(msgspec.Struct, frozen=True, kw_only=True):
    sid: str
    kind: str
    source: str
    muted: bool
    name: str | None

    @classmethod
    def of(cls, track: Track) -> TrackOut:
        return cls(
            sid=track.sid, kind=track.kind, source=track.source, muted=track.muted, name=track.name
        )


class PermissionOut(msgspec.Struct, frozen=True, kw_only=True):
    can_publish: bool
    can_subscribe: bool
    can_publish_data: bool
    hidden: bool

    @classmethod
    def of(cls, permission: ParticipantPermission) -> PermissionOut:
        return cls(
            can_publish=permission.can_publish,
            can_subscribe=permission.can_subscribe,
            can_publish_data=permission.can_publish_data,
            hidden=permission.hidden,
        )


class ParticipantOut(msgspec.Struct, frozen=True, kw_only=True):
    identity: str
    sid: str
    name: str | None
    state: str
    joined_at: datetime | None
    metadata: str | None
    attributes: dict[str, str]
    permission: PermissionOut
    tracks: list[TrackOut]

    @classmethod
    def of(cls, participant: Participant) -> ParticipantOut:
        return cls(
            identity=participant.identity,
            sid=participant.sid,
            name=participant.name,
            state=participant.state,
            joined_at=participant.joined_at,
            metadata=participant.metadata,
            attributes=dict(participant.attributes),
            permission=PermissionOut.of(participant.permission),
            tracks=[TrackOut.of(t) for t in participant.tracks],
        )


class ParticipantList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ParticipantOut]
    next_cursor: str | None
