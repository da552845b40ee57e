"""A project's live rooms, their participants and tracks: create a room, mute a track,
remove a participant, end the room.

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
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.models import ManagementPrincipal, Organization, Project
from pulse_core.services import OrganizationService, ProjectService
from pulse_core.services.rooms import RoomService
from pulse_http.dashboard.forms import Refusal, read_form
from pulse_http.dashboard.pages.context import project_scope
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.rendering import page
from pulse_http.dashboard.session import PATH
from pulse_http.schemas.rooms import CreateRoomBody, MuteTrackBody, ParticipantOut, RoomOut

Req = Request[Any, Any, Any]


def rooms_url(project_id: str) -> str:
    return f"{PATH}/projects/{project_id}/rooms"


def room_url(project_id: str, name: str) -> str:
    """The room's page; its name is the project's own, any printable text but ``/``."""
    return f"{rooms_url(project_id)}/{quote(name, safe='')}"


class RoomPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}/rooms"

    @get("/")
    async def rooms_page(
        self,
        *,
        project_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
        rooms: NamedDependency[RoomService],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        project, org = await project_scope(viewer, project_id, projects, organizations)
        return await _rooms(viewer, project, org, rooms, cursor=cursor, values={})

    @post("/")
    async def create_room(
        self,
        *,
        request: Req,
        project_id: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
        rooms: NamedDependency[RoomService],
    ) -> Template | Redirect:
        """``POST /v1/rooms``: the plan's per-room cap applies (``max_participants``);
        a room that already exists is shown unchanged."""
        form = await read_form(request)
        project, org = await project_scope(viewer, project_id, projects, organizations, write=True)
        try:
            body = form.to(CreateRoomBody)
            room, created = await rooms.create_room(project, body.to_domain())
        except PulseError as exc:
            return await _rooms(
                viewer, project, org, rooms, values=form.values, refusal=Refusal.of(exc)
            )
        notice = "created" if created else "exists"
        return Redirect(f"{room_url(project.id, room.name)}?notice={notice}", status_code=303)

    @get("/{name:str}")
    async def room_page(
        self,
        *,
        project_id: FromPath[str],
        name: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
        rooms: NamedDependency[RoomService],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        project, org = await project_scope(viewer, project_id, projects, organizations)
        return await _room(viewer, project, org, rooms, name, cursor=cursor)

    @post("/{name:str}/delete")
    async def end_room(
        self,
        *,
        project_id: FromPath[str],
        name: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
        rooms: NamedDependency[RoomService],
    ) -> Redirect:
        """``DELETE /v1/rooms/{name}``: everyone in it is disconnected. A room already
        gone is the error page's 404 (there is no room page left to show it on)."""
        project, _ = await project_scope(viewer, project_id, projects, organizations, write=True)
        await rooms.delete_room(project, name)
        return Redirect(f"{rooms_url(project.id)}?notice=ended", status_code=303)

    @post("/{name:str}/remove")
    async def remove_participant(
        self,
        *,
        request: Req,
        project_id: FromPath[str],
        name: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
        rooms: NamedDependency[RoomService],
    ) -> Template | Redirect:
        """``DELETE /v1/rooms/{name}/participants/{identity}``."""
        form = await read_form(request)
        project, org = await project_scope(viewer, project_id, projects, organizations, write=True)
        try:
            await rooms.remove_participant(project, name, form.get("identity"))
        except PulseError as exc:
            return await _room(viewer, project, org, rooms, name, refusal=_at_top(exc))
        return Redirect(f"{room_url(project.id, name)}?notice=removed", status_code=303)

    @post("/{name:str}/mute")
    async def mute_track(
        self,
        *,
        request: Req,
        project_id: FromPath[str],
        name: FromPath[str],
        viewer: NamedDependency[ManagementPrincipal],
        projects: NamedDependency[ProjectService],
        organizations: NamedDependency[OrganizationService],
        rooms: NamedDependency[RoomService],
    ) -> Template | Redirect:
        """``POST /v1/rooms/{name}/participants/{identity}/mute`` with the API's body
        (``track_sid``, ``muted``)."""
        form = await read_form(request)
        project, org = await project_scope(viewer, project_id, projects, organizations, write=True)
        try:
            body = form.to(MuteTrackBody)
            await rooms.mute_track(project, name, form.get("identity"), body.track_sid, body.muted)
        except PulseError as exc:
            return await _room(viewer, project, org, rooms, name, refusal=_at_top(exc))
        notice = "muted" if body.muted else "unmuted"
        return Redirect(f"{room_url(project.id, name)}?notice={notice}", status_code=303)


def _at_top(exc: PulseError) -> Refusal:
    """A refused button (remove, mute) has no field of its own on the page: its message
    goes at the top, where the page shows refusals that name no field."""
    return msgspec.structs.replace(Refusal.of(exc), field=None)


async def _rooms(
    viewer: ManagementPrincipal,
    project: Project,
    org: Organization,
    rooms: RoomService,
    *,
    values: dict[str, str],
    cursor: str | None = None,
    refusal: Refusal | None = None,
) -> Template:
    listed = await rooms.list_rooms(project, limit=PAGE_SIZE, cursor=cursor)
    return page(
        "rooms.html",
        viewer,
        refusal=refusal,
        project=project,
        org=org,
        rooms=[RoomOut.of(r) for r in listed.items],
        room_urls={r.name: room_url(project.id, r.name) for r in listed.items},
        next_cursor=listed.next_cursor,
        values=values,
        can_write=viewer.can_write(project.org_id),
    )


async def _room(
    viewer: ManagementPrincipal,
    project: Project,
    org: Organization,
    rooms: RoomService,
    name: str,
    *,
    cursor: str | None = None,
    refusal: Refusal | None = None,
) -> Template:
    room = await rooms.get_room(project, name)
    people = await rooms.list_participants(project, name, limit=PAGE_SIZE, cursor=cursor)
    return page(
        "rooms_room.html",
        viewer,
        refusal=refusal,
        project=project,
        org=org,
        room=RoomOut.of(room),
        room_url=room_url(project.id, room.name),
        participants=[ParticipantOut.of(p) for p in people.items],
        next_cursor=people.next_cursor,
        can_write=viewer.can_write(project.org_id),
    )
