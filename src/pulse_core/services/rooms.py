"""Rooms and participants of a project: create, list, inspect, moderate, send data.

Tenancy. Every method takes the authenticated :class:`~pulse_core.models.Project` first
and names rooms by the caller's own names. On the way in a name is namespaced
(:func:`pulse_core.rooms.to_livekit`), so the engine is only ever asked about rooms of the
calling project: another project's room of the same name is a different engine room,
which no call of this project can reach (its ``NotFound`` is the same as for a room that
does not exist). On the way out a listing keeps only the engine rooms under the project's
prefix (:func:`pulse_core.rooms.room_in_project`), shown by their caller names. Nothing
is stored: the engine is the truth about what is live.

Errors: ``InvalidInput`` naming the field (``name``, ``identity``, ``metadata``, ``data``,
``destination_identities[i]``, ...) for input over the limits of
:mod:`pulse_core.models.rooms`; ``NotFound`` in the caller's words (the engine's own
message, which names engine rooms, never reaches the caller); ``Unavailable`` when the
engine cannot answer in time, or answers a list or a create that it knows no room.
"""

from __future__ import annotations

import base64
import binascii
import builtins
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from pulse_core import rooms
from pulse_core.errors import InvalidInput, NotFound, QuotaExceeded, Unavailable
from pulse_core.models import Page, Project
from pulse_core.models.rooms import (
    MAX_DATA_BYTES,
    MAX_DESTINATIONS,
    MAX_PARTICIPANTS_LIMIT,
    MAX_ROOM_METADATA_BYTES,
    MAX_ROOM_TIMEOUT_SECONDS,
    MAX_TOPIC_BYTES,
    CreateRoom,
    Participant,
    ParticipantPatch,
    Room,
    SendData,
    Track,
)
from pulse_core.ports.rooms import RoomEngine, RoomInfo, RoomRequest
from pulse_core.services import pagination
from pulse_core.services.quotas import QuotaService, no_participants
from pulse_core.services.token_input import (
    check_attributes,
    check_identity,
    check_metadata,
    check_name,
)

T = TypeVar("T")
#: LiveKit's ids (``TR_…``) are short ASCII; anything longer is not one.
MAX_TRACK_SID_LENGTH = 64


class RoomService:
    """Rooms and participants of the calling project (module docstring)."""

    def __init__(self, engine: RoomEngine, quotas: QuotaService | None = None) -> None:
        self._engine = engine
        self._quotas = quotas

    # -- rooms -----------------------------------------------------------------------

    async def create_room(self, project: Project, request: CreateRoom) -> tuple[Room, bool]:
        """Create the project's room with the caller's settings: ``(room, True)``. A room
        that already exists is returned unchanged: ``(room, False)``."""
        engine_name = _engine_name(project, request.name)
        engine_request = RoomRequest(
            name=engine_name,
            empty_timeout_seconds=_bounded(
                request.empty_timeout_seconds, "empty_timeout_seconds", MAX_ROOM_TIMEOUT_SECONDS
            ),
            departure_timeout_seconds=_bounded(
                request.departure_timeout_seconds,
                "departure_timeout_seconds",
                MAX_ROOM_TIMEOUT_SECONDS,
            ),
            max_participants=_bounded(
                request.max_participants, "max_participants", MAX_PARTICIPANTS_LIMIT
            ),
            metadata=_room_metadata(request.metadata) or None,
        )
        cap = await self._quotas.participants_cap(project) if self._quotas else None
        if cap == 0:
            raise no_participants()
        if cap is not None:
            wanted = engine_request.max_participants
            if wanted is not None and wanted > cap:
                raise QuotaExceeded(
                    "max_participants_per_room",
                    value=cap,
                    used=wanted,
                    detail=f"max_participants is above the plan's limit of {cap} a room",
                    field="max_participants",
                )
            engine_request = msgspec.structs.replace(engine_request, max_participants=wanted or cap)
        info, created = await _answered(self._engine.create_room(engine_request), "create rooms")
        return _room(info, request.name), created

    async def list_rooms(
        self, project: Project, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Room]:
        """The project's live rooms, ordered by name. Rooms of other projects (and rooms
        made on the media server outside Pulse) are never listed."""
        size = pagination.check_limit(limit)
        after = _decode_cursor(cursor)
        infos = await _answered(
            self._engine.list_rooms(prefix=rooms.project_prefix(project.id)), "list rooms"
        )
        found = []
        for info in infos:
            name = rooms.room_in_project(project.id, info.name)
            if name is not None and (after is None or name > after):
                found.append(_room(info, name))
        found.sort(key=lambda r: r.name)
        return _page(found, size, lambda r: r.name)

    async def get_room(self, project: Project, name: str) -> Room:
        engine_name = _engine_name(project, name)
        info = await _found(self._engine.get_room(engine_name), _no_room(name))
        return _room(info, name)

    async def update_room_metadata(self, project: Project, name: str, metadata: str) -> Room:
        """Replace the room's metadata ("" clears it); every participant is told."""
        engine_name = _engine_name(project, name)
        value = _room_metadata(metadata)
        info = await _found(self._engine.update_room_metadata(engine_name, value), _no_room(name))
        return _room(info, name)

    async def delete_room(self, project: Project, name: str) -> None:
        """End the room; every participant is disconnected."""
        engine_name = _engine_name(project, name)
        await _found(self._engine.delete_room(engine_name), _no_room(name))

    # -- participants ----------------------------------------------------------------

    async def list_participants(
        self,
        project: Project,
        name: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Participant]:
        """The room's participants with their tracks, ordered by identity."""
        size = pagination.check_limit(limit)
        after = _decode_cursor(cursor)
        engine_name = _engine_name(project, name)
        found = await _found(self._engine.list_participants(engine_name), _no_room(name))
        if after is not None:
            found = [p for p in found if p.identity > after]
        return _page(found, size, lambda p: p.identity)

    async def get_participant(self, project: Project, name: str, identity: str) -> Participant:
        engine_name = _engine_name(project, name)
        check_identity(identity)
        return await _found(
            self._engine.get_participant(engine_name, identity), _not_in(name, identity)
        )

    async def update_participant(
        self, project: Project, name: str, identity: str, patch: ParticipantPatch
    ) -> Participant:
        """Change the participant's name, metadata, attributes or permissions (see
        :class:`ParticipantPatch`); the participant as it is afterwards. A patch that
        changes nothing returns the participant as it is."""
        engine_name = _engine_name(project, name)
        check_identity(identity)
        patch = _checked_patch(patch)
        if patch == ParticipantPatch():
            call = self._engine.get_participant(engine_name, identity)
        else:
            call = self._engine.update_participant(engine_name, identity, patch)
        return await _found(call, _not_in(name, identity))

    async def remove_participant(self, project: Project, name: str, identity: str) -> None:
        """Disconnect the participant (a valid token lets it join again)."""
        engine_name = _engine_name(project, name)
        check_identity(identity)
        await _found(
            self._engine.remove_participant(engine_name, identity), _not_in(name, identity)
        )

    async def mute_track(
        self, project: Project, name: str, identity: str, track_sid: str, muted: bool
    ) -> Track:
        """Mute (or unmute) one of the participant's published tracks."""
        engine_name = _engine_name(project, name)
        check_identity(identity)
        if not (
            0 < len(track_sid) <= MAX_TRACK_SID_LENGTH
            and track_sid.isascii()
            and track_sid.isprintable()
        ):
            raise InvalidInput(
                f"track_sid must be a track id (at most {MAX_TRACK_SID_LENGTH} characters)",
                field="track_sid",
            )
        missing = f"participant {identity!r} of room {name!r} has no published track {track_sid!r}"
        return await _found(
            self._engine.mute_track(engine_name, identity, track_sid, muted), missing
        )

    async def send_data(self, project: Project, name: str, packet: SendData) -> None:
        """Send a data packet to the room's participants (or to those named)."""
        engine_name = _engine_name(project, name)
        await _found(self._engine.send_data(engine_name, _checked_packet(packet)), _no_room(name))


# -- rules -------------------------------------------------------------------------------


def _engine_name(project: Project, name: str) -> str:
    return rooms.project_prefix(project.id) + rooms.validate_room(name, "name")


def _no_room(name: str) -> str:
    return f"room {name!r} does not exist"


def _not_in(name: str, identity: str) -> str:
    return f"participant {identity!r} is not in room {name!r}"


async def _answered(call: Awaitable[T], what: str) -> T:
    """``call``'s answer, for a call that names no existing room (a list, a create): a
    ``NotFound`` from the engine there is a media server that is not the one configured,
    the operator's problem, never a 404 (nor the engine's words) for the caller."""
    try:
        return await call
    except NotFound as exc:
        raise Unavailable(f"the media server could not {what}") from exc


async def _found(call: Awaitable[T], missing: str) -> T:
    """``call``'s answer; its ``NotFound`` told in the caller's words."""
    try:
        return await call
    except NotFound as exc:
        raise NotFound(missing) from exc


def _bounded(value: int | None, field: str, high: int) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= high:
        raise InvalidInput(f"{field} must be an integer between 1 and {high}", field=field)
    return value


def _utf8_size(value: str, field: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: not text LiveKit (or JSON) can carry
        raise InvalidInput(f"{field} must be valid Unicode text", field=field) from None


def _room_metadata(metadata: str | None) -> str:
    if not metadata:
        return ""
    if _utf8_size(metadata, "metadata") > MAX_ROOM_METADATA_BYTES:
        raise InvalidInput(
            f"metadata must be at most {MAX_ROOM_METADATA_BYTES} bytes of UTF-8",
            field="metadata",
        )
    return metadata


def _checked_patch(patch: ParticipantPatch) -> ParticipantPatch:
    """``patch`` within the token limits; an empty ``attributes`` means "no change"."""
    for field in ("name", "metadata"):
        if getattr(patch, field) == "":
            raise InvalidInput(
                f"{field} cannot be emptied (LiveKit keeps the current one); send a new value",
                field=field,
            )
    return ParticipantPatch(
        name=check_name(patch.name) if patch.name is not None else None,
        metadata=check_metadata(patch.metadata) if patch.metadata is not None else None,
        attributes=check_attributes(patch.attributes),
        permission=patch.permission,
    )


def _checked_packet(packet: SendData) -> SendData:
    if not packet.data:
        raise InvalidInput("data must not be empty", field="data")
    if len(packet.data) > MAX_DATA_BYTES:
        raise InvalidInput(
            f"data must be at most {MAX_DATA_BYTES} bytes (LiveKit's limit for one packet)",
            field="data",
        )
    if packet.topic is not None and (
        not packet.topic
        or not packet.topic.isprintable()
        or _utf8_size(packet.topic, "topic") > MAX_TOPIC_BYTES
    ):
        raise InvalidInput(
            f"topic must be 1 to {MAX_TOPIC_BYTES} bytes of printable text", field="topic"
        )
    if len(packet.destination_identities) > MAX_DESTINATIONS:
        raise InvalidInput(
            f"at most {MAX_DESTINATIONS} destination_identities; send to the whole room "
            "(or a topic) instead",
            field="destination_identities",
        )
    for i, identity in enumerate(packet.destination_identities):
        field = f"destination_identities[{i}]"
        try:
            check_identity(identity)
        except InvalidInput as exc:
            raise InvalidInput(exc.detail.replace("identity", field, 1), field=field) from None
    return packet


def _room(info: RoomInfo, name: str) -> Room:
    return Room(
        name=name,
        sid=info.sid,
        created_at=info.created_at,
        num_participants=info.num_participants,
        num_publishers=info.num_publishers,
        max_participants=info.max_participants or None,
        metadata=info.metadata or None,
        active_recording=info.active_recording,
        empty_timeout_seconds=info.empty_timeout_seconds,
        departure_timeout_seconds=info.departure_timeout_seconds,
    )


# -- pagination by name --------------------------------------------------------------------
# Rooms and participants have no Pulse id: a page ends at a name (a room's, or an
# identity), and the next one starts after it. The cursor is that name in URL-safe base64,
# so it is opaque and needs no escaping in a query string.


def _encode_cursor(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        name = ""
    if not name or _encode_cursor(name) != cursor:
        raise InvalidInput("cursor is not a cursor this list returned", field="cursor")
    return name


def _page(items: builtins.list[T], size: int, name_of: Callable[[T], str]) -> Page[T]:
    if len(items) > size:
        kept = items[:size]
        return Page(items=kept, next_cursor=_encode_cursor(name_of(kept[-1])))
    return Page(items=items, next_cursor=None)
