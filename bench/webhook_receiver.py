"""A fast webhook receiver for ``bench/webhooks_outbound.py``: answers 200 ``{}`` to every
POST at once and records, per request, its arrival time (``time.time_ns()``, comparable
across the processes of one machine), the Standard Webhooks headers and the body.

Nothing is verified on the clock: the benchmark verifies every recorded delivery with the
``standardwebhooks`` library after the measurement. Raw asyncio on uvloop, HTTP/1.1
keep-alive, ``Content-Length`` bodies only (what Pulse and requests send): a receiver
that costs a few microseconds a request, so that it is never what is measured.

Control requests: ``GET /__count`` → ``{"count": n}``; ``GET /__dump`` → every record so
far as JSON ``[[arrival_ns, webhook-id, webhook-timestamp, webhook-signature, body], …]``,
and forgets them.

    python bench/webhook_receiver.py PORT
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from typing import Any

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_WANTED = (b"webhook-id", b"webhook-timestamp", b"webhook-signature")

records: list[tuple[int, str, str, str, str]] = []


def _answer(payload: object) -> bytes:
    body = json.dumps(payload).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


class Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's is no asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        transport = self.transport
        assert transport is not None
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            method, _, rest = lines[0].partition(b" ")
            path = rest.partition(b" ")[0]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if b"transfer-encoding" in headers:
                transport.write(_BAD)
                transport.close()
                return
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            if method == b"POST":
                arrived = time.time_ns()
                wanted = [headers.get(name, b"").decode() for name in _WANTED]
                records.append((arrived, *wanted, body.decode()))  # type: ignore[arg-type]
                transport.write(_OK)
            elif path == b"/__count":
                transport.write(_answer({"count": len(records)}))
            elif path == b"/__dump":
                transport.write(_answer(records))
                records.clear()
            else:
                transport.write(_OK)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=1024)
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    async with server:
        await stopping.wait()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
    else:
        uvloop.run(main(int(sys.argv[1])))
