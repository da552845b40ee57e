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
errors; no answer within the timeout; a 200 whose
body is not LiveKit's message
=====================================================  ================================

livekit-server answers a bad token with a plain-text 401, which the SDK reports as
``ServerError(code="unknown", status=401)``: the status is checked, not only the code.
"""

from __future__ import annotations

import asyncio
import builtins
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import aiohttp
from google.protobuf.message import DecodeError
from livekit import api
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress
from livekit.protocol import room as lk_room

from pulse_adapters.livekit.media_messages import (
    egress_info,
    egress_request,
    ingress_info,
    ingress_request,
)
from pulse_core.errors import Conflict, InvalidInput, NotFound, PulseError, Unavailable
from pulse_core.ports.media import (
    EgressInfo,
    EgressRequest,
    IngressInfo,
    IngressRequest,
    MediaEngine,
)
from pulse_core.ports.telemetry import NO_TELEMETRY, Telemetry

T = TypeVar("T")

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
            except DecodeError as exc:
                # A 200 whose body is not LiveKit's message: another service on that
                # address (a proxy's page, a captive portal), as misconfigured as a
                # bad_route.
                raise Unavailable(f"LiveKit's answer could not be read ({what})") from exc

    # -- egress -----------------------------------------------------------------------

    async def start_egress(self, request: EgressRequest) -> EgressInfo:
        method, message = egress_request(request)
        info = await self.call("start egress", lambda c: getattr(c.egress, method)(message))
        return egress_info(info)

    async def stop_egress(self, egress_id: str) -> EgressInfo:
        message = lk_egress.StopEgressRequest(egress_id=egress_id)
        info = await self.call(
            "stop egress", lambda c: c.egress.stop_egress(message), stopping=True
        )
        return egress_info(info)

    async def get_egress(self, egress_id: str) -> EgressInfo:
        message = lk_egress.ListEgressRequest(egress_id=egress_id)
        found = await self.call("get egress", lambda c: c.egress.list_egress(message))
        for item in found.items:
            if item.egress_id == egress_id:
                return egress_info(item)
        raise NotFound("egress does not exist")

    async def list_egress(self, *, room_name: str | None = None) -> builtins.list[EgressInfo]:
        message = lk_egress.ListEgressRequest(room_name=room_name or "")
        found = await self.call("list egress", lambda c: c.egress.list_egress(message))
        items = sorted(found.items, key=lambda i: i.started_at)
        return [egress_info(i) for i in items]

    # -- ingress ----------------------------------------------------------------------

    async def create_ingress(self, request: IngressRequest) -> IngressInfo:
        message = ingress_request(request)
        info = await self.call("create ingress", lambda c: c.ingress.create_ingress(message))
        return ingress_info(info)

    async def get_ingress(self, ingress_id: str) -> IngressInfo:
        message = lk_ingress.ListIngressRequest(ingress_id=ingress_id)
        found = await self.call("get ingress", lambda c: c.ingress.list_ingress(message))
        for item in found.items:
            if item.ingress_id == ingress_id:
                return ingress_info(item)
        raise NotFound("ingress does not exist")

    async def list_ingress(self, *, room_name: str | None = None) -> builtins.list[IngressInfo]:
        message = lk_ingress.ListIngressRequest(room_name=room_name or "")
        found = await self.call("list ingress", lambda c: c.ingress.list_ingress(message))
        return [ingress_info(i) for i in found.items]

    async def delete_ingress(self, ingress_id: str) -> IngressInfo:
        message = lk_ingress.DeleteIngressRequest(ingress_id=ingress_id)
        info = await self.call("delete ingress", lambda c: c.ingress.delete_ingress(message))
        return ingress_info(info)

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
