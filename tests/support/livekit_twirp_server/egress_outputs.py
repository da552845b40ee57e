"""Egress outputs, as livekit/egress treats them: what a request asked for
(``_Outputs``), URL checks, stream-key and credential redaction (``redact_stream_url``),
and the synthetic file, segment and image results of a finished egress.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from google.protobuf.message import Message
from livekit.protocol import egress as lk_egress

from tests.support.livekit_twirp_server.state import _clone
from tests.support.livekit_twirp_server.twirp import TwirpFailure

_STREAM_SCHEMES: dict[int, tuple[str, ...]] = {
    lk_egress.StreamProtocol.DEFAULT_PROTOCOL: ("rtmp", "rtmps", "srt"),
    lk_egress.StreamProtocol.RTMP: ("rtmp", "rtmps"),
    lk_egress.StreamProtocol.SRT: ("srt",),
    lk_egress.StreamProtocol.WEBSOCKET: ("ws", "wss"),
}
_FILE_EXT = {
    lk_egress.EncodedFileType.MP4: ".mp4",
    lk_egress.EncodedFileType.OGG: ".ogg",
    lk_egress.EncodedFileType.MP3: ".mp3",
}
_RTMP_KEY = re.compile(r"^(rtmps?://)(.*/)(.*/)(\S*)( live=1)?$")


def _invalid(field_name: str) -> TwirpFailure:
    """livekit/egress wording for a missing or bad request field."""
    return TwirpFailure("invalid_argument", f"request has missing or invalid field: {field_name}")


def _redact_identifier(value: str) -> str:
    prefix = suffix = ""
    for i in (3, 2, 1):
        if len(value) >= i * 3:
            prefix, suffix = value[:i], value[-i:]
            break
    return f"{{{prefix}...{suffix}}}"


def redact_stream_url(url: str) -> str:
    """Hide an RTMP stream key the way LiveKit does in EgressInfo
    (``rtmp://host/app/abcdef123`` -> ``rtmp://host/app/{abc...123}``)."""
    match = _RTMP_KEY.match(url)
    if not match:
        return url
    parts = list(match.groups(default=""))
    parts[3] = _redact_identifier(parts[3])
    return "".join(parts)


def _check_stream_url(url: str, protocol: int) -> None:
    allowed = _STREAM_SCHEMES.get(protocol, _STREAM_SCHEMES[0])
    parsed = urlparse(url)
    if parsed.scheme not in allowed:
        raise TwirpFailure(
            "invalid_argument",
            f"invalid url {redact_stream_url(url)}: scheme must be one of {', '.join(allowed)}",
        )
    if not parsed.netloc:
        raise TwirpFailure("invalid_argument", f"invalid url {url}: missing host")


def _upload_field(output: Message) -> str | None:
    oneofs = {o.name for o in output.DESCRIPTOR.oneofs}
    return output.WhichOneof("output") if "output" in oneofs else None


def _redact_uploads(output: Message) -> None:
    """Storage credentials are starred out in the EgressInfo echo, as LiveKit does."""
    secret_fields = {
        "s3": ("access_key", "secret", "session_token"),
        "gcp": ("credentials",),
        "azure": ("account_key",),
        "aliOSS": ("access_key", "secret"),
    }
    which = _upload_field(output)
    if which in secret_fields:
        upload = getattr(output, which)
        for name in secret_fields[which]:
            value = getattr(upload, name)
            if value:
                setattr(upload, name, "*" * len(value))


def _location(output: Message, filename: str) -> str:
    """Where a finished file would live, derived from the output's upload config."""
    which = _upload_field(output)
    if which == "s3":
        s3 = output.s3  # type: ignore[attr-defined]
        if s3.endpoint:
            return f"{s3.endpoint.rstrip('/')}/{s3.bucket}/{filename}"
        return f"https://{s3.bucket}.s3.{s3.region or 'us-east-1'}.amazonaws.com/{filename}"
    if which == "gcp":
        return f"https://storage.googleapis.com/{output.gcp.bucket}/{filename}"  # type: ignore[attr-defined]
    if which == "azure":
        az = output.azure  # type: ignore[attr-defined]
        return f"https://{az.account_name}.blob.core.windows.net/{az.container_name}/{filename}"
    if which == "aliOSS":
        oss = output.aliOSS  # type: ignore[attr-defined]
        return f"https://{oss.bucket}.{oss.endpoint}/{filename}"
    return filename


def _render_name(template: str, info: lk_egress.EgressInfo, ext: str) -> str:
    """Expand LiveKit's filename templates and add a default extension, like egress does."""
    stamp = time.strftime("%Y-%m-%dT%H%M%S", time.gmtime(info.started_at / 1e9))
    name = template or "{room_name}-{time}"
    if name.endswith("/"):
        name += "{room_name}-{time}"
    for key, value in (
        ("{room_name}", info.room_name),
        ("{room_id}", info.room_id),
        ("{time}", stamp),
        ("{utc}", str(info.started_at // 1_000_000_000)),
    ):
        name = name.replace(key, value)
    if ext and "." not in name.rsplit("/", 1)[-1]:
        name += ext
    return name


@dataclass
class _Outputs:
    """The outputs one egress request asked for, flattened across legacy and list fields."""

    files: list[Message] = field(default_factory=list)
    streams: list[lk_egress.StreamOutput] = field(default_factory=list)
    segments: list[lk_egress.SegmentedFileOutput] = field(default_factory=list)
    images: list[lk_egress.ImageOutput] = field(default_factory=list)
    websocket_urls: list[str] = field(default_factory=list)
    legacy: str | None = None  # "file" / "stream" / "segments" when the deprecated oneof is used

    @classmethod
    def of(cls, req: Message) -> _Outputs:
        out = cls()
        names = {f.name for f in req.DESCRIPTOR.fields}
        oneofs = {o.name for o in req.DESCRIPTOR.oneofs}
        chosen = req.WhichOneof("output") if "output" in oneofs else None
        if chosen == "file":
            out.files.append(req.file)  # type: ignore[attr-defined]
            out.legacy = "file"
        elif chosen == "stream":
            out.streams.append(req.stream)  # type: ignore[attr-defined]
            out.legacy = "stream"
        elif chosen == "segments":
            out.segments.append(req.segments)  # type: ignore[attr-defined]
            out.legacy = "segments"
        elif chosen == "websocket_url":
            out.websocket_urls.append(req.websocket_url)  # type: ignore[attr-defined]
        for name, target in (
            ("file_outputs", out.files),
            ("stream_outputs", out.streams),
            ("segment_outputs", out.segments),
            ("image_outputs", out.images),
        ):
            if name in names:
                target.extend(getattr(req, name))
        return out

    def validate(self) -> None:
        if not (self.files or self.streams or self.segments or self.images or self.websocket_urls):
            raise _invalid("output")
        for stream in self.streams:
            if not stream.urls and not stream.destinations:
                raise _invalid("urls")
            for url in [*stream.urls, *(d.url for d in stream.destinations)]:
                _check_stream_url(url, stream.protocol)
        for url in self.websocket_urls:
            _check_stream_url(url, lk_egress.StreamProtocol.WEBSOCKET)

    def stream_targets(self) -> list[tuple[str, str]]:
        """(destination id, unredacted url) for every stream the egress pushes to."""
        targets = [("", u) for s in self.streams for u in s.urls]
        targets += [(d.id, d.url) for s in self.streams for d in s.destinations]
        return targets + [("", u) for u in self.websocket_urls]


def _finish_streams(info: lk_egress.EgressInfo, now: int, failed: bool) -> None:
    for stream in info.stream_results:
        if stream.status == lk_egress.StreamInfo.ACTIVE:
            stream.status = lk_egress.StreamInfo.FAILED if failed else lk_egress.StreamInfo.FINISHED
            stream.ended_at = now
            stream.duration = now - stream.started_at


def _fill_results(info: lk_egress.EgressInfo, outputs: _Outputs) -> None:
    """File/segment/image results of a finished egress; sizes are synthetic but non-zero."""
    started, ended = info.started_at, info.ended_at
    duration = max(ended - started, 1)
    seconds = duration / 1e9
    size = 1024 + duration // 1000
    audio_only = getattr(getattr(info, info.WhichOneof("request") or "web"), "audio_only", False)
    for out in outputs.files:
        file_type = getattr(out, "file_type", None)
        if file_type is None:  # track egress DirectFileOutput: extension follows the codec
            ext = ""
        else:
            ext = _FILE_EXT.get(file_type, ".ogg" if audio_only else ".mp4")
        filename = _render_name(out.filepath, info, ext)  # type: ignore[attr-defined]
        info.file_results.add(
            filename=filename,
            started_at=started,
            ended_at=ended,
            duration=duration,
            size=size,
            location=_location(out, filename),
        )
    for seg in outputs.segments:
        prefix = _render_name(seg.filename_prefix, info, "")
        playlist = _render_name(seg.playlist_name or f"{prefix}.m3u8", info, ".m3u8")
        live = _render_name(seg.live_playlist_name, info, ".m3u8") if seg.live_playlist_name else ""
        info.segment_results.add(
            playlist_name=playlist,
            live_playlist_name=live,
            duration=duration,
            size=size,
            playlist_location=_location(seg, playlist),
            live_playlist_location=_location(seg, live) if live else "",
            segment_count=max(1, math.ceil(seconds / (seg.segment_duration or 4))),
            started_at=started,
            ended_at=ended,
        )
    for img in outputs.images:
        info.image_results.add(
            filename_prefix=_render_name(img.filename_prefix, info, ""),
            image_count=max(1, int(seconds // (img.capture_interval or 10))),
            started_at=started,
            ended_at=ended,
        )
    if outputs.legacy == "file" and info.file_results:
        info.file.CopyFrom(info.file_results[0])
    elif outputs.legacy == "segments" and info.segment_results:
        info.segments.CopyFrom(info.segment_results[0])
    elif outputs.legacy == "stream":
        info.stream.info.extend(info.stream_results)


def _redacted_request(req: Message) -> Message:
    """The request as LiveKit echoes it inside EgressInfo: stream keys and secrets hidden."""
    echo = _clone(req)
    outputs = _Outputs.of(echo)
    for stream in outputs.streams:
        for i, url in enumerate(stream.urls):
            stream.urls[i] = redact_stream_url(url)
        for dest in stream.destinations:
            dest.url = redact_stream_url(dest.url)
    for out in [*outputs.files, *outputs.segments, *outputs.images]:
        _redact_uploads(out)
    return echo
