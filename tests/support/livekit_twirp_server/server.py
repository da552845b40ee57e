"""``LiveKitTwirpServer``: the HTTP server (aiohttp, in a thread with its own event loop),
its test hooks (faults, delays, egress and ingress progress, rooms and participants)
and the dispatch of each request: fault -> auth -> route -> decode -> grant -> handler.
The RPCs themselves are in ``rooms``, ``egress`` and ``ingress``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress
from livekit.protocol import models as lk_models

from tests.support.livekit_twirp_server.auth import _Authenticator, _AuthFailure
from tests.support.livekit_twirp_server.egress import _ES, _EgressHandlers
from tests.support.livekit_twirp_server.egress_outputs import _Outputs
from tests.support.livekit_twirp_server.ingress import _IngressHandlers
from tests.support.livekit_twirp_server.routes import _ROUTES
from tests.support.livekit_twirp_server.state import (
    RecordedCall,
    ServerState,
    _clone,
    _guid,
    _now_ns,
)
from tests.support.livekit_twirp_server.twirp import (
    _JSON,
    _PATH,
    _PROTOBUF,
    TWIRP_HTTP_STATUS,
    TwirpFailure,
    _FailRule,
    _Reply,
    _TwirpCodec,
)

# --------------------------------------------------------------------------- server


class LiveKitTwirpServer(_EgressHandlers, _IngressHandlers, _Authenticator, _TwirpCodec):
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
        narrow_grants: bool = False,
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
        self.narrow_grants = narrow_grants
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
        attributes: Mapping[str, str] | None = None,
        permission: lk_models.ParticipantPermission | None = None,
    ) -> lk_models.ParticipantInfo:
        """Put a participant in ``room`` (created if needed). Returns a copy. Without
        ``permission`` it may publish, subscribe and send data (a default token's)."""
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
                attributes=dict(attributes or {}),
                permission=permission
                or lk_models.ParticipantPermission(
                    can_publish=True, can_subscribe=True, can_publish_data=True
                ),
            )
            self.state.participants.setdefault(room, {})[identity] = participant
            self._count_participants(room_info)
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
            excess = self._excess_grants(call.claims, route.grant) if self.narrow_grants else []
            if excess:
                raise TwirpFailure(
                    "permission_denied", f"token grants more than {call.method} needs: {excess}"
                )
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

    def _consume_fault(self, service: str, method: str) -> None:
        for rule in self._fail_rules:
            if rule.matches(service, method):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._fail_rules.remove(rule)
                raise TwirpFailure(rule.code, rule.msg, rule.meta)
