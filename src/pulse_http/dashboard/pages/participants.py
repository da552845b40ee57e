"""One participant of a live room: what they publish and may do, and changing their
name, metadata, attributes and permissions (``PATCH /v1/rooms/{name}/participants/{identity}``).

The identity travels as a query parameter and a form field, not a path segment, as on
the room page: any identity a token can carry can be opened here. The form shows the
name and metadata as they were, and a save writes only those the person changed
(:func:`~pulse_http.dashboard.forms.edits`): the app's own change to a participant made
while the page was open is kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from pulse_core.errors import InvalidInput, PulseError
from pulse_core.services.rooms import RoomService
from pulse_http.dashboard.forms import SHOWN, Form, Refusal, edits, read_form, shown_field
from pulse_http.dashboard.pages.context import ProjectPage
from pulse_http.dashboard.pages.rooms import ROOM, room_url
from pulse_http.dashboard.session import PATH
from pulse_http.schemas.rooms import ParticipantOut, UpdateParticipantBody

Req = Request[Any, Any, Any]
#: What a permission can be set to: left as it is (blank), allowed, or not.
PERMISSIONS = ("can_publish", "can_subscribe", "can_publish_data", "hidden")


def participant_url(here: ProjectPage, room: str, identity: str) -> str:
    return f"{room_url(here, room)}/participant?identity={quote(identity, safe='')}"


class ParticipantPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}/rooms/{{name:str}}/participant"
    dependencies = ROOM

    @get("/")
    async def participant_page(
        self,
        *,
        room: NamedDependency[str],
        here: NamedDependency[ProjectPage],
        rooms: NamedDependency[RoomService],
        identity: FromQuery[str] = "",
    ) -> Template:
        return await _participant(here, rooms, room, identity)

    @post("/")
    async def update_participant(
        self,
        *,
        request: Req,
        room: NamedDependency[str],
        editable: NamedDependency[ProjectPage],
        rooms: NamedDependency[RoomService],
    ) -> Template | Redirect:
        """The API's update: blank fields and permissions left "as it is" keep their
        value (the API's null); the attributes written are merged (:func:`attributes_of`)."""
        form = await read_form(request)
        identity = form.get("identity")
        try:
            body = edits(form, _update, keep=None)
            await rooms.update_participant(editable.project, room, identity, body.to_domain())
        except PulseError as exc:
            return await _participant(
                editable,
                rooms,
                room,
                identity,
                refusal=Refusal.of(exc),
                values=form.values,
                shown=form.get(SHOWN),
            )
        target = participant_url(editable, room, identity)
        return Redirect(f"{target}&notice=saved", status_code=303)


def _update(form: Form) -> UpdateParticipantBody:
    return form.to(UpdateParticipantBody, attributes=attributes_of(form.get("attributes")))


def attributes_of(text: str) -> dict[str, str] | None:
    """The attributes field: one ``key=value`` a line (spaces around either are not
    kept), ``key=`` to remove the key; blank lines are skipped; None when there are no
    lines (nothing changes). ``InvalidInput`` names a line that is not ``key=value`` or
    a key written twice."""
    changes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"line {number} is not key=value", field="attributes")
        if key in changes:
            raise InvalidInput(f"{key} is written twice", field="attributes")
        changes[key] = value.strip()
    return changes or None


async def _participant(
    here: ProjectPage,
    rooms: RoomService,
    name: str,
    identity: str,
    *,
    refusal: Refusal | None = None,
    values: dict[str, str] | None = None,
    shown: str | None = None,
) -> Template:
    """The page; after a refusal, the form as typed (``values``) and the record of what
    the page first showed (``shown``), so that the next save still writes only what the
    person changed."""
    person = ParticipantOut.of(await rooms.get_participant(here.project, name, identity))
    as_it_is = {"name": person.name or "", "metadata": person.metadata or ""}
    return here.render(
        "rooms_participant.html",
        refusal=refusal,
        room_name=name,
        room_url=room_url(here, name),
        person=person,
        permissions=PERMISSIONS,
        values=as_it_is if values is None else values,
        shown=shown_field(as_it_is) if shown is None else shown,
    )
