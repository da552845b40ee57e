"""A project's live rooms, their participants and tracks: create a room, change its
metadata, send it a message, mute a track, remove a participant, end the room (a
participant's own page, :mod:`.participants`, changes what they may do).

The same :class:`~pulse_core.services.rooms.RoomService` calls, with the same arguments,
as ``/v1/rooms`` (:mod:`pulse_http.routes.rooms`): the service namespaces the room names,
checks the input and applies the plan's per-room cap, so the dashboard cannot do more
than the project's own key could. Rooms are the engine's truth, never stored: what a page
shows is what the media server reports at that moment.

Participants are addressed by a form field rather than a path segment, so an identity
the API cannot put in a path (one holding ``/``) can still be removed from here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.services.rooms import RoomService
from pulse_http.dashboard.forms import Refusal, read_form
from pulse_http.dashboard.pages.context import ProjectPage
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.session import PATH
from pulse_http.schemas.rooms import (
    CreateRoomBody,
    MuteTrackBody,
    ParticipantOut,
    RoomOut,
    SendDataBody,
    UpdateRoomBody,
)

Req = Request[Any, Any, Any]
#: Before a room name a browser would drop from a URL (:func:`room_url`).
DOT_ESCAPE = "\\"


def room_url(here: ProjectPage, name: str) -> str:
    """The room's page; its name is the project's own, any printable text but ``/``
    and ``\\`` (:func:`pulse_core.rooms.validate_room`), ``.`` and ``..`` included.

    A browser drops a ``.`` or ``..`` segment from a URL before sending it (and, by the
    URL standard, ``%2E`` and ``%2E%2E`` too), so those two names travel behind a ``\\``
    (``%5C..``), which no room name holds and no browser normalizes: :func:`room_of`
    removes it. The escape holds no ``%``, so it means the same however many times the
    path is decoded on its way (the servers decode it once; Litestar's test client,
    twice)."""
    segment = f"{DOT_ESCAPE}{name}" if name in (".", "..") else name
    return here.url(f"/rooms/{quote(segment, safe='')}")


def room_of(name: FromPath[str]) -> str:
    """The room a room URL's ``{name}`` segment names: :func:`room_url`'s escape undone."""
    return name.removeprefix(DOT_ESCAPE)


#: The room of the URL, for the handlers of one room (:func:`room_of`).
ROOM = {"room": Provide(room_of, sync_to_thread=False)}


class RoomPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}/rooms"
    dependencies = ROOM

    @get("/")
    async def rooms_page(
        self,
        *,
        here: NamedDependency[ProjectPage],
        rooms: NamedDependency[RoomService],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        return await _rooms(here, rooms, cursor=cursor, values={})

    @post("/")
    async def create_room(
        self,
        *,
        request: Req,
        editable: NamedDependency[ProjectPage],
        rooms: NamedDependency[RoomService],
    ) -> Template | Redirect:
        """``POST /v1/rooms``: the plan's per-room cap applies (``max_participants``);
        a room that already exists is shown unchanged."""
        form = await read_form(request)
        try:
            body = form.to(CreateRoomBody)
            room, created = await rooms.create_room(editable.project, body.to_domain())
        except PulseError as exc:
            return await _rooms(editable, rooms, values=form.values, refusal=Refusal.of(exc))
        notice = "created" if created else "exists"
        return Redirect(f"{room_url(editable, room.name)}?notice={notice}", status_code=303)

    @get("/{name:str}")
    async def room_page(
        self,
        *,
        room: NamedDependency[str],
        here: NamedDependency[ProjectPage],
        rooms: NamedDependency[RoomService],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        return await _room(here, rooms, room, cursor=cursor)

    @post("/{name:str}/delete")
    async def end_room(
        self,
        *,
        room: NamedDependency[str],
        editable: NamedDependency[ProjectPage],
        rooms: NamedDependency[RoomService],
    ) -> Redirect:
        """``DELETE /v1/rooms/{name}``: everyone in it is disconnected. A room already
        gone is the error page's 404 (there is no room page left to show it on)."""
        await rooms.delete_room(editable.project, room)
        return Redirect(f"{editable.url('/rooms')}?notice=ended", status_code=303)

    @post("/{name:str}/remove")
    async def remove_participant(
        self,
        *,
        request: Req,
        room: NamedDependency[str],
        editable: NamedDependency[ProjectPage],
        rooms: NamedDependency[RoomService],
    ) -> Template | Redirect:
        """``DELETE /v1/rooms/{name}/participants/{identity}``."""
        form = await read_form(request)
        try:
            await rooms.remove_participant(editable.project, room, form.get("identity"))
        except PulseError as exc:
            return await _room(editable, rooms, room, refusal=_at_top(exc))
        return Redirect(f"{room_url(editable, room)}?notice=removed", status_code=303)

    @post("/{name:str}/mute")
    async def mute_track(
        self,
        *,
        request: Req,
        room: NamedDependency[str],
        editable: NamedDependency[ProjectPage],
        rooms: NamedDependency[RoomService],
    ) -> Template | Redirect:
        """``POST /v1/rooms/{name}/participants/{identity}/mute`` with the API's body
        (``track_sid``, ``muted``)."""
        form = await read_form(request)
        try:
            body = form.to(MuteTrackBody)
            identity = form.get("identity")
            await rooms.mute_track(editable.project, room, identity, body.track_sid, body.muted)
        except PulseError as exc:
            return await _room(editable, rooms, room, refusal=_at_top(exc))
        notice = "muted" if body.muted else "unmuted"
        return Redirect(f"{room_url(editable, room)}?notice={notice}", status_code=303)

    @post("/{name:str}/metadata")
    async def update_metadata(
        self,
        *,
        request: Req,
        room: NamedDependency[str],
        editable: NamedDependency[ProjectPage],
        rooms: NamedDependency[RoomService],
    ) -> Template | Redirect:
        """``PATCH /v1/rooms/{name}``: the metadata as typed, blank clears it."""
        form = await read_form(request)
        try:
            body = form.to(UpdateRoomBody, metadata=form.get("metadata"))
            await rooms.update_room_metadata(editable.project, room, body.metadata)
        except PulseError as exc:
            return await _room(editable, rooms, room, refusal=Refusal.of(exc), values=form.values)
        return Redirect(f"{room_url(editable, room)}?notice=saved", status_code=303)

    @post("/{name:str}/data")
    async def send_data(
        self,
        *,
        request: Req,
        room: NamedDependency[str],
        editable: NamedDependency[ProjectPage],
        rooms: NamedDependency[RoomService],
    ) -> Template | Redirect:
        """``POST /v1/rooms/{name}/data`` with a text message (its UTF-8 bytes), to
        everyone or to the identities listed (comma-separated)."""
        form = await read_form(request)
        to = [i.strip() for i in form.get("destination_identities").split(",") if i.strip()]
        try:
            body = form.to(
                SendDataBody,
                data=form.get("data").encode("utf-8"),
                destination_identities=to,
                reliable=form.get("reliable") == "true",
            )
            await rooms.send_data(editable.project, room, body.to_domain())
        except PulseError as exc:
            return await _room(editable, rooms, room, refusal=Refusal.of(exc), values=form.values)
        return Redirect(f"{room_url(editable, room)}?notice=sent", status_code=303)


def _at_top(exc: PulseError) -> Refusal:
    """A refused button (remove, mute) has no field of its own on the page: its message
    goes at the top, where the page shows refusals that name no field."""
    return msgspec.structs.replace(Refusal.of(exc), field=None)


async def _rooms(
    here: ProjectPage,
    rooms: RoomService,
    *,
    values: dict[str, str],
    cursor: str | None = None,
    refusal: Refusal | None = None,
) -> Template:
    listed = await rooms.list_rooms(here.project, limit=PAGE_SIZE, cursor=cursor)
    return here.render(
        "rooms.html",
        refusal=refusal,
        rooms=[RoomOut.of(r) for r in listed.items],
        room_urls={r.name: room_url(here, r.name) for r in listed.items},
        next_cursor=listed.next_cursor,
        values=values,
    )


async def _room(
    here: ProjectPage,
    rooms: RoomService,
    name: str,
    *,
    cursor: str | None = None,
    refusal: Refusal | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    room = await rooms.get_room(here.project, name)
    people = await rooms.list_participants(here.project, name, limit=PAGE_SIZE, cursor=cursor)
    return here.render(
        "rooms_room.html",
        refusal=refusal,
        room=RoomOut.of(room),
        room_url=room_url(here, room.name),
        participants=[ParticipantOut.of(p) for p in people.items],
        next_cursor=people.next_cursor,
        values=values if values is not None else {"metadata": room.metadata or ""},
    )
