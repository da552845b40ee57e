"""The webhook senders against real servers on loopback. ``AsyncioWebhookSender`` (what
Pulse uses) is held to ``AiohttpWebhookSender`` (the reference): every case that both
must agree on runs against both. Answers come from a scripted raw TCP server, so that
framing (chunked, closed, interim 1xx, malformed) and keep-alive are under the test's
control; the standardwebhooks receiver checks what arrives.

One sender serves every tenant of the process, so nothing an answer carries (cookies
above all) may travel with another delivery."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

import msgspec
import pytest
import trustme
import uvloop

from pulse_adapters.http import AiohttpWebhookSender, AsyncioWebhookSender
from pulse_adapters.http.answers import EXCERPT_CHARS
from pulse_adapters.http.asyncio_sender import _quiet
from pulse_core.ports.webhook_sender import (
    DeliveryFailed,
    WebhookRequest,
    WebhookResponse,
    WebhookSender,
)
from tests.support.webhook_receiver import WebhookReceiver

LOOPBACK = (IPv4Address("127.0.0.1"),)
_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets the connection
SENDERS: dict[str, Callable[..., WebhookSender]] = {
    "asyncio": AsyncioWebhookSender,
    "aiohttp": AiohttpWebhookSender,
}


def _request(url: str, *, timeout: float = 10, **headers: str) -> WebhookRequest:
    return WebhookRequest(
        url=url,
        body=b'{"type":"room.started"}',
        headers={"content-type": "application/json", "webhook-id": "evt_1", **headers},
        addresses=LOOPBACK,
        timeout_seconds=timeout,
    )


@pytest.fixture(params=list(SENDERS))
async def sender(request: pytest.FixtureRequest) -> AsyncIterator[WebhookSender]:
    made = SENDERS[request.param](user_agent="pulse-test")
    try:
        yield made
    finally:
        await made.aclose()


class Closing(bytes):
    """An answer after which the scripted server closes the connection."""


RESET = b"reset"


class Stalled(bytes):
    """The start of an answer, and then nothing more, the connection kept open."""


class Followed(bytes):
    """An answer, and once it is sent, ``later`` on the same connection while it is idle
    (:data:`RESET`: the connection reset instead)."""

    later: bytes

    def __new__(cls, answer: bytes, later: bytes) -> Followed:
        made = super().__new__(cls, answer)
        made.later = later
        return made


@dataclass
class Scripted:
    """A raw HTTP/1.1 server: each request gets the next scripted bytes (``None``: close
    without answering; ``b""``: never answer). Records requests and connections."""

    script: list[bytes | None]
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    def url(self, host: str = "127.0.0.1", path: str = "/hook") -> str:
        return f"http://{host}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.script.pop(0) if self.script else _ok()
                if answer is None:
                    break
                if answer == b"":
                    await asyncio.sleep(3600)
                writer.write(answer)
                await writer.drain()
                if isinstance(answer, Stalled):
                    await asyncio.sleep(3600)
                if isinstance(answer, Closing):
                    break
                if isinstance(answer, Followed):
                    if answer.later == RESET:
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST)
                        writer.transport.abort()
                        break
                    writer.write(answer.later)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _ok(body: bytes = b"ok", *extra: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 200 OK\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


@contextlib.asynccontextmanager
async def _scripted_server() -> AsyncIterator[Scripted]:
    server = Scripted(script=[])
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    async with _scripted_server() as server:
        yield server


async def test_a_cookie_set_by_one_answer_is_never_sent_with_another_delivery(
    sender: WebhookSender, webhook_receiver: WebhookReceiver
) -> None:
    # Two tenants' endpoints on one host (a name, pinned to loopback as a checked
    # delivery is: clients keep cookies of names): the first one's cookie must reach
    # neither the second nor the first again.
    base = webhook_receiver.url.removesuffix("/hooks").replace("127.0.0.1", "hooks.example.com")
    webhook_receiver.script.append((200, {"Set-Cookie": "session=tenant-a; Path=/"}))
    first = await sender.send(_request(f"{base}/hooks"))
    second = await sender.send(_request(f"{base}/other"))
    assert (first.status_code, second.status_code) == (200, 200)
    received = webhook_receiver.wait_for(2)
    assert [r.path for r in received] == ["/hooks", "/other"]
    assert all("cookie" not in r.headers for r in received)
    assert received[1].headers["user-agent"] == "pulse-test"
    assert received[1].headers["host"] == base.removeprefix("http://")


ANSWERS = pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (_ok(b"fine"), WebhookResponse(status_code=200, excerpt="fine")),
        (
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nslow",
            WebhookResponse(status_code=429, retry_after_seconds=7.0, excerpt="slow"),
        ),
        (
            b"HTTP/1.1 503 Busy\r\nRetry-After: soon\r\nContent-Length: 0\r\n\r\n",
            WebhookResponse(status_code=503),
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\ncaf\r\n2\r\n\xc3\xa9\r\n0\r\nX-Trailer: 1\r\n\r\n",
            WebhookResponse(status_code=200, excerpt="café"),
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi",
            WebhookResponse(status_code=201, excerpt="hi"),
        ),
        (
            b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/\r\nContent-Length: 0\r\n\r\n",
            WebhookResponse(status_code=302),  # an answer; never followed
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", WebhookResponse(status_code=204)),
        (
            Closing(b"HTTP/1.0 410 Gone\r\n\r\ngone for good"),
            WebhookResponse(status_code=410, excerpt="gone for good"),
        ),
    ],
    ids=[
        "ok",
        "retry-after",
        "bad-retry-after",
        "chunked",
        "interim-100",
        "redirect",
        "204",
        "http10",
    ],
)


@ANSWERS
async def test_senders_read_answers_alike(
    sender: WebhookSender, scripted: Scripted, answer: bytes, expected: WebhookResponse
) -> None:
    scripted.script.append(answer)
    assert await sender.send(_request(scripted.url())) == expected
    assert len(scripted.requests) == 1
    assert scripted.requests[0].startswith(b"POST /hook HTTP/1.1\r\n")
    assert scripted.requests[0].endswith(b'\r\n\r\n{"type":"room.started"}')


async def test_a_long_answer_is_cut_to_the_excerpt(
    sender: WebhookSender, scripted: Scripted
) -> None:
    scripted.script.append(_ok(b"x" * 200_000))
    answer = await sender.send(_request(scripted.url()))
    assert answer.excerpt == "x" * EXCERPT_CHARS
    if isinstance(sender, AsyncioWebhookSender):
        # Not read to its end, so closed: and never pooled (once the close has taken
        # effect, uvloop refuses the write of the next request on it with RuntimeError).
        assert not any(sender._idle.values())
    scripted.script.append(_ok(b"again"))
    assert (await sender.send(_request(scripted.url()))).excerpt == "again"


BROKEN = pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (None, "the server closed the connection"),
        (Closing(b"NOT HTTP AT ALL\r\n\r\n"), "the answer was malformed"),
    ],
    ids=["closed", "garbage"],
)


@BROKEN
async def test_a_broken_answer_is_a_failed_delivery(
    sender: WebhookSender, scripted: Scripted, answer: bytes | None, reason: str
) -> None:
    scripted.script.append(answer)
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(_request(scripted.url()))
    if isinstance(sender, AsyncioWebhookSender):
        assert failed.value.reason == reason
    else:  # the reference names some of these by aiohttp's exception
        assert failed.value.reason in (reason, "ServerDisconnectedError", "ClientResponseError")


async def test_an_answer_cut_short_still_counts_with_what_came(
    sender: WebhookSender, scripted: Scripted
) -> None:
    # The status arrived: that is the receiver's answer, whatever happened to its body.
    scripted.script.append(Closing(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))
    assert await sender.send(_request(scripted.url())) == WebhookResponse(
        status_code=200, excerpt="short"
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nthe start",
            WebhookResponse(status_code=200),
        ),
        (
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            WebhookResponse(status_code=202),
        ),
        (
            b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 50\r\n\r\n",
            WebhookResponse(status_code=503, retry_after_seconds=7.0),
        ),
    ],
    ids=["200-body-stalls", "202-chunks-stall", "503-body-stalls"],
)
async def test_a_status_that_came_in_time_answers_though_its_body_did_not(
    sender: WebhookSender, scripted: Scripted, answer: bytes, expected: WebhookResponse
) -> None:
    # The receiver said what it did with the delivery: a 2xx is not sent again.
    scripted.script.append(Stalled(answer))
    got = await sender.send(_request(scripted.url(), timeout=0.5))
    # The excerpt is what came, if anything (aiohttp hands over what it has; the asyncio
    # sender reads the whole body it was promised, or nothing).
    assert msgspec.structs.replace(got, excerpt="") == expected
    assert answer.endswith(got.excerpt.encode())
    scripted.script.append(_ok(b"next"))  # and the stalled connection is not reused
    assert await sender.send(_request(scripted.url())) == WebhookResponse(
        status_code=200, excerpt="next"
    )
    assert scripted.connections == 2


async def test_no_answer_within_the_timeout_fails(
    sender: WebhookSender, scripted: Scripted
) -> None:
    scripted.script.append(b"")  # never answers
    with pytest.raises(DeliveryFailed, match=r"no answer within 0.3 s"):
        await sender.send(_request(scripted.url(), timeout=0.3))


TRAILED = pytest.mark.parametrize(
    "answer",
    [_ok(b"ok") + _ok(b"smuggled"), b"HTTP/1.1 204 No Content\r\n\r\n" + _ok(b"smuggled")],
    ids=["past-content-length", "body-of-a-204"],
)
_FAILED = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfail"


@TRAILED
async def test_bytes_past_an_answer_are_never_taken_for_the_next_answer(
    sender: WebhookSender, scripted: Scripted, answer: bytes
) -> None:
    # One sender serves every project: the next POST to this host may be another
    # project's, and what the server sent past its answer must not become that answer.
    scripted.script.extend([answer, _FAILED])
    assert (await sender.send(_request(scripted.url()))).status_code in (200, 204)
    assert await sender.send(_request(scripted.url())) == WebhookResponse(
        status_code=500, excerpt="fail"
    )


async def _until_pooled_connections_unfit(sender: AsyncioWebhookSender) -> None:
    """Wait (a bounded poll) until the sender's idle connections have seen what the
    server sent or did after the answer; then they must not be reused."""
    async with asyncio.timeout(10):
        while True:
            if not any(_quiet(c) for pooled in sender._idle.values() for c in pooled):
                return
            await asyncio.sleep(0.01)


async def test_asyncio_sender_drops_an_idle_connection_the_server_wrote_on(
    scripted: Scripted,
) -> None:
    sender = AsyncioWebhookSender(user_agent="pulse-test")
    try:
        scripted.script.extend([Followed(_ok(), later=_ok(b"smuggled")), _FAILED])
        assert (await sender.send(_request(scripted.url()))).status_code == 200
        await _until_pooled_connections_unfit(sender)
        assert await sender.send(_request(scripted.url())) == WebhookResponse(
            status_code=500, excerpt="fail"
        )
        assert scripted.connections == 2
    finally:
        await sender.aclose()


async def test_asyncio_sender_replaces_an_idle_connection_the_server_reset(
    scripted: Scripted,
) -> None:
    sender = AsyncioWebhookSender(user_agent="pulse-test")
    try:
        scripted.script.append(Followed(_ok(), later=RESET))
        assert (await sender.send(_request(scripted.url()))).status_code == 200
        await _until_pooled_connections_unfit(sender)
        assert (await sender.send(_request(scripted.url()))).status_code == 200
        assert scripted.connections == 2
    finally:
        await sender.aclose()


def test_the_stream_reader_still_holds_what_it_buffered_in_buffer() -> None:
    # `_quiet` reads StreamReader's private `_buffer`; a Python that renamed it would
    # make every connection look empty. This pins it.
    reader = asyncio.StreamReader(loop=asyncio.new_event_loop())
    reader.feed_data(b"left over")
    assert _quiet.__module__ == AsyncioWebhookSender.__module__
    assert bytes(reader._buffer) == b"left over"


async def test_a_refused_connection_fails(sender: WebhookSender, scripted: Scripted) -> None:
    scripted.port = 1  # nothing listens there
    with pytest.raises(DeliveryFailed, match="connection failed"):
        await sender.send(_request(scripted.url()))


async def test_asyncio_sender_reuses_a_kept_alive_connection_and_replaces_a_closed_one(
    scripted: Scripted,
) -> None:
    sender = AsyncioWebhookSender(user_agent="pulse-test")
    try:
        for _ in range(3):
            assert (await sender.send(_request(scripted.url()))).status_code == 200
        assert scripted.connections == 1
        # The server then drops the connection on the next request without answering,
        # as one that timed the idle connection out does: the request goes again on a
        # new connection, once.
        scripted.script.extend([_ok(), None])
        await sender.send(_request(scripted.url()))
        assert (await sender.send(_request(scripted.url()))).status_code == 200
        assert scripted.connections == 2
        assert len(scripted.requests) == 6  # 4 answered, 1 dropped, 1 sent again
    finally:
        await sender.aclose()


async def test_asyncio_sender_closes_a_connection_the_server_asked_to_close(
    scripted: Scripted,
) -> None:
    sender = AsyncioWebhookSender(user_agent="pulse-test")
    try:
        scripted.script.append(_ok(b"bye", "Connection: close"))
        await sender.send(_request(scripted.url()))
        await sender.send(_request(scripted.url()))
        assert scripted.connections == 2
        assert len(scripted.requests) == 2
    finally:
        await sender.aclose()


async def test_asyncio_sender_connects_only_to_the_checked_address(scripted: Scripted) -> None:
    sender = AsyncioWebhookSender(user_agent="pulse-test")
    try:
        # A name that resolves nowhere: only the pinned address is ever connected to.
        url = scripted.url(host="hooks.invalid")
        assert (await sender.send(_request(url))).status_code == 200
        assert b"\r\nHost: hooks.invalid:" in scripted.requests[0]
        with pytest.raises(DeliveryFailed, match="connection failed"):
            await sender.send(
                WebhookRequest(url=url, body=b"", headers={}, addresses=(), timeout_seconds=5)
            )
    finally:
        await sender.aclose()


@pytest.mark.parametrize(
    "header", [("x-evil", "a\r\nX-Injected: 1"), ("bad name", "v"), ("x", "\n")]
)
async def test_asyncio_sender_refuses_a_header_that_would_break_the_request(
    scripted: Scripted, header: tuple[str, str]
) -> None:
    sender = AsyncioWebhookSender(user_agent="pulse-test")
    try:
        with pytest.raises(DeliveryFailed, match="break the request"):
            await sender.send(_request(scripted.url(), **dict([header])))
        assert scripted.requests == []
    finally:
        await sender.aclose()


async def test_asyncio_sender_verifies_tls_against_the_name_in_the_url() -> None:
    authority = trustme.CA()
    served = authority.issue_cert("hooks.example.com")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.configure_cert(server_tls)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(_ok(b"secure", "Connection: close"))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_tls)
    port = listening.sockets[0].getsockname()[1]
    good = AsyncioWebhookSender(user_agent="pulse-test", tls=trusting)
    system = AsyncioWebhookSender(user_agent="pulse-test")
    try:
        answer = await good.send(_request(f"https://hooks.example.com:{port}/hook"))
        assert answer.excerpt == "secure"
        with pytest.raises(DeliveryFailed, match="TLS handshake failed"):  # another name
            await good.send(_request(f"https://other.example.com:{port}/hook"))
        with pytest.raises(DeliveryFailed, match="TLS handshake failed"):  # unknown CA
            await system.send(_request(f"https://hooks.example.com:{port}/hook"))
        assert len(seen) == 1
    finally:
        await good.aclose()
        await system.aclose()
        listening.close()


def test_asyncio_sender_serves_a_second_event_loop_after_the_first_closed() -> None:
    # A process has one loop; an embedder's tests may run several in turn on one sender,
    # and a kept-alive connection of the first loop is of no use to the second.
    server = Scripted(script=[])
    serving = asyncio.new_event_loop()
    threading.Thread(target=serving.run_forever, daemon=True).start()

    async def start() -> asyncio.Server:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = listening.sockets[0].getsockname()[1]
        return listening

    listening = asyncio.run_coroutine_threadsafe(start(), serving).result(timeout=10)
    sender = AsyncioWebhookSender(user_agent="pulse-test")

    async def once() -> int:
        return (await sender.send(_request(server.url()))).status_code

    try:
        assert asyncio.run(once()) == 200
        assert asyncio.run(once()) == 200
        asyncio.run(sender.aclose())
        assert len(server.requests) == 2
        assert server.connections == 2
    finally:

        async def stop() -> None:
            listening.close()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), serving).result(timeout=10)
        serving.call_soon_threadsafe(serving.stop)


# `pulse worker` runs on uvloop, the tests above on asyncio's own loop: the asyncio sender
# must read, fail, pool, pin and verify alike on both.
Case = Callable[[WebhookSender, Scripted], Awaitable[None]]


def _cases_of(mark: pytest.MarkDecorator, test: Callable[..., Awaitable[None]]) -> list[Any]:
    values, ids = mark.args[1], mark.kwargs["ids"]
    return [
        pytest.param(functools.partial(test, answer=a, **{mark.args[0][1]: b}), id=i)
        for (a, b), i in zip(values, ids, strict=True)
    ]


def _scripted_only(test: Callable[[Scripted], Awaitable[None]]) -> Case:
    return lambda _sender, scripted: test(scripted)


@pytest.mark.parametrize(
    "case",
    [
        *_cases_of(ANSWERS, test_senders_read_answers_alike),
        *_cases_of(BROKEN, test_a_broken_answer_is_a_failed_delivery),
        pytest.param(test_a_long_answer_is_cut_to_the_excerpt, id="long"),
        pytest.param(test_an_answer_cut_short_still_counts_with_what_came, id="cut-short"),
        pytest.param(test_no_answer_within_the_timeout_fails, id="timeout"),
        pytest.param(test_a_refused_connection_fails, id="refused"),
        *[
            pytest.param(
                functools.partial(
                    test_bytes_past_an_answer_are_never_taken_for_the_next_answer, answer=a
                ),
                id=i,
            )
            for a, i in zip(TRAILED.args[1], TRAILED.kwargs["ids"], strict=True)
        ],
        pytest.param(
            _scripted_only(test_asyncio_sender_drops_an_idle_connection_the_server_wrote_on),
            id="written-on-while-idle",
        ),
        pytest.param(
            _scripted_only(test_asyncio_sender_replaces_an_idle_connection_the_server_reset),
            id="reset-while-idle",
        ),
        pytest.param(
            _scripted_only(
                test_asyncio_sender_reuses_a_kept_alive_connection_and_replaces_a_closed_one
            ),
            id="keep-alive",
        ),
        pytest.param(
            _scripted_only(test_asyncio_sender_closes_a_connection_the_server_asked_to_close),
            id="connection-close",
        ),
        pytest.param(
            _scripted_only(test_asyncio_sender_connects_only_to_the_checked_address),
            id="pinned",
        ),
        pytest.param(
            lambda _sender, _scripted: (
                test_asyncio_sender_verifies_tls_against_the_name_in_the_url()
            ),
            id="tls",
        ),
    ],
)
def test_the_asyncio_sender_on_uvloop(case: Case) -> None:
    async def run() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        sender = AsyncioWebhookSender(user_agent="pulse-test")
        try:
            async with _scripted_server() as scripted:
                await case(sender, scripted)
        finally:
            await sender.aclose()

    uvloop.run(run())
