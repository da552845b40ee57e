"""The media engine: egress (recording, streaming out) and ingress (ingest) on the media
server (LiveKit, or a simulation of it).

The engine knows nothing of projects. Its ids are its own (LiveKit's ``EG_…``,
``IN_…``) and its room names are the namespaced ones (:func:`pulse_core.rooms.to_livekit`);
the media service maps both to the caller's and checks ownership before it ever calls
the engine.

Errors, shared by every method:

- ``NotFound``: the id is unknown to the engine.
- ``InvalidInput``: the engine rejected an argument (missing source field, stream URL
  with the wrong scheme, no output...). :func:`check_egress_request` and
  :func:`check_ingress_request` are the rules every engine enforces, LiveKit's own.
- ``Unavailable``: the engine is down, unreachable, too slow, or refused Pulse's own
  credentials. Raised within the adapter's timeout, never a hang, and after exactly one
  attempt: an engine never retries on its own (no retry storms against a struggling
  server; the caller decides).
"""

from __future__ import annotations

import abc
import builtins
from datetime import datetime
from urllib.parse import urlsplit

import msgspec

from pulse_core.errors import InvalidInput
from pulse_core.models.media import EgressKind, EgressStatus, IngressStatus, IngressType
from pulse_core.ports.storage import EgressUploadConfig

#: RTMP egress destinations: LiveKit's StreamProtocol.RTMP accepts exactly these.
RTMP_SCHEMES = ("rtmp", "rtmps")
#: URL-pull ingress sources LiveKit accepts.
PULL_SCHEMES = ("http", "https", "srt")


class FileTarget(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="file"):
    """One encoded file at storage key ``key`` (see :class:`EgressRequest.upload`)."""

    key: str


class SegmentsTarget(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="segments"):
    """HLS: the playlist at ``playlist_key``, segments ``<segment_prefix>_00000.ts`` …"""

    playlist_key: str
    segment_prefix: str
    segment_duration: int


class StreamTarget(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="stream"):
    """RTMP(S) destinations, stream keys included (``repr`` hides them)."""

    urls: list[str]

    def __repr__(self) -> str:
        return f"StreamTarget(urls=<{len(self.urls)} hidden>)"


EgressTarget = FileTarget | SegmentsTarget | StreamTarget


class EgressRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What to record or stream, and where to.

    Source fields per ``kind`` (LiveKit's rules, :func:`check_egress_request`):
    ``room_composite`` needs ``room_name`` (``layout``, ``audio_only``/``video_only``
    optional); ``web`` needs ``url``; ``participant`` needs ``room_name`` and
    ``participant_identity``; ``track_composite`` needs ``room_name`` and an audio or a
    video track id; ``track`` needs ``room_name`` and ``track_id`` and takes exactly one
    file output. Every kind needs at least one output.

    ``upload``: where file and segment outputs go. Given, the engine writes each target
    key to ``upload.object_key(key)`` in that bucket, which is where the
    :class:`~pulse_core.ports.storage.ObjectStorage` behind it will list it. None, the
    engine writes them wherever it keeps files of its own (the simulated engine hands
    them to its file sink; LiveKit writes to its egress worker's disk).
    """

    kind: EgressKind
    outputs: list[EgressTarget]
    room_name: str | None = None
    url: str | None = None
    participant_identity: str | None = None
    track_id: str | None = None
    audio_track_id: str | None = None
    video_track_id: str | None = None
    layout: str | None = None
    audio_only: bool = False
    video_only: bool = False
    upload: EgressUploadConfig | None = None


class EgressInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An egress as the engine reports it. Times are timezone-aware UTC; ``error`` is the
    engine's message for a failed (or limit-stopped) egress."""

    egress_id: str
    kind: EgressKind | None
    room_name: str | None
    status: EgressStatus
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None


class IngressRequest(msgspec.Struct, frozen=True, kw_only=True):
    """An ingest endpoint for ``room_name``. ``url`` is the source of a ``url`` (pull)
    ingress and must be absent otherwise; ``name`` is a label for the engine's tools."""

    type: IngressType
    room_name: str
    participant_identity: str
    participant_name: str | None = None
    url: str | None = None
    name: str | None = None


class IngressInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An ingest endpoint as the engine reports it: RTMP/WHIP publishers connect to
    ``url`` with ``stream_key``; a pull ingress has its source as ``url`` and no key.
    ``started_at_ns`` and ``ended_at_ns`` are its current or last publishing session's
    (LiveKit's ``IngressState``: nanoseconds since the epoch, 0 for none or not ended
    yet), kept exact because usage records are keyed on the start."""

    ingress_id: str
    type: IngressType
    room_name: str
    participant_identity: str
    participant_name: str | None
    url: str
    stream_key: str | None
    status: IngressStatus
    started_at_ns: int = 0
    ended_at_ns: int = 0

    def __repr__(self) -> str:
        return (
            f"IngressInfo(ingress_id={self.ingress_id!r}, type={self.type!r}, "
            f"room_name={self.room_name!r}, url={self.url!r}, "
            f"stream_key={'***' if self.stream_key else None!r}, status={self.status!r})"
        )


def _has_host(url: str, schemes: tuple[str, ...]) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in schemes and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False


def check_egress_request(request: EgressRequest) -> None:
    """LiveKit's checks on an egress request, as ``InvalidInput`` naming the field
    (``room_name``, ``url``, ``participant_identity``, ``track_id``, ``outputs``,
    ``outputs[i].urls[j]``)."""
    required = {
        "room_composite": ("room_name",),
        "web": ("url",),
        "participant": ("room_name", "participant_identity"),
        "track_composite": ("room_name",),
        "track": ("room_name", "track_id"),
    }.get(request.kind)
    if required is None:
        raise InvalidInput(f"unknown egress kind {request.kind!r}", field="kind")
    for name in required:
        if not getattr(request, name):
            raise InvalidInput(f"request has missing or invalid field: {name}", field=name)
    if request.kind == "track_composite" and not (request.audio_track_id or request.video_track_id):
        raise InvalidInput("request has missing or invalid field: track_id", field="track_id")
    if not request.outputs:
        raise InvalidInput("request has missing or invalid field: output", field="outputs")
    if request.kind == "track" and (
        len(request.outputs) != 1 or not isinstance(request.outputs[0], FileTarget)
    ):
        raise InvalidInput("track egress takes exactly one file output", field="outputs")
    for i, target in enumerate(request.outputs):
        if isinstance(target, StreamTarget):
            if not target.urls:
                raise InvalidInput("stream output has no urls", field=f"outputs[{i}].urls")
            for j, url in enumerate(target.urls):
                if not _has_host(url, RTMP_SCHEMES):
                    raise InvalidInput(
                        "stream url must be rtmp:// or rtmps:// with a host",
                        field=f"outputs[{i}].urls[{j}]",
                    )


def check_ingress_request(request: IngressRequest) -> None:
    """LiveKit's checks on an ingress request, as ``InvalidInput`` naming the field."""
    if request.type not in ("rtmp", "whip", "url"):
        raise InvalidInput(f"invalid ingress type {request.type!r}", field="type")
    if not request.room_name:
        raise InvalidInput("invalid ingress: no room name", field="room_name")
    if not request.participant_identity:
        raise InvalidInput("invalid ingress: no participant identity", field="participant_identity")
    if request.type == "url":
        if not request.url or not _has_host(request.url, PULL_SCHEMES):
            raise InvalidInput("invalid ingress: url must be http(s) or srt", field="url")
    elif request.url:
        raise InvalidInput("only a url ingress takes a url", field="url")


class MediaEngine(abc.ABC):
    """Egress and ingress on the media server. See the module docstring for the errors
    every method shares; each method adds what is specific to it."""

    async def start(self) -> None:  # noqa: B027 - optional hook, most engines need none
        """Prepare to serve (open a client session). Does no network I/O, so a media
        server that is down does not stop Pulse from starting. Idempotent."""

    @abc.abstractmethod
    async def start_egress(self, request: EgressRequest) -> EgressInfo:
        """Start an egress; it comes back ``starting`` (or already further along).
        ``InvalidInput`` for a request :func:`check_egress_request` rejects."""

    @abc.abstractmethod
    async def stop_egress(self, egress_id: str) -> EgressInfo:
        """Ask a ``starting`` or ``active`` egress to stop; it comes back ``ending``
        (or further along). Outputs are finished after that: files appear once a
        later read sees it ``complete``. ``NotFound`` for an unknown id; ``Conflict``
        when it has already stopped (``ending`` or ended)."""

    @abc.abstractmethod
    async def get_egress(self, egress_id: str) -> EgressInfo:
        """The egress now; ``NotFound`` for an unknown id."""

    @abc.abstractmethod
    async def list_egress(self, *, room_name: str | None = None) -> builtins.list[EgressInfo]:
        """Egresses of ``room_name`` (every room when None) the engine still knows,
        oldest first."""

    @abc.abstractmethod
    async def create_ingress(self, request: IngressRequest) -> IngressInfo:
        """Create an ingest endpoint. RTMP and WHIP come back with the URL publishers
        connect to and a fresh stream key; URL pull with its source and no key.
        ``InvalidInput`` for a request :func:`check_ingress_request` rejects."""

    @abc.abstractmethod
    async def get_ingress(self, ingress_id: str) -> IngressInfo:
        """The ingress now; ``NotFound`` for an unknown id."""

    @abc.abstractmethod
    async def list_ingress(self, *, room_name: str | None = None) -> builtins.list[IngressInfo]:
        """Ingresses of ``room_name`` (every room when None)."""

    @abc.abstractmethod
    async def delete_ingress(self, ingress_id: str) -> IngressInfo:
        """Delete the endpoint (a connected publisher is cut off) and return it as it was
        then, its last publishing session included; ``NotFound`` for an unknown id."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return when the engine answers; ``Unavailable`` otherwise."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing
        """Release connections; the default holds none. Idempotent."""
