"""LiveKit's ``WebhookEvent`` as it arrives on the wire, decoded by msgspec.

LiveKit's server encodes each event with Go's ``protojson.Marshal`` (livekit/protocol,
``webhook/resource_url_notifier.go`` → ``utils/protojson``: ``AllowPartial`` only), so the
body follows the proto3 JSON mapping with Go's defaults:

- keys are the lowerCamelCase JSON names (``egressInfo``, ``createdAt``);
- fields holding their zero value are left out (no ``EmitUnpopulated``): an absent key
  means ``""``, ``0``, ``false``, the enum's first value, an empty list;
- 64-bit integers are JSON *strings* (``"createdAt":"1700000000"``), 32-bit ones numbers;
- enums are their value names (``"EGRESS_COMPLETE"``, ``"VIDEO"``).

Only what Pulse uses is declared; every other key is skipped, so a field LiveKit adds
later cannot break decoding. What is declared is type-checked: a string where a bool
belongs is refused, not coerced. Enum fields are plain strings, so a value LiveKit adds
later decodes too (:mod:`pulse_core.livekit_webhooks.translate` decides what it means).

Units are LiveKit's and differ per message (the field docstrings say which); the
``*_time`` properties turn them into timezone-aware UTC datetimes, ``None`` when unset.
An ingress's stream key is deliberately not declared: it lets anyone publish into the
room, and what is never decoded cannot reach a log line or a stored event.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

import msgspec

from pulse_core.errors import InvalidInput

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
# What Go's protojson accepts inside the quotes of an int64, minus exponent forms that
# LiveKit never writes (Go itself only ever writes plain decimal digits).
_DECIMAL = re.compile(r"-?[0-9]{1,19}")


class Int64(int):
    """A protojson ``int64``: a JSON string of decimal digits as LiveKit sends it, or a
    plain JSON integer (the proto3 JSON mapping lets parsers accept both). Anything else
    (``true``, ``1.5``, ``" 12"``, ``"1_000"``, a value beyond 64 bits) is refused."""


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Int64:
        # type() rather than isinstance(): bool is an int, and true is no integer.
        if type(obj) is str and _DECIMAL.fullmatch(obj):
            value = int(obj)
        elif type(obj) is int:
            value = obj
        else:
            raise TypeError(f"Expected an integer or a string of digits, got {obj!r:.40}")
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError("integer out of the 64-bit range")
        return Int64(value)
    raise NotImplementedError(type_)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: The last whole second a datetime can hold, in seconds since the epoch.
_LAST_SECOND: Final = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH) // timedelta(
    seconds=1
)


def _time(value: int, per_second: int) -> datetime | None:
    """``value`` units (``per_second`` to a second) after the epoch, to the microsecond;
    None for zero (protojson's "unset"), before 1970 or beyond what a datetime holds."""
    # Integer arithmetic: value / 1e9 as a float loses the last digits of a nanosecond
    # timestamp, and fromtimestamp() has platform-dependent limits.
    seconds, fraction = divmod(value, per_second)
    if value <= 0 or seconds > _LAST_SECOND:
        return None
    return _EPOCH + timedelta(seconds=seconds, microseconds=fraction * 1_000_000 // per_second)


_SECOND: Final = 1
_MILLISECOND: Final = 1_000
_NANOSECOND: Final = 1_000_000_000


def from_nanoseconds(value: int) -> datetime | None:
    """A LiveKit time in nanoseconds (``IngressState.started_at``, ...) as the events'
    own properties read it: to the microsecond, None for zero."""
    return _time(value, _NANOSECOND)


class Room(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``livekit.Room``. Egress and ingress events carry only ``name`` (and ``sid`` for
    egress); ``creation_time`` is in seconds."""

    sid: str = ""
    name: str = ""
    creation_time: Int64 = Int64(0)

    @property
    def created_time(self) -> datetime | None:
        return _time(self.creation_time, _SECOND)


class Track(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``livekit.TrackInfo``: ``type`` is ``AUDIO`` (the zero value), ``VIDEO`` or
    ``DATA``; ``source`` is ``UNKNOWN`` (zero), ``CAMERA``, ``MICROPHONE``,
    ``SCREEN_SHARE`` or ``SCREEN_SHARE_AUDIO``."""

    sid: str = ""
    type: str = "AUDIO"
    name: str = ""
    muted: bool = False
    source: str = "UNKNOWN"
    mime_type: str = ""


class Participant(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``livekit.ParticipantInfo``. ``joined_at`` is in seconds, ``joined_at_ms`` in
    milliseconds (newer servers send both). Track events carry only ``sid`` and
    ``identity``. ``kind`` is ``STANDARD`` (zero), ``INGRESS``, ``EGRESS``, ``SIP``,
    ``AGENT``, …; ``disconnect_reason`` is ``UNKNOWN_REASON`` (zero),
    ``CLIENT_INITIATED``, ``PARTICIPANT_REMOVED``, …"""

    sid: str = ""
    identity: str = ""
    name: str = ""
    state: str = "JOINING"
    joined_at: Int64 = Int64(0)
    joined_at_ms: Int64 = Int64(0)
    kind: str = "STANDARD"
    disconnect_reason: str = "UNKNOWN_REASON"
    tracks: tuple[Track, ...] = ()

    @property
    def joined_time(self) -> datetime | None:
        """When the participant joined, to the millisecond when LiveKit says so."""
        if self.joined_at_ms > 0:
            return _time(self.joined_at_ms, _MILLISECOND)
        return _time(self.joined_at, _SECOND)


class FileResult(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``livekit.FileInfo``: one file an egress wrote. ``location`` is where the upload
    went (a storage URL); times and ``duration`` are in nanoseconds, ``size`` in bytes."""

    filename: str = ""
    location: str = ""
    size: Int64 = Int64(0)
    duration: Int64 = Int64(0)
    started_at: Int64 = Int64(0)
    ended_at: Int64 = Int64(0)

    @property
    def duration_seconds(self) -> float:
        return self.duration / 1e9


class StreamResult(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``livekit.StreamInfo``: one live stream of an egress. ``status`` is ``ACTIVE``
    (zero), ``FINISHED`` or ``FAILED``; times and ``duration`` in nanoseconds. ``url`` is
    the destination, stream key included: never show it as it is."""

    url: str = ""
    status: str = "ACTIVE"
    error: str = ""
    started_at: Int64 = Int64(0)
    ended_at: Int64 = Int64(0)
    duration: Int64 = Int64(0)


class SegmentsResult(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``livekit.SegmentsInfo``: an HLS output. Times and ``duration`` in nanoseconds,
    ``size`` in bytes."""

    playlist_name: str = ""
    playlist_location: str = ""
    live_playlist_name: str = ""
    size: Int64 = Int64(0)
    duration: Int64 = Int64(0)
    segment_count: Int64 = Int64(0)
    started_at: Int64 = Int64(0)
    ended_at: Int64 = Int64(0)


class Egress(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``livekit.EgressInfo``. ``status`` is ``EGRESS_STARTING`` (zero), ``…_ACTIVE``,
    ``…_ENDING``, ``…_COMPLETE``, ``…_FAILED``, ``…_ABORTED`` or ``…_LIMIT_REACHED``;
    ``started_at`` / ``ended_at`` / ``updated_at`` are in nanoseconds. ``room_name`` is
    empty for a web egress. ``file`` and ``segments`` are the deprecated single results
    older egress servers fill instead of the lists."""

    egress_id: str = ""
    room_id: str = ""
    room_name: str = ""
    status: str = "EGRESS_STARTING"
    started_at: Int64 = Int64(0)
    ended_at: Int64 = Int64(0)
    updated_at: Int64 = Int64(0)
    error: str = ""
    error_code: int = 0
    details: str = ""
    file_results: tuple[FileResult, ...] = ()
    stream_results: tuple[StreamResult, ...] = ()
    segment_results: tuple[SegmentsResult, ...] = ()
    file: FileResult | None = None
    segments: SegmentsResult | None = None

    @property
    def started_time(self) -> datetime | None:
        return _time(self.started_at, _NANOSECOND)

    @property
    def ended_time(self) -> datetime | None:
        return _time(self.ended_at, _NANOSECOND)

    @property
    def updated_time(self) -> datetime | None:
        return _time(self.updated_at, _NANOSECOND)

    @property
    def files(self) -> tuple[FileResult, ...]:
        """The files written: ``file_results``, or the deprecated ``file``."""
        if self.file_results or self.file is None:
            return self.file_results
        return (self.file,)

    @property
    def hls(self) -> tuple[SegmentsResult, ...]:
        """The HLS outputs: ``segment_results``, or the deprecated ``segments``."""
        if self.segment_results or self.segments is None:
            return self.segment_results
        return (self.segments,)


class IngressState(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``livekit.IngressState``: ``status`` is ``ENDPOINT_INACTIVE`` (zero),
    ``…_BUFFERING``, ``…_PUBLISHING``, ``…_ERROR`` or ``…_COMPLETE``; times in
    nanoseconds."""

    status: str = "ENDPOINT_INACTIVE"
    error: str = ""
    room_id: str = ""
    started_at: Int64 = Int64(0)
    ended_at: Int64 = Int64(0)
    updated_at: Int64 = Int64(0)

    @property
    def started_time(self) -> datetime | None:
        return _time(self.started_at, _NANOSECOND)

    @property
    def ended_time(self) -> datetime | None:
        return _time(self.ended_at, _NANOSECOND)


class Ingress(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``livekit.IngressInfo`` without its stream key (see the module docstring).
    ``input_type`` is ``RTMP_INPUT`` (zero), ``WHIP_INPUT`` or ``URL_INPUT``."""

    ingress_id: str = ""
    name: str = ""
    input_type: str = "RTMP_INPUT"
    room_name: str = ""
    participant_identity: str = ""
    participant_name: str = ""
    state: IngressState = msgspec.field(default_factory=IngressState)


class LiveKitEvent(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``livekit.WebhookEvent``: ``event`` is its name (``room_started``, …, see
    :data:`pulse_core.livekit_webhooks.translate.LIVEKIT_EVENTS`), ``id`` LiveKit's unique
    id (``EV_…``, the same when LiveKit sends the event again), ``created_at`` in seconds.

    ``event`` and ``id`` are required: LiveKit always sets both, and an event without an
    id could not be applied exactly once.
    """

    event: Annotated[str, msgspec.Meta(min_length=1)]
    id: Annotated[str, msgspec.Meta(min_length=1)]
    created_at: Int64 = Int64(0)
    room: Room | None = None
    participant: Participant | None = None
    track: Track | None = None
    egress_info: Egress | None = None
    ingress_info: Ingress | None = None

    @property
    def created_time(self) -> datetime | None:
        return _time(self.created_at, _SECOND)


_decoder: Final = msgspec.json.Decoder(LiveKitEvent, dec_hook=_dec_hook)
# msgspec names the offending value by its JSON path ("... - at `$.egressInfo.status`")
# and a missing key by its name ("Object missing required field `id`").
_PATH = re.compile(r" - at `\$\.?(.*)`$")
_MISSING = re.compile(r"missing required field `([^`]*)`")


def _field_of(message: str) -> str:
    path = _PATH.search(message)
    missing = _MISSING.search(message)
    parts = [part for part in (path and path.group(1), missing and missing.group(1)) if part]
    return ".".join(parts) or "body"


def parse_livekit_event(body: bytes | str) -> LiveKitEvent:
    """The event in ``body`` (a verified webhook's raw body, or the text of one);
    :class:`InvalidInput` naming the offending field (its JSON path, ``body`` for the
    document as a whole) for anything that is not a LiveKit webhook event."""
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        message = f"not a LiveKit webhook event: {exc}"
        raise InvalidInput(message, field=_field_of(message)) from exc
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"not a LiveKit webhook event: {exc}", field="body") from exc
    except RecursionError as exc:
        # msgspec gives up on deep nesting (even inside skipped keys); LiveKit's events
        # are a few levels deep.
        raise InvalidInput("not a LiveKit webhook event: nested too deeply", field="body") from exc
