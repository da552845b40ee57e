"""The egress plan (pulse_core.services.egress_plan): path rules, source fields per kind,
and that a file output lands exactly where its recording id points."""

from __future__ import annotations

import posixpath
import unicodedata
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pulse_core import rooms
from pulse_core.errors import InvalidInput
from pulse_core.models.media import (
    FileOutput,
    FileOutputSpec,
    HlsOutput,
    HlsOutputSpec,
    RtmpOutput,
    RtmpOutputSpec,
    StartEgress,
)
from pulse_core.ports.media import FileTarget, SegmentsTarget, StreamTarget
from pulse_core.ports.storage import StoredObject
from pulse_core.recordings import recording_key, recording_of, recordings_prefix, room_directory
from pulse_core.services.egress_plan import (
    MAX_FILEPATH_LENGTH,
    SOURCE_FIELDS,
    SOURCE_FIELDS_OF,
    plan_egress,
    relative_path,
)

A = "prj_01JD5Y4R8M2N3P4Q5R6S7T8V9W"
EGRESS_ID = "eg_01JD5Y4R8M2N3P4Q5R6S7T8V9W"
T0 = datetime(2030, 1, 1, tzinfo=UTC)
FIELD = "output.filepath"


def reference_accepts(value: str) -> bool:
    """The path rules restated independently of the implementation."""
    return (
        0 < len(value) <= MAX_FILEPATH_LENGTH
        and not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)
        and not any(ch in value for ch in "\\{}")
        and all(
            segment not in ("", ".", "..") and len(segment.encode("utf-8")) <= 255
            for segment in value.split("/")
        )
    )


# Paths built from what breaks path rules (separators, dots, templates, controls, long
# segments) as much as from ordinary names.
_tricky = st.sampled_from(["/", ".", "..", "\\", "{", "}", "\x00", "\n", " ", "é", "x" * 200])
_path_text = st.lists(_tricky | st.text(max_size=8), max_size=12).map("".join)
_segments = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S"), exclude_characters="/\\{}"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
_good_paths = st.lists(_segments, min_size=1, max_size=4).map("/".join)
_extensions = st.sampled_from(["", ".mp4", ".MP4", ".ogg", ".mp3", ".webm", ".html"])
filepaths = st.builds(lambda p, e: p + e, _good_paths, _extensions)


def _valid_room(room: str) -> bool:
    try:
        rooms.validate_room(room)
    except InvalidInput:
        return False
    return True


room_names = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S")) | st.sampled_from("%. "),
    min_size=1,
    max_size=40,
).filter(_valid_room)


# -- path rules --------------------------------------------------------------------------


@given(_path_text | _good_paths)
@example("a/../../b.mp4")
@example("./a.mp4")
@example("a//b.mp4")
@example("a/")
@example("/etc/passwd")
@example("a\\..\\b")
@example("{room_name}/{time}.mp4")
@example("a/\x00.mp4")
@example("x" * 255 + "/a.mp4")
@example("é" * 128 + "/a.mp4")  # 256 bytes: too long a segment for a file name
@example("a/" * 256 + "b")
def test_a_path_is_accepted_exactly_when_it_stays_where_it_is_put(value: str) -> None:
    try:
        accepted = relative_path(value, FIELD)
    except InvalidInput as exc:
        assert exc.field == FIELD
        assert not reference_accepts(value)
        return
    assert accepted == value and reference_accepts(value)
    # Joined under any directory, it normalizes to a path still inside that directory.
    directory = "/recordings/rooms/demo"
    joined = posixpath.normpath(posixpath.join(directory, value))
    assert joined.startswith(directory + "/") and joined == f"{directory}/{value}"


@given(room_names, filepaths)
@example("..", "a.mp4")
@example("50% off", "a/b")
@example("demo", "a/B.MP4")
@example("demo", "page.html")
def test_a_file_output_lands_where_its_recording_id_points(room: str, filepath: str) -> None:
    request = StartEgress(room=room, output=FileOutputSpec(filepath=filepath))
    try:
        plan = plan_egress(A, request, EGRESS_ID)
    except InvalidInput as exc:
        # A media extension the rules refuse, or a key too long for storage.
        assert exc.field in (FIELD, "room")
        return
    (target,) = plan.request.outputs
    assert isinstance(target, FileTarget) and isinstance(plan.output, FileOutput)
    assert plan.output.filepath.startswith(filepath)  # at most an extension added
    relative = recording_key(plan.output.recording_id)
    assert relative is not None and relative.startswith(room_directory(room))
    assert target.key == recordings_prefix(A) + relative
    listed = recording_of(A, StoredObject(key=target.key, size=1, last_modified=T0))
    assert (listed.room, listed.path, listed.id) == (
        room,
        plan.output.filepath,
        plan.output.recording_id,
    )


def test_a_room_too_wide_for_a_file_name_is_refused() -> None:
    widest = "%" * rooms.MAX_ROOM_LENGTH  # escaped, three bytes a character
    with pytest.raises(InvalidInput) as raised:
        plan_egress(A, StartEgress(room=widest), EGRESS_ID)
    assert raised.value.field == "room"


# -- source fields per kind --------------------------------------------------------------

VALID: dict[str, StartEgress] = {
    "room_composite": StartEgress(room="demo"),
    "track_composite": StartEgress(kind="track_composite", room="demo", audio_track_id="TR_a"),
    "track": StartEgress(kind="track", room="demo", track_id="TR_1"),
    "participant": StartEgress(kind="participant", room="demo", participant_identity="alice"),
    "web": StartEgress(kind="web", url="https://example.com/page"),
}
FOREIGN: dict[str, Any] = {
    "room": "demo",
    "layout": "grid",
    "audio_only": True,
    "video_only": True,
    "url": "https://example.com",
    "participant_identity": "bob",
    "track_id": "TR_2",
    "audio_track_id": "TR_b",
    "video_track_id": "TR_v",
}


@pytest.mark.parametrize("kind", list(VALID))
def test_each_kind_plans_its_own_source(kind: str) -> None:
    plan = plan_egress(A, VALID[kind], EGRESS_ID)
    assert plan.kind == kind and plan.writes_files
    if kind == "web":
        assert (plan.room, plan.livekit_room, plan.request.url) == (None, None, VALID[kind].url)
        assert recording_key(plan.output.recording_id).startswith("web/")  # type: ignore[union-attr]
    else:
        assert plan.room == "demo" and plan.livekit_room == rooms.to_livekit(A, "demo")


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        (kind, field)
        for kind in VALID
        for field in SOURCE_FIELDS
        if field not in SOURCE_FIELDS_OF[kind]
    ],
)
def test_a_field_of_another_kind_is_refused_not_ignored(kind: str, field: str) -> None:
    request = msgspec.structs.replace(VALID[kind], **{field: FOREIGN[field]})
    with pytest.raises(InvalidInput) as raised:
        plan_egress(A, request, EGRESS_ID)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "movie", "room": "demo"}, "kind"),
        ({"kind": "room_composite"}, "room"),
        ({"room": "demo", "audio_only": True, "video_only": True}, "video_only"),
        ({"kind": "track_composite", "room": "demo"}, "audio_track_id"),
        (
            {"kind": "participant", "room": "demo", "participant_identity": ""},
            "participant_identity",
        ),
        ({"kind": "track", "room": "demo", "track_id": "TR\n"}, "track_id"),
        ({"room": "demo", "layout": "x" * 65}, "layout"),
        ({"kind": "web", "url": "ftp://example.com"}, "url"),
        ({"kind": "web"}, "url"),
        ({"room": "a/b"}, "room"),
    ],
)
def test_source_rules(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        plan_egress(A, StartEgress(**fields), EGRESS_ID)
    assert raised.value.field == field


# -- outputs -----------------------------------------------------------------------------


def test_hls_playlist_and_segments_share_one_directory() -> None:
    plan = plan_egress(
        A, StartEgress(room="demo", output=HlsOutputSpec(path="live/hls")), EGRESS_ID
    )
    (target,) = plan.request.outputs
    assert isinstance(target, SegmentsTarget) and isinstance(plan.output, HlsOutput)
    directory = recordings_prefix(A) + "rooms/demo/live/hls/"
    assert target.playlist_key == directory + "index.m3u8"
    assert target.segment_prefix == directory + "segment"
    assert plan.output.playlist == "live/hls/index.m3u8" and plan.output.segment_duration == 6
    assert (
        recordings_prefix(A) + str(recording_key(plan.output.recording_id)) == target.playlist_key
    )
    default = plan_egress(A, StartEgress(room="demo", output=HlsOutputSpec()), EGRESS_ID)
    assert default.output.playlist == f"{EGRESS_ID}/index.m3u8"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("output", "field"),
    [
        (HlsOutputSpec(segment_duration=0), "output.segment_duration"),
        (HlsOutputSpec(segment_duration=61), "output.segment_duration"),
        (HlsOutputSpec(path="../up"), "output.path"),
        (RtmpOutputSpec(urls=[]), "output.urls"),
        (RtmpOutputSpec(urls=["rtmp://h/a/k"] * 6), "output.urls"),
        (RtmpOutputSpec(urls=["rtmp://h/a/k", "http://h/a/k"]), "output.urls[1]"),
    ],
)
def test_output_rules(output: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        plan_egress(A, StartEgress(room="demo", output=output), EGRESS_ID)
    assert raised.value.field == field


def test_a_track_records_to_a_file_only() -> None:
    request = StartEgress(
        kind="track", room="demo", track_id="TR_1", output=RtmpOutputSpec(urls=["rtmp://h/a/k"])
    )
    with pytest.raises(InvalidInput) as raised:
        plan_egress(A, request, EGRESS_ID)
    assert raised.value.field == "output.type"


def test_rtmp_is_recorded_redacted_and_sent_in_full() -> None:
    url = "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop"
    plan = plan_egress(A, StartEgress(room="demo", output=RtmpOutputSpec(urls=[url])), EGRESS_ID)
    assert plan.output == RtmpOutput(urls=["rtmp://a.rtmp.youtube.com/live2/***mnop"])
    assert plan.request.outputs == [StreamTarget(urls=[url])]
    assert not plan.writes_files  # nothing for the storage's upload config
