"""A simulated room engine: LiveKit's RoomService without a media server.

For tests, embedding, and the embedded default when ``LIVEKIT_HOST`` is not set. It keeps
LiveKit's observable behaviour, checked by the same contract suite as
``LiveKitRoomEngine``: creating a room that exists returns it unchanged, a room gets
LiveKit's default timeouts (300 s empty, 20 s departure) unless told otherwise, name and
metadata updates cannot empty a field, attributes merge (an empty value removes a key), a
permission update leaves the permissions it does not name, unknown rooms, participants
and tracks are ``NotFound``.

Nobody connects to a simulation, so people come and go through the simulator API, which
tests and embedders call directly (nothing of it is reachable over HTTP):

- :meth:`InMemoryRoomEngine.simulate_join` puts a participant in a room (creating the room
  as LiveKit does when the first participant arrives), publishing the given tracks;
- :meth:`~InMemoryRoomEngine.simulate_publish` and :meth:`~InMemoryRoomEngine.simulate_leave`;
- :attr:`~InMemoryRoomEngine.sent_data` holds every packet the engine accepted.

With ``media`` (the container passes the simulated media engine), a room reports
``active_recording`` while one of that engine's egresses records it, as LiveKit does.
Rooms never close on their own (no empty timeout runs), and ending a room does not end
its egresses: simplifications a test can see, listed here so it does not rely on them.

Every method runs without awaiting anything, so it is atomic under asyncio.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import msgspec

from pulse_adapters.memory.media_engine import InMemoryMediaEngine
from pulse_core.errors import Conflict, NotFound
from pulse_core.models.rooms import (
    Participant,
    ParticipantPatch,
    ParticipantPermission,
    SendData,
    Track,
    TrackKind,
    TrackSource,
)
from pulse_core.ports.clock import Clock
from pulse_core.ports.rooms import (
    DEFAULT_DEPARTURE_TIMEOUT_SECONDS,
    DEFAULT_EMPTY_TIMEOUT_SECONDS,
    RoomEngine,
    RoomInfo,
    RoomRequest,
)

# LiveKit ids: a prefix and 12 base57 characters.
_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_KIND_OF: Final[dict[str, TrackKind]] = {
    "camera": "video",
    "screen_share": "video",
    "microphone": "audio",
    "screen_share_audio": "audio",
    "unknown": "data",
}
_RECORDING = frozenset({"starting", "active", "ending"})
#: What a participant may do unless its token said otherwise (Pulse's default grants).
DEFAULT_PERMISSION = ParticipantPermission(
    can_publish=True, can_subscribe=True, can_publish_data=True, hidden=False
)


def _engine_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


class SentData(msgspec.Struct, frozen=True, kw_only=True):
    """A packet the simulated engine accepted for ``room`` (its engine name)."""

    room: str
    packet: SendData


@dataclass
class _Room:
    info: RoomInfo
    participants: dict[str, Participant] = field(default_factory=dict)


class InMemoryRoomEngine(RoomEngine):
    """The simulated room engine (module docstring). ``clock`` stamps creation and join
    times; ``media`` is the simulated media engine whose egresses make a room
    ``active_recording``."""

    def __init__(self, clock: Clock, *, media: InMemoryMediaEngine | None = None) -> None:
        self._clock = clock
        self._media = media
        self._rooms: dict[str, _Room] = {}
        #: Every packet accepted by :meth:`send_data`, oldest first.
        self.sent_data: list[SentData] = []

    # -- rooms ------------------------------------------------------------------------

    async def create_room(self, request: RoomRequest) -> tuple[RoomInfo, bool]:
        existing = self._rooms.get(request.name)
        if existing is not None:
            return self._info(existing), False
        room = self._new_room(request)
        return self._info(room), True

    async def list_rooms(self, *, prefix: str = "") -> builtins.list[RoomInfo]:
        return [
            self._info(self._rooms[name]) for name in sorted(self._rooms) if name.startswith(prefix)
        ]

    async def get_room(self, name: str) -> RoomInfo:
        return self._info(self._room(name))

    async def update_room_metadata(self, name: str, metadata: str) -> RoomInfo:
        room = self._room(name)
        room.info = msgspec.structs.replace(room.info, metadata=metadata)
        return self._info(room)

    async def delete_room(self, name: str) -> None:
        if self._rooms.pop(name, None) is None:
            raise NotFound("room does not exist")

    # -- participants -----------------------------------------------------------------

    async def list_participants(self, room: str) -> builtins.list[Participant]:
        found = self._room(room).participants
        return [found[identity] for identity in sorted(found)]

    async def get_participant(self, room: str, identity: str) -> Participant:
        return self._participant(room, identity)

    async def update_participant(
        self, room: str, identity: str, patch: ParticipantPatch
    ) -> Participant:
        current = self._participant(room, identity)
        attributes = dict(current.attributes)
        for key, value in (patch.attributes or {}).items():
            if value:
                attributes[key] = value
            else:
                attributes.pop(key, None)
        permission = current.permission
        if patch.permission is not None:
            changes = msgspec.structs.asdict(patch.permission)
            permission = msgspec.structs.replace(
                permission, **{k: v for k, v in changes.items() if v is not None}
            )
        updated = msgspec.structs.replace(
            current,
            name=patch.name or current.name,
            metadata=patch.metadata or current.metadata,
            attributes=attributes,
            permission=permission,
        )
        self._room(room).participants[identity] = updated
        return updated

    async def remove_participant(self, room: str, identity: str) -> None:
        self._participant(room, identity)
        del self._room(room).participants[identity]

    async def mute_track(self, room: str, identity: str, track_sid: str, muted: bool) -> Track:
        participant = self._participant(room, identity)
        for i, track in enumerate(participant.tracks):
            if track.sid == track_sid:
                changed = msgspec.structs.replace(track, muted=muted)
                tracks = [*participant.tracks[:i], changed, *participant.tracks[i + 1 :]]
                self._room(room).participants[identity] = msgspec.structs.replace(
                    participant, tracks=tracks
                )
                return changed
        raise NotFound("track is not found")

    async def send_data(self, room: str, packet: SendData) -> None:
        self._room(room)
        self.sent_data.append(SentData(room=room, packet=packet))

    # -- the simulator API --------------------------------------------------------------

    def simulate_join(
        self,
        room: str,
        identity: str,
        *,
        name: str | None = None,
        metadata: str | None = None,
        attributes: dict[str, str] | None = None,
        permission: ParticipantPermission = DEFAULT_PERMISSION,
        tracks: Iterable[TrackSource] = (),
    ) -> Participant:
        """``identity`` joins engine room ``room`` (created with the default settings if
        it does not exist), publishing one track per source in ``tracks``. Joining again
        replaces the earlier session, as LiveKit does. ``Conflict`` when the room is at
        its ``max_participants``."""
        target = self._rooms.get(room) or self._new_room(RoomRequest(name=room))
        limit = target.info.max_participants
        if limit and identity not in target.participants and len(target.participants) >= limit:
            raise Conflict("room is full")
        participant = Participant(
            identity=identity,
            sid=_engine_id("PA_"),
            name=name,
            state="active",
            joined_at=self._clock.now(),
            metadata=metadata,
            attributes=dict(attributes or {}),
            permission=permission,
            tracks=[_track(source) for source in tracks],
        )
        target.participants[identity] = participant
        return participant

    def simulate_publish(self, room: str, identity: str, source: TrackSource) -> Track:
        """The participant publishes a new track from ``source``; ``NotFound`` when it is
        not in the room."""
        participant = self._participant(room, identity)
        track = _track(source)
        self._room(room).participants[identity] = msgspec.structs.replace(
            participant, tracks=[*participant.tracks, track]
        )
        return track

    def simulate_leave(self, room: str, identity: str) -> None:
        """The participant disconnects; ``NotFound`` when it is not in the room."""
        self._participant(room, identity)
        del self._room(room).participants[identity]

    # -- internals --------------------------------------------------------------------

    def _new_room(self, request: RoomRequest) -> _Room:
        room = _Room(
            info=RoomInfo(
                name=request.name,
                sid=_engine_id("RM_"),
                created_at=self._clock.now(),
                num_participants=0,
                num_publishers=0,
                max_participants=request.max_participants or 0,
                metadata=request.metadata or "",
                active_recording=False,
                empty_timeout_seconds=request.empty_timeout_seconds
                or DEFAULT_EMPTY_TIMEOUT_SECONDS,
                departure_timeout_seconds=request.departure_timeout_seconds
                or DEFAULT_DEPARTURE_TIMEOUT_SECONDS,
            )
        )
        self._rooms[request.name] = room
        return room

    def _room(self, name: str) -> _Room:
        room = self._rooms.get(name)
        if room is None:
            raise NotFound("room does not exist")
        return room

    def _participant(self, room: str, identity: str) -> Participant:
        participant = self._room(room).participants.get(identity)
        if participant is None:
            raise NotFound("participant does not exist")
        return participant

    def _info(self, room: _Room) -> RoomInfo:
        people = room.participants.values()
        return msgspec.structs.replace(
            room.info,
            num_participants=len(people),
            num_publishers=sum(1 for p in people if p.tracks),
            active_recording=room.info.name in self._recorded_rooms(),
        )

    def _recorded_rooms(self) -> set[str]:
        if self._media is None:
            return set()
        # The media engine keeps its egresses to itself; this engine is the other half of
        # the same simulation, so it reads them rather than keep a copy that could drift.
        return {
            egress.request.room_name or ""
            for egress in self._media._egresses.values()
            if egress.status in _RECORDING
        }


def _track(source: TrackSource) -> Track:
    return Track(sid=_engine_id("TR_"), kind=_KIND_OF[source], source=source, muted=False)
