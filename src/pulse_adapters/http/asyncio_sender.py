"""Webhook POSTs over asyncio's own streams: HTTP/1.1 with keep-alive, connecting only to
the addresses the policy checked.

Why not aiohttp (:class:`~pulse_adapters.http.AiohttpWebhookSender`, kept as the
reference the tests hold this one to): a delivery is one small POST whose answer matters
for its status, one header and a few KB, and aiohttp's general request machinery cost
twice the CPU of this client per POST on the benchmark machine (``bench/README.md``,
"Webhooks": about 165 µs against 75 µs), a sixth of a worker's time per event.

What it does, and no more: ``POST`` with ``Host``, ``User-Agent``, ``Content-Length`` and
the delivery's headers (no ``Accept-Encoding``: answers come uncompressed; no cookies);
answers framed by ``Content-Length``, ``chunked`` or the end of the connection; interim
1xx answers skipped; at most :data:`MAX_ANSWER_BYTES` kept. A connection is reused when
the answer was HTTP/1.1, not ``Connection: close``, and read to its end (a long body is
not drained: the connection is closed instead), with nothing after it, then or while
idle. A reused connection that the server had closed meanwhile (nothing of the answer
came back) is replaced by a new one, once.
TLS verifies the certificate against the URL's host, as named in the URL (SNI too),
while the TCP connection goes to the checked address.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from typing import Final, NamedTuple
from urllib.parse import quote, urlsplit

from pulse_adapters.http.answers import (
    CLOSED,
    CONNECTION_FAILED,
    MALFORMED,
    MAX_ANSWER_BYTES,
    TLS_FAILED,
    excerpt,
    retry_after_seconds,
)
from pulse_core.errors import InvalidInput
from pulse_core.net.hosts import IPAddress, parse_host
from pulse_core.ports.webhook_sender import (
    DeliveryFailed,
    WebhookRequest,
    WebhookResponse,
    WebhookSender,
)

_MAX_HEAD: Final = 64 * 1024
#: Body left after the excerpt that is still read to keep the connection; past it, close.
_DRAIN_LIMIT: Final = 64 * 1024
#: A pooled connection unused for longer is closed rather than reused (servers commonly
#: drop idle keep-alive connections after 5 to 60 seconds).
IDLE_SECONDS: Final = 15.0
_IDLE_PER_ORIGIN: Final = 32
_SAFE_PATH: Final = "/%:@!$&'()*+,;=?~-._"
_LINE_BREAKS: Final = frozenset("\r\n\0")
_NOT_IN_NAMES: Final = _LINE_BREAKS | frozenset(": \t")


class _Target(NamedTuple):
    tls: bool
    host: str  # as connected to for TLS (SNI, certificate), IDNA-encoded
    port: int
    head: bytes  # the request line and Host header


class _Malformed(Exception):
    pass


class _Stale(Exception):
    """A reused connection was found closed before any of the answer came back."""


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def close(self) -> None:
        self.writer.close()


_Origin = tuple[bool, str, int, IPAddress]


class AsyncioWebhookSender(WebhookSender):
    """At most ``limit`` POSTs at once for the whole process; idle connections are kept
    per origin and checked address. ``tls`` is the client TLS context (the system's
    trusted CAs by default; tests pass one that trusts their own CA)."""

    def __init__(
        self, *, user_agent: str, limit: int = 100, tls: ssl.SSLContext | None = None
    ) -> None:
        if any(c in user_agent for c in "\r\n"):
            raise ValueError("user_agent must be one line")
        self._agent = f"User-Agent: {user_agent}\r\n".encode()
        self._limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._tls = tls
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        target = _target(request.url)
        message = self._message(target, request)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Connections and the semaphore belong to the loop they were made in (a
            # process has one; tests may run several in turn): start afresh in this one.
            self._loop, self._idle = loop, {}
            self._slots = asyncio.Semaphore(self._limit)
        heads: list[tuple[int, dict[str, str]]] = []  # the answer's head, once it came
        try:
            async with asyncio.timeout(request.timeout_seconds), self._slots:
                return await self._exchange(target, request.addresses, message, heads)
        except TimeoutError:
            if heads:  # the status came in time, its body did not: the status answers
                status, headers = heads[-1]
                return _response(status, headers, b"")
            raise DeliveryFailed(f"no answer within {request.timeout_seconds:g} s") from None

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        if asyncio.get_running_loop() is not self._loop:
            return  # another loop's connections, gone with it
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _message(self, target: _Target, request: WebhookRequest) -> bytes:
        fields = [f"Content-Length: {len(request.body)}\r\n"]
        for name, value in request.headers.items():
            bad_name = not name or not name.isascii() or _NOT_IN_NAMES.intersection(name)
            if bad_name or _LINE_BREAKS.intersection(value):
                raise DeliveryFailed("a header would break the request")  # never Pulse's
            fields.append(f"{name}: {value}\r\n")
        try:
            head = "".join(fields).encode("latin-1")
        except UnicodeEncodeError:
            raise DeliveryFailed("a header is not latin-1") from None
        return b"".join((target.head, self._agent, head, b"\r\n", request.body))

    async def _exchange(
        self,
        target: _Target,
        addresses: tuple[IPAddress, ...],
        message: bytes,
        heads: list[tuple[int, dict[str, str]]],
    ) -> WebhookResponse:
        for address in addresses:
            connection = self._take_idle((target.tls, target.host, target.port, address))
            if connection is not None:
                try:
                    return await self._over(
                        connection, target, address, message, heads, reused=True
                    )
                except _Stale:
                    break  # the server had closed it: a new connection, below
        connection, address = await self._connect(target, addresses)
        return await self._over(connection, target, address, message, heads, reused=False)

    def _take_idle(self, origin: _Origin) -> _Connection | None:
        pooled = self._idle.get(origin)
        now = time.monotonic()
        while pooled:
            connection = pooled.pop()
            if now - connection.idle_since < IDLE_SECONDS and _quiet(connection):
                return connection
            connection.close()
        return None

    async def _connect(
        self, target: _Target, addresses: tuple[IPAddress, ...]
    ) -> tuple[_Connection, IPAddress]:
        for address in addresses:
            try:
                reader, writer = await asyncio.open_connection(
                    str(address),
                    target.port,
                    family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                    flags=socket.AI_NUMERICHOST,  # an address, never a lookup
                    ssl=self._context() if target.tls else None,
                    server_hostname=target.host if target.tls else None,
                    limit=_MAX_HEAD,
                )
            except ssl.SSLError:
                raise DeliveryFailed(TLS_FAILED) from None
            except OSError:
                continue  # the next checked address, if any
            return _Connection(reader, writer), address
        raise DeliveryFailed(CONNECTION_FAILED)

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()  # once: loading the CAs is slow
        return self._tls

    async def _over(
        self,
        connection: _Connection,
        target: _Target,
        address: IPAddress,
        message: bytes,
        heads: list[tuple[int, dict[str, str]]],
        *,
        reused: bool,
    ) -> WebhookResponse:
        kept = False
        try:
            connection.writer.write(message)
            await connection.writer.drain()
            status, headers, keep = await _read_head(connection.reader)
            heads.append((status, headers))
            body, kept = await _read_body(connection.reader, status, headers, keep)
        except asyncio.IncompleteReadError as exc:
            if reused and not exc.partial:
                raise _Stale from None
            raise DeliveryFailed(CLOSED) from None
        except (ConnectionResetError, BrokenPipeError, RuntimeError):
            # uvloop raises RuntimeError for a write to a transport the peer closed.
            if reused:
                raise _Stale from None
            raise DeliveryFailed(CLOSED) from None
        except (_Malformed, asyncio.LimitOverrunError, ValueError):
            raise DeliveryFailed(MALFORMED) from None
        except ssl.SSLError:
            raise DeliveryFailed(TLS_FAILED) from None
        except OSError:
            raise DeliveryFailed(CONNECTION_FAILED) from None
        finally:
            # Only an answer read to its end, with nothing after it, leaves the connection
            # fit for the next one: bytes past the answer's framing would be taken for the
            # next request's answer, and the next request may be another project's. A
            # failure, a timeout or a cancellation leaves it in an unknown state.
            kept = kept and _quiet(connection)
            if not kept:
                connection.close()
        if kept:
            self._keep(connection, (target.tls, target.host, target.port, address))
        return _response(status, headers, body)

    def _keep(self, connection: _Connection, origin: _Origin) -> None:
        pooled = self._idle.setdefault(origin, [])
        if len(pooled) >= _IDLE_PER_ORIGIN:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        pooled.append(connection)


def _response(status: int, headers: dict[str, str], body: bytes) -> WebhookResponse:
    return WebhookResponse(
        status_code=status,
        retry_after_seconds=retry_after_seconds(headers.get("retry-after")),
        excerpt=excerpt(body),
    )


def _quiet(connection: _Connection) -> bool:
    """Whether the connection is open with nothing unread: between answers a server has
    nothing to say, so anything there (a reset, bytes past the last answer) unfits it."""
    reader = connection.reader
    # StreamReader has no public count of what it holds; `_buffer` is that count's source
    # in every CPython since 3.4 (uvloop uses the same class), and a test pins it.
    return (
        not connection.writer.is_closing()
        and reader.exception() is None
        and not reader.at_eof()
        and not reader._buffer  # type: ignore[attr-defined]
    )


@functools.lru_cache(maxsize=4096)
def _target(url: str) -> _Target:
    """What a URL means to the sender, worked out once per URL (a worker sends to the
    same few over and over); ``DeliveryFailed`` for one it cannot send to."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parse_host(parts.hostname or "")
    except (ValueError, InvalidInput):
        raise DeliveryFailed("the URL cannot be sent to") from None
    if parts.scheme not in ("http", "https"):
        raise DeliveryFailed("the URL cannot be sent to")
    tls = parts.scheme == "https"
    default = 443 if tls else 80
    name = host if isinstance(host, str) else str(host)
    shown = f"[{name}]" if not isinstance(host, str) and host.version == 6 else name
    authority = shown if port in (None, default) else f"{shown}:{port}"
    path = quote(parts.path or "/", safe=_SAFE_PATH)
    if parts.query:
        path += "?" + quote(parts.query, safe=_SAFE_PATH)
    head = f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n".encode("ascii")
    return _Target(tls=tls, host=name, port=port or default, head=head)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bool]:
    """The final answer's status and headers (names in lower case), skipping interim
    1xx answers, and whether the connection may be kept after its body."""
    while True:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw[:-4].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise _Malformed
        status = int(code)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise _Malformed
            headers[name.lower()] = value.strip()
        if 100 <= status < 200 and status != 101:
            continue
        keep = (
            version == "HTTP/1.1"
            and status != 101  # switched to another protocol: nothing to reuse
            and "close" not in headers.get("connection", "").lower()
        )
        return status, headers, keep


async def _read_body(
    reader: asyncio.StreamReader, status: int, headers: dict[str, str], keep: bool
) -> tuple[bytes, bool]:
    """Up to :data:`MAX_ANSWER_BYTES` of the body, and whether the connection is still
    fit to reuse (the whole body read)."""
    if status in (204, 304) or status < 200:
        return b"", keep
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.lower().rsplit(",", 1)[-1].strip() != "chunked":
            return await _until_closed(reader), False
        return await _chunked(reader, keep)
    length = headers.get("content-length")
    if length is None:
        return await _until_closed(reader), False
    if not length.isdigit():
        raise _Malformed
    size = int(length)
    try:
        body = await reader.readexactly(min(size, MAX_ANSWER_BYTES))
    except asyncio.IncompleteReadError as exc:
        return exc.partial, False  # cut short; the status is the answer all the same
    rest = size - len(body)
    if rest > _DRAIN_LIMIT:
        return body, False
    if rest:
        await reader.readexactly(rest)
    return body, keep


async def _chunked(reader: asyncio.StreamReader, keep: bool) -> tuple[bytes, bool]:
    body = bytearray()
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields
            return bytes(body), keep
        total += size
        if total > MAX_ANSWER_BYTES + _DRAIN_LIMIT:
            return bytes(body), False
        try:
            chunk = await reader.readexactly(size + 2)
        except asyncio.IncompleteReadError as exc:
            body += exc.partial[: min(size, MAX_ANSWER_BYTES - len(body))]
            return bytes(body), False  # cut short, as above
        if chunk[-2:] != b"\r\n":
            raise _Malformed
        body += chunk[: min(size, MAX_ANSWER_BYTES - len(body))]


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while len(body) < MAX_ANSWER_BYTES:
        more = await reader.read(MAX_ANSWER_BYTES - len(body))
        if not more:
            break
        body += more
    return body
