"""RoomService rules for embedders (no HTTP): cursors that survive any room name,
tenancy with the caller's names, and the caller's words in every ``NotFound``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryRoomEngine
from pulse_core import rooms
from pulse_core.errors import InvalidInput, NotFound, Unavailable
from pulse_core.models.rooms import CreateRoom, ParticipantPatch, SendData
from pulse_core.ports.rooms import RoomInfo, RoomRequest
from pulse_core.services.rooms import RoomService, _decode_cursor, _encode_cursor
from tests.support.builders import org, project

room_names = st.text(min_size=1, max_size=rooms.MAX_ROOM_LENGTH).filter(
    lambda r: rooms.from_livekit(rooms.project_prefix(PROJECT.id) + r) is not None
)
PROJECT = project(org().id)
OTHER = project(org().id)


@given(room_names)
def test_a_cursor_is_the_name_it_was_made_from(name: str) -> None:
    cursor = _encode_cursor(name)
    assert cursor.isascii() and "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert _decode_cursor(cursor) == name


@pytest.mark.parametrize("cursor", ["!!", "Zm9v=", "Zm9v\n", "é", "_w", "gA"])
def test_a_cursor_this_list_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _decode_cursor(cursor)
    assert refused.value.field == "cursor"


async def test_two_projects_share_nothing_but_the_engine(clock: ManualClock) -> None:
    engine = InMemoryRoomEngine(clock)
    service = RoomService(engine)
    mine, created = await service.create_room(PROJECT, CreateRoom(name="demo", metadata="A"))
    theirs, _ = await service.create_room(OTHER, CreateRoom(name="demo", metadata="B"))
    await engine.create_room(RoomRequest(name=rooms.project_prefix(PROJECT.id) + "a/b"))

    assert created and mine.name == theirs.name == "demo" and mine.sid != theirs.sid
    assert [r.metadata for r in (await service.list_rooms(PROJECT)).items] == ["A"]
    await service.delete_room(PROJECT, "demo")
    assert (await service.get_room(OTHER, "demo")).metadata == "B"
    with pytest.raises(NotFound) as missing:
        await service.get_room(PROJECT, "demo")
    assert missing.value.detail == "room 'demo' does not exist"
    assert PROJECT.id not in str(missing.value)


async def test_not_found_speaks_of_the_callers_names(clock: ManualClock) -> None:
    engine = InMemoryRoomEngine(clock)
    service = RoomService(engine)
    await service.create_room(PROJECT, CreateRoom(name="demo"))
    with pytest.raises(NotFound, match="participant 'alice' is not in room 'demo'"):
        await service.update_participant(PROJECT, "demo", "alice", ParticipantPatch(name="A"))
    with pytest.raises(NotFound, match="room 'gone' does not exist"):
        await service.send_data(PROJECT, "gone", SendData(data=b"x"))


class _Misconfigured(InMemoryRoomEngine):
    """Another service on the engine's address, answering every call "not found"."""

    async def create_room(self, request: RoomRequest) -> tuple[RoomInfo, bool]:
        raise NotFound("create room: twirp error not_found")

    async def list_rooms(self, *, prefix: str = "") -> list[RoomInfo]:
        raise NotFound("list rooms: twirp error not_found")


async def test_a_list_or_create_the_engine_calls_not_found_is_its_outage(
    clock: ManualClock,
) -> None:
    service = RoomService(_Misconfigured(clock))
    with pytest.raises(Unavailable) as listing:
        await service.list_rooms(PROJECT)
    with pytest.raises(Unavailable) as creating:
        await service.create_room(PROJECT, CreateRoom(name="demo"))
    assert "twirp" not in listing.value.detail + creating.value.detail
