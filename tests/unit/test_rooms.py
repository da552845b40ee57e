"""Per-project room namespacing: reversible, collision-free, never crossing projects."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from pulse_core import ids, rooms
from pulse_core.errors import InvalidInput

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
A = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9W"
B = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9X"

project_ids = st.text(alphabet=CROCKFORD, min_size=26, max_size=26).map(lambda body: "prj_" + body)

# Printable characters of every kind, plus the characters a namespacing scheme is most
# likely to trip on: the separator, the id prefix, digits and Crockford letters.
_room_chars = st.characters(
    categories=("L", "M", "N", "P", "S"), exclude_characters="/\\"
) | st.sampled_from("_ prj0Z")


def _ends_ok(room: str) -> bool:
    return room[:1] != " " and room[-1:] != " "


plain_rooms = (
    st.text(alphabet=_room_chars, min_size=1, max_size=40)
    .filter(_ends_ok)
    .filter(lambda r: len(r.encode()) <= rooms.MAX_ROOM_BYTES)
)
# Rooms that look like other namespaced names: "<some project id>_<room>" and friends.
tricky_rooms = st.one_of(
    st.builds(lambda p, r: p + "_" + r, project_ids, plain_rooms),
    st.builds(lambda p, r: r + "_" + p, project_ids, plain_rooms),
    st.builds(lambda p: p[4:], project_ids),
    st.just("_"),
    st.just("__"),
)
valid_rooms = st.one_of(plain_rooms, tricky_rooms)


def reference_is_valid(room: str) -> bool:
    """The room rules restated with unicodedata, independently of the implementation."""
    nonprintable = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"}
    return (
        1 <= len(room) <= 128
        and all(ch == " " or unicodedata.category(ch) not in nonprintable for ch in room)
        and _ends_ok(room)
        and "/" not in room
        and "\\" not in room
        and "\ufffd" not in room  # what undecodable bytes become: every one would alias it
        and len(room.encode("utf-8", "surrogatepass")) <= 256 - 31
    )


@given(project_ids, valid_rooms)
def test_from_livekit_inverts_to_livekit(project_id: str, room: str) -> None:
    name = rooms.to_livekit(project_id, room)
    assert rooms.from_livekit(name) == (project_id, room)
    assert name.startswith(project_id + "_")
    assert len(name.encode()) <= rooms.LIVEKIT_MAX_ROOM_NAME_BYTES


@given(project_ids, valid_rooms, project_ids, valid_rooms)
def test_distinct_pairs_never_collide(p1: str, r1: str, p2: str, r2: str) -> None:
    assume((p1, r1) != (p2, r2))
    assert rooms.to_livekit(p1, r1) != rooms.to_livekit(p2, r2)


@given(project_ids, valid_rooms, valid_rooms)
def test_same_project_distinct_rooms_never_collide(project_id: str, r1: str, r2: str) -> None:
    assume(r1 != r2)
    assert rooms.to_livekit(project_id, r1) != rooms.to_livekit(project_id, r2)


@given(project_ids, project_ids, valid_rooms, valid_rooms)
@example(A, B, B[4:], "x")
@example(A, B, "x_" + B + "_y", "x")
@example(A, B, B + "_demo", "demo")
def test_no_room_lands_in_another_project(a: str, b: str, r1: str, r2: str) -> None:
    assume(a != b)
    name = rooms.to_livekit(a, r1)
    assert name != rooms.to_livekit(b, r2)
    assert not name.startswith(rooms.project_prefix(b))
    owner = rooms.from_livekit(name)
    assert owner is not None
    assert owner[0] == a != b


@given(st.text(max_size=80) | st.builds(lambda p, t: p + t, project_ids, st.text(max_size=40)))
@example(A + "_demo")
@example(A + "demo")
@example(A + "_")
@example(A.lower() + "_demo")
@example(A + "_ demo")
@example(A + "_a/b")
@example("prj_ILOU" + A[8:] + "_demo")
def test_from_livekit_accepts_exactly_the_image(name: str) -> None:
    owner = rooms.from_livekit(name)
    if owner is not None:
        assert rooms.to_livekit(*owner) == name
    else:
        # Either not shaped like a Pulse name at all, or its room part is invalid.
        shaped = len(name) > 31 and ids.is_valid_id(name[:30], ids.PROJECT) and name[30] == "_"
        assert not shaped or not reference_is_valid(name[31:])


def test_from_livekit_examples() -> None:
    assert rooms.from_livekit(A + "_demo") == (A, "demo")
    assert rooms.from_livekit(A + "_" + B + "_demo") == (A, B + "_demo")
    assert rooms.from_livekit("demo") is None
    assert rooms.from_livekit(A) is None
    assert rooms.from_livekit(A + "_") is None
    assert rooms.from_livekit(A + "-demo") is None
    assert rooms.from_livekit(A.lower() + "_demo") is None
    assert rooms.from_livekit("org" + A[3:] + "_demo") is None


@given(st.text(max_size=140))
def test_validate_room_matches_the_reference_rules(room: str) -> None:
    if reference_is_valid(room):
        assert rooms.validate_room(room) == room
    else:
        with pytest.raises(InvalidInput) as info:
            rooms.validate_room(room)
        assert info.value.field == "room"


@pytest.mark.parametrize(
    "room",
    [
        "",
        "x" * 129,
        "é" * 113,  # 113 characters but 226 bytes: the LiveKit name would pass 256 bytes
        "\U0001f600" * 57,  # 228 bytes
        "a\x00b",
        "a\nb",
        "tab\there",
        "del\x7f",
        "nel\x85",
        "zero\u200bwidth",
        "rtl\u202eoverride",
        "line\u2028sep",
        "nb\u00a0space",
        "lone\ud800surrogate",
        "private\ue000use",
        " demo",
        "demo ",
        " ",
        "a/b",
        "../etc",
        "a\\b",
        "\ufffd",
        "caf\ufffd",
    ],
)
def test_invalid_rooms_are_refused_naming_room(room: str) -> None:
    with pytest.raises(InvalidInput) as info:
        rooms.validate_room(room)
    assert info.value.field == "room"
    with pytest.raises(InvalidInput) as info:
        rooms.to_livekit(A, room)
    assert info.value.field == "room"


@pytest.mark.parametrize(
    "room",
    ["x", "x" * 128, "é" * 112, "\U0001f600" * 56, "team_standup", "a b", "prj_", "Ünïcødé 会议"],
)
def test_valid_room_edges(room: str) -> None:
    assert rooms.validate_room(room) == room
    assert rooms.from_livekit(rooms.to_livekit(A, room)) == (A, room)


def test_validate_room_names_the_given_field() -> None:
    with pytest.raises(InvalidInput) as info:
        rooms.validate_room("", "grants.destination_room")
    assert info.value.field == "grants.destination_room"


def test_non_string_room_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        rooms.validate_room(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "project_id", ["prj_", "prj_123", A.lower(), "org" + A[3:], A + "0", A[:-1], "prj_" + "I" * 26]
)
def test_malformed_project_ids_are_a_programming_error(project_id: str) -> None:
    with pytest.raises(ValueError, match="not a project id"):
        rooms.to_livekit(project_id, "demo")


def test_real_project_ids_are_accepted() -> None:
    project_id = ids.new_id(ids.PROJECT, now_ms=1_900_000_000_000)
    assert rooms.project_prefix(project_id) == project_id + "_"
    assert rooms.to_livekit(project_id, "demo") == project_id + "_demo"
