"""Free TCP ports on the loopback interface for test servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Collection


def free_port(*, besides: Collection[int] = ()) -> int:
    """A port free now, other than ``besides``: ports chosen earlier and not bound yet,
    which the system may hand out again (it did: a worker refused METRICS_PORT == PORT)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in besides:
            return port


def wait_for_port(port: int, *, timeout: float = 10.0) -> bool:
    """Whether something accepts connections on ``port`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False
