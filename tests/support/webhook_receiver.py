"""A real HTTP receiver on loopback that verifies every webhook with the
``standardwebhooks`` library, records it, and answers from a script.

It runs in a thread (``ThreadingHTTPServer``), so it serves both in-process apps and
`pulse serve` processes while a test blocks. Script entries: a status code, a
``(status, headers)`` pair, or ``HANG`` (never answer until the receiver stops). When the
script is empty the receiver answers 200.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HANG = "hang"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int | None

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class WebhookReceiver:
    def __init__(self) -> None:
        self.secret: str | None = None
        self.script: deque[object] = deque()
        self.received: list[Received] = []
        self._lock = threading.Condition()
        self._stopped = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        body = request.rfile.read(length)
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = False
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(body, headers, json_parse=False)
                verified = True
            except WebhookVerificationError:
                verified = False
        with self._lock:
            answer = self.script.popleft() if self.script else 200
        if answer == HANG:
            self._record(request.path, headers, body, verified, None)
            self._stopped.wait()
            return
        status, extra = answer if isinstance(answer, tuple) else (answer, {})
        assert isinstance(status, int)
        self._record(request.path, headers, body, verified, status)
        request.send_response(status)
        for name, value in extra.items():
            request.send_header(name, value)
        request.send_header("Content-Length", "2")
        request.end_headers()
        request.wfile.write(b"ok")

    def _record(
        self, path: str, headers: dict[str, str], body: bytes, verified: bool, status: int | None
    ) -> None:
        with self._lock:
            self.received.append(Received(path, headers, body, verified, status))
            self._lock.notify_all()

    def wait_for(self, count: int, *, timeout: float = 60.0) -> list[Received]:
        """Block until ``count`` requests arrived (a generous bound: it only fails when
        the deliveries really did not come)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.received)} webhooks arrived, expected {count}")
                self._lock.wait(left)
            return list(self.received)

    def event_ids(self) -> set[str]:
        with self._lock:
            return {r.headers["webhook-id"] for r in self.received}

    def close(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
