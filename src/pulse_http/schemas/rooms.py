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
    ParticipantState,
    PermissionPatch,
    Room,
    SendData,
    Track,
    TrackKind,
    TrackSource,
)
from pulse_http.schemas import NEXT_CURSOR, doc

_ROOM_NAME = doc(
    "The room's name, as the project names it: 1 to 128 printable characters, no `/` or "
    "`\\`, no leading or trailing space.",
    "demo",
)
_EMPTY_TIMEOUT = doc(
    "Seconds the room stays open while empty, before anyone joined too (1 to 86400; "
    "LiveKit's default: 300).",
    300,
)
_DEPARTURE_TIMEOUT = doc(
    "Seconds the room stays open after the last participant left (1 to 86400; LiveKit's "
    "default: 20).",
    20,
)
_MAX_PARTICIPANTS = doc(
    "The most participants at once (1 to 100000, and within the plan's "
    "`max_participants_per_room`); null: no limit but the plan's.",
    50,
)
_ROOM_METADATA = doc(
    "Free text every participant sees (at most 64000 bytes).", '{"topic": "Weekly sync"}'
)
_PARTICIPANT_NAME = doc("The participant's display name (at most 256 bytes).", "Alice")
_PARTICIPANT_METADATA = doc(
    "Free text the participant carries (at most 16384 bytes).", '{"seat": 12}'
)
_ATTRIBUTES = doc(
    "Key-value attributes (at most 64; keys not starting with `lk.`).", {"team": "red"}
)
_CAN_PUBLISH = doc("May publish tracks.", True)
_CAN_SUBSCRIBE = doc("May subscribe to the other participants' tracks.", True)
_CAN_PUBLISH_DATA = doc("May send data messages.", True)
_HIDDEN = doc("Invisible to the other participants.", False)


class CreateRoomBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A room to create; settings left out take LiveKit's defaults."""

    name: Annotated[str, _ROOM_NAME]
    empty_timeout_seconds: Annotated[int | None, _EMPTY_TIMEOUT] = None
    departure_timeout_seconds: Annotated[int | None, _DEPARTURE_TIMEOUT] = None
    max_participants: Annotated[int | None, _MAX_PARTICIPANTS] = None
    metadata: Annotated[str | None, _ROOM_METADATA] = None

    def to_domain(self) -> CreateRoom:
        return CreateRoom(
            name=self.name,
            empty_timeout_seconds=self.empty_timeout_seconds,
            departure_timeout_seconds=self.departure_timeout_seconds,
            max_participants=self.max_participants,
            metadata=self.metadata,
        )


class UpdateRoomBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The room's new metadata."""

    metadata: Annotated[
        str,
        doc('Free text every participant sees (at most 64000 bytes); `""` clears it.', "{}"),
    ]


class PermissionBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A participant's new permission; fields left out (or null) keep their value."""

    can_publish: Annotated[bool | None, _CAN_PUBLISH] = None
    can_subscribe: Annotated[bool | None, _CAN_SUBSCRIBE] = None
    can_publish_data: Annotated[bool | None, _CAN_PUBLISH_DATA] = None
    hidden: Annotated[bool | None, _HIDDEN] = None


class UpdateParticipantBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Changes to a participant; fields left out (or null) keep their value."""

    name: Annotated[str | None, _PARTICIPANT_NAME] = None
    metadata: Annotated[str | None, _PARTICIPANT_METADATA] = None
    attributes: Annotated[
        dict[str, str] | None,
        doc(
            'Attributes to set; a key with the value `""` is removed, keys left out keep '
            "their value.",
            {"team": "blue"},
        ),
    ] = None
    permission: Annotated[PermissionBody | None, doc("What the participant may do.")] = None

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
    """The track to mute or unmute."""

    track_sid: Annotated[str, doc("The track's sid (`TR_…`).", "TR_AMkVbPcvQK3j")]
    muted: Annotated[bool, doc("True to mute, false to unmute.", True)]


#: The packet's bytes as standard base64 (RFC 4648 §4, padded).
Base64Data = Annotated[
    bytes,
    msgspec.Meta(
        description="The packet's bytes, standard base64 with padding (at most 15 KiB decoded).",
        examples=["aGVsbG8="],
    ),
]


class SendDataBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A data packet for the room's participants."""

    data: Base64Data
    topic: Annotated[
        str | None, doc("A topic receivers can filter on (at most 256 bytes).", "chat")
    ] = None
    destination_identities: Annotated[
        list[str],
        doc("Only these participants (at most 100); empty: everyone in the room.", ["alice"]),
    ] = msgspec.field(default_factory=list)
    reliable: Annotated[
        bool, doc("Delivered in order and retried (true), or sent once (false).", True)
    ] = True

    def to_domain(self) -> SendData:
        return SendData(
            data=self.data,
            topic=self.topic,
            destination_identities=list(self.destination_identities),
            reliable=self.reliable,
        )


# -- responses -------------------------------------------------------------------------


class RoomOut(msgspec.Struct, frozen=True, kw_only=True):
    """A live room of the project."""

    name: Annotated[str, doc("The room's name, as the project names it.", "demo")]
    sid: Annotated[str, doc("LiveKit's id of this session of the room.", "RM_P2f6V5KwuTWb")]
    created_at: Annotated[datetime, doc("When it was created.", "2026-12-02T01:51:51.680219Z")]
    num_participants: Annotated[int, doc("Participants in it now.", 2)]
    num_publishers: Annotated[int, doc("Participants publishing at least one track.", 1)]
    max_participants: Annotated[
        int | None, doc("The most participants at once; null: no limit.", 100)
    ]
    metadata: Annotated[
        str | None, doc("Its metadata; null when none.", '{"topic": "Weekly sync"}')
    ]
    active_recording: Annotated[bool, doc("Whether an egress records it now.", False)]
    empty_timeout_seconds: Annotated[int, _EMPTY_TIMEOUT]
    departure_timeout_seconds: Annotated[int, _DEPARTURE_TIMEOUT]

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
    """A page of rooms."""

    items: Annotated[list[RoomOut], doc("This page's rooms.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


class TrackOut(msgspec.Struct, frozen=True, kw_only=True):
    """A published track."""

    sid: Annotated[str, doc("The track's sid (`TR_…`): what mute takes.", "TR_AMkVbPcvQK3j")]
    kind: Annotated[TrackKind, doc("`audio`, `video` or `data`.", "audio")]
    source: Annotated[
        TrackSource,
        doc(
            "`camera`, `microphone`, `screen_share`, `screen_share_audio`, or `unknown`.",
            "microphone",
        ),
    ]
    muted: Annotated[bool, doc("Whether it is muted.", False)]
    name: Annotated[str | None, doc("Its name, when the publisher gave one.", "mic")]

    @classmethod
    def of(cls, track: Track) -> TrackOut:
        return cls(
            sid=track.sid, kind=track.kind, source=track.source, muted=track.muted, name=track.name
        )


class PermissionOut(msgspec.Struct, frozen=True, kw_only=True):
    """What a participant may do in the room."""

    can_publish: Annotated[bool, _CAN_PUBLISH]
    can_subscribe: Annotated[bool, _CAN_SUBSCRIBE]
    can_publish_data: Annotated[bool, _CAN_PUBLISH_DATA]
    hidden: Annotated[bool, _HIDDEN]

    @classmethod
    def of(cls, permission: ParticipantPermission) -> PermissionOut:
        return cls(
            can_publish=permission.can_publish,
            can_subscribe=permission.can_subscribe,
            can_publish_data=permission.can_publish_data,
            hidden=permission.hidden,
        )


class ParticipantOut(msgspec.Struct, frozen=True, kw_only=True):
    """Someone in a room."""

    identity: Annotated[str, doc("The participant's identity (the token's).", "alice")]
    sid: Annotated[str, doc("LiveKit's id of this connection (`PA_…`).", "PA_8sKqv2GxWm4e")]
    name: Annotated[str | None, _PARTICIPANT_NAME]
    state: Annotated[
        ParticipantState, doc("`joining`, `joined`, `active` or `disconnected`.", "active")
    ]
    joined_at: Annotated[
        datetime | None,
        doc("When it joined; null until it has fully joined.", "2026-12-02T01:52:03Z"),
    ]
    metadata: Annotated[str | None, _PARTICIPANT_METADATA]
    attributes: Annotated[dict[str, str], _ATTRIBUTES]
    permission: Annotated[PermissionOut, doc("What it may do.")]
    tracks: Annotated[list[TrackOut], doc("The tracks it publishes.")]

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
    """A page of participants."""

    items: Annotated[list[ParticipantOut], doc("This page's participants.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]
