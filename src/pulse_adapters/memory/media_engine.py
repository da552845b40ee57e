"""A simulated media engine: egress and ingress without a media server.

For tests, embedding, and the embedded default when ``LIVEKIT_HOST`` is not set. It
keeps LiveKit's observable behaviour, checked by the same contract suite as
``LiveKitMediaEngine``:

- An egress starts ``starting``. Each later read (``get_egress``, ``list_egress``)
  moves it one step along, as LiveKit's egress worker would between two calls:
  ``starting`` → ``active``; after ``stop_egress`` (which answers ``ending``),
  ``ending`` → ``complete``, and only then are its files "uploaded".
- Stopping an egress that is not ``starting`` or ``active`` is a ``Conflict``; unknown
  ids are ``NotFound``; requests are checked by the port's rules, LiveKit's own.
- An RTMP or WHIP ingress gets the configured base URL and a random stream key; a URL
  pull ingress keeps its source URL, has no key and starts ``buffering``. Nobody
  publishes to it unless a test says so (:meth:`InMemoryMediaEngine.simulate_session`).

Files. There is no media, so a completed file output is a short placeholder text
(and an HLS output a playlist naming one placeholder segment). They are handed to the
optional ``file_sink`` (the container wires ``ObjectStorage.put``: adapters do not
import each other), under the target's storage key, so the embedded default really
produces recordings that can be listed and downloaded. A sink failure fails the egress
(``failed``, with the error), as an upload failure would on LiveKit.

Every method runs without awaiting anything but the sink, so it is atomic under asyncio.
"""

from __future__ import annotations

import builtins
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Protocol

from msgspec.structs import replace

from pulse_core.errors import Conflict, NotFound, PulseError
from pulse_core.models.media import EgressStatus, IngressStatus
from pulse_core.ports.clock import Clock
from pulse_core.ports.media import (
    EgressInfo,
    EgressRequest,
    FileTarget,
    IngressInfo,
    IngressRequest,
    MediaEngine,
    SegmentsTarget,
    check_egress_request,
    check_ingress_request,
)

#: What a simulated recording file contains.
PLACEHOLDER = (
    b"Pulse simulated recording.\n"
    b"No media server is configured (set LIVEKIT_HOST), so this file stands in for one.\n"
)
_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".ogg": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".ts": "video/mp2t",
    ".m3u8": "application/vnd.apple.mpegurl",
}
# LiveKit ids: a prefix and 12 base57 characters.
_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class FileSink(Protocol):
    """Where finished files go: ``ObjectStorage.put`` has exactly this shape."""

    async def __call__(self, key: str, data: bytes, *, content_type: str = ...) -> None: ...


def _engine_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def _content_type(key: str) -> str:
    return _CONTENT_TYPES.get(PurePosixPath(key).suffix.lower(), "application/octet-stream")


@dataclass
class _Egress:
    request: EgressRequest
    egress_id: str
    status: EgressStatus
    started_at: datetime
    ended_at: datetime | None = None
    error: str | None = None

    def info(self) -> EgressInfo:
        return EgressInfo(
            egress_id=self.egress_id,
            kind=self.request.kind,
            room_name=self.request.room_name,
            status=self.status,
            started_at=self.started_at,
            ended_at=self.ended_at,
            error=self.error,
        )


class InMemoryMediaEngine(MediaEngine):
    """The simulated engine (module docstring). ``clock`` stamps start and end times;
    ``rtmp_url`` / ``whip_url`` are what RTMP / WHIP ingresses report as their URL."""

    def __init__(
        self,
        clock: Clock,
        *,
        file_sink: FileSink | None = None,
        rtmp_url: str = "rtmp://localhost:1935/live",
        whip_url: str = "http://localhost:8085/w",
    ) -> None:
        self._clock = clock
        self._sink = file_sink
        self._rtmp_url = rtmp_url
        self._whip_url = whip_url
        self._egresses: dict[str, _Egress] = {}
        self._ingresses: dict[str, IngressInfo] = {}

    # -- egress -----------------------------------------------------------------------

    async def start_egress(self, request: EgressRequest) -> EgressInfo:
        check_egress_request(request)
        egress = _Egress(
            request=request,
            egress_id=_engine_id("EG_"),
            status="starting",
            started_at=self._clock.now(),
        )
        self._egresses[egress.egress_id] = egress
        return egress.info()

    async def stop_egress(self, egress_id: str) -> EgressInfo:
        egress = self._egress(egress_id)
        if egress.status not in ("starting", "active"):
            raise Conflict(f"egress with status {egress.status} cannot be stopped")
        egress.status = "ending"
        return egress.info()

    async def get_egress(self, egress_id: str) -> EgressInfo:
        egress = self._egress(egress_id)
        await self._advance(egress)
        return egress.info()

    async def list_egress(self, *, room_name: str | None = None) -> builtins.list[EgressInfo]:
        found = [
            e
            for e in self._egresses.values()
            if room_name is None or e.request.room_name == room_name
        ]
        for egress in found:
            await self._advance(egress)
        return [e.info() for e in found]

    # -- ingress ----------------------------------------------------------------------

    async def create_ingress(self, request: IngressRequest) -> IngressInfo:
        check_ingress_request(request)
        pull = request.type == "url"
        status: IngressStatus = "buffering" if pull else "inactive"
        if request.type == "url":
            url = request.url or ""
        else:
            url = self._rtmp_url if request.type == "rtmp" else self._whip_url
        info = IngressInfo(
            ingress_id=_engine_id("IN_"),
            type=request.type,
            room_name=request.room_name,
            participant_identity=request.participant_identity,
            participant_name=request.participant_name,
            url=url,
            stream_key=None if pull else _engine_id(""),
            status=status,
        )
        self._ingresses[info.ingress_id] = info
        return info

    async def get_ingress(self, ingress_id: str) -> IngressInfo:
        info = self._ingresses.get(ingress_id)
        if info is None:
            raise NotFound("ingress does not exist")
        return info

    async def list_ingress(self, *, room_name: str | None = None) -> builtins.list[IngressInfo]:
        return [
            i for i in self._ingresses.values() if room_name is None or i.room_name == room_name
        ]

    def simulate_session(
        self, ingress_id: str, *, started_at_ns: int, ended_at_ns: int = 0
    ) -> None:
        """A publisher's session on the ingress, as LiveKit reports one: ``publishing``
        since ``started_at_ns``, or ``inactive`` again once ``ended_at_ns`` is given
        (nanoseconds since the epoch). For tests: there is no media here. ``NotFound``
        for an unknown id."""
        info = self._ingresses.get(ingress_id)
        if info is None:
            raise NotFound("ingress does not exist")
        self._ingresses[ingress_id] = replace(
            info,
            status="inactive" if ended_at_ns else "publishing",
            started_at_ns=started_at_ns,
            ended_at_ns=ended_at_ns,
        )

    async def delete_ingress(self, ingress_id: str) -> IngressInfo:
        info = self._ingresses.pop(ingress_id, None)
        if info is None:
            raise NotFound("ingress does not exist")
        return info

    async def ping(self) -> None:
        return None

    # -- internals --------------------------------------------------------------------

    def _egress(self, egress_id: str) -> _Egress:
        egress = self._egresses.get(egress_id)
        if egress is None:
            raise NotFound("egress does not exist")
        return egress

    async def _advance(self, egress: _Egress) -> None:
        if egress.status == "starting":
            egress.status = "active"
        elif egress.status == "ending":
            # Set before writing, so a concurrent read does not write the files twice.
            egress.status = "complete"
            egress.ended_at = self._clock.now()
            try:
                await self._write_outputs(egress.request)
            except PulseError as exc:
                egress.status = "failed"
                egress.error = f"could not store the output: {exc.detail}"

    async def _write_outputs(self, request: EgressRequest) -> None:
        if self._sink is None:
            return
        for target in request.outputs:
            if isinstance(target, FileTarget):
                await self._sink(target.key, PLACEHOLDER, content_type=_content_type(target.key))
            elif isinstance(target, SegmentsTarget):
                segment = f"{target.segment_prefix}_00000.ts"
                playlist = (
                    "#EXTM3U\n#EXT-X-VERSION:3\n"
                    f"#EXT-X-TARGETDURATION:{target.segment_duration}\n"
                    "#EXT-X-MEDIA-SEQUENCE:0\n"
                    f"#EXTINF:{target.segment_duration}.000,\n"
                    f"{PurePosixPath(segment).name}\n#EXT-X-ENDLIST\n"
                )
                await self._sink(segment, PLACEHOLDER, content_type=_content_type(segment))
                await self._sink(
                    target.playlist_key,
                    playlist.encode(),
                    content_type=_content_type(target.playlist_key),
                )
