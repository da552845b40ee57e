"""Request and response bodies of the egress and recordings endpoints (API.md, "Media");
the ingress endpoints' are in :mod:`pulse_http.schemas.ingress`.

Responses show only what their types declare: no project id, no engine id, no LiveKit
room name (callers see their own room names), RTMP destinations redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from pulse_core.models.media import (
    Egress,
    EgressKind,
    EgressOutput,
    EgressStatus,
    FileOutput,
    FileOutputSpec,
    HlsOutput,
    HlsOutputSpec,
    OutputSpec,
    Recording,
    RecordingUrl,
    RtmpOutputSpec,
    StartEgress,
)
from pulse_http.schemas import NEXT_CURSOR, doc

EgressKindName = Literal["room_composite", "track_composite", "track", "participant", "web"]

_ROOM = doc("The room, as the project names it.", "demo")
_EGRESS_ID = doc("The egress's id.", "eg_01M8T76XC38K4GVZ7CBKWFSYME")
_REC = "rec_cm9vbXMvZGVtby9lZ18wMU04VDc2WEMzOEs0R1ZaN0NCS1dGU1lNRS5tcDQ"
_FILE = "eg_01M8T76XC38K4GVZ7CBKWFSYME.mp4"
_RECORDING_ID = doc(
    "The id the file has (or will have, once written) in the recordings list.", _REC
)
_RTMP_URLS = doc(
    "`rtmp://` or `rtmps://` destinations, stream key included (1 to 5).",
    ["rtmps://live.example.com/app/stream-key"],
)


class FileOutputBody(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="file",
):
    """Record to a file in the configured storage, under the project's prefix."""

    filepath: Annotated[
        str | None,
        doc(
            "The file's path within the room's recordings; default `<egress id>.mp4` "
            "(`.ogg` audio only, `.webm` a track). Without an extension, the default one "
            "is added.",
            "town-hall/2026-12-02.mp4",
        ),
    ] = None


class HlsOutputBody(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="hls",
):
    """HLS segments and a playlist (`<path>/index.m3u8`) in the configured storage."""

    path: Annotated[
        str | None,
        doc("The directory within the room's recordings; default: the egress id.", "live"),
    ] = None
    segment_duration: Annotated[int | None, doc("Seconds per segment (default 6).", 6)] = None


class RtmpOutputBody(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="rtmp",
):
    """Stream live to RTMP(S) servers."""

    urls: Annotated[list[str], _RTMP_URLS]


OutputBody = FileOutputBody | HlsOutputBody | RtmpOutputBody


def _output_spec(body: OutputBody) -> OutputSpec:
    if isinstance(body, FileOutputBody):
        return FileOutputSpec(filepath=body.filepath)
    if isinstance(body, HlsOutputBody):
        return HlsOutputSpec(path=body.path, segment_duration=body.segment_duration)
    return RtmpOutputSpec(urls=list(body.urls))


class StartEgressBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What to record or stream, and where to.

    The fields each `kind` takes: `room_composite`: `room`, optional `layout`,
    `audio_only` or `video_only`; `track_composite`: `room` and `audio_track_id` and/or
    `video_track_id`; `track`: `room` and `track_id` (file output only); `participant`:
    `room` and `participant_identity`; `web`: `url`, no `room`. A field that does not
    belong to the kind is refused (400), not ignored."""

    # The fields' examples do not all go together (they belong to different kinds).
    __openapi_example__: ClassVar[Mapping[str, Any]] = {
        "room": "demo",
        "kind": "room_composite",
        "output": {"type": "file", "filepath": "town-hall/2026-12-02.mp4"},
        "layout": "speaker",
    }

    room: Annotated[str | None, doc("The room to capture (every kind but `web`).", "demo")] = None
    kind: Annotated[EgressKindName, doc("What is captured.", "room_composite")] = "room_composite"
    output: Annotated[OutputBody, doc('Where it goes; default: a file (`{"type": "file"}`).')] = (
        msgspec.field(default_factory=FileOutputBody)
    )
    layout: Annotated[
        str | None,
        doc("`room_composite`: LiveKit's layout (`grid`, `speaker`, …).", "speaker"),
    ] = None
    audio_only: Annotated[bool, doc("Capture the audio only.", False)] = False
    video_only: Annotated[bool, doc("Capture the video only.", False)] = False
    url: Annotated[
        str | None,
        doc("`web`: the page to record (`http` or `https`).", "https://app.example.com/show"),
    ] = None
    participant_identity: Annotated[str | None, doc("`participant`: whom to record.", "alice")] = (
        None
    )
    track_id: Annotated[str | None, doc("`track`: the track's sid.", "TR_AMkVbPcvQK3j")] = None
    audio_track_id: Annotated[
        str | None, doc("`track_composite`: the audio track's sid.", "TR_AMkVbPcvQK3j")
    ] = None
    video_track_id: Annotated[
        str | None, doc("`track_composite`: the video track's sid.", "TR_VC9xQe2kLm1p")
    ] = None

    def to_domain(self) -> StartEgress:
        return StartEgress(
            kind=self.kind,
            room=self.room,
            output=_output_spec(self.output),
            layout=self.layout,
            audio_only=self.audio_only,
            video_only=self.video_only,
            url=self.url,
            participant_identity=self.participant_identity,
            track_id=self.track_id,
            audio_track_id=self.audio_track_id,
            video_track_id=self.video_track_id,
        )


class StopEgressBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The egress to stop."""

    # Not blank: an id no egress can have is a 400 naming the field; any other unknown id
    # is the 404 of an egress that is not the project's.
    egress_id: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            description="The egress's id.",
            examples=["eg_01M8T76XC38K4GVZ7CBKWFSYME"],
        ),
    ]


# -- responses -------------------------------------------------------------------------


class FileOutputOut(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="file"):
    """A recording file."""

    filepath: Annotated[str, doc("The file's path within the room's recordings.", _FILE)]
    recording_id: Annotated[str, _RECORDING_ID]


class HlsOutputOut(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="hls"):
    """HLS: a playlist and its segments."""

    playlist: Annotated[
        str, doc("The playlist's path within the room's recordings.", "live/index.m3u8")
    ]
    recording_id: Annotated[str, _RECORDING_ID]
    segment_duration: Annotated[int, doc("Seconds per segment.", 6)]


class RtmpOutputOut(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="rtmp"):
    """A live stream to RTMP(S) servers."""

    urls: Annotated[
        list[str],
        doc(
            "The destinations, redacted: the stream key, any password and any query string "
            "are hidden.",
            ["rtmps://live.example.com/app/***"],
        ),
    ]


def _output_out(output: EgressOutput) -> FileOutputOut | HlsOutputOut | RtmpOutputOut:
    if isinstance(output, FileOutput):
        return FileOutputOut(filepath=output.filepath, recording_id=output.recording_id)
    if isinstance(output, HlsOutput):
        return HlsOutputOut(
            playlist=output.playlist,
            recording_id=output.recording_id,
            segment_duration=output.segment_duration,
        )
    return RtmpOutputOut(urls=list(output.urls))


class EgressFileOut(msgspec.Struct, frozen=True, kw_only=True):
    """A file the egress produced, once the media server reported its end."""

    path: Annotated[str, doc("Its path within the room's recordings.", _FILE)]
    recording_id: Annotated[
        str | None,
        doc(
            "Its id in the recordings list; null for a file that is not one of the planned "
            "outputs.",
            _REC,
        ),
    ]
    size: Annotated[int, doc("Its size in bytes.", 10485760)]
    duration_seconds: Annotated[float, doc("Its duration in seconds.", 62.5)]


class EgressOut(msgspec.Struct, frozen=True, kw_only=True):
    """A recording or live stream, as last seen."""

    id: Annotated[str, _EGRESS_ID]
    room: Annotated[str | None, doc("The room captured; null for `web` egress.", "demo")]
    kind: Annotated[EgressKind, doc("What is captured.", "room_composite")]
    status: Annotated[
        EgressStatus,
        doc(
            "`starting`, `active`, `ending`, then `complete`, `failed` or `aborted` once "
            "LiveKit reports its end.",
            "active",
        ),
    ]
    started_at: Annotated[datetime, doc("When it was started.", "2026-12-02T01:51:51.689307Z")]
    ended_at: Annotated[
        datetime | None, doc("When it ended; null while it runs.", "2026-12-02T02:30:00Z")
    ]
    outputs: Annotated[list[FileOutputOut | HlsOutputOut | RtmpOutputOut], doc("Where it goes.")]
    error: Annotated[str | None, doc("Why it failed, when it did.", "Start signal not received")]
    files: Annotated[list[EgressFileOut], doc("The files it produced (once it has ended).")]

    @classmethod
    def of(cls, egress: Egress) -> EgressOut:
        return cls(
            id=egress.id,
            room=egress.room,
            kind=egress.kind,
            status=egress.status,
            started_at=egress.started_at,
            ended_at=egress.ended_at,
            outputs=[_output_out(o) for o in egress.outputs],
            error=egress.error,
            files=[
                EgressFileOut(
                    path=f.path,
                    recording_id=f.recording_id,
                    size=f.size,
                    duration_seconds=f.duration_seconds,
                )
                for f in egress.files
            ],
        )


class EgressList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of egress."""

    items: Annotated[list[EgressOut], doc("This page's egress.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


class RecordingOut(msgspec.Struct, frozen=True, kw_only=True):
    """A file in the project's recordings."""

    id: Annotated[str, doc("The recording's id (opaque).", _REC)]
    room: Annotated[str | None, doc("Its room; null for files of `web` egress.", "demo")]
    path: Annotated[
        str,
        doc(
            "Its path within the room's recordings (a file output's `filepath`, an HLS "
            "playlist or segment).",
            _FILE,
        ),
    ]
    size: Annotated[int, doc("Its size in bytes.", 10485760)]
    created_at: Annotated[datetime, doc("When it was written.", "2026-12-02T02:30:05Z")]

    @classmethod
    def of(cls, recording: Recording) -> RecordingOut:
        return cls(
            id=recording.id,
            room=recording.room,
            path=recording.path,
            size=recording.size,
            created_at=recording.created_at,
        )


class RecordingList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of recordings."""

    items: Annotated[list[RecordingOut], doc("This page's recordings.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


class RecordingUrlOut(msgspec.Struct, frozen=True, kw_only=True):
    """A download URL for a recording."""

    url: Annotated[
        str,
        doc(
            "The URL: anyone who has it can download the file until `expires_at`.",
            f"https://bucket.example.com/recordings/demo/{_FILE}?X-Amz-Signature=…",
        ),
    ]
    expires_at: Annotated[datetime, doc("When the URL stops working.", "2026-12-02T03:30:05Z")]

    @classmethod
    def of(cls, url: RecordingUrl) -> RecordingUrlOut:
        return cls(url=url.url, expires_at=url.expires_at)
