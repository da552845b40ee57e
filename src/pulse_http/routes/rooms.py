"""Rooms and participants (API.md, "Rooms and participants"): the calling project's live
rooms, who is in them with their tracks, moderation and data packets.

Room names in paths and bodies are the project's own; another project's room (or
participant) is a 404, and listings show the caller's rooms only (the service sees to
both). Participant identities are path segments: an identity holding ``/`` cannot be
addressed here (the ASGI server decodes ``%2F`` before routing).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

from pulse_core.models import Project
from pulse_core.services.rooms import RoomService
from pulse_http.auth import project_route
from pulse_http.schemas.rooms import (
    CreateRoomBody,
    MuteTrackBody,
    ParticipantList,
    ParticipantOut,
    RoomList,
    RoomOut,
    SendDataBody,
    TrackOut,
    UpdateParticipantBody,
    UpdateRoomBody,
)

#: Project credentials; the route family of the ``rooms`` scopes: ``GET``s need
#: ``rooms:read``, other methods ``rooms:write`` (declared here, enforced with scopes).
ROOMS: dict[str, Any] = project_route("rooms")


class RoomsController(Controller):
    """Rooms and participants; project key + secret."""

    path = "/v1/rooms"
    tags = ["rooms"]
    opt = ROOMS

    @post(
        "",
        status_code=201,
        responses={
            200: ResponseSpec(RoomOut, description="The room already existed: it, unchanged")
        },
    )
    async def create_room(
        self,
        data: JSONBody[CreateRoomBody],
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
    ) -> Response[RoomOut]:
        """Create a room with these settings.

        201 with the new room; a room that already exists is returned unchanged (200).
        Rooms are also created when the first participant joins. 403 `quota_exceeded`
        when `max_participants` is above the plan's `max_participants_per_room`. Needs
        `rooms:write`."""
        room, created = await rooms.create_room(project, data.to_domain())
        return Response(RoomOut.of(room), status_code=201 if created else 200)

    @get("")
    async def list_rooms(
        self,
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> RoomList:
        """List the project's active rooms. Needs `rooms:read`."""
        page = await rooms.list_rooms(project, limit=limit, cursor=cursor)
        return RoomList(items=[RoomOut.of(r) for r in page.items], next_cursor=page.next_cursor)

    @get("/{name:str}")
    async def get_room(
        self,
        name: FromPath[str],
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
    ) -> RoomOut:
        """Get an active room: participants, publishers, recording."""
        return RoomOut.of(await rooms.get_room(project, name))

    @patch("/{name:str}")
    async def update_room(
        self,
        name: FromPath[str],
        data: JSONBody[UpdateRoomBody],
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
    ) -> RoomOut:
        """Replace the room's metadata (every participant is told)."""
        return RoomOut.of(await rooms.update_room_metadata(project, name, data.metadata))

    @delete("/{name:str}", status_code=204)
    async def delete_room(
        self,
        name: FromPath[str],
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
    ) -> None:
        """End a room: every participant is disconnected."""
        await rooms.delete_room(project, name)

    @get("/{name:str}/participants")
    async def list_participants(
        self,
        name: FromPath[str],
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> ParticipantList:
        """List the participants in a room, with their tracks."""
        page = await rooms.list_participants(project, name, limit=limit, cursor=cursor)
        return ParticipantList(
            items=[ParticipantOut.of(p) for p in page.items], next_cursor=page.next_cursor
        )

    @get("/{name:str}/participants/{identity:str}")
    async def get_participant(
        self,
        name: FromPath[str],
        identity: FromPath[str],
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
    ) -> ParticipantOut:
        """Get a participant in a room, with their permission and tracks."""
        return ParticipantOut.of(await rooms.get_participant(project, name, identity))

    @patch("/{name:str}/participants/{identity:str}")
    async def update_participant(
        self,
        name: FromPath[str],
        identity: FromPath[str],
        data: JSONBody[UpdateParticipantBody],
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
    ) -> ParticipantOut:
        """Change a participant's name, metadata, attributes or permission; fields left
        out keep their value."""
        updated = await rooms.update_participant(project, name, identity, data.to_domain())
        return ParticipantOut.of(updated)

    @delete("/{name:str}/participants/{identity:str}", status_code=204)
    async def remove_participant(
        self,
        name: FromPath[str],
        identity: FromPath[str],
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
    ) -> None:
        """Remove a participant from the room (a valid token lets them join again)."""
        await rooms.remove_participant(project, name, identity)

    @post("/{name:str}/participants/{identity:str}/mute", status_code=200)
    async def mute_track(
        self,
        name: FromPath[str],
        identity: FromPath[str],
        data: JSONBody[MuteTrackBody],
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
    ) -> TrackOut:
        """Mute or unmute one of a participant's published tracks."""
        track = await rooms.mute_track(project, name, identity, data.track_sid, data.muted)
        return TrackOut.of(track)

    # 202 and no body: the packet was accepted; there is nothing to show for it.
    @post("/{name:str}/data", status_code=202, media_type=MediaType.TEXT)
    async def send_data(
        self,
        name: FromPath[str],
        data: JSONBody[SendDataBody],
        project: NamedDependency[Project],
        rooms: NamedDependency[RoomService],
    ) -> None:
        """Send a data packet to the room's participants, or to those named.

        Accepted (202) once handed to LiveKit; `reliable` packets are retried by LiveKit,
        others may be dropped."""
        await rooms.send_data(project, name, data.to_domain())
