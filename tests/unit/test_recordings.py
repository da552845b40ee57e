"""The recordings naming scheme (pulse_core.recordings): the storage layout reads back as
the room and path it was written for, and room directories never collide."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from pulse_core import rooms
from pulse_core.errors import InvalidInput
from pulse_core.ports.storage import StoredObject, validate_key
from pulse_core.recordings import (
    recording_id,
    recording_key,
    recording_of,
    recordings_prefix,
    room_directory,
)

A = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9W"
B = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9X"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _valid_room(room: str) -> bool:
    try:
        rooms.validate_room(room)
    except InvalidInput:
        return False
    return True


# Printable text of every kind, plus what the escaping is about: %, '.', the escapes.
room_names = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S")) | st.sampled_from("%.2E5 "),
    min_size=1,
    max_size=40,
).filter(_valid_room)
segments = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S"), exclude_characters="/\\"),
    min_size=1,
    max_size=20,
).filter(lambda s: s not in (".", ".."))
paths = st.lists(segments, min_size=1, max_size=4).map("/".join)


@given(room_names, room_names)
@example(".", "%2E")
@example("..", "%2E.")
@example("%", "%25")
def test_room_directories_are_one_valid_segment_and_never_collide(a: str, b: str) -> None:
    directory = room_directory(a)
    assert directory.startswith("rooms/") and directory.endswith("/")
    segment = directory[len("rooms/") : -1]
    assert "/" not in segment and not segment.startswith(".")
    validate_key(directory + "x.mp4")
    assert (directory == room_directory(b)) == (a == b)


def test_web_egress_has_its_own_directory() -> None:
    assert room_directory(None) == "web/"
    assert all(room_directory(r) != "web/" for r in ("web", "web/", "rooms"))


@given(room_names | st.none(), paths)
@example("..", "a.mp4")
@example("50% off", "x/y.mp4")
@example(None, "rooms/a.mp4")
def test_a_stored_file_reads_back_as_the_room_and_path_it_was_written_for(
    room: str | None, path: str
) -> None:
    relative = room_directory(room) + path
    stored = StoredObject(key=recordings_prefix(A) + relative, size=3, last_modified=T0)
    recording = recording_of(A, stored)
    assert (recording.room, recording.path) == (room, path)
    assert (recording.size, recording.created_at) == (3, T0)
    assert recording.id == recording_id(relative)
    assert recording_key(recording.id) == relative


def test_projects_have_disjoint_prefixes() -> None:
    a, b = recordings_prefix(A), recordings_prefix(B)
    assert a.endswith("/recordings/") and not a.startswith(b) and not b.startswith(a)
