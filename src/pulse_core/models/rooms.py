"""Rooms and the people in them, as a project sees them.

A :class:`Room` carries the caller's own room name (``demo``), never the namespaced one
LiveKit sees (:func:`pulse_core.rooms.to_livekit`); participants and tracks carry no room
name at all, so the media engine's view of them is the caller's too.

The requests a caller makes (:class:`CreateRoom`, :class:`ParticipantPatch`,
:class:`SendData`) are here as well: embedders build them directly, the HTTP shell from
its bodies. They are taken as given; :class:`~pulse_core.services.rooms.RoomService`
checks them against the limits below.

Limits
------
Room names follow :mod:`pulse_core.rooms`; identities, participant names, participant
metadata and attributes the limits of a token
(:mod:`pulse_core.services.token_input`), so a participant can be given by an update
exactly what a token could have given it. Room metadata has LiveKit's own limit
(``limit.max_metadata_size``), which nothing else stands in front of. A data packet holds
at most :data:`MAX_DATA_BYTES`: LiveKit documents 15 KiB of user data per packet (the
protocol's 16 KiB less its routing headers); a bigger one is not refused by LiveKit's API
but may never arrive, so Pulse refuses it up front.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import msgspec

from pulse_core.models.token import TrackSource as PublishableSource

#: LiveKit's ``TrackType``, lower-cased.
TrackKind = Literal["audio", "video", "data"]
#: LiveKit's ``TrackSource``, lower-cased; ``unknown`` for tracks published without one.
TrackSource = PublishableSource | Literal["unknown"]
#: LiveKit's ``ParticipantInfo.State``, lower-cased.
ParticipantState = Literal["joining", "joined", "active", "disconnected"]

#: LiveKit's default ``limit.max_metadata_size`` (bytes), which applies to room metadata.
MAX_ROOM_METADATA_BYTES: Final = 64_000
#: User data in one data packet (LiveKit's documented 15 KiB).
MAX_DATA_BYTES: Final = 15 * 1024
#: A packet's topic; it travels in every copy of the packet, next to the data.
MAX_TOPIC_BYTES: Final = 256
#: Destinations of one packet. More than that is a broadcast: send it to the room (or a
#: topic) instead of listing everyone.
MAX_DESTINATIONS: Final = 100
#: Longest empty/departure timeout a caller may set (a day), and most participants.
MAX_ROOM_TIMEOUT_SECONDS: Final = 86_400
MAX_PARTICIPANTS_LIMIT: Final = 100_000


class Track(msgspec.Struct, frozen=True, kw_only=True):
    """A published track. ``sid`` is LiveKit's (``TR_…``), what mute takes."""

    sid: str
    kind: TrackKind
    source: TrackSource
    muted: bool
    name: str | None = None


class ParticipantPermission(msgspec.Struct, frozen=True, kw_only=True):
    """What a participant may do in its room (LiveKit's ``ParticipantPermission``)."""

    can_publish: bool
    can_subscribe: bool
    can_publish_data: bool
    hidden: bool = False


class Participant(msgspec.Struct, frozen=True, kw_only=True):
    """Someone in a room. ``name`` and ``metadata`` are None when LiveKit has none;
    ``joined_at`` is None before the participant has fully joined."""

    identity: str
    sid: str
    name: str | None
    state: ParticipantState
    joined_at: datetime | None
    metadata: str | None
    attributes: dict[str, str] = msgspec.field(default_factory=dict)
    permission: ParticipantPermission
    tracks: list[Track] = msgspec.field(default_factory=list)


class Room(msgspec.Struct, frozen=True, kw_only=True):
    """A live room of a project, by its caller name.

    ``max_participants`` is None when the room has no limit; ``num_publishers`` counts the
    participants publishing at least one track; ``active_recording`` is true while an
    egress records the room. The timeouts are how long the room stays open once empty
    (``empty_timeout_seconds``, also before anyone joined) and after the last participant
    left (``departure_timeout_seconds``).
    """

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


# -- requests ----------------------------------------------------------------------------


class CreateRoom(msgspec.Struct, frozen=True, kw_only=True):
    """A room to create. Absent settings take the media server's defaults (LiveKit: 300 s
    empty timeout, 20 s departure timeout, no participant limit)."""

    name: str
    empty_timeout_seconds: int | None = None
    departure_timeout_seconds: int | None = None
    max_participants: int | None = None
    metadata: str | None = None


class PermissionPatch(msgspec.Struct, frozen=True, kw_only=True):
    """The permissions to change; None leaves one as it is."""

    can_publish: bool | None = None
    can_subscribe: bool | None = None
    can_publish_data: bool | None = None
    hidden: bool | None = None


class ParticipantPatch(msgspec.Struct, frozen=True, kw_only=True):
    """What to change about a participant; None leaves a field as it is.

    ``name`` and ``metadata`` cannot be emptied (LiveKit reads an empty string as "leave
    it"), so an empty one is refused. ``attributes`` are merged into the participant's:
    a key with an empty value is removed, keys not given are kept.
    """

    name: str | None = None
    metadata: str | None = None
    attributes: dict[str, str] | None = None
    permission: PermissionPatch | None = None


class SendData(msgspec.Struct, frozen=True, kw_only=True):
    """A data packet for a room's participants (every one unless
    ``destination_identities`` names some). ``reliable``: delivered in order and
    retransmitted (LiveKit's RELIABLE); otherwise sent once (LOSSY)."""

    data: bytes
    topic: str | None = None
    destination_identities: list[str] = msgspec.field(default_factory=list)
    reliable: bool = True
