"""The app in the test's own event loop: its ASGI lifespan driven here and an httpx client
on it (``httpx.ASGITransport``).

Litestar's ``AsyncTestClient`` runs the app in a portal and blocks the test's loop for
each request, so two requests can never overlap through it. Tests that need a request
to wait inside the app while another arrives (an ``asyncio.Event`` in a media engine)
use this instead. Not a plugin: imported by the tests that need it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from pulse_http.app import create_app
from pulse_http.container import Container

PATIENCE_SECONDS = 30.0


@contextlib.asynccontextmanager
async def running_app(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The app of ``container``, started, and a client on it; stopped afterwards."""
    app: Any = create_app(container)
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, Any]:
        return await to_app.get()

    async def send(message: dict[str, Any]) -> None:
        await from_app.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.create_task(app(scope, receive, send))
    await to_app.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(from_app.get(), PATIENCE_SECONDS)
    assert started["type"] == "lifespan.startup.complete", started
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pulse") as client:
            yield client
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(from_app.get(), PATIENCE_SECONDS)
        await asyncio.wait_for(lifespan, PATIENCE_SECONDS)
