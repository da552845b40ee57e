"""The media engine's requests and answers as LiveKit's protobuf messages: what
:class:`~pulse_adapters.livekit.engine.LiveKitMediaEngine` sends for each port call, and
how it reads LiveKit's egress and ingress info back (pure functions, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress

from pulse_core.errors import InvalidInput
from pulse_core.models.media import (
    EGRESS_KINDS,
    EgressKind,
    EgressStatus,
    IngressStatus,
    IngressType,
)
from pulse_core.ports.media import (
    EgressInfo,
    EgressRequest,
    EgressTarget,
    FileTarget,
    IngressInfo,
    IngressRequest,
    SegmentsTarget,
    StreamTarget,
)
from pulse_core.ports.storage import EgressUploadConfig

_ES = lk_egress.EgressStatus
_EGRESS_STATUS: dict[int, EgressStatus] = {
    _ES.EGRESS_STARTING: "starting",
    _ES.EGRESS_ACTIVE: "active",
    _ES.EGRESS_ENDING: "ending",
    _ES.EGRESS_COMPLETE: "complete",
    _ES.EGRESS_FAILED: "failed",
    _ES.EGRESS_ABORTED: "aborted",
    # Stopped by LiveKit's time limit: the outputs were finished and uploaded.
    _ES.EGRESS_LIMIT_REACHED: "complete",
}
_IS = lk_ingress.IngressState.Status
_INGRESS_STATUS: dict[int, IngressStatus] = {
    _IS.ENDPOINT_INACTIVE: "inactive",
    _IS.ENDPOINT_BUFFERING: "buffering",
    _IS.ENDPOINT_PUBLISHING: "publishing",
    _IS.ENDPOINT_ERROR: "error",
    _IS.ENDPOINT_COMPLETE: "complete",
}
_INPUT: dict[IngressType, lk_ingress.IngressInput] = {
    "rtmp": lk_ingress.IngressInput.RTMP_INPUT,
    "whip": lk_ingress.IngressInput.WHIP_INPUT,
    "url": lk_ingress.IngressInput.URL_INPUT,
}
_INPUT_TYPE: dict[int, IngressType] = {value: key for key, value in _INPUT.items()}
_FILE_TYPE = {
    ".mp4": lk_egress.EncodedFileType.MP4,
    ".ogg": lk_egress.EncodedFileType.OGG,
    ".mp3": lk_egress.EncodedFileType.MP3,
}


def _time(nanoseconds: int) -> datetime | None:
    if nanoseconds <= 0:
        return None
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC)


def egress_info(info: lk_egress.EgressInfo) -> EgressInfo:
    """The port's view of LiveKit's ``info``; a status this code does not know is
    ``failed``."""
    kind_name = info.WhichOneof("request")
    kind: EgressKind | None = kind_name if kind_name in EGRESS_KINDS else None
    status = _EGRESS_STATUS.get(info.status, "failed")
    error = info.error or None
    if info.status == _ES.EGRESS_LIMIT_REACHED and error is None:
        error = "stopped at LiveKit's time limit"
    return EgressInfo(
        egress_id=info.egress_id,
        kind=kind,
        room_name=info.room_name or None,
        status=status,
        started_at=_time(info.started_at),
        ended_at=_time(info.ended_at),
        error=error,
    )


def ingress_info(info: lk_ingress.IngressInfo) -> IngressInfo:
    """The port's view of LiveKit's ``info``; a state this code does not know is
    ``error``."""
    return IngressInfo(
        ingress_id=info.ingress_id,
        type=_INPUT_TYPE.get(info.input_type, "rtmp"),
        room_name=info.room_name,
        participant_identity=info.participant_identity,
        participant_name=info.participant_name or None,
        url=info.url,
        stream_key=info.stream_key or None,
        status=_INGRESS_STATUS.get(info.state.status, "error"),
        started_at_ns=info.state.started_at,
        ended_at_ns=info.state.ended_at,
    )


def _s3(upload: EgressUploadConfig) -> lk_egress.S3Upload:
    return lk_egress.S3Upload(
        access_key=upload.access_key,
        secret=upload.secret,
        session_token=upload.session_token or "",
        region=upload.region,
        endpoint=upload.endpoint or "",
        bucket=upload.bucket,
        force_path_style=upload.force_path_style,
    )


def _outputs(request: EgressRequest) -> dict[str, Any]:
    """The ``*_outputs`` fields (or the track egress ``file``) for ``request``."""
    upload = request.upload

    def where(key: str) -> dict[str, Any]:
        if upload is None:
            return {"filepath": key}
        return {"filepath": upload.object_key(key), "s3": _s3(upload)}

    files: list[Any] = []
    segments: list[lk_egress.SegmentedFileOutput] = []
    streams: list[lk_egress.StreamOutput] = []
    target: EgressTarget
    for target in request.outputs:
        if isinstance(target, FileTarget):
            if request.kind == "track":
                files.append(lk_egress.DirectFileOutput(**where(target.key)))
            else:
                file_type = _FILE_TYPE.get(
                    PurePosixPath(target.key).suffix.lower(),
                    lk_egress.EncodedFileType.DEFAULT_FILETYPE,
                )
                files.append(lk_egress.EncodedFileOutput(file_type=file_type, **where(target.key)))
        elif isinstance(target, SegmentsTarget):
            # Both names are full storage paths, in the same directory (the service
            # puts them there), which is what LiveKit egress expects.
            playlist = where(target.playlist_key)
            prefix = where(target.segment_prefix)["filepath"]
            playlist["playlist_name"] = playlist.pop("filepath")
            segments.append(
                lk_egress.SegmentedFileOutput(
                    protocol=lk_egress.SegmentedFileProtocol.HLS_PROTOCOL,
                    filename_prefix=prefix,
                    segment_duration=target.segment_duration,
                    **playlist,
                )
            )
        elif isinstance(target, StreamTarget):
            streams.append(
                lk_egress.StreamOutput(protocol=lk_egress.StreamProtocol.RTMP, urls=target.urls)
            )
    if request.kind == "track":
        # TrackEgressRequest has a single `file` (the port's rules allow only that).
        return {"file": files[0]} if files else {}
    fields: dict[str, Any] = {}
    if files:
        fields["file_outputs"] = files
    if segments:
        fields["segment_outputs"] = segments
    if streams:
        fields["stream_outputs"] = streams
    return fields


def egress_request(request: EgressRequest) -> tuple[str, Any]:
    """The SDK method name and the request message for ``request``."""
    outputs = _outputs(request)
    room = request.room_name or ""
    if request.kind == "room_composite":
        return "start_room_composite_egress", lk_egress.RoomCompositeEgressRequest(
            room_name=room,
            layout=request.layout or "",
            audio_only=request.audio_only,
            video_only=request.video_only,
            **outputs,
        )
    if request.kind == "web":
        return "start_web_egress", lk_egress.WebEgressRequest(
            url=request.url or "",
            audio_only=request.audio_only,
            video_only=request.video_only,
            **outputs,
        )
    if request.kind == "participant":
        return "start_participant_egress", lk_egress.ParticipantEgressRequest(
            room_name=room, identity=request.participant_identity or "", **outputs
        )
    if request.kind == "track_composite":
        return "start_track_composite_egress", lk_egress.TrackCompositeEgressRequest(
            room_name=room,
            audio_track_id=request.audio_track_id or "",
            video_track_id=request.video_track_id or "",
            **outputs,
        )
    if request.kind == "track":
        return "start_track_egress", lk_egress.TrackEgressRequest(
            room_name=room, track_id=request.track_id or "", **outputs
        )
    raise InvalidInput(f"unknown egress kind {request.kind!r}", field="kind")


def ingress_request(request: IngressRequest) -> lk_ingress.CreateIngressRequest:
    """LiveKit's request to create the ingress ``request`` describes."""
    return lk_ingress.CreateIngressRequest(
        input_type=_INPUT[request.type],
        name=request.name or "",
        room_name=request.room_name,
        participant_identity=request.participant_identity,
        participant_name=request.participant_name or "",
        url=request.url or "",
    )


__all__ = ["egress_info", "egress_request", "ingress_info", "ingress_request"]
