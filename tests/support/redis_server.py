"""A real ``redis-server`` for tests, and the pytest fixtures built on it.

Registered as a plugin in tests/conftest.py. Fixtures:

- ``redis_server`` (session): one server for the whole run;
- ``redis_url`` (function): its URL, with the database flushed before the test;
- ``redis_client`` (function): an async client on ``redis_url``, closed afterwards;
- ``disposable_redis`` (function): a server of the test's own, which it may stop and
  start again (fault tests).

A missing ``redis-server`` binary skips these tests, or fails them in CI
(``PULSE_REQUIRE_SERVICES=1``), see tests/support/require.py.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType

import pytest
import redis
import redis.asyncio

from pulse_adapters.redis import create_redis_client
from tests.support.ports import free_port
from tests.support.require import require_binary


class RedisServer:
    """``redis-server`` on a free loopback port, without persistence, in a temp dir.

    ``stop()`` kills it (the data is gone: nothing is saved); ``start()`` brings it back on
    the same port, so clients configured with :attr:`url` reconnect to it.
    """

    def __init__(self, binary: str = "redis-server", *, port: int | None = None) -> None:
        self._binary = binary
        self._port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="pulse-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, timeout: float = 10.0) -> RedisServer:
        """Start the server and return once it answers PING; a no-op if it is running."""
        if self.running:
            return self
        self._process = subprocess.Popen(
            [
                self._binary,
                "--port", str(self._port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir.name,
                "--logfile", str(Path(self._dir.name) / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self._process.returncode}: {self._log()}"
                )
            if self._answers_ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self._port}: {self._log()}")

    def stop(self) -> None:
        """Kill the server (SIGKILL: like a crash, nothing saved) and wait for it to exit."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)
        self._process = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self._port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _log(self) -> str:
        log = Path(self._dir.name) / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = require_binary("redis-server")
    with RedisServer(binary) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The shared server's URL, emptied (FLUSHALL) before the test."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """An async client on the (flushed) shared server, built like production builds it."""
    client = create_redis_client(redis_url, timeout_seconds=2.0)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def disposable_redis() -> Iterator[RedisServer]:
    """A server of this test's own, free to be stopped and started again."""
    binary = require_binary("redis-server")
    with RedisServer(binary) as server:
        yield server
