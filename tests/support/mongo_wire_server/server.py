"""The TCP side: ``MongoWireServer``, a mongod stand-in on 127.0.0.1 for the real pymongo
driver. One daemon thread per connection; ``stop()`` closes every connection at once
(a crashed mongod, as the driver sees it) and keeps the data for the next ``start()``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import socketserver
import struct
import threading
from types import TracebackType
from typing import Any, Self

import bson
import mongomock

from tests.support.mongo_wire_server.backend import MongomockBackend
from tests.support.mongo_wire_server.protocol import (
    _HEADER,
    MAX_MESSAGE_SIZE_BYTES,
    _ProtocolViolationError,
    _WireProtocol,
)

log = logging.getLogger(__package__)  # one logger for the package, as before the split

# --------------------------------------------------------------------------------------
# TCP server
# --------------------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """Read exactly ``size`` bytes, or return None if the peer closed the connection."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


class _ConnectionHandler(socketserver.BaseRequestHandler):
    """Serves one client connection: read a message, answer it, repeat until EOF."""

    server: _WireTCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection_id = self.server.next_connection_id()
        try:
            while True:
                header = _recv_exact(sock, _HEADER.size)
                if header is None:
                    return
                length, request_id, _response_to, op_code = _HEADER.unpack(header)
                if not _HEADER.size <= length <= MAX_MESSAGE_SIZE_BYTES:
                    return
                payload = _recv_exact(sock, length - _HEADER.size)
                if payload is None:
                    return
                reply = self.server.protocol.handle(op_code, payload, request_id, connection_id)
                if reply is not None:
                    sock.sendall(reply)
        except OSError:
            return  # connection reset / closed by stop(): nothing left to do
        except (
            _ProtocolViolationError,
            bson.errors.BSONError,
            struct.error,
            ValueError,
            IndexError,
        ) as exc:
            log.warning("mongo wire server: dropping connection %s: %s", connection_id, exc)


class _WireTCPServer(socketserver.TCPServer):
    """A TCP server with one daemon thread per connection and a kill switch for all of them.

    socketserver's ThreadingMixIn cannot forcibly close live connections. We need that
    so ``stop()`` looks like a crashed mongod to the driver, so this class tracks them.
    """

    allow_reuse_address = True  # restart on the same port despite TIME_WAIT sockets
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], backend: MongomockBackend) -> None:
        self.protocol = _WireProtocol(backend)
        self._conn_lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._closing = False
        self._connection_ids = itertools.count(1)
        super().__init__(address, _ConnectionHandler)

    def next_connection_id(self) -> int:
        with self._conn_lock:
            return next(self._connection_ids)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"mongo-wire-conn-{client_address[1]}",
            daemon=True,
        )
        with self._conn_lock:
            if self._closing:
                self.shutdown_request(request)
                return
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("mongo wire server: error serving %s", client_address)

    def close_all_connections(self, join_timeout: float) -> None:
        """Shut down every live client socket and wait briefly for its thread to exit."""
        with self._conn_lock:
            self._closing = True
            live = list(self._connections.items())
        for sock, _thread in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _sock, thread in live:
            thread.join(join_timeout)


class MongoWireServer:
    """A mongod stand-in on 127.0.0.1 that the real pymongo driver can connect to.

    ``port=0`` picks a free port on the first ``start()``. The port is then kept, so
    ``stop()``/``start()`` (or ``restart()``) brings the server back at the same
    address with the same data. An existing client therefore recovers after an outage.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        backend: MongomockBackend | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self.backend = backend or MongomockBackend()
        self._lifecycle_lock = threading.Lock()
        self._server: _WireTCPServer | None = None
        self._thread: threading.Thread | None = None

    # -- properties -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("port is not known until the server has been started")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return self._host, self.port

    @property
    def uri(self) -> str:
        """Connection string; directConnection avoids any replica-set discovery."""
        return f"mongodb://{self._host}:{self.port}/?directConnection=true"

    @property
    def is_running(self) -> bool:
        return self._server is not None

    @property
    def client(self) -> mongomock.MongoClient:
        """The mongomock client holding the data (bypasses the wire protocol)."""
        return self.backend.client

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a background thread. No-op if already running."""
        with self._lifecycle_lock:
            if self._server is not None:
                return self
            server = _WireTCPServer((self._host, self._port), self.backend)
            self._port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},  # bounds how long stop() waits
                name=f"mongo-wire-server-{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self, join_timeout: float = 5.0) -> None:
        """Close the listener and every client connection now; the data is kept.

        Open cursors are discarded, as a mongod restart would do. No-op if not running.
        """
        with self._lifecycle_lock:
            server, thread = self._server, self._thread
            if server is None:
                return
            self._server = self._thread = None
            server.shutdown()  # stop accepting (returns within one poll interval)
            server.server_close()  # close the listening socket
            server.close_all_connections(join_timeout)
            if thread is not None:
                thread.join(join_timeout)
            self.backend.clear_cursors()

    def restart(self) -> Self:
        """Stop then start on the same port, keeping all data and indexes."""
        self.stop()
        return self.start()

    def reset(self) -> None:
        """Drop all data and indexes without touching connections."""
        self.backend.reset()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<MongoWireServer {self._host}:{self._port or '?'} {state}>"
