"""Every RPC the double answers: ``(service, method)`` -> request type, handler method
and the video grant it needs; ``REQUIRED_GRANTS`` is the same table for tests. The
room RPCs are kept even where Pulse does not call them yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress
from livekit.protocol import room as lk_room

from tests.support.livekit_twirp_server.auth import _ROOM_ADMIN


@dataclass(frozen=True)
class _Route:
    request_cls: type[Message]
    handler: str
    grant: str


_ROOM = lk_room
_EG = lk_egress
_IN = lk_ingress
_ROUTES: dict[tuple[str, str], _Route] = {
    ("RoomService", "CreateRoom"): _Route(_ROOM.CreateRoomRequest, "_create_room", "roomCreate"),
    ("RoomService", "ListRooms"): _Route(_ROOM.ListRoomsRequest, "_list_rooms", "roomList"),
    ("RoomService", "DeleteRoom"): _Route(_ROOM.DeleteRoomRequest, "_delete_room", "roomCreate"),
    ("RoomService", "ListParticipants"): _Route(
        _ROOM.ListParticipantsRequest, "_list_participants", _ROOM_ADMIN
    ),
    ("RoomService", "GetParticipant"): _Route(
        _ROOM.RoomParticipantIdentity, "_get_participant", _ROOM_ADMIN
    ),
    ("RoomService", "RemoveParticipant"): _Route(
        _ROOM.RoomParticipantIdentity, "_remove_participant", _ROOM_ADMIN
    ),
    ("RoomService", "UpdateParticipant"): _Route(
        _ROOM.UpdateParticipantRequest, "_update_participant", _ROOM_ADMIN
    ),
    ("RoomService", "MutePublishedTrack"): _Route(
        _ROOM.MuteRoomTrackRequest, "_mute_published_track", _ROOM_ADMIN
    ),
    ("RoomService", "UpdateSubscriptions"): _Route(
        _ROOM.UpdateSubscriptionsRequest, "_update_subscriptions", _ROOM_ADMIN
    ),
    ("RoomService", "UpdateRoomMetadata"): _Route(
        _ROOM.UpdateRoomMetadataRequest, "_update_room_metadata", _ROOM_ADMIN
    ),
    ("RoomService", "SendData"): _Route(_ROOM.SendDataRequest, "_send_data", _ROOM_ADMIN),
    ("Egress", "StartRoomCompositeEgress"): _Route(
        _EG.RoomCompositeEgressRequest, "_start_egress", "roomRecord"
    ),
    ("Egress", "StartWebEgress"): _Route(_EG.WebEgressRequest, "_start_egress", "roomRecord"),
    ("Egress", "StartParticipantEgress"): _Route(
        _EG.ParticipantEgressRequest, "_start_egress", "roomRecord"
    ),
    ("Egress", "StartTrackCompositeEgress"): _Route(
        _EG.TrackCompositeEgressRequest, "_start_egress", "roomRecord"
    ),
    ("Egress", "StartTrackEgress"): _Route(_EG.TrackEgressRequest, "_start_egress", "roomRecord"),
    ("Egress", "UpdateLayout"): _Route(_EG.UpdateLayoutRequest, "_update_layout", "roomRecord"),
    ("Egress", "UpdateStream"): _Route(_EG.UpdateStreamRequest, "_update_stream", "roomRecord"),
    ("Egress", "ListEgress"): _Route(_EG.ListEgressRequest, "_list_egress", "roomRecord"),
    ("Egress", "StopEgress"): _Route(_EG.StopEgressRequest, "_stop_egress", "roomRecord"),
    ("Ingress", "CreateIngress"): _Route(
        _IN.CreateIngressRequest, "_create_ingress", "ingressAdmin"
    ),
    ("Ingress", "UpdateIngress"): _Route(
        _IN.UpdateIngressRequest, "_update_ingress", "ingressAdmin"
    ),
    ("Ingress", "ListIngress"): _Route(_IN.ListIngressRequest, "_list_ingress", "ingressAdmin"),
    ("Ingress", "DeleteIngress"): _Route(
        _IN.DeleteIngressRequest, "_delete_ingress", "ingressAdmin"
    ),
}

# "Service/Method" -> the video grant it needs ("roomAdmin+room": roomAdmin and a matching room).
REQUIRED_GRANTS: dict[str, str] = {f"{s}/{m}": r.grant for (s, m), r in _ROUTES.items()}
