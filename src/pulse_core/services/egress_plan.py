"""The egress plan: a :class:`~pulse_core.models.media.StartEgress` checked, and what it
becomes. Pure functions, no I/O; :func:`plan_egress` is the whole of it.

Source. Each ``kind`` takes its own source fields (:data:`SOURCE_FIELDS_OF`); the others
must be absent, because a field silently ignored is a recording the caller did not ask
for. Rooms are namespaced on the way to the engine (:func:`pulse_core.rooms.to_livekit`).

Output. File and HLS outputs go to the project's recordings, at the key the recordings
layout gives (:mod:`pulse_core.recordings`), and the record carries the ``rec_…`` id the
finished file will have. RTMP outputs are recorded with their URLs redacted
(:func:`redact_stream_url`); the engine alone gets them in full.

Path rules. A file output's ``filepath`` (an HLS ``path``) is relative to the room's
directory and can never leave it: :func:`relative_path` checks it segment by segment (no
``..``, ``.``, empty segments, ``\\``, control characters or LiveKit ``{templates}``), so
the key Pulse predicts is the key the file lands at.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Final
from urllib.parse import urlsplit

import msgspec

from pulse_core import rooms
from pulse_core.errors import InvalidInput
from pulse_core.models.media import (
    EGRESS_KINDS,
    EgressKind,
    EgressOutput,
    FileOutput,
    FileOutputSpec,
    HlsOutput,
    HlsOutputSpec,
    RtmpOutput,
    StartEgress,
)
from pulse_core.ports.media import (
    RTMP_SCHEMES,
    EgressRequest,
    EgressTarget,
    FileTarget,
    SegmentsTarget,
    StreamTarget,
)
from pulse_core.ports.storage import validate_key
from pulse_core.recordings import (
    MAX_SEGMENT_BYTES,
    recording_id,
    recordings_prefix,
    room_directory,
)
from pulse_core.services import validation

#: Longest ``filepath`` (characters) or HLS ``path`` a caller may give.
MAX_FILEPATH_LENGTH: Final = 512
MAX_STREAM_URLS: Final = 5
MAX_URL_LENGTH: Final = 2048
MAX_IDENTITY_LENGTH: Final = 256
MAX_TRACK_ID_LENGTH: Final = 128
MAX_LAYOUT_LENGTH: Final = 64
DEFAULT_SEGMENT_DURATION: Final = 6
MAX_SEGMENT_DURATION: Final = 60
#: Extensions a file output may have: what LiveKit egress writes (encoded files: MP4,
#: OGG, MP3; single tracks: their codec's container, WebM included). Anything else
#: (``.html``!) would be served back from a Pulse URL; media only.
FILE_EXTENSIONS: Final = frozenset({".mp4", ".ogg", ".mp3", ".webm"})

#: The source fields of StartEgress, in the order they are checked.
SOURCE_FIELDS: Final = (
    "room",
    "layout",
    "audio_only",
    "video_only",
    "url",
    "participant_identity",
    "track_id",
    "audio_track_id",
    "video_track_id",
)
#: Which source fields each kind takes.
SOURCE_FIELDS_OF: Final[dict[str, frozenset[str]]] = {
    "room_composite": frozenset({"room", "layout", "audio_only", "video_only"}),
    "track_composite": frozenset({"room", "audio_track_id", "video_track_id"}),
    "track": frozenset({"room", "track_id"}),
    "participant": frozenset({"room", "participant_identity"}),
    "web": frozenset({"url", "audio_only", "video_only"}),
}


class EgressPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A checked start-egress request.

    ``room`` is the caller's room (None for ``web``); ``output`` the output as Pulse
    records it (what callers see); ``request`` what the engine is asked, without an
    ``upload`` (the service adds its storage's when :attr:`writes_files`).
    """

    kind: EgressKind
    room: str | None
    output: EgressOutput
    request: EgressRequest

    @property
    def livekit_room(self) -> str | None:
        return self.request.room_name

    @property
    def writes_files(self) -> bool:
        """Whether the engine writes into storage (file and HLS outputs, not RTMP)."""
        return not any(isinstance(target, StreamTarget) for target in self.request.outputs)


def plan_egress(project_id: str, request: StartEgress, egress_id: str) -> EgressPlan:
    """``request`` of project ``project_id`` checked, for the egress Pulse will call
    ``egress_id`` (it names the default outputs). ``InvalidInput`` naming the first
    field that breaks a rule: kind, then source, then output."""
    kind = egress_kind(request.kind)
    room, livekit_room, url = egress_source(project_id, kind, request)
    output, target = egress_output(project_id, kind, room, egress_id, request)
    return EgressPlan(
        kind=kind,
        room=room,
        output=output,
        request=EgressRequest(
            kind=kind,
            outputs=[target],
            room_name=livekit_room,
            url=url,
            participant_identity=request.participant_identity,
            track_id=request.track_id,
            audio_track_id=request.audio_track_id,
            video_track_id=request.video_track_id,
            layout=request.layout,
            audio_only=request.audio_only,
            video_only=request.video_only,
        ),
    )


def egress_kind(kind: str) -> EgressKind:
    if kind not in EGRESS_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(EGRESS_KINDS)}", field="kind")
    return kind  # type: ignore[return-value]


def egress_source(
    project_id: str, kind: EgressKind, request: StartEgress
) -> tuple[str | None, str | None, str | None]:
    """``(room, livekit_room, url)`` after checking the source fields of ``kind``."""
    accepted = SOURCE_FIELDS_OF[kind]
    for name in SOURCE_FIELDS:
        if name not in accepted:
            _absent(getattr(request, name), name, kind)
    if request.audio_only and request.video_only:
        raise InvalidInput("audio_only and video_only exclude each other", field="video_only")
    if request.layout is not None:
        identifier(request.layout, "layout", max_length=MAX_LAYOUT_LENGTH)
    if kind == "participant":
        identifier(
            request.participant_identity, "participant_identity", max_length=MAX_IDENTITY_LENGTH
        )
    if kind == "track":
        identifier(request.track_id, "track_id", max_length=MAX_TRACK_ID_LENGTH)
    if kind == "track_composite":
        if request.audio_track_id is None and request.video_track_id is None:
            raise InvalidInput(
                "track_composite needs audio_track_id or video_track_id", field="audio_track_id"
            )
        for name in ("audio_track_id", "video_track_id"):
            value = getattr(request, name)
            if value is not None:
                identifier(value, name, max_length=MAX_TRACK_ID_LENGTH)
    if kind == "web":
        return None, None, _web_url(request.url)
    if request.room is None:
        raise InvalidInput("room is required", field="room")
    return request.room, rooms.to_livekit(project_id, request.room), None


def egress_output(
    project_id: str, kind: EgressKind, room: str | None, egress_id: str, request: StartEgress
) -> tuple[EgressOutput, EgressTarget]:
    """The output as recorded (what callers see) and as the engine gets it."""
    spec = request.output
    base = recordings_prefix(project_id)
    directory = room_directory(room)
    if len(directory.encode("utf-8")) - len("rooms//") > MAX_SEGMENT_BYTES:
        raise InvalidInput("room name is too long to record to storage", field="room")
    if kind == "track" and not isinstance(spec, FileOutputSpec):
        raise InvalidInput("track egress can only record to a file", field="output.type")
    if isinstance(spec, FileOutputSpec):
        default_ext = default_extension(kind, request.audio_only)
        if spec.filepath is None:
            filepath = egress_id + default_ext
        else:
            filepath = relative_path(spec.filepath, "output.filepath")
            extension = PurePosixPath(filepath).suffix.lower()
            if not extension:
                filepath += default_ext
            elif extension not in FILE_EXTENSIONS:
                raise InvalidInput(
                    "output.filepath must end with one of " + ", ".join(sorted(FILE_EXTENSIONS)),
                    field="output.filepath",
                )
        relative = _key(directory + filepath, "output.filepath", base)
        return (
            FileOutput(filepath=filepath, recording_id=recording_id(relative)),
            FileTarget(key=base + relative),
        )
    if isinstance(spec, HlsOutputSpec):
        path = egress_id if spec.path is None else relative_path(spec.path, "output.path")
        duration = DEFAULT_SEGMENT_DURATION
        if spec.segment_duration is not None:
            duration = spec.segment_duration
            if isinstance(duration, bool) or not 1 <= duration <= MAX_SEGMENT_DURATION:
                raise InvalidInput(
                    f"output.segment_duration must be between 1 and {MAX_SEGMENT_DURATION}",
                    field="output.segment_duration",
                )
        playlist = f"{path}/index.m3u8"
        relative = _key(directory + playlist, "output.path", base)
        segments = _key(f"{directory}{path}/segment", "output.path", base)
        return (
            HlsOutput(
                playlist=playlist, recording_id=recording_id(relative), segment_duration=duration
            ),
            SegmentsTarget(
                playlist_key=base + relative,
                segment_prefix=base + segments,
                segment_duration=duration,
            ),
        )
    if not isinstance(spec.urls, list) or not 1 <= len(spec.urls) <= MAX_STREAM_URLS:
        raise InvalidInput(
            f"output.urls must hold 1 to {MAX_STREAM_URLS} URLs", field="output.urls"
        )
    urls = [_stream_url(u, f"output.urls[{i}]") for i, u in enumerate(spec.urls)]
    return RtmpOutput(urls=[redact_stream_url(u) for u in urls]), StreamTarget(urls=urls)


def default_extension(kind: str, audio_only: bool) -> str:
    if kind == "track":
        return ".webm"
    return ".ogg" if audio_only else ".mp4"


def relative_path(value: str, field: str) -> str:
    """``value`` unchanged if it is a relative ``/``-separated path that stays where it
    is put (rules in the module docstring); ``InvalidInput`` naming ``field`` otherwise."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    if len(value) > MAX_FILEPATH_LENGTH:
        raise InvalidInput(f"{field} must be at most {MAX_FILEPATH_LENGTH} characters", field=field)
    if validation.has_control(value):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    if value.startswith("/"):
        raise InvalidInput(f"{field} must be relative (no leading /)", field=field)
    if "\\" in value:
        raise InvalidInput(f"{field} must use / as separator, not \\", field=field)
    if "{" in value or "}" in value:
        # LiveKit expands {room_name}, {time}... in file names; Pulse must know the key.
        raise InvalidInput(f"{field} must not contain {{ or }} (templates)", field=field)
    for segment in value.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidInput(
                f"{field} must not have empty, '.' or '..' segments or a trailing /",
                field=field,
            )
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidInput(
                f"{field} segments must be at most {MAX_SEGMENT_BYTES} bytes", field=field
            )
    return value


def identifier(value: str | None, field: str, *, max_length: int) -> str:
    """An opaque identifier (participant identity, track id, layout): exact, not
    stripped. Ingress participants follow the same rule."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{field} is required", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters", field=field)
    if validation.has_control(value):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    return value


def redact_stream_url(url: str) -> str:
    """``url`` with what may be a credential hidden: the path after its first segment
    (the application), where the stream key is wherever a service puts it (``***`` plus
    its last four characters when it has at least 16), the whole path when it has one
    segment, any user-info and the query string; the scheme, host and application stay
    readable (``rtmp://a.rtmp.youtube.com/live2/***9f3k``)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    application, _, rest = parts.path.lstrip("/").partition("/")
    if rest:
        path = f"/{application}/{_mask(rest)}"
    elif application:
        path = "/" + _mask(application)
    else:
        path = parts.path
    query = "***" if parts.query else ""
    redacted = f"{parts.scheme}://{netloc}{path}"
    return f"{redacted}?{query}" if query else redacted


def _mask(secret: str) -> str:
    return f"***{secret[-4:]}" if len(secret) >= 16 else "***"


def _absent(value: object, field: str, kind: str) -> None:
    if value not in (None, False):
        raise InvalidInput(f"{field} does not apply to {kind} egress", field=field)


def _web_url(value: str | None) -> str:
    if not value:
        raise InvalidInput("url is required for web egress", field="url")
    return validation.url(value, "url", schemes=("http", "https"), max_length=MAX_URL_LENGTH)


def _stream_url(value: str, field: str) -> str:
    return validation.url(value, field, schemes=RTMP_SCHEMES, max_length=MAX_URL_LENGTH)


def _key(relative: str, field: str, base: str) -> str:
    """``relative`` if ``base + relative`` is a valid storage key, else ``InvalidInput``
    naming ``field`` (the key rules bound the whole key at 1024 bytes)."""
    try:
        validate_key(base + relative)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc.detail}", field=field) from None
    return relative


__all__ = [
    "DEFAULT_SEGMENT_DURATION",
    "FILE_EXTENSIONS",
    "MAX_FILEPATH_LENGTH",
    "MAX_IDENTITY_LENGTH",
    "MAX_LAYOUT_LENGTH",
    "MAX_SEGMENT_DURATION",
    "MAX_STREAM_URLS",
    "MAX_TRACK_ID_LENGTH",
    "MAX_URL_LENGTH",
    "SOURCE_FIELDS",
    "SOURCE_FIELDS_OF",
    "EgressPlan",
    "default_extension",
    "egress_kind",
    "egress_output",
    "egress_source",
    "identifier",
    "plan_egress",
    "redact_stream_url",
    "relative_path",
]
