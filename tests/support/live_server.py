"""The app on a real socket in this process, for a real browser to talk to.

uvicorn serves ``create_app(container)`` from a thread with its own event loop; the test
keeps the container, and :meth:`LiveServer.run` runs a coroutine in the server's loop
(to bring people into a room of the simulated engine, or to read what was stored) so
that nothing the app holds is touched from two loops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn
from dependency_injector import providers

from pulse_adapters.argon2 import Argon2PasswordHasher
from pulse_http.app import create_app
from pulse_http.container import Container, build_container
from pulse_http.settings import Settings
from tests.support.ports import free_port
from tests.support.urls import resolver_for_tests

T = TypeVar("T")
PATIENCE_SECONDS = 60.0

# argon2id as deployed costs 64 MiB and tens of milliseconds a hash: tests sign in
# hundreds of times, so they hash with the smallest parameters (same algorithm, same
# code path; strength is not what these tests are about).
CHEAP_PASSWORDS = Argon2PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def app_container(settings: Settings) -> Container:
    """The app's container with the tests' cheap password hashing and host names."""
    container = build_container(settings)
    container.adapters.resolver.override(providers.Object(resolver_for_tests()))
    container.adapters.passwords.override(providers.Object(CHEAP_PASSWORDS))
    return container


@dataclass
class LiveServer:
    base_url: str
    container: Container
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` in the server's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(PATIENCE_SECONDS)


@contextlib.contextmanager
def live_server(container: Container) -> Iterator[LiveServer]:
    port = free_port()
    config = uvicorn.Config(
        create_app(container), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", container, loops[0])
    finally:
        server.should_exit = True
        thread.join(PATIENCE_SECONDS)
