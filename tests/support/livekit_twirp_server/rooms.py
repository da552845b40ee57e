"""The RoomService RPCs (create, list and delete rooms; list, get, remove and update
participants; mute tracks; subscriptions; room metadata; send data), and the room
lookups egress uses.

As livekit-server: CreateRoom on an existing room applies the non-zero settings it is
given (an upsert); a room reports how many participants it has, how many publish, and
``active_recording`` while an egress of it has not ended; metadata over
``limit.max_metadata_size`` (64 000 bytes) is ``invalid_argument``.
"""

from __future__ import annotations

import time
from typing import Any

from google.protobuf.message import Message
from livekit.protocol import models as lk_models
from livekit.protocol import room as lk_room

from tests.support.livekit_twirp_server.state import ServerState, _clone, _guid
from tests.support.livekit_twirp_server.twirp import TwirpFailure

MAX_METADATA_SIZE = 64_000  # livekit-server's default limit.max_metadata_size


class _RoomHandlers:
    """Room and participant RPCs (methods of ``LiveKitTwirpServer``)."""

    state: ServerState

    # ----------------------------------------------------------------- rooms

    def _ensure_room(self, name: str, **fields: Any) -> lk_models.Room:
        room = self.state.rooms.get(name)
        if room is None:
            now = time.time()
            room = lk_models.Room(
                sid=_guid("RM_"),
                name=name,
                empty_timeout=fields.pop("empty_timeout", 0) or 300,
                departure_timeout=fields.pop("departure_timeout", 0) or 20,
                creation_time=int(now),
                creation_time_ms=int(now * 1000),
                **fields,
            )
            self.state.rooms[name] = room
        return room

    def _count_participants(self, room: lk_models.Room) -> None:
        people = self.state.participants.get(room.name, {}).values()
        room.num_participants = len(people)
        room.num_publishers = sum(1 for p in people if p.tracks)

    def _room_view(self, room: lk_models.Room) -> lk_models.Room:
        """A copy of ``room`` as LiveKit reports it, ``active_recording`` included."""
        view: lk_models.Room = _clone(room)
        view.active_recording = any(
            e.room_name == room.name and not e.ended_at for e in self.state.egresses.values()
        )
        return view

    @staticmethod
    def _check_metadata(metadata: str) -> None:
        if len(metadata.encode()) > MAX_METADATA_SIZE:
            raise TwirpFailure("invalid_argument", "metadata size exceeds limits")

    def _room_or_404(self, name: str) -> lk_models.Room:
        room = self.state.rooms.get(name)
        if room is None:
            raise TwirpFailure("not_found", "requested room does not exist")
        return room

    def _participant_or_404(self, room: str, identity: str) -> lk_models.ParticipantInfo:
        participant = self.state.participants.get(room, {}).get(identity)
        if participant is None:
            raise TwirpFailure("not_found", "participant does not exist")
        return participant

    def _create_room(self, _method: str, req: lk_room.CreateRoomRequest) -> lk_models.Room:
        if not req.name:
            raise TwirpFailure("invalid_argument", "no room name")
        self._check_metadata(req.metadata)
        existing = self.state.rooms.get(req.name)
        if existing is not None:  # an upsert: given settings replace the room's
            for field in ("empty_timeout", "departure_timeout", "max_participants", "metadata"):
                if getattr(req, field):
                    setattr(existing, field, getattr(req, field))
            return self._room_view(existing)
        return self._room_view(
            self._ensure_room(
                req.name,
                empty_timeout=req.empty_timeout,
                departure_timeout=req.departure_timeout,
                max_participants=req.max_participants,
                metadata=req.metadata,
            )
        )

    def _list_rooms(self, _method: str, req: lk_room.ListRoomsRequest) -> Message:
        wanted = set(req.names)
        rooms = [
            self._room_view(r) for n, r in self.state.rooms.items() if not wanted or n in wanted
        ]
        return lk_room.ListRoomsResponse(rooms=rooms)

    def _delete_room(self, _method: str, req: lk_room.DeleteRoomRequest) -> Message:
        self._room_or_404(req.room)
        del self.state.rooms[req.room]
        self.state.participants.pop(req.room, None)
        return lk_room.DeleteRoomResponse()

    def _list_participants(self, _method: str, req: lk_room.ListParticipantsRequest) -> Message:
        participants = list(self.state.participants.get(req.room, {}).values())
        return lk_room.ListParticipantsResponse(participants=participants)

    def _get_participant(self, _method: str, req: lk_room.RoomParticipantIdentity) -> Message:
        return _clone(self._participant_or_404(req.room, req.identity))

    def _remove_participant(self, _method: str, req: lk_room.RoomParticipantIdentity) -> Message:
        if req.identity not in self.state.participants.get(req.room, {}):
            raise TwirpFailure("not_found", "participant not found")
        del self.state.participants[req.room][req.identity]
        if req.room in self.state.rooms:
            self._count_participants(self.state.rooms[req.room])
        return lk_room.RemoveParticipantResponse()

    def _update_participant(self, _method: str, req: lk_room.UpdateParticipantRequest) -> Message:
        self._check_metadata(req.metadata)
        participant = self._participant_or_404(req.room, req.identity)
        if req.metadata:
            participant.metadata = req.metadata
        if req.name:
            participant.name = req.name
        if req.HasField("permission"):
            participant.permission.CopyFrom(req.permission)
        for key, value in req.attributes.items():
            if value:
                participant.attributes[key] = value
            else:
                participant.attributes.pop(key, None)
        return _clone(participant)

    def _mute_published_track(self, _method: str, req: lk_room.MuteRoomTrackRequest) -> Message:
        participant = self._participant_or_404(req.room, req.identity)
        for track in participant.tracks:
            if track.sid == req.track_sid:
                track.muted = req.muted
                return lk_room.MuteRoomTrackResponse(track=track)
        raise TwirpFailure("not_found", "track is not found")

    def _update_subscriptions(self, _method: str, req: lk_room.UpdateSubscriptionsRequest) -> Any:
        self._participant_or_404(req.room, req.identity)
        return lk_room.UpdateSubscriptionsResponse()

    def _update_room_metadata(self, _method: str, req: lk_room.UpdateRoomMetadataRequest) -> Any:
        self._check_metadata(req.metadata)
        room = self._room_or_404(req.room)
        room.metadata = req.metadata
        return self._room_view(room)

    def _send_data(self, _method: str, req: lk_room.SendDataRequest) -> Message:
        if req.nonce and len(req.nonce) != 16:
            raise TwirpFailure(
                "invalid_argument",
                f"nonce should be 16-bytes or not present, got: {len(req.nonce)} bytes",
            )
        self._room_or_404(req.room)
        self.state.sent_data.append(_clone(req))
        return lk_room.SendDataResponse()
