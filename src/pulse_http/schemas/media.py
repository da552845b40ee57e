"""Request and response bodies of the media endpoints (API.md, "Media").

Responses show only what their types declare: no project id, no engine id, no LiveKit
room name (callers see their own room names), RTMP destinations redacted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from pulse_core.models.media import (
    CreateIngress,
    Egress,
    EgressOutput,
    FileOutput,
    FileOutputSpec,
    HlsOutput,
    HlsOutputSpec,
    Ingress,
    OutputSpec,
    Recording,
    RecordingUrl,
    RtmpOutputSpec,
    StartEgress,
)

EgressKindName = Literal["room_composite", "track_composite", "track", "participant", "web"]


class FileOutputBody(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="file",
):
    """``{"type": "file", "filepath"?}``: relative to the room's recordings."""

    filepath: str | None = None


class HlsOutputBody(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="hls",
):
    """``{"type": "hls", "path"?, "segment_duration"?}``."""

    path: str | None = None
    segment_duration: int | None = None


class RtmpOutputBody(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="rtmp",
):
    """``{"type": "rtmp", "urls": ["rtmp://…", "rtmps://…"]}``."""

    urls: list[str]


OutputBody = FileOutputBody | HlsOutputBody | RtmpOutputBody


def _output_spec(body: OutputBody) -> OutputSpec:
    if isinstance(body, FileOutputBody):
        return FileOutputSpec(filepath=body.filepath)
    if isinstance(body, HlsOutputBody):
        return HlsOutputSpec(path=body.path, segment_duration=body.segment_duration)
    return RtmpOutputSpec(urls=list(body.urls))


class StartEgressBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    room: str | None = None
    kind: EgressKindName = "room_composite"
    output: OutputBody = msgspec.field(default_factory=FileOutputBody)
    layout: str | None = None
    audio_only: bool = False
    video_only: bool = False
    url: str | None = None
    participant_identity: str | None = None
    track_id: str | None = None
    audio_track_id: str | None = None
    video_track_id: str | None = None

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
    egress_id: str


class CreateIngressBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    room: str
    type: Literal["rtmp", "whip", "url"]
    participant_identity: str
    participant_name: str | None = None
    url: str | None = None

    def to_domain(self) -> CreateIngress:
        return CreateIngress(
            room=self.room,
            type=self.type,
            participant_identity=self.participant_identity,
            participant_name=self.participant_name,
            url=self.url,
        )


# -- responses -------------------------------------------------------------------------


class FileOutputOut(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="file"):
    filepath: str
    recording_id: str


class HlsOutputOut(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="hls"):
    playlist: str
    recording_id: str
    segment_duration: int


class RtmpOutputOut(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="rtmp"):
    urls: list[str]


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

    path: str
    recording_id: str | None
    size: int
    duration_seconds: float


class EgressOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    room: str | None
    kind: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    outputs: list[FileOutputOut | HlsOutputOut | RtmpOutputOut]
    error: str | None
    files: list[EgressFileOut]

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
    items: list[EgressOut]
    next_cursor: str | None


class IngressOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    room: str
    url: str
    stream_key: str | None
    participant_identity: str
    participant_name: str | None
    status: str
    created_at: datetime

    @classmethod
    def of(cls, ingress: Ingress) -> IngressOut:
        return cls(
            id=ingress.id,
            type=ingress.type,
            room=ingress.room,
            url=ingress.url,
            stream_key=ingress.stream_key,
            participant_identity=ingress.participant_identity,
            participant_name=ingress.participant_name,
            status=ingress.status,
            created_at=ingress.created_at,
        )


class IngressList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[IngressOut]
    next_cursor: str | None


class RecordingOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    room: str | None
    path: str
    size: int
    created_at: datetime

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
    items: list[RecordingOut]
    next_cursor: str | None


class RecordingUrlOut(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    expires_at: datetime

    @classmethod
    def of(cls, url: RecordingUrl) -> RecordingUrlOut:
        return cls(url=url.url, expires_at=url.expires_at)
