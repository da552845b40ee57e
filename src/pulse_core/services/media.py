"""Media control for a project: egress, ingress and recordings.

Tenancy. Every method takes the authenticated :class:`~pulse_core.models.Project`
first. Rooms are namespaced on the way in (:func:`pulse_core.rooms.to_livekit`), and
every egress and ingress is recorded with its owner when it is created, so an id of
another project is a ``NotFound`` found in Pulse's own records, before the media
engine is ever asked about it, and lists only ever read the caller's records.

Storage layout. A project's recordings live under its own prefix::

    projects/<project id>/recordings/rooms/<room>/<filepath>    egress of a room
    projects/<project id>/recordings/web/<filepath>             web egress

``<room>`` is the caller's room name with ``%`` written ``%25`` and a leading ``.``
written ``%2E`` (so ``.`` and ``..`` are valid key segments and the mapping stays
reversible). A file output's ``filepath`` is relative to that directory and can never
leave it: it is checked segment by segment (no ``..``, ``.``, empty segments, ``\\``,
control characters or LiveKit ``{templates}``), so the key Pulse predicts is the key
the file lands at.

Recording ids. ``rec_`` + unpadded base64url of the file's key relative to the
project's ``recordings/`` directory. Opaque to callers; resolving one always re-roots
it under the *caller's* prefix and re-checks the key rules, so an id of another
project (or a forged one with ``..``) names a file that does not exist: ``NotFound``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Final
from urllib.parse import unquote, urlsplit

import msgspec

from pulse_core import ids, rooms
from pulse_core.errors import Conflict, InvalidInput, NotFound, PulseError
from pulse_core.models import Page, Project
from pulse_core.models.media import (
    EGRESS_KINDS,
    INGRESS_TYPES,
    Egress,
    EgressKind,
    EgressOutput,
    FileOutput,
    HlsOutput,
    Ingress,
    IngressType,
    Recording,
    RecordingUrl,
    RtmpOutput,
)
from pulse_core.ports.clock import Clock
from pulse_core.ports.media import (
    PULL_SCHEMES,
    RTMP_SCHEMES,
    EgressInfo,
    EgressRequest,
    EgressTarget,
    FileTarget,
    IngressInfo,
    IngressRequest,
    MediaEngine,
    SegmentsTarget,
    StreamTarget,
)
from pulse_core.ports.media_records import EgressRecordRepository, IngressRecordRepository
from pulse_core.ports.storage import (
    MAX_URL_EXPIRY_SECONDS,
    EgressUploadTarget,
    ObjectStorage,
    StoredObject,
    validate_key,
)
from pulse_core.services import pagination, validation

#: Longest ``filepath`` (characters) or HLS ``path`` a caller may give.
MAX_FILEPATH_LENGTH: Final = 512
#: Longest path segment in bytes: what common filesystems allow (local storage).
MAX_SEGMENT_BYTES: Final = 255
MAX_STREAM_URLS: Final = 5
MAX_URL_LENGTH: Final = 2048
MAX_IDENTITY_LENGTH: Final = 256
MAX_TRACK_ID_LENGTH: Final = 128
MAX_LAYOUT_LENGTH: Final = 64
DEFAULT_SEGMENT_DURATION: Final = 6
MAX_SEGMENT_DURATION: Final = 60
DEFAULT_URL_EXPIRY_SECONDS: Final = 3600
#: Extensions a file output may have: what LiveKit egress writes (encoded files: MP4,
#: OGG, MP3; single tracks: their codec's container, WebM included). Anything else
#: (``.html``!) would be served back from a Pulse URL; media only.
FILE_EXTENSIONS: Final = frozenset({".mp4", ".ogg", ".mp3", ".webm"})
RECORDING_PREFIX: Final = "rec_"

# The source fields of StartEgress, and which of them each kind takes (others must be
# absent: a field silently ignored is a recording the caller did not ask for).
_SOURCE_FIELDS = (
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
_SOURCE_FIELDS_OF: Final[dict[str, frozenset[str]]] = {
    "room_composite": frozenset({"room", "layout", "audio_only", "video_only"}),
    "track_composite": frozenset({"room", "audio_track_id", "video_track_id"}),
    "track": frozenset({"room", "track_id"}),
    "participant": frozenset({"room", "participant_identity"}),
    "web": frozenset({"url", "audio_only", "video_only"}),
}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_ENGINE_GONE = "the media server no longer knows this egress"


# -- requests --------------------------------------------------------------------------


class FileOutputSpec(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="file"):
    """Record to a file in the project's storage. ``filepath`` is relative to the room's
    recordings; default ``<egress id>.mp4`` (``.ogg`` audio only, ``.webm`` a track).
    Without an extension, the default one is added."""

    filepath: str | None = None


class HlsOutputSpec(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="hls"):
    """HLS into directory ``path`` (default: the egress id) of the room's recordings:
    ``<path>/index.m3u8`` and ``<path>/segment_<n>.ts``."""

    path: str | None = None
    segment_duration: int | None = None


class RtmpOutputSpec(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="rtmp"):
    """Stream live to 1..:data:`MAX_STREAM_URLS` ``rtmp://`` / ``rtmps://`` URLs."""

    urls: list[str]


OutputSpec = FileOutputSpec | HlsOutputSpec | RtmpOutputSpec


class StartEgress(msgspec.Struct, frozen=True, kw_only=True):
    """What to record or stream. Source fields per ``kind``:

    - ``room_composite``: ``room``; optional ``layout``, ``audio_only`` / ``video_only``;
    - ``track_composite``: ``room`` and ``audio_track_id`` and/or ``video_track_id``;
    - ``track``: ``room`` and ``track_id``; file output only;
    - ``participant``: ``room`` and ``participant_identity``;
    - ``web``: ``url`` (http or https) and no ``room``; optional ``audio_only`` /
      ``video_only``.

    A field that does not belong to the kind is rejected, not ignored.
    """

    kind: str = "room_composite"
    room: str | None = None
    output: OutputSpec = msgspec.field(default_factory=FileOutputSpec)
    layout: str | None = None
    audio_only: bool = False
    video_only: bool = False
    url: str | None = None
    participant_identity: str | None = None
    track_id: str | None = None
    audio_track_id: str | None = None
    video_track_id: str | None = None


class CreateIngress(msgspec.Struct, frozen=True, kw_only=True):
    """An ingest endpoint publishing into ``room`` as ``participant_identity``.
    ``url`` is the source of a ``url`` (pull) ingress and must be absent otherwise."""

    room: str
    type: str
    participant_identity: str
    participant_name: str | None = None
    url: str | None = None


# -- pure helpers ----------------------------------------------------------------------


def _identifier(value: str | None, field: str, *, max_length: int) -> str:
    """An opaque identifier (participant identity, track id): exact, not stripped."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{field} is required", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters", field=field)
    if validation.has_control(value):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    return value


def _absent(value: object, field: str, kind: str) -> None:
    if value not in (None, False):
        raise InvalidInput(f"{field} does not apply to {kind} egress", field=field)


def _relative_path(value: str, field: str) -> str:
    """A relative ``/``-separated path that stays where it is put (rules in the module
    docstring); ``InvalidInput`` naming ``field`` otherwise."""
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


def _stream_url(value: str, field: str) -> str:
    return validation.url(value, field, schemes=RTMP_SCHEMES, max_length=MAX_URL_LENGTH)


def _pull_url(value: str | None, field: str) -> str:
    if not value:
        raise InvalidInput(f"{field} is required for a url ingress", field=field)
    return validation.url(value, field, schemes=PULL_SCHEMES, max_length=MAX_URL_LENGTH)


def _mask(secret: str) -> str:
    return f"***{secret[-4:]}" if len(secret) >= 16 else "***"


def redact_stream_url(url: str) -> str:
    """``url`` with what may be a credential hidden: the stream key (last path
    segment: ``***`` plus its last four characters when it has at least 16), any
    user-info and the query string; the scheme, host and application stay readable
    (``rtmp://a.rtmp.youtube.com/live2/***9f3k``)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    segments = parts.path.split("/")
    for i in range(len(segments) - 1, -1, -1):
        if segments[i]:
            segments[i] = _mask(segments[i])
            break
    query = "***" if parts.query else ""
    redacted = f"{parts.scheme}://{netloc}{'/'.join(segments)}"
    return f"{redacted}?{query}" if query else redacted


def room_directory(room: str | None) -> str:
    """The directory (ending with ``/``) of ``room``'s recordings under a project's
    ``recordings/`` prefix; ``web/`` for web egress (``room`` None)."""
    if room is None:
        return "web/"
    segment = room.replace("%", "%25")
    if segment.startswith("."):
        segment = "%2E" + segment[1:]
    return f"rooms/{segment}/"


def recordings_prefix(project_id: str) -> str:
    """Where every recording of ``project_id`` lives in storage."""
    return f"projects/{project_id}/recordings/"


def recording_id(relative_key: str) -> str:
    """The opaque id of the file at ``relative_key`` (relative to the recordings prefix)."""
    encoded = base64.urlsafe_b64encode(relative_key.encode("utf-8")).rstrip(b"=")
    return RECORDING_PREFIX + encoded.decode("ascii")


def recording_key(recording: str) -> str | None:
    """The relative key a :func:`recording_id` names, or None for anything that is not
    one (wrong prefix, bad base64, a non-canonical encoding, a key breaking the rules)."""
    if not isinstance(recording, str) or not recording.startswith(RECORDING_PREFIX):
        return None
    body = recording[len(RECORDING_PREFIX) :]
    # 1024 key bytes take at most 1366 base64 characters; refuse more before decoding.
    if len(body) > 1400 or _BASE64URL.fullmatch(body) is None:
        return None
    try:
        relative = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
        validate_key(relative)
    except (binascii.Error, ValueError, InvalidInput):  # UnicodeDecodeError is a ValueError
        return None
    # One id per file: an alternative encoding of the same bytes is not an id.
    return relative if recording_id(relative) == recording else None


def _recording_of(prefix: str, stored: StoredObject) -> Recording:
    relative = stored.key[len(prefix) :]
    room: str | None = None
    path = relative
    if relative.startswith("rooms/"):
        segment, _, rest = relative[len("rooms/") :].partition("/")
        if rest:
            room, path = unquote(segment), rest
    elif relative.startswith("web/"):
        path = relative[len("web/") :]
    return Recording(
        id=recording_id(relative),
        room=room,
        path=path,
        size=stored.size,
        created_at=stored.last_modified,
    )


def _default_extension(kind: str, audio_only: bool) -> str:
    if kind == "track":
        return ".webm"
    return ".ogg" if audio_only else ".mp4"


# -- the service -----------------------------------------------------------------------


class MediaService:
    """Egress, ingress and recordings of the calling project (module docstring).

    ``upload_target``: the storage's :class:`EgressUploadTarget` side when it has one
    (S3, R2, MinIO): file and HLS outputs then carry its upload configuration, so the
    media server writes them straight into the bucket Pulse lists. Without one (local
    directory, memory), the engine keeps them by its own means (the simulated engine
    writes them into this storage through the sink the container gives it).

    Errors: ``InvalidInput`` naming the field; ``NotFound`` for an id the project does
    not own (or that does not exist: never said which); ``Unavailable`` when the engine,
    the records or the storage cannot answer in time.
    """

    def __init__(
        self,
        engine: MediaEngine,
        egress_records: EgressRecordRepository,
        ingress_records: IngressRecordRepository,
        storage: ObjectStorage,
        clock: Clock,
        *,
        upload_target: EgressUploadTarget | None = None,
        url_expiry_seconds: int = DEFAULT_URL_EXPIRY_SECONDS,
    ) -> None:
        if not 1 <= url_expiry_seconds <= MAX_URL_EXPIRY_SECONDS:
            raise ValueError(f"url_expiry_seconds must be 1..{MAX_URL_EXPIRY_SECONDS}")
        self._engine = engine
        self._egress = egress_records
        self._ingress = ingress_records
        self._storage = storage
        self._clock = clock
        self._upload_target = upload_target
        self._url_expiry = url_expiry_seconds

    # -- egress ----------------------------------------------------------------------

    async def start_egress(self, project: Project, request: StartEgress) -> Egress:
        """Start recording or streaming (see :class:`StartEgress`) and record that
        ``project`` owns it. The egress comes back ``starting``."""
        kind = self._kind(request.kind)
        room, livekit_room, url = self._source(project, kind, request)
        now = self._clock.now()
        egress_id = ids.new_id(ids.EGRESS, now_ms=int(now.timestamp() * 1000))
        output, target = self._output(project, kind, room, egress_id, request)
        upload = None
        if self._upload_target is not None and not isinstance(target, StreamTarget):
            upload = await self._upload_target.egress_upload_config()
        info = await self._engine.start_egress(
            EgressRequest(
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
                upload=upload,
            )
        )
        egress = Egress(
            id=egress_id,
            project_id=project.id,
            engine_id=info.egress_id,
            kind=kind,
            room=room,
            livekit_room=livekit_room,
            status=info.status,
            outputs=[output],
            started_at=info.started_at or now,
            ended_at=info.ended_at,
            error=info.error,
            updated_at=now,
        )
        await self._record(
            self._egress.add(egress), undo=lambda: self._engine.stop_egress(info.egress_id)
        )
        return egress

    async def stop_egress(self, project: Project, egress_id: str) -> Egress:
        """Stop the project's egress; it comes back ``ending`` (then ``complete`` once
        its outputs are finished). Idempotent: stopping a stopped egress returns it."""
        egress = await self._own_egress(project, egress_id)
        if egress.ended or egress.status == "ending":
            return await self._refresh_egress(egress)
        try:
            info = await self._engine.stop_egress(egress.engine_id)
        except Conflict:
            # It stopped on its own (or through another request) since we last looked.
            return await self._refresh_egress(egress)
        except NotFound:
            return await self._egress_gone(egress)
        return await self._apply_egress(egress, info)

    async def get_egress(self, project: Project, egress_id: str) -> Egress:
        """The project's egress, refreshed from the engine unless it has ended."""
        return await self._refresh_egress(await self._own_egress(project, egress_id))

    async def list_egress(
        self,
        project: Project,
        *,
        room: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Egress]:
        """The project's egresses (of ``room`` when given), oldest first. Those not yet
        ended are refreshed with one engine call per room on the page."""
        size = pagination.check_limit(limit)
        after = pagination.check_cursor(cursor, ids.EGRESS)
        if room is not None:
            rooms.validate_room(room)
        rows = await self._egress.list_page(project.id, room=room, after=after, limit=size + 1)
        page = pagination.page_of(rows, size, lambda e: e.id)
        return Page(items=await self._refresh_egresses(page.items), next_cursor=page.next_cursor)

    # -- ingress ---------------------------------------------------------------------

    async def create_ingress(self, project: Project, request: CreateIngress) -> Ingress:
        """Create an RTMP, WHIP or URL-pull ingress into the project's ``room``."""
        if request.type not in INGRESS_TYPES:
            raise InvalidInput(f"type must be one of {', '.join(INGRESS_TYPES)}", field="type")
        ingress_type: IngressType = request.type  # type: ignore[assignment]
        livekit_room = rooms.to_livekit(project.id, request.room)
        identity = _identifier(
            request.participant_identity, "participant_identity", max_length=MAX_IDENTITY_LENGTH
        )
        name = None
        if request.participant_name is not None:
            name = _identifier(
                request.participant_name, "participant_name", max_length=MAX_IDENTITY_LENGTH
            )
        url = None
        if ingress_type == "url":
            url = _pull_url(request.url, "url")
        elif request.url is not None:
            raise InvalidInput("only a url ingress takes a url", field="url")
        now = self._clock.now()
        ingress_id = ids.new_id(ids.INGRESS, now_ms=int(now.timestamp() * 1000))
        info = await self._engine.create_ingress(
            IngressRequest(
                type=ingress_type,
                room_name=livekit_room,
                participant_identity=identity,
                participant_name=name,
                url=url,
                name=ingress_id,
            )
        )
        ingress = Ingress(
            id=ingress_id,
            project_id=project.id,
            engine_id=info.ingress_id,
            type=ingress_type,
            room=request.room,
            livekit_room=livekit_room,
            url=info.url,
            stream_key=info.stream_key,
            participant_identity=identity,
            participant_name=name,
            status=info.status,
            created_at=now,
            updated_at=now,
        )
        await self._record(
            self._ingress.add(ingress), undo=lambda: self._engine.delete_ingress(info.ingress_id)
        )
        return ingress

    async def get_ingress(self, project: Project, ingress_id: str) -> Ingress:
        """The project's ingress, its status refreshed from the engine."""
        ingress = await self._own_ingress(project, ingress_id)
        try:
            info = await self._engine.get_ingress(ingress.engine_id)
        except NotFound:
            return ingress
        return await self._apply_ingress(ingress, info)

    async def delete_ingress(self, project: Project, ingress_id: str) -> None:
        """Delete the project's ingress (a connected publisher is cut off)."""
        ingress = await self._own_ingress(project, ingress_id)
        # Already gone from the engine: deleting the record finishes the job.
        with contextlib.suppress(NotFound):
            await self._engine.delete_ingress(ingress.engine_id)
        await self._ingress.delete(project.id, ingress.id)

    async def list_ingress(
        self,
        project: Project,
        *,
        room: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Ingress]:
        """The project's ingresses (of ``room`` when given), oldest first, their status
        refreshed with one engine call per room on the page."""
        size = pagination.check_limit(limit)
        after = pagination.check_cursor(cursor, ids.INGRESS)
        if room is not None:
            rooms.validate_room(room)
        rows = await self._ingress.list_page(project.id, room=room, after=after, limit=size + 1)
        page = pagination.page_of(rows, size, lambda i: i.id)
        items = []
        by_room: dict[str, dict[str, IngressInfo]] = {}
        for ingress in page.items:
            if ingress.livekit_room not in by_room:
                infos = await self._engine.list_ingress(room_name=ingress.livekit_room)
                by_room[ingress.livekit_room] = {i.ingress_id: i for i in infos}
            info = by_room[ingress.livekit_room].get(ingress.engine_id)
            items.append(ingress if info is None else await self._apply_ingress(ingress, info))
        return Page(items=items, next_cursor=page.next_cursor)

    # -- recordings ------------------------------------------------------------------

    async def list_recordings(
        self,
        project: Project,
        *,
        room: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Recording]:
        """Files in the project's recordings (of ``room`` when given), in key order
        (per room, then by path). Listed from storage, so a file shows up once the
        engine has finished writing it."""
        size = pagination.check_limit(limit)
        base = recordings_prefix(project.id)
        prefix = base
        if room is not None:
            prefix += room_directory(rooms.validate_room(room))
        after = None
        if cursor:
            relative = recording_key(cursor)
            if relative is None:
                raise InvalidInput("cursor is not a cursor this list returned", field="cursor")
            after = base + relative
        found = await self._storage.list(prefix=prefix, limit=size + 1, after=after)
        recordings = [_recording_of(base, stored) for stored in found]
        return pagination.page_of(recordings, size, lambda r: r.id)

    async def recording_url(
        self, project: Project, recording: str, *, expires_in: int | None = None
    ) -> RecordingUrl:
        """A download URL for the project's recording, valid ``expires_in`` seconds
        (default: the service's, 1 hour; at most 7 days)."""
        seconds = self._url_expiry if expires_in is None else expires_in
        if isinstance(seconds, bool) or not 1 <= seconds <= MAX_URL_EXPIRY_SECONDS:
            raise InvalidInput(
                f"expires_in must be between 1 and {MAX_URL_EXPIRY_SECONDS} seconds",
                field="expires_in",
            )
        relative = recording_key(recording)
        if relative is None:
            raise NotFound("recording not found")
        # Whole seconds, rounded down: never later than the URL's own expiry.
        now = self._clock.now().replace(microsecond=0)
        try:
            url = await self._storage.presigned_url(
                recordings_prefix(project.id) + relative, expires_in=seconds
            )
        except (NotFound, InvalidInput):
            # InvalidInput: a key this storage cannot hold (too long with its prefix),
            # so it holds no such recording either.
            raise NotFound("recording not found") from None
        return RecordingUrl(url=url, expires_at=now + timedelta(seconds=seconds))

    # -- internals: egress -----------------------------------------------------------

    @staticmethod
    def _kind(kind: str) -> EgressKind:
        if kind not in EGRESS_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(EGRESS_KINDS)}", field="kind")
        return kind  # type: ignore[return-value]

    @staticmethod
    def _source(
        project: Project, kind: EgressKind, request: StartEgress
    ) -> tuple[str | None, str | None, str | None]:
        """``(room, livekit_room, url)`` after checking the source fields of ``kind``."""
        accepted = _SOURCE_FIELDS_OF[kind]
        for name in _SOURCE_FIELDS:
            if name not in accepted:
                _absent(getattr(request, name), name, kind)
        if request.audio_only and request.video_only:
            raise InvalidInput("audio_only and video_only exclude each other", field="video_only")
        if request.layout is not None:
            _identifier(request.layout, "layout", max_length=MAX_LAYOUT_LENGTH)
        if kind == "participant":
            _identifier(
                request.participant_identity, "participant_identity", max_length=MAX_IDENTITY_LENGTH
            )
        if kind == "track":
            _identifier(request.track_id, "track_id", max_length=MAX_TRACK_ID_LENGTH)
        if kind == "track_composite":
            if request.audio_track_id is None and request.video_track_id is None:
                raise InvalidInput(
                    "track_composite needs audio_track_id or video_track_id",
                    field="audio_track_id",
                )
            for name in ("audio_track_id", "video_track_id"):
                value = getattr(request, name)
                if value is not None:
                    _identifier(value, name, max_length=MAX_TRACK_ID_LENGTH)
        if kind == "web":
            return None, None, _web_url(request.url)
        if request.room is None:
            raise InvalidInput("room is required", field="room")
        return request.room, rooms.to_livekit(project.id, request.room), None

    @staticmethod
    def _output(
        project: Project,
        kind: EgressKind,
        room: str | None,
        egress_id: str,
        request: StartEgress,
    ) -> tuple[EgressOutput, EgressTarget]:
        """The output as recorded (what callers see) and as the engine gets it."""
        spec = request.output
        base = recordings_prefix(project.id)
        directory = room_directory(room)
        if len(directory.encode("utf-8")) - len("rooms//") > MAX_SEGMENT_BYTES:
            raise InvalidInput("room name is too long to record to storage", field="room")
        if kind == "track" and not isinstance(spec, FileOutputSpec):
            raise InvalidInput("track egress can only record to a file", field="output.type")
        if isinstance(spec, FileOutputSpec):
            default_ext = _default_extension(kind, request.audio_only)
            if spec.filepath is None:
                filepath = egress_id + default_ext
            else:
                filepath = _relative_path(spec.filepath, "output.filepath")
                extension = PurePosixPath(filepath).suffix.lower()
                if not extension:
                    filepath += default_ext
                elif extension not in FILE_EXTENSIONS:
                    raise InvalidInput(
                        "output.filepath must end with one of "
                        + ", ".join(sorted(FILE_EXTENSIONS)),
                        field="output.filepath",
                    )
            relative = _key(directory + filepath, "output.filepath", base)
            return (
                FileOutput(filepath=filepath, recording_id=recording_id(relative)),
                FileTarget(key=base + relative),
            )
        if isinstance(spec, HlsOutputSpec):
            path = egress_id if spec.path is None else _relative_path(spec.path, "output.path")
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
                    playlist=playlist,
                    recording_id=recording_id(relative),
                    segment_duration=duration,
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
        return (
            RtmpOutput(urls=[redact_stream_url(u) for u in urls]),
            StreamTarget(urls=urls),
        )

    async def _own_egress(self, project: Project, egress_id: str) -> Egress:
        egress = None
        if isinstance(egress_id, str) and ids.is_valid_id(egress_id, ids.EGRESS):
            egress = await self._egress.get(project.id, egress_id)
        if egress is None:
            raise NotFound("egress not found")
        return egress

    async def _refresh_egress(self, egress: Egress) -> Egress:
        if egress.ended:
            return egress
        try:
            info = await self._engine.get_egress(egress.engine_id)
        except NotFound:
            return await self._egress_gone(egress)
        return await self._apply_egress(egress, info)

    async def _refresh_egresses(self, egresses: list[Egress]) -> list[Egress]:
        by_room: dict[str, dict[str, EgressInfo]] = {}
        refreshed = []
        for egress in egresses:
            if egress.ended:
                refreshed.append(egress)
                continue
            if egress.livekit_room is None:
                refreshed.append(await self._refresh_egress(egress))
                continue
            if egress.livekit_room not in by_room:
                infos = await self._engine.list_egress(room_name=egress.livekit_room)
                by_room[egress.livekit_room] = {i.egress_id: i for i in infos}
            info = by_room[egress.livekit_room].get(egress.engine_id)
            refreshed.append(
                await self._egress_gone(egress)
                if info is None
                else await self._apply_egress(egress, info)
            )
        return refreshed

    async def _apply_egress(self, egress: Egress, info: EgressInfo) -> Egress:
        updated = msgspec.structs.replace(
            egress,
            status=info.status,
            ended_at=info.ended_at or egress.ended_at,
            error=info.error or egress.error,
        )
        if updated.ended and updated.ended_at is None:
            updated = msgspec.structs.replace(updated, ended_at=self._clock.now())
        return await self._save_egress(egress, updated)

    async def _egress_gone(self, egress: Egress) -> Egress:
        """An egress the engine forgot (restarted, purged) while Pulse thought it ran."""
        if egress.ended:
            return egress
        now = self._clock.now()
        updated = msgspec.structs.replace(
            egress, status="aborted", ended_at=now, error=_ENGINE_GONE
        )
        return await self._save_egress(egress, updated)

    async def _save_egress(self, old: Egress, new: Egress) -> Egress:
        if new == old:
            return old
        new = msgspec.structs.replace(new, updated_at=self._clock.now())
        await self._egress.update(new)
        return new

    # -- internals: ingress ----------------------------------------------------------

    async def _own_ingress(self, project: Project, ingress_id: str) -> Ingress:
        ingress = None
        if isinstance(ingress_id, str) and ids.is_valid_id(ingress_id, ids.INGRESS):
            ingress = await self._ingress.get(project.id, ingress_id)
        if ingress is None:
            raise NotFound("ingress not found")
        return ingress

    async def _apply_ingress(self, ingress: Ingress, info: IngressInfo) -> Ingress:
        if info.status == ingress.status:
            return ingress
        updated = msgspec.structs.replace(ingress, status=info.status, updated_at=self._clock.now())
        await self._ingress.update(updated)
        return updated

    # -- internals: both -------------------------------------------------------------

    @staticmethod
    async def _record(write: Awaitable[None], *, undo: Callable[[], Awaitable[object]]) -> None:
        """Write an ownership record of something the engine already made; if the write
        fails, undo it on the engine (best effort) so nothing runs that no project owns."""
        try:
            await write
        except PulseError:
            # The original failure is the one the caller must hear about.
            with contextlib.suppress(PulseError):
                await undo()
            raise


def _web_url(value: str | None) -> str:
    if not value:
        raise InvalidInput("url is required for web egress", field="url")
    return validation.url(value, "url", schemes=("http", "https"), max_length=MAX_URL_LENGTH)


def _key(relative: str, field: str, base: str) -> str:
    """``relative`` if ``base + relative`` is a valid storage key, else ``InvalidInput``
    naming ``field`` (the key rules bound the whole key at 1024 bytes)."""
    try:
        validate_key(base + relative)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc.detail}", field=field) from None
    return relative


__all__ = [
    "DEFAULT_URL_EXPIRY_SECONDS",
    "CreateIngress",
    "FileOutputSpec",
    "HlsOutputSpec",
    "MediaService",
    "OutputSpec",
    "RtmpOutputSpec",
    "StartEgress",
    "recording_id",
    "recording_key",
    "redact_stream_url",
    "room_directory",
]
