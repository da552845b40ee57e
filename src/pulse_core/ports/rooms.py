"""The room engine: rooms, participants, tracks and data packets on the media server
(LiveKit's RoomService, or a simulation of it).

The engine knows nothing of projects. Its room names are the namespaced ones
(:func:`pulse_core.rooms.to_livekit`); the room service maps them to the caller's and back,
and only ever asks about rooms of the calling project, so tenancy never depends on the
engine. Participants and tracks are the caller's models
(:mod:`pulse_core.models.rooms`): they carry no room name.

Errors, shared by every method:

- ``NotFound``: the room (or participant, or track) does not exist on the engine.
- ``InvalidInput``: the engine rejected an argument (a limit of its own, a permission it
  does not grant, such as unmuting a track when LiveKit's ``enable_remote_unmute`` is
  off).
- ``Unavailable``: the engine is down, unreachable, too slow, or refused Pulse's own
  credentials. Raised within the adapter's timeout, never a hang, and after exactly one
  attempt per request sent: an engine never retries on its own.

Nothing is ordered by the engine unless a method says so.
"""

from __future__ import annotations

import abc
import builtins
from datetime import datetime

import msgspec

from pulse_core.models.rooms import Participant, ParticipantPatch, SendData, Track

#: LiveKit's defaults for a room created without settings.
DEFAULT_EMPTY_TIMEOUT_SECONDS = 300
DEFAULT_DEPARTURE_TIMEOUT_SECONDS = 20


class RoomRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A room to create, by its engine name. A setting left None takes the engine's
    default; ``max_participants`` None (or 0) is no limit."""

    name: str
    empty_timeout_seconds: int | None = None
    departure_timeout_seconds: int | None = None
    max_participants: int | None = None
    metadata: str | None = None


class RoomInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A room as the engine reports it (engine name). ``max_participants`` 0 is no limit;
    ``metadata`` is "" when there is none; times are timezone-aware UTC."""

    name: str
    sid: str
    created_at: datetime
    num_participants: int
    num_publishers: int
    max_participants: int
    metadata: str
    active_recording: bool
    empty_timeout_seconds: int
    departure_timeout_seconds: int


class RoomEngine(abc.ABC):
    """Rooms and participants on the media server. See the module docstring for the
    errors every method shares; each method adds what is specific to it."""

    @abc.abstractmethod
    async def create_room(self, request: RoomRequest) -> tuple[RoomInfo, bool]:
        """``(room, True)`` when this call created the room with ``request``'s settings;
        ``(room, False)`` with the room unchanged when it already existed.

        Two concurrent creations of a room that did not exist may both answer True (the
        engine's own create is an upsert); the room exists once either way."""

    @abc.abstractmethod
    async def list_rooms(self, *, prefix: str = "") -> builtins.list[RoomInfo]:
        """The live rooms whose name starts with ``prefix`` (every room when empty),
        ordered by name (code point by code point)."""

    @abc.abstractmethod
    async def get_room(self, name: str) -> RoomInfo:
        """The room now; ``NotFound`` when it does not exist."""

    @abc.abstractmethod
    async def update_room_metadata(self, name: str, metadata: str) -> RoomInfo:
        """Replace the room's metadata ("" clears it) and return the room; every
        participant is told. ``NotFound`` when the room does not exist."""

    @abc.abstractmethod
    async def delete_room(self, name: str) -> None:
        """End the room: every participant is disconnected. ``NotFound`` when it does not
        exist."""

    @abc.abstractmethod
    async def list_participants(self, room: str) -> builtins.list[Participant]:
        """The room's participants, ordered by identity; ``NotFound`` when the room does
        not exist (an empty room is an empty list)."""

    @abc.abstractmethod
    async def get_participant(self, room: str, identity: str) -> Participant:
        """One participant; ``NotFound`` when the room or the participant does not
        exist."""

    @abc.abstractmethod
    async def update_participant(
        self, room: str, identity: str, patch: ParticipantPatch
    ) -> Participant:
        """Apply ``patch`` (see :class:`ParticipantPatch`: None fields and permissions
        are left as they are, attributes are merged) and return the participant as it
        is afterwards. ``NotFound`` when the room or the participant does not exist."""

    @abc.abstractmethod
    async def remove_participant(self, room: str, identity: str) -> None:
        """Disconnect the participant from the room (it may join again with a valid
        token). ``NotFound`` when the room or the participant does not exist."""

    @abc.abstractmethod
    async def mute_track(self, room: str, identity: str, track_sid: str, muted: bool) -> Track:
        """Mute (or unmute) one of the participant's published tracks; the track
        afterwards. ``NotFound`` when the room, the participant or the track does not
        exist; ``InvalidInput`` when the engine does not allow unmuting remotely."""

    @abc.abstractmethod
    async def send_data(self, room: str, packet: SendData) -> None:
        """Send ``packet`` to the room's participants (those of
        ``packet.destination_identities`` only, when given; unknown identities are
        ignored). ``NotFound`` when the room does not exist. Delivery is LiveKit's
        (best effort even when reliable): success means the engine accepted it."""
