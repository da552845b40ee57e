"""A LiveKit server test double that speaks the Twirp API the ``livekit-api`` SDK calls.

Why it exists: ``LiveKitMediaEngine`` must be tested through the real SDK over real HTTP,
so that its request building, token grants and error translation run exactly as they do
in production, without a LiveKit server, Redis or egress/ingress workers.

What it mirrors (checked against livekit-server ``pkg/service``, livekit/egress and
livekit/protocol, and against the installed SDK's ``twirp_client.py``):

* Routes are ``POST /twirp/livekit.<Service>/<Method>``. Bodies are protobuf
  (``application/protobuf``, what the SDK sends) or JSON (``application/json``); the reply
  uses the request's encoding. Errors are Twirp JSON ``{"code", "msg", "meta"}`` with
  Twirp's HTTP status for the code (see ``TWIRP_HTTP_STATUS``).
* Token problems (bad signature, unknown key, expired, header not ``Bearer ...``) are
  answered like livekit-server's auth middleware: HTTP 401 with a *plain-text* body.
  The SDK cannot parse that as JSON, so it raises ``ServerError(code="unknown",
  status=401)``. Adapters must therefore look at ``status``, not only ``code``.
* A missing grant, or no token at all, is answered like livekit-server's
  ``twirpAuthError``: Twirp ``unauthenticated`` / 401 with msg ``"permissions denied"``.
  livekit-server never answers ``permission_denied`` for grants.
  Pass ``auth_errors="twirp"`` for the idealised variant instead: token problems as Twirp
  JSON ``unauthenticated`` / 401 and missing grants as ``permission_denied`` / 403.
* Egress: start answers ``EGRESS_STARTING``; stop answers ``EGRESS_ENDING`` with no file
  results yet (the egress worker uploads after EOS); stopping an ended egress is
  ``failed_precondition`` (HTTP 412); unknown ids are ``not_found``. Stream keys in returned
  stream URLs and storage credentials in the echoed request are redacted, as LiveKit does.
  With ``auto_progress=True`` (default) the stored record moves on right after each reply,
  STARTING -> ACTIVE after a start and ENDING -> COMPLETE (with file/segment/stream results)
  after a stop. The *next* read (ListEgress) sees that state. ``advance_egress`` drives it by
  hand when ``auto_progress=False``.
* Ingress: RTMP/WHIP get the configured base URL and a random stream key and are reusable;
  URL pull keeps the given URL, has no stream key, and needs a room and identity.

Deliberate simplifications: rooms need not exist for egress unless ``strict_rooms=True``
(then ``not_found`` like LiveKit; otherwise the room is created implicitly); participants
exist only when added with ``add_participant``; file sizes and durations are synthetic;
``Egress/StartEgress`` (the newer unified API), SIP and agent dispatch answer ``bad_route``.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlparse

import jwt
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress
from livekit.protocol import models as lk_models
from livekit.protocol import room as lk_room

__all__ = [
    "REQUIRED_GRANTS",
    "TWIRP_HTTP_STATUS",
    "LiveKitTwirpServer",
    "RecordedCall",
    "ServerState",
    "TwirpFailure",
    "redact_stream_url",
]

# Twirp's canonical code -> HTTP status table (twitchtv/twirp ServerHTTPStatusFromErrorCode).
TWIRP_HTTP_STATUS: dict[str, int] = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}

_PROTOBUF = "application/protobuf"
_JSON = "application/json"
_ROOM_ADMIN = "roomAdmin+room"  # roomAdmin grant *and* video.room equal to the request's room
_TOKEN_LEEWAY_S = 60  # livekit/protocol's verifier allows one minute of clock skew

_ES = lk_egress.EgressStatus
_STOPPABLE = (_ES.EGRESS_STARTING, _ES.EGRESS_ACTIVE)
_ENDED = (_ES.EGRESS_COMPLETE, _ES.EGRESS_FAILED, _ES.EGRESS_ABORTED, _ES.EGRESS_LIMIT_REACHED)
_WITH_OUTPUTS = (_ES.EGRESS_COMPLETE, _ES.EGRESS_LIMIT_REACHED)

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
# Start method -> (EgressInfo "request" oneof field, source type), as livekit-server maps them.
_EGRESS_STARTS: dict[str, tuple[str, int]] = {
    "StartRoomCompositeEgress": ("room_composite", lk_egress.EGRESS_SOURCE_TYPE_WEB),
    "StartWebEgress": ("web", lk_egress.EGRESS_SOURCE_TYPE_WEB),
    "StartParticipantEgress": ("participant", lk_egress.EGRESS_SOURCE_TYPE_SDK),
    "StartTrackCompositeEgress": ("track_composite", lk_egress.EGRESS_SOURCE_TYPE_SDK),
    "StartTrackEgress": ("track", lk_egress.EGRESS_SOURCE_TYPE_SDK),
}
_GUID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_RTMP_KEY = re.compile(r"^(rtmps?://)(.*/)(.*/)(\S*)( live=1)?$")
_PATH = re.compile(r"/twirp/livekit\.(\w+)/(\w+)")


class TwirpFailure(Exception):
    """A Twirp error the double answers with: handlers raise it, the dispatcher encodes it."""

    def __init__(self, code: str, msg: str = "", meta: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.meta = dict(meta or {})

    @property
    def status(self) -> int:
        return TWIRP_HTTP_STATUS.get(self.code, 500)


class _AuthFailure(Exception):
    """A token the auth middleware rejects before any Twirp handler runs."""


@dataclass
class RecordedCall:
    """One request as the server saw it, so tests can assert what the adapter sent."""

    service: str
    method: str
    content_type: str
    request: Message | None = None  # decoded request; None if it never got that far
    claims: dict[str, Any] | None = None  # verified JWT claims; None without a valid token
    status: int = 0
    error_code: str | None = None  # Twirp code, "unauthenticated" for plain-text 401s


@dataclass
class ServerState:
    """Everything the double knows. Live protobuf objects: read them between awaited SDK
    calls (the server thread is idle then) or under ``LiveKitTwirpServer.lock``."""

    rooms: dict[str, lk_models.Room] = field(default_factory=dict)
    participants: dict[str, dict[str, lk_models.ParticipantInfo]] = field(default_factory=dict)
    egresses: dict[str, lk_egress.EgressInfo] = field(default_factory=dict)
    egress_requests: dict[str, Message] = field(default_factory=dict)  # as sent, unredacted
    ingresses: dict[str, lk_ingress.IngressInfo] = field(default_factory=dict)
    sent_data: list[lk_room.SendDataRequest] = field(default_factory=list)
    calls: list[RecordedCall] = field(default_factory=list)

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Calls to ``method`` ("StopEgress" or "Egress/StopEgress")."""
        return [c for c in self.calls if method in (c.method, f"{c.service}/{c.method}")]


@dataclass(frozen=True)
class _Route:
    request_cls: type[Message]
    handler: str
    grant: str


_ROOM = lk_room
_EG = lk_egress
_IN = lk_ingress
_ROUTES: dict[tuple[str, str], _Route] = {
    ("RoomService", "CreateRoom"): _Route(_ROOM.CreateRoomRequest, "_create_room", "roomCreate"),
    ("RoomService", "ListRooms"): _Route(_ROOM.ListRoomsRequest, "_list_rooms", "roomList"),
    ("RoomService", "DeleteRoom"): _Route(_ROOM.DeleteRoomRequest, "_delete_room", "roomCreate"),
    ("RoomService", "ListParticipants"): _Route(
        _ROOM.ListParticipantsRequest, "_list_participants", _ROOM_ADMIN
    ),
    ("RoomService", "GetParticipant"): _Route(
        _ROOM.RoomParticipantIdentity, "_get_participant", _ROOM_ADMIN
    ),
    ("RoomService", "RemoveParticipant"): _Route(
        _ROOM.RoomParticipantIdentity, "_remove_participant", _ROOM_ADMIN
    ),
    ("RoomService", "UpdateParticipant"): _Route(
        _ROOM.UpdateParticipantRequest, "_update_participant", _ROOM_ADMIN
    ),
    ("RoomService", "MutePublishedTrack"): _Route(
        _ROOM.MuteRoomTrackRequest, "_mute_published_track", _ROOM_ADMIN
    ),
    ("RoomService", "UpdateSubscriptions"): _Route(
        _ROOM.UpdateSubscriptionsRequest, "_update_subscriptions", _ROOM_ADMIN
    ),
    ("RoomService", "UpdateRoomMetadata"): _Route(
        _ROOM.UpdateRoomMetadataRequest, "_update_room_metadata", _ROOM_ADMIN
    ),
    ("RoomService", "SendData"): _Route(_ROOM.SendDataRequest, "_send_data", _ROOM_ADMIN),
    ("Egress", "StartRoomCompositeEgress"): _Route(
        _EG.RoomCompositeEgressRequest, "_start_egress", "roomRecord"
    ),
    ("Egress", "StartWebEgress"): _Route(_EG.WebEgressRequest, "_start_egress", "roomRecord"),
    ("Egress", "StartParticipantEgress"): _Route(
        _EG.ParticipantEgressRequest, "_start_egress", "roomRecord"
    ),
    ("Egress", "StartTrackCompositeEgress"): _Route(
        _EG.TrackCompositeEgressRequest, "_start_egress", "roomRecord"
    ),
    ("Egress", "StartTrackEgress"): _Route(_EG.TrackEgressRequest, "_start_egress", "roomRecord"),
    ("Egress", "UpdateLayout"): _Route(_EG.UpdateLayoutRequest, "_update_layout", "roomRecord"),
    ("Egress", "UpdateStream"): _Route(_EG.UpdateStreamRequest, "_update_stream", "roomRecord"),
    ("Egress", "ListEgress"): _Route(_EG.ListEgressRequest, "_list_egress", "roomRecord"),
    ("Egress", "StopEgress"): _Route(_EG.StopEgressRequest, "_stop_egress", "roomRecord"),
    ("Ingress", "CreateIngress"): _Route(
        _IN.CreateIngressRequest, "_create_ingress", "ingressAdmin"
    ),
    ("Ingress", "UpdateIngress"): _Route(
        _IN.UpdateIngressRequest, "_update_ingress", "ingressAdmin"
    ),
    ("Ingress", "ListIngress"): _Route(_IN.ListIngressRequest, "_list_ingress", "ingressAdmin"),
    ("Ingress", "DeleteIngress"): _Route(
        _IN.DeleteIngressRequest, "_delete_ingress", "ingressAdmin"
    ),
}

# "Service/Method" -> the video grant it needs ("roomAdmin+room": roomAdmin and a matching room).
REQUIRED_GRANTS: dict[str, str] = {f"{s}/{m}": r.grant for (s, m), r in _ROUTES.items()}


# --------------------------------------------------------------------------- helpers


def _now_ns() -> int:
    return time.time_ns()


def _guid(prefix: str) -> str:
    """LiveKit ids are a prefix plus 12 base57 characters (``EG_``, ``IN_``, ``RM_``...)."""
    return prefix + "".join(secrets.choice(_GUID_ALPHABET) for _ in range(12))


def _clone(msg: Message) -> Any:
    copy = type(msg)()
    copy.CopyFrom(msg)
    return copy


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


def _update_transcoding(info: lk_ingress.IngressInfo) -> None:
    """livekit-server's updateEnableTranscoding: WHIP defaults to passthrough."""
    if info.HasField("enable_transcoding"):
        info.bypass_transcoding = not info.enable_transcoding
    elif info.input_type == lk_ingress.IngressInput.WHIP_INPUT:
        info.enable_transcoding = False
        info.bypass_transcoding = True
    else:
        info.enable_transcoding = True


@dataclass
class _FailRule:
    code: str
    msg: str
    method: str | None
    remaining: int
    meta: dict[str, str]

    def matches(self, service: str, method: str) -> bool:
        return self.method is None or self.method in (method, f"{service}/{method}")


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str


# --------------------------------------------------------------------------- server


class LiveKitTwirpServer:
    """LiveKit's Twirp API on ``127.0.0.1`` in a background thread with its own event loop.

    Use as ``with LiveKitTwirpServer(key, secret) as server:`` then point
    ``livekit.api.LiveKitAPI(url=server.url, ...)`` at it. State lives in ``state`` and
    survives ``stop()``/``start()`` (same port by default), like a restarted server backed
    by Redis.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auto_progress: bool = True,
        strict_rooms: bool = False,
        auth_errors: Literal["livekit", "twirp"] = "livekit",
        rtmp_base_url: str = "rtmp://127.0.0.1/live",
        whip_base_url: str = "http://127.0.0.1/w",
    ) -> None:
        if auth_errors not in ("livekit", "twirp"):
            raise ValueError("auth_errors must be 'livekit' or 'twirp'")
        self.api_key = api_key
        self.api_secret = api_secret
        self.host = host
        self.auto_progress = auto_progress
        self.strict_rooms = strict_rooms
        self.auth_errors = auth_errors
        self.rtmp_base_url = rtmp_base_url
        self.whip_base_url = whip_base_url
        self.state = ServerState()
        self.lock = threading.RLock()
        self._port: int | None = port or None
        self._delay = 0.0
        self._unavailable = False
        self._fail_rules: list[_FailRule] = []
        self._outputs: dict[str, _Outputs] = {}
        self._stream_targets: dict[str, list[str]] = {}  # unredacted url per stream_results row
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._shutdown: asyncio.Event | None = None

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL for ``LiveKitAPI(url=...)``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, port: int | None = None) -> LiveKitTwirpServer:
        """Bind (``port`` or the previous port, else a free one) and serve in a thread."""
        if self._thread is not None:
            raise RuntimeError("server already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port if port is not None else (self._port or 0)))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._run_loop, args=(loop,), name=f"livekit-twirp-{self._port}", daemon=True
        )
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(sock), loop).result(timeout=10)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            sock.close()
            raise
        self._loop, self._thread = loop, thread
        return self

    def stop(self) -> None:
        """Stop serving; pending delayed requests are answered 503 so this never hangs."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            self._loop = self._thread = None

    def __enter__(self) -> LiveKitTwirpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, sock: socket.socket) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self._shutdown = asyncio.Event()

    async def _close(self) -> None:
        if self._shutdown is not None:
            self._shutdown.set()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None

    # ----------------------------------------------------------------- test hooks

    def fail_next(
        self,
        code: str,
        msg: str = "",
        *,
        method: str | None = None,
        times: int = 1,
        meta: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` calls (optionally only to ``method``, e.g. "StopEgress"
        or "Egress/StopEgress") with Twirp error ``code``, before auth and handling."""
        if code not in TWIRP_HTTP_STATUS:
            raise ValueError(f"unknown Twirp code {code!r}")
        with self.lock:
            self._fail_rules.append(
                _FailRule(code, msg or f"injected {code}", method, times, dict(meta or {}))
            )

    def set_unavailable(self, unavailable: bool = True) -> None:
        """While set, every call answers 503 ``unavailable`` (as a load balancer would)."""
        self._unavailable = unavailable

    def set_delay(self, seconds: float) -> None:
        """Hold every reply this long (0 to disable). Requests still take effect after
        the client gave up, just like a slow real server."""
        self._delay = max(0.0, float(seconds))

    def advance_egress(
        self, egress_id: str, status: int | str, *, error: str = "", error_code: int = 0
    ) -> lk_egress.EgressInfo:
        """Move an egress to ``status`` (enum value or name, e.g. "EGRESS_COMPLETE"), filling
        ended_at and results on the way, as the egress worker would. Returns a copy."""
        value = _ES.Value(status) if isinstance(status, str) else status
        with self.lock:
            info = self.state.egresses[egress_id]
            self._set_egress_status(info, value, error=error, error_code=error_code)
            return _clone(info)

    def set_ingress_status(self, ingress_id: str, status: int | str) -> lk_ingress.IngressInfo:
        """Pretend a publisher connected/disconnected (IngressState.Status value or name)."""
        status_enum = lk_ingress.IngressState.Status
        value = status_enum.Value(status) if isinstance(status, str) else status
        with self.lock:
            info = self.state.ingresses[ingress_id]
            info.state.status = value  # type: ignore[assignment]
            info.state.updated_at = _now_ns()
            return _clone(info)

    def create_room(self, name: str, **fields: Any) -> lk_models.Room:
        """Create a room directly (as if a participant joined). Returns a copy."""
        with self.lock:
            return _clone(self._ensure_room(name, **fields))

    def add_participant(
        self,
        room: str,
        identity: str,
        *,
        name: str = "",
        metadata: str = "",
        tracks: list[lk_models.TrackInfo] | None = None,
    ) -> lk_models.ParticipantInfo:
        """Put a participant in ``room`` (created if needed). Returns a copy."""
        now = time.time()
        with self.lock:
            room_info = self._ensure_room(room)
            participant = lk_models.ParticipantInfo(
                sid=_guid("PA_"),
                identity=identity,
                name=name,
                metadata=metadata,
                state=lk_models.ParticipantInfo.State.ACTIVE,
                joined_at=int(now),
                joined_at_ms=int(now * 1000),
                tracks=tracks or [],
            )
            self.state.participants.setdefault(room, {})[identity] = participant
            room_info.num_participants = len(self.state.participants[room])
            return _clone(participant)

    def reset(self) -> None:
        """Forget all state and injected faults."""
        with self.lock:
            self.state = ServerState()
            self._outputs.clear()
            self._stream_targets.clear()
            self._fail_rules.clear()
            self._unavailable = False
            self._delay = 0.0

    # ----------------------------------------------------------------- HTTP plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        delay, shutdown = self._delay, self._shutdown
        if delay > 0 and shutdown is not None:
            try:
                await asyncio.wait_for(shutdown.wait(), timeout=delay)
            except TimeoutError:
                pass
            else:
                failure = TwirpFailure("unavailable", "server shutting down")
                return self._to_response(self._twirp_reply(failure))
        reply = self._dispatch(request.method, request.path, request.headers, request.query, body)
        return self._to_response(reply)

    @staticmethod
    def _to_response(reply: _Reply) -> web.Response:
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)

    def _dispatch(
        self,
        http_method: str,
        path: str,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes,
    ) -> _Reply:
        match = _PATH.fullmatch(path)
        service, method = match.groups() if match else ("", path)
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        call = RecordedCall(service=service, method=method, content_type=content_type)
        with self.lock:
            reply = self._process(call, http_method, path, headers, query, body)
            call.status = reply.status
            self.state.calls.append(call)
        return reply

    def _process(
        self,
        call: RecordedCall,
        http_method: str,
        path: str,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes,
    ) -> _Reply:
        """Unavailable / injected fault -> auth middleware -> Twirp routing and decoding
        -> grant check -> handler, the order a request meets them in livekit-server."""
        as_json = call.content_type == _JSON
        try:
            if self._unavailable:
                raise TwirpFailure("unavailable", "service unavailable")
            self._consume_fault(call.service, call.method)
            call.claims = self._authenticate(headers, query)
            route = _ROUTES.get((call.service, call.method))
            if http_method != "POST":
                raise self._bad_route(
                    f"unsupported method {http_method!r} (only POST is allowed)", http_method, path
                )
            if route is None:
                raise self._bad_route(f"no handler for path {path!r}", http_method, path)
            if call.content_type not in (_JSON, _PROTOBUF):
                raise self._bad_route(
                    f"unexpected Content-Type: {call.content_type!r}", http_method, path
                )
            request = self._decode(route.request_cls, body, as_json)
            call.request = request
            if not self._has_grant(call.claims, route.grant, request):
                raise self._grant_failure(call.claims)
            response: Message = getattr(self, route.handler)(call.method, request)
        except _AuthFailure as exc:
            call.error_code = "unauthenticated"
            if self.auth_errors == "livekit":
                return _Reply(401, str(exc).encode(), "text/plain")
            return self._twirp_reply(TwirpFailure("unauthenticated", str(exc)))
        except TwirpFailure as exc:
            call.error_code = exc.code
            return self._twirp_reply(exc)
        if as_json:
            text = json_format.MessageToJson(
                response,
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
                indent=None,
            )
            return _Reply(200, text.encode(), _JSON)
        return _Reply(200, response.SerializeToString(), _PROTOBUF)

    @staticmethod
    def _twirp_reply(failure: TwirpFailure) -> _Reply:
        payload: dict[str, Any] = {"code": failure.code, "msg": failure.msg}
        if failure.meta:
            payload["meta"] = failure.meta
        return _Reply(failure.status, json.dumps(payload).encode(), _JSON)

    @staticmethod
    def _bad_route(msg: str, http_method: str, path: str) -> TwirpFailure:
        return TwirpFailure("bad_route", msg, {"twirp_invalid_route": f"{http_method} {path}"})

    @staticmethod
    def _decode(message_type: type[Message], body: bytes, as_json: bool) -> Message:
        if as_json:
            try:
                return json_format.Parse(body.decode(), message_type(), ignore_unknown_fields=True)
            except (json_format.ParseError, UnicodeDecodeError) as exc:
                raise TwirpFailure(
                    "malformed", f"the json request could not be decoded: {exc}"
                ) from exc
        try:
            return message_type.FromString(body)
        except DecodeError as exc:
            raise TwirpFailure("malformed", f"failed to parse request proto: {exc}") from exc

    def _consume_fault(self, service: str, method: str) -> None:
        for rule in self._fail_rules:
            if rule.matches(service, method):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._fail_rules.remove(rule)
                raise TwirpFailure(rule.code, rule.msg, rule.meta)

    # ----------------------------------------------------------------- auth

    def _authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> dict[str, Any] | None:
        """livekit-server's APIKeyAuthMiddleware: no token passes through without grants."""
        header = headers.get("Authorization", "")
        if header:
            if not header.startswith("Bearer "):
                raise _AuthFailure("invalid authorization header. Must start with Bearer ")
            token = header[len("Bearer ") :]
        else:
            token = query.get("access_token", "")
        if not token:
            return None
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _AuthFailure("invalid authorization token") from exc
        issuer = unverified.get("iss")
        if issuer != self.api_key:
            raise _AuthFailure(f"invalid API key: {issuer}")
        try:
            return jwt.decode(
                token,
                self.api_secret,
                algorithms=["HS256"],
                issuer=self.api_key,
                leeway=_TOKEN_LEEWAY_S,
                options={"require": ["exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise _AuthFailure(f"invalid token, error: {exc}") from exc

    @staticmethod
    def _has_grant(claims: dict[str, Any] | None, grant: str, request: Message) -> bool:
        video = (claims or {}).get("video") or {}
        if grant == _ROOM_ADMIN:
            room = getattr(request, "room", "")
            return video.get("roomAdmin") is True and video.get("room", "") == room
        return video.get(grant) is True

    def _grant_failure(self, claims: dict[str, Any] | None) -> TwirpFailure:
        if self.auth_errors == "twirp":
            if claims is None:
                return TwirpFailure("unauthenticated", "missing or invalid authorization")
            return TwirpFailure("permission_denied", "permissions denied")
        return TwirpFailure("unauthenticated", "permissions denied")  # livekit's twirpAuthError

    # ----------------------------------------------------------------- rooms

    def _ensure_room(self, name: str, **fields: Any) -> lk_models.Room:
        room = self.state.rooms.get(name)
        if room is None:
            now = time.time()
            room = lk_models.Room(
                sid=_guid("RM_"),
                name=name,
                empty_timeout=fields.pop("empty_timeout", 0) or 300,
                departure_timeout=fields.pop("departure_timeout", 0) or 20,
                creation_time=int(now),
                creation_time_ms=int(now * 1000),
                **fields,
            )
            self.state.rooms[name] = room
        return room

    def _room_or_404(self, name: str) -> lk_models.Room:
        room = self.state.rooms.get(name)
        if room is None:
            raise TwirpFailure("not_found", "requested room does not exist")
        return room

    def _participant_or_404(self, room: str, identity: str) -> lk_models.ParticipantInfo:
        participant = self.state.participants.get(room, {}).get(identity)
        if participant is None:
            raise TwirpFailure("not_found", "participant does not exist")
        return participant

    def _create_room(self, _method: str, req: lk_room.CreateRoomRequest) -> lk_models.Room:
        if not req.name:
            raise TwirpFailure("invalid_argument", "no room name")
        if req.name in self.state.rooms:  # CreateRoom is idempotent in LiveKit
            return _clone(self.state.rooms[req.name])
        return _clone(
            self._ensure_room(
                req.name,
                empty_timeout=req.empty_timeout,
                departure_timeout=req.departure_timeout,
                max_participants=req.max_participants,
                metadata=req.metadata,
            )
        )

    def _list_rooms(self, _method: str, req: lk_room.ListRoomsRequest) -> Message:
        wanted = set(req.names)
        rooms = [r for n, r in self.state.rooms.items() if not wanted or n in wanted]
        return lk_room.ListRoomsResponse(rooms=rooms)

    def _delete_room(self, _method: str, req: lk_room.DeleteRoomRequest) -> Message:
        self._room_or_404(req.room)
        del self.state.rooms[req.room]
        self.state.participants.pop(req.room, None)
        return lk_room.DeleteRoomResponse()

    def _list_participants(self, _method: str, req: lk_room.ListParticipantsRequest) -> Message:
        participants = list(self.state.participants.get(req.room, {}).values())
        return lk_room.ListParticipantsResponse(participants=participants)

    def _get_participant(self, _method: str, req: lk_room.RoomParticipantIdentity) -> Message:
        return _clone(self._participant_or_404(req.room, req.identity))

    def _remove_participant(self, _method: str, req: lk_room.RoomParticipantIdentity) -> Message:
        if req.identity not in self.state.participants.get(req.room, {}):
            raise TwirpFailure("not_found", "participant not found")
        del self.state.participants[req.room][req.identity]
        if req.room in self.state.rooms:
            self.state.rooms[req.room].num_participants = len(self.state.participants[req.room])
        return lk_room.RemoveParticipantResponse()

    def _update_participant(self, _method: str, req: lk_room.UpdateParticipantRequest) -> Message:
        participant = self._participant_or_404(req.room, req.identity)
        if req.metadata:
            participant.metadata = req.metadata
        if req.name:
            participant.name = req.name
        if req.HasField("permission"):
            participant.permission.CopyFrom(req.permission)
        for key, value in req.attributes.items():
            if value:
                participant.attributes[key] = value
            else:
                participant.attributes.pop(key, None)
        return _clone(participant)

    def _mute_published_track(self, _method: str, req: lk_room.MuteRoomTrackRequest) -> Message:
        participant = self._participant_or_404(req.room, req.identity)
        for track in participant.tracks:
            if track.sid == req.track_sid:
                track.muted = req.muted
                return lk_room.MuteRoomTrackResponse(track=track)
        raise TwirpFailure("not_found", "track is not found")

    def _update_subscriptions(self, _method: str, req: lk_room.UpdateSubscriptionsRequest) -> Any:
        self._participant_or_404(req.room, req.identity)
        return lk_room.UpdateSubscriptionsResponse()

    def _update_room_metadata(self, _method: str, req: lk_room.UpdateRoomMetadataRequest) -> Any:
        room = self._room_or_404(req.room)
        room.metadata = req.metadata
        return _clone(room)

    def _send_data(self, _method: str, req: lk_room.SendDataRequest) -> Message:
        if req.nonce and len(req.nonce) != 16:
            raise TwirpFailure(
                "invalid_argument",
                f"nonce should be 16-bytes or not present, got: {len(req.nonce)} bytes",
            )
        self._room_or_404(req.room)
        self.state.sent_data.append(_clone(req))
        return lk_room.SendDataResponse()

    # ----------------------------------------------------------------- egress

    def _egress_or_404(self, egress_id: str) -> lk_egress.EgressInfo:
        info = self.state.egresses.get(egress_id)
        if info is None:
            raise TwirpFailure("not_found", "egress does not exist")
        return info

    @staticmethod
    def _validate_source(kind: str, req: Any) -> None:
        required = {
            "room_composite": ("room_name",),
            "web": ("url",),
            "participant": ("room_name", "identity"),
            "track_composite": ("room_name",),
            "track": ("room_name", "track_id"),
        }[kind]
        for name in required:
            if not getattr(req, name):
                raise _invalid(name)
        if kind == "track_composite" and not (req.audio_track_id or req.video_track_id):
            raise _invalid("track_id")

    def _start_egress(self, method: str, req: Any) -> lk_egress.EgressInfo:
        kind, source_type = _EGRESS_STARTS[method]
        self._validate_source(kind, req)
        outputs = _Outputs.of(req)
        outputs.validate()
        room_name = getattr(req, "room_name", "")
        room_id = ""
        if room_name:
            if self.strict_rooms:
                room_id = self._room_or_404(room_name).sid
            else:
                room_id = self._ensure_room(room_name).sid
        now = _now_ns()
        info = lk_egress.EgressInfo(
            egress_id=_guid("EG_"),
            room_id=room_id,
            room_name=room_name,
            source_type=source_type,  # type: ignore[arg-type]
            status=_ES.EGRESS_STARTING,
            started_at=now,
            updated_at=now,
        )
        getattr(info, kind).CopyFrom(_redacted_request(req))
        targets = outputs.stream_targets()
        for dest_id, url in targets:
            info.stream_results.add(
                id=dest_id,
                url=redact_stream_url(url),
                started_at=now,
                status=lk_egress.StreamInfo.ACTIVE,
            )
        self.state.egresses[info.egress_id] = info
        self.state.egress_requests[info.egress_id] = _clone(req)
        self._outputs[info.egress_id] = outputs
        self._stream_targets[info.egress_id] = [url for _, url in targets]
        reply = _clone(info)
        if self.auto_progress:
            self._set_egress_status(info, _ES.EGRESS_ACTIVE)
        return reply

    def _set_egress_status(
        self, info: lk_egress.EgressInfo, status: int, *, error: str = "", error_code: int = 0
    ) -> None:
        now = _now_ns()
        info.status = status  # type: ignore[assignment]
        info.updated_at = now
        if status not in _ENDED:
            return
        if not info.ended_at:
            info.ended_at = now
        _finish_streams(info, now, failed=status == _ES.EGRESS_FAILED)
        if status in _WITH_OUTPUTS and not (info.file_results or info.segment_results):
            _fill_results(info, self._outputs.get(info.egress_id, _Outputs()))
        if status == _ES.EGRESS_FAILED:
            info.error = error or "egress failed"
            info.error_code = error_code or 500
        elif error:
            info.error, info.error_code = error, error_code

    def _stop_egress(self, _method: str, req: lk_egress.StopEgressRequest) -> Any:
        info = self._egress_or_404(req.egress_id)
        if info.status not in _STOPPABLE:
            name = _ES.Name(info.status)
            raise TwirpFailure(
                "failed_precondition", f"egress with status {name} cannot be stopped"
            )
        self._set_egress_status(info, _ES.EGRESS_ENDING)
        reply = _clone(info)
        if self.auto_progress:
            self._set_egress_status(info, _ES.EGRESS_COMPLETE)
        return reply

    def _list_egress(self, _method: str, req: lk_egress.ListEgressRequest) -> Message:
        if req.egress_id:  # livekit-server loads the one egress and ignores the other filters
            return lk_egress.ListEgressResponse(items=[self._egress_or_404(req.egress_id)])
        items = [
            info
            for info in self.state.egresses.values()
            if (not req.room_name or info.room_name == req.room_name)
            and (not req.active or info.ended_at == 0)
        ]
        return lk_egress.ListEgressResponse(items=items)

    def _update_layout(self, _method: str, req: lk_egress.UpdateLayoutRequest) -> Any:
        info = self._egress_or_404(req.egress_id)
        if info.ended_at:  # the egress participant has left the room
            raise TwirpFailure("not_found", "participant does not exist")
        if info.WhichOneof("request") == "room_composite":
            info.room_composite.layout = req.layout
        info.updated_at = _now_ns()
        return _clone(info)

    def _update_stream(self, _method: str, req: lk_egress.UpdateStreamRequest) -> Any:
        info = self._egress_or_404(req.egress_id)
        if info.status not in _STOPPABLE:
            name = _ES.Name(info.status)
            raise TwirpFailure(
                "failed_precondition", f"egress with status {name} cannot be updated"
            )
        outputs = self._outputs[info.egress_id]
        if not outputs.streams:
            raise TwirpFailure("invalid_argument", "UpdateStream called on non-streaming egress")
        protocol = outputs.streams[0].protocol
        additions = [("", u) for u in req.add_output_urls]
        additions += [(d.id, d.url) for d in req.add_destinations]
        for _, url in additions:
            _check_stream_url(url, protocol)
        targets = self._stream_targets[info.egress_id]
        for url in req.remove_output_urls:
            active = [
                i
                for i, target in enumerate(targets)
                if target == url and info.stream_results[i].status == lk_egress.StreamInfo.ACTIVE
            ]
            if not active:
                raise TwirpFailure("not_found", f"stream {redact_stream_url(url)} not found")
        now = _now_ns()
        for dest_id, url in additions:
            info.stream_results.add(
                id=dest_id,
                url=redact_stream_url(url),
                started_at=now,
                status=lk_egress.StreamInfo.ACTIVE,
            )
            targets.append(url)
        for url in req.remove_output_urls:
            for i, target in enumerate(targets):
                stream = info.stream_results[i]
                if target == url and stream.status == lk_egress.StreamInfo.ACTIVE:
                    stream.status = lk_egress.StreamInfo.FINISHED
                    stream.ended_at = now
                    stream.duration = now - stream.started_at
        info.updated_at = now
        return _clone(info)

    # ----------------------------------------------------------------- ingress

    def _ingress_or_404(self, ingress_id: str) -> lk_ingress.IngressInfo:
        info = self.state.ingresses.get(ingress_id)
        if info is None:
            raise TwirpFailure("not_found", "ingress does not exist")
        return info

    def _create_ingress(self, _method: str, req: lk_ingress.CreateIngressRequest) -> Any:
        kinds = lk_ingress.IngressInput
        if req.input_type == kinds.RTMP_INPUT:
            url = self.rtmp_base_url
        elif req.input_type == kinds.WHIP_INPUT:
            url = self.whip_base_url
        elif req.input_type == kinds.URL_INPUT:
            url = self._validate_pull_url(req)
        else:
            raise TwirpFailure("invalid_argument", "invalid ingress type")
        pull = req.input_type == kinds.URL_INPUT
        status = lk_ingress.IngressState.Status
        info = lk_ingress.IngressInfo(
            ingress_id=_guid("IN_"),
            name=req.name,
            stream_key="" if pull else _guid(""),
            url=url,
            input_type=req.input_type,
            room_name=req.room_name,
            participant_identity=req.participant_identity,
            participant_name=req.participant_name,
            participant_metadata=req.participant_metadata,
            reusable=not pull,
            state=lk_ingress.IngressState(
                status=status.ENDPOINT_BUFFERING if pull else status.ENDPOINT_INACTIVE
            ),
        )
        for name in ("audio", "video"):
            if req.HasField(name):
                getattr(info, name).CopyFrom(getattr(req, name))
        if req.HasField("enabled"):
            info.enabled = req.enabled
        if req.HasField("enable_transcoding"):
            info.enable_transcoding = req.enable_transcoding
        _update_transcoding(info)
        self.state.ingresses[info.ingress_id] = info
        return _clone(info)

    @staticmethod
    def _validate_pull_url(req: lk_ingress.CreateIngressRequest) -> str:
        """livekit-server's URL_INPUT checks (http/https/srt, room and identity required)."""
        if not req.url:
            raise TwirpFailure("invalid_argument", "invalid ingress: missing URL parameter")
        scheme = urlparse(req.url).scheme
        if scheme not in ("http", "https", "srt"):
            raise TwirpFailure("invalid_argument", f"invalid ingress: invalid url scheme {scheme}")
        if not req.room_name:
            raise TwirpFailure("invalid_argument", "invalid ingress: no room name")
        if not req.participant_identity:
            raise TwirpFailure("invalid_argument", "invalid ingress: no participant identity")
        return req.url

    def _update_ingress(self, _method: str, req: lk_ingress.UpdateIngressRequest) -> Any:
        info = self._ingress_or_404(req.ingress_id)
        if not info.reusable:
            raise TwirpFailure("invalid_argument", "ingress is not reusable and cannot be modified")
        for name in (
            "name",
            "room_name",
            "participant_identity",
            "participant_name",
            "participant_metadata",
        ):
            if getattr(req, name):
                setattr(info, name, getattr(req, name))
        for name in ("audio", "video"):
            if req.HasField(name):
                getattr(info, name).CopyFrom(getattr(req, name))
        if req.HasField("enabled"):
            info.enabled = req.enabled
        if req.HasField("enable_transcoding"):
            info.enable_transcoding = req.enable_transcoding
        _update_transcoding(info)
        return _clone(info)

    def _list_ingress(self, _method: str, req: lk_ingress.ListIngressRequest) -> Message:
        if req.ingress_id:
            return lk_ingress.ListIngressResponse(items=[self._ingress_or_404(req.ingress_id)])
        items = [
            info
            for info in self.state.ingresses.values()
            if not req.room_name or info.room_name == req.room_name
        ]
        return lk_ingress.ListIngressResponse(items=items)

    def _delete_ingress(self, _method: str, req: lk_ingress.DeleteIngressRequest) -> Any:
        info = self._ingress_or_404(req.ingress_id)
        del self.state.ingresses[req.ingress_id]
        info.state.status = lk_ingress.IngressState.Status.ENDPOINT_INACTIVE
        return info
