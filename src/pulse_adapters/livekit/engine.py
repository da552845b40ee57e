"""The media engine on a real LiveKit server, through the ``livekit-api`` SDK (Twirp).

One client session. :class:`LiveKitMediaEngine` builds one ``aiohttp`` session and one
``livekit.api.LiveKitAPI`` on it, lazily (``start()`` or the first call, inside the
running event loop, without network I/O) and closes them in ``aclose()``.

Bounded time, one attempt. Every call runs under ``asyncio.timeout(timeout_seconds)``:
the SDK's own per-request timeout cannot be relied on (it is not applied in every
version), and a hung LiveKit must not hold a request. The SDK's region failover, which
replays a failed request against other LiveKit Cloud regions with back-off, is turned
off: a struggling server gets exactly one request per caller request, and a caller
that wants to retry can (the 503 says so).

Errors translated at this boundary (always ``raise … from`` the SDK's exception):

=====================================================  ================================
LiveKit answer                                         Pulse error
=====================================================  ================================
``not_found``                                          ``NotFound``
``invalid_argument``, ``malformed``, ``out_of_range``   ``InvalidInput`` (field when named)
``failed_precondition``                                ``InvalidInput``; ``Conflict`` for
                                                       a stop (the egress already ended)
``already_exists``                                     ``Conflict``
HTTP 401/403, ``unauthenticated``,                     ``Unavailable``: LiveKit refused
``permission_denied``                                  *Pulse's* key and secret, an
                                                       operator problem, not the caller's
``bad_route``                                          ``Unavailable`` (not a LiveKit API)
``unavailable``, 5xx, anything else; connection        ``Unavailable``
errors; no answer within the timeout
=====================================================  ================================

livekit-server answers a bad token with a plain-text 401, which the SDK reports as
``ServerError(code="unknown", status=401)``: the status is checked, not only the code.
"""

from __future__ import annotations

import asyncio
import builtins
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from livekit import api
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress
from livekit.protocol import room as lk_room

from pulse_core.errors import Conflict, InvalidInput, NotFound, PulseError, Unavailable
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
    MediaEngine,
    SegmentsTarget,
    StreamTarget,
)
from pulse_core.ports.storage import EgressUploadConfig
from pulse_core.ports.telemetry import NO_TELEMETRY, Telemetry

T = TypeVar("T")

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
_INVALID = frozenset({"invalid_argument", "malformed", "out_of_range"})
_REFUSED = frozenset({"unauthenticated", "permission_denied"})
# livekit/egress and livekit-server word missing fields this way.
_FIELD_IN_MESSAGE = re.compile(r"missing or invalid field: (\w+)")
# Ping lists this one room: cheap, and it needs the same credentials as everything else.
_PING_ROOM = "pulse-health-check"


class LiveKitMediaEngine(MediaEngine):
    """LiveKit at ``url`` (``http(s)://`` or ``ws(s)://``, as ``LIVEKIT_HOST``), signing
    each request with ``api_key`` / ``api_secret``; every call bounded by
    ``timeout_seconds``. Construction does no I/O; invalid settings are ``ValueError``.
    Each call is reported to ``telemetry`` (``livekit``, the call's name).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        timeout_seconds: float = 5.0,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise ValueError(f"LiveKit url must be http(s):// or ws(s):// with a host: {url!r}")
        if not api_key or not api_secret:
            raise ValueError("LiveKit api_key and api_secret are required")
        if not timeout_seconds > 0:
            raise ValueError("timeout_seconds must be positive")
        self._url = url
        self._api_key = api_key
        self._api_secret = api_secret
        self._timeout = timeout_seconds
        self._telemetry = telemetry
        self._session: aiohttp.ClientSession | None = None
        self._api: api.LiveKitAPI | None = None

    def __repr__(self) -> str:
        return f"LiveKitMediaEngine(url={self._url!r}, api_key={self._api_key!r}, secret='***')"

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        self._client()

    async def aclose(self) -> None:
        session, self._session, self._api = self._session, None, None
        if session is not None:
            await session.close()

    def _client(self) -> api.LiveKitAPI:
        # No await between the check and the assignment: two first calls cannot both
        # build a session.
        if self._api is None:
            session = aiohttp.ClientSession(
                # A second bound, inside the asyncio one, that also covers the pieces
                # of a request the SDK awaits outside our timeout (none today).
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=100),
            )
            self._session = session
            self._api = api.LiveKitAPI(
                self._url, self._api_key, self._api_secret, session=session, failover=False
            )
        return self._api

    async def call(
        self, what: str, op: Callable[[api.LiveKitAPI], Awaitable[T]], *, stopping: bool = False
    ) -> T:
        """Run ``op`` on the shared client once, bounded by the timeout, with LiveKit's
        errors translated (``what`` names the call in them). The room engine goes through
        this too, so both share one session, one timeout and one translation (and the
        telemetry, which sees the translated error)."""
        client = self._client()
        with self._telemetry.call("livekit", what):
            try:
                async with asyncio.timeout(self._timeout):
                    return await op(client)
            except api.ServerError as exc:
                raise _translate(exc, what, stopping=stopping) from exc
            except TimeoutError as exc:
                raise Unavailable(
                    f"LiveKit did not answer ({what}) within {self._timeout:g} s"
                ) from exc
            except (aiohttp.ClientError, OSError) as exc:
                # The type only: aiohttp's message names internal hosts, and this detail
                # reaches API callers; the chained exception keeps the full story.
                name = type(exc).__name__
                raise Unavailable(f"LiveKit is unreachable ({what}): {name}") from exc

    # -- egress -----------------------------------------------------------------------

    async def start_egress(self, request: EgressRequest) -> EgressInfo:
        method, message = _egress_request(request)
        info = await self.call("start egress", lambda c: getattr(c.egress, method)(message))
        return _egress_info(info)

    async def stop_egress(self, egress_id: str) -> EgressInfo:
        message = lk_egress.StopEgressRequest(egress_id=egress_id)
        info = await self.call(
            "stop egress", lambda c: c.egress.stop_egress(message), stopping=True
        )
        return _egress_info(info)

    async def get_egress(self, egress_id: str) -> EgressInfo:
        message = lk_egress.ListEgressRequest(egress_id=egress_id)
        found = await self.call("get egress", lambda c: c.egress.list_egress(message))
        for item in found.items:
            if item.egress_id == egress_id:
                return _egress_info(item)
        raise NotFound("egress does not exist")

    async def list_egress(self, *, room_name: str | None = None) -> builtins.list[EgressInfo]:
        message = lk_egress.ListEgressRequest(room_name=room_name or "")
        found = await self.call("list egress", lambda c: c.egress.list_egress(message))
        items = sorted(found.items, key=lambda i: i.started_at)
        return [_egress_info(i) for i in items]

    # -- ingress ----------------------------------------------------------------------

    async def create_ingress(self, request: IngressRequest) -> IngressInfo:
        message = lk_ingress.CreateIngressRequest(
            input_type=_INPUT[request.type],
            name=request.name or "",
            room_name=request.room_name,
            participant_identity=request.participant_identity,
            participant_name=request.participant_name or "",
            url=request.url or "",
        )
        info = await self.call("create ingress", lambda c: c.ingress.create_ingress(message))
        return _ingress_info(info)

    async def get_ingress(self, ingress_id: str) -> IngressInfo:
        message = lk_ingress.ListIngressRequest(ingress_id=ingress_id)
        found = await self.call("get ingress", lambda c: c.ingress.list_ingress(message))
        for item in found.items:
            if item.ingress_id == ingress_id:
                return _ingress_info(item)
        raise NotFound("ingress does not exist")

    async def list_ingress(self, *, room_name: str | None = None) -> builtins.list[IngressInfo]:
        message = lk_ingress.ListIngressRequest(room_name=room_name or "")
        found = await self.call("list ingress", lambda c: c.ingress.list_ingress(message))
        return [_ingress_info(i) for i in found.items]

    async def delete_ingress(self, ingress_id: str) -> IngressInfo:
        message = lk_ingress.DeleteIngressRequest(ingress_id=ingress_id)
        info = await self.call("delete ingress", lambda c: c.ingress.delete_ingress(message))
        return _ingress_info(info)

    async def ping(self) -> None:
        message = lk_room.ListRoomsRequest(names=[_PING_ROOM])
        await self.call("ping", lambda c: c.room.list_rooms(message))


# -- translation ---------------------------------------------------------------------------


def _translate(exc: api.ServerError, what: str, *, stopping: bool) -> PulseError:
    code, status, message = exc.code, exc.status, exc.message or exc.code
    if status in (401, 403) or code in _REFUSED:
        return Unavailable(
            "LiveKit refused Pulse's credentials (LIVEKIT_API_KEY / LIVEKIT_API_SECRET): "
            "the media service is misconfigured"
        )
    if code == "not_found":
        return NotFound(f"{what}: {message}")
    if code == "bad_route":
        return Unavailable(f"LIVEKIT_HOST does not serve LiveKit's API ({what}: {message})")
    if code == "failed_precondition":
        return Conflict(message) if stopping else InvalidInput(message)
    if code in _INVALID:
        field = _FIELD_IN_MESSAGE.search(message)
        return InvalidInput(message, field=field.group(1) if field else None)
    if code == "already_exists":
        return Conflict(message)
    return Unavailable(f"LiveKit failed ({what}): {code} (HTTP {status})")


def _time(nanoseconds: int) -> datetime | None:
    if nanoseconds <= 0:
        return None
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC)


def _egress_info(info: lk_egress.EgressInfo) -> EgressInfo:
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


def _ingress_info(info: lk_ingress.IngressInfo) -> IngressInfo:
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


def _egress_request(request: EgressRequest) -> tuple[str, Any]:
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
