"""The room engine on a real LiveKit server: ``livekit-api``'s RoomService.

It rides on a :class:`~pulse_adapters.livekit.engine.LiveKitMediaEngine`: the same
``aiohttp`` session and SDK client, the same bound on every call, one attempt, and the
same translation of LiveKit's answers (that module's docstring has the table; in short
``not_found`` → ``NotFound``, ``invalid_argument`` and ``failed_precondition`` →
``InvalidInput``, anything else, no answer in time or a refusal of Pulse's own
credentials → ``Unavailable``). It opens and closes nothing of its own: the media
engine's lifecycle is its lifecycle.

Tokens. Each RPC is signed by the SDK with the narrowest grant LiveKit accepts for it:
``roomCreate`` to create and delete rooms, ``roomList`` to list them, ``roomAdmin`` for
that one room for everything inside a room. The contract suite runs against a LiveKit
double that refuses any token carrying more.

Where LiveKit's RoomService does not answer the port's contract in one call, this adapter
makes two (never a retry of the same call):

- ``create_room``: LiveKit's CreateRoom is an upsert that changes an existing room's
  settings; the port returns an existing room unchanged, so the room is looked up first.
- ``list_participants``: LiveKit lists no one for a room that does not exist; an empty
  answer is checked against the room list, so a missing room is ``NotFound``.
- ``send_data``: LiveKit routes a packet to the node hosting the room and may never
  answer for a room no node hosts; the room is looked up first, so that is ``NotFound``.
- ``update_participant`` with a permission change: LiveKit replaces the whole permission
  (every flag not sent becomes false, ``can_publish_sources`` and ``can_update_metadata``
  included), so the participant's current permission is read and only the named flags
  change.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from livekit import api
from livekit.protocol import models as lk_models
from livekit.protocol import room as lk_room

from pulse_adapters.livekit.engine import LiveKitMediaEngine
from pulse_core.errors import NotFound
from pulse_core.models.rooms import (
    Participant,
    ParticipantPatch,
    ParticipantPermission,
    ParticipantState,
    SendData,
    Track,
    TrackKind,
    TrackSource,
)
from pulse_core.ports.rooms import RoomEngine, RoomInfo, RoomRequest

T = TypeVar("T")

_STATE: dict[int, ParticipantState] = {
    lk_models.ParticipantInfo.State.JOINING: "joining",
    lk_models.ParticipantInfo.State.JOINED: "joined",
    lk_models.ParticipantInfo.State.ACTIVE: "active",
    lk_models.ParticipantInfo.State.DISCONNECTED: "disconnected",
}
_KIND: dict[int, TrackKind] = {
    lk_models.TrackType.AUDIO: "audio",
    lk_models.TrackType.VIDEO: "video",
    lk_models.TrackType.DATA: "data",
}
_SOURCE: dict[int, TrackSource] = {
    lk_models.TrackSource.UNKNOWN: "unknown",
    lk_models.TrackSource.CAMERA: "camera",
    lk_models.TrackSource.MICROPHONE: "microphone",
    lk_models.TrackSource.SCREEN_SHARE: "screen_share",
    lk_models.TrackSource.SCREEN_SHARE_AUDIO: "screen_share_audio",
}


class LiveKitRoomEngine(RoomEngine):
    """Rooms and participants on the LiveKit server ``media`` talks to, through
    ``media``'s session, timeout and error translation. Construction does no I/O."""

    def __init__(self, media: LiveKitMediaEngine) -> None:
        self._media = media

    def __repr__(self) -> str:
        return f"LiveKitRoomEngine({self._media!r})"

    async def _call(self, what: str, op: Callable[[api.LiveKitAPI], Awaitable[T]]) -> T:
        # The media engine's bounded, translated, single-attempt call, on its session.
        return await self._media.call(what, op)

    # -- rooms ------------------------------------------------------------------------

    async def create_room(self, request: RoomRequest) -> tuple[RoomInfo, bool]:
        existing = await self._find_room(request.name, "create room")
        if existing is not None:
            return _room_info(existing), False
        message = lk_room.CreateRoomRequest(
            name=request.name,
            empty_timeout=request.empty_timeout_seconds or 0,
            departure_timeout=request.departure_timeout_seconds or 0,
            max_participants=request.max_participants or 0,
            metadata=request.metadata or "",
        )
        created = await self._call("create room", lambda c: c.room.create_room(message))
        return _room_info(created), True

    async def list_rooms(self, *, prefix: str = "") -> builtins.list[RoomInfo]:
        # LiveKit filters by exact names only: the prefix is applied here.
        message = lk_room.ListRoomsRequest()
        found = await self._call("list rooms", lambda c: c.room.list_rooms(message))
        rooms = sorted((r for r in found.rooms if r.name.startswith(prefix)), key=lambda r: r.name)
        return [_room_info(r) for r in rooms]

    async def get_room(self, name: str) -> RoomInfo:
        room = await self._find_room(name, "get room")
        if room is None:
            raise NotFound("room does not exist")
        return _room_info(room)

    async def update_room_metadata(self, name: str, metadata: str) -> RoomInfo:
        message = lk_room.UpdateRoomMetadataRequest(room=name, metadata=metadata)
        room = await self._call(
            "update room metadata", lambda c: c.room.update_room_metadata(message)
        )
        return _room_info(room)

    async def delete_room(self, name: str) -> None:
        message = lk_room.DeleteRoomRequest(room=name)
        await self._call("delete room", lambda c: c.room.delete_room(message))

    # -- participants -----------------------------------------------------------------

    async def list_participants(self, room: str) -> builtins.list[Participant]:
        message = lk_room.ListParticipantsRequest(room=room)
        found = await self._call("list participants", lambda c: c.room.list_participants(message))
        if not found.participants:
            await self.get_room(room)  # an empty room, or none at all
        people = sorted(found.participants, key=lambda p: p.identity)
        return [_participant(p) for p in people]

    async def get_participant(self, room: str, identity: str) -> Participant:
        return _participant(await self._get_participant(room, identity))

    async def update_participant(
        self, room: str, identity: str, patch: ParticipantPatch
    ) -> Participant:
        message = lk_room.UpdateParticipantRequest(
            room=room,
            identity=identity,
            name=patch.name or "",
            metadata=patch.metadata or "",
            attributes=patch.attributes or {},
        )
        if patch.permission is not None:
            current = await self._get_participant(room, identity)
            permission = message.permission
            permission.CopyFrom(current.permission)
            for flag in ("can_publish", "can_subscribe", "can_publish_data", "hidden"):
                value = getattr(patch.permission, flag)
                if value is not None:
                    setattr(permission, flag, value)
        updated = await self._call(
            "update participant", lambda c: c.room.update_participant(message)
        )
        return _participant(updated)

    async def remove_participant(self, room: str, identity: str) -> None:
        message = lk_room.RoomParticipantIdentity(room=room, identity=identity)
        await self._call("remove participant", lambda c: c.room.remove_participant(message))

    async def mute_track(self, room: str, identity: str, track_sid: str, muted: bool) -> Track:
        message = lk_room.MuteRoomTrackRequest(
            room=room, identity=identity, track_sid=track_sid, muted=muted
        )
        answer = await self._call("mute track", lambda c: c.room.mute_published_track(message))
        return _track(answer.track)

    async def send_data(self, room: str, packet: SendData) -> None:
        await self.get_room(room)
        kinds = lk_models.DataPacket.Kind
        kind = kinds.RELIABLE if packet.reliable else kinds.LOSSY
        message = lk_room.SendDataRequest(
            room=room,
            data=packet.data,
            kind=kind,
            destination_identities=packet.destination_identities,
        )
        if packet.topic is not None:
            message.topic = packet.topic
        await self._call("send data", lambda c: c.room.send_data(message))

    # -- internals --------------------------------------------------------------------

    async def _find_room(self, name: str, what: str) -> lk_models.Room | None:
        message = lk_room.ListRoomsRequest(names=[name])
        found = await self._call(what, lambda c: c.room.list_rooms(message))
        return next((r for r in found.rooms if r.name == name), None)

    async def _get_participant(self, room: str, identity: str) -> lk_models.ParticipantInfo:
        message = lk_room.RoomParticipantIdentity(room=room, identity=identity)
        return await self._call("get participant", lambda c: c.room.get_participant(message))


# -- translation ---------------------------------------------------------------------------


def _time(seconds: int, milliseconds: int = 0) -> datetime | None:
    if milliseconds > 0:
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    if seconds > 0:
        return datetime.fromtimestamp(seconds, UTC)
    return None


def _room_info(room: lk_models.Room) -> RoomInfo:
    return RoomInfo(
        name=room.name,
        sid=room.sid,
        created_at=_time(room.creation_time, room.creation_time_ms) or datetime.now(UTC),
        num_participants=room.num_participants,
        num_publishers=room.num_publishers,
        max_participants=room.max_participants,
        metadata=room.metadata,
        active_recording=room.active_recording,
        empty_timeout_seconds=room.empty_timeout,
        departure_timeout_seconds=room.departure_timeout,
    )


def _track(track: lk_models.TrackInfo) -> Track:
    return Track(
        sid=track.sid,
        kind=_KIND.get(track.type, "data"),
        source=_SOURCE.get(track.source, "unknown"),
        muted=track.muted,
        name=track.name or None,
    )


def _participant(info: lk_models.ParticipantInfo) -> Participant:
    permission = info.permission
    return Participant(
        identity=info.identity,
        sid=info.sid,
        name=info.name or None,
        state=_STATE.get(info.state, "active"),
        joined_at=_time(info.joined_at, info.joined_at_ms),
        metadata=info.metadata or None,
        attributes=dict(info.attributes),
        permission=ParticipantPermission(
            can_publish=permission.can_publish,
            can_subscribe=permission.can_subscribe,
            can_publish_data=permission.can_publish_data,
            hidden=permission.hidden,
        ),
        tracks=[_track(t) for t in info.tracks],
    )
