"""Media control as Pulse records it: egress, ingress and recordings of one project.

These are Pulse's own records, kept by the media-record repositories so that ownership
checks and lists never have to scan the media server. They carry both names of a room:
``room`` (the caller's, e.g. ``demo``) and ``livekit_room`` (the namespaced one LiveKit
sees, :func:`pulse_core.rooms.to_livekit`), and both ids: ``id`` (Pulse's, ``eg_…`` /
``ig_…``, sortable by creation time, what callers use) and ``engine_id`` (the media
server's, ``EG_…`` / ``IN_…``, never shown to callers).

What is kept, and so what can ever be echoed back:

- RTMP egress destinations are kept **redacted** (the stream key of a third-party
  service such as YouTube is the customer's secret; Pulse hands it to LiveKit once and
  never stores or returns it in full).
- An ingress's stream key is kept and returned to its owner: LiveKit issued it for
  this project, and the owner needs it to publish.

The requests a caller makes (:class:`StartEgress` with its ``output`` spec,
:class:`CreateIngress`) are here too: embedders build them directly, the HTTP shell
from its bodies. They are taken as given; the media service checks them
(:mod:`pulse_core.services.egress_plan` for egress).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, get_args

import msgspec

EgressKind = Literal["room_composite", "track_composite", "track", "participant", "web"]
EGRESS_KINDS: Final[tuple[str, ...]] = get_args(EgressKind)

EgressStatus = Literal["starting", "active", "ending", "complete", "failed", "aborted"]
EGRESS_STATUSES: Final[tuple[str, ...]] = get_args(EgressStatus)
#: Statuses an egress never leaves: refreshing it from the engine is pointless.
ENDED_EGRESS_STATUSES: Final = frozenset({"complete", "failed", "aborted"})

IngressType = Literal["rtmp", "whip", "url"]
INGRESS_TYPES: Final[tuple[str, ...]] = get_args(IngressType)

#: LiveKit's ``IngressState.Status``, lower-cased without the ``ENDPOINT_`` prefix.
IngressStatus = Literal["inactive", "buffering", "publishing", "error", "complete"]
#: An ingress in these has stopped publishing (an RTMP or WHIP endpoint may publish
#: again later, and is then active again).
ENDED_INGRESS_STATUSES: Final = frozenset({"error", "complete"})


class FileOutput(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="file"):
    """One recording file. ``filepath`` is relative to the room's recordings (what the
    caller asked for, or the default ``<egress id>.mp4``); ``recording_id`` is the id the
    finished file has in the recordings list."""

    filepath: str
    recording_id: str


class HlsOutput(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="hls"):
    """HLS: a playlist and ``segment_duration``-second segments next to it.
    ``playlist`` is relative to the room's recordings (``<path>/index.m3u8``);
    ``recording_id`` is the playlist's id in the recordings list."""

    playlist: str
    recording_id: str
    segment_duration: int


class RtmpOutput(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="rtmp"):
    """Live streams pushed to RTMP(S) servers. ``urls`` are redacted: the stream key
    (last path segment), any password and any query string are hidden."""

    urls: list[str]


EgressOutput = FileOutput | HlsOutput | RtmpOutput


class EgressFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file a finished egress produced, as the media server reported it: its path
    within the room's recordings, its recording id (None when it is not one of the
    egress's planned outputs), size in bytes and duration in seconds."""

    path: str
    recording_id: str | None = None
    size: int = 0
    duration_seconds: float = 0.0


class Egress(msgspec.Struct, frozen=True, kw_only=True):
    """A recording or live stream of a project, as last seen.

    ``room`` and ``livekit_room`` are None for ``web`` egress (it records a URL).
    ``status`` is the last state Pulse saw; it is refreshed from the engine when read.
    """

    id: str
    project_id: str
    engine_id: str
    kind: EgressKind
    room: str | None
    livekit_room: str | None
    status: EgressStatus
    outputs: list[EgressOutput]
    started_at: datetime
    ended_at: datetime | None = None
    error: str | None = None
    files: list[EgressFile] = msgspec.field(default_factory=list)
    updated_at: datetime

    @property
    def ended(self) -> bool:
        return self.status in ENDED_EGRESS_STATUSES


class Ingress(msgspec.Struct, frozen=True, kw_only=True):
    """An ingest endpoint publishing into a project's room.

    RTMP and WHIP: publish to ``url`` with ``stream_key``. URL pull: LiveKit pulls
    ``url`` itself and there is no stream key.
    """

    id: str
    project_id: str
    engine_id: str
    type: IngressType
    room: str
    livekit_room: str
    url: str
    stream_key: str | None
    participant_identity: str
    participant_name: str | None = None
    status: IngressStatus = "inactive"
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:
        # A stream key lets anyone publish into the room: keep it out of logs.
        return (
            f"Ingress(id={self.id!r}, project_id={self.project_id!r}, type={self.type!r}, "
            f"room={self.room!r}, url={self.url!r}, stream_key="
            f"{'***' if self.stream_key else None!r}, status={self.status!r})"
        )

    @property
    def ended(self) -> bool:
        return self.status in ENDED_INGRESS_STATUSES


class Recording(msgspec.Struct, frozen=True, kw_only=True):
    """A file in the project's recordings.

    ``id`` is opaque (``rec_…``) and only means something to the project that listed
    it; ``room`` is None for files of web egress; ``path`` is relative to the room's
    recordings (a file output's ``filepath``, an HLS playlist or segment).
    """

    id: str
    room: str | None
    path: str
    size: int
    created_at: datetime


class RecordingUrl(msgspec.Struct, frozen=True, kw_only=True):
    """A download URL (a bearer capability) and when it stops working."""

    url: str
    expires_at: datetime


# -- requests ----------------------------------------------------------------------------


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
    """Stream live to 1..:data:`~pulse_core.services.egress_plan.MAX_STREAM_URLS`
    ``rtmp://`` / ``rtmps://`` URLs."""

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
