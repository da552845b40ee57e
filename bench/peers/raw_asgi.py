"""The floor: a bare ASGI callable doing exactly Pulse's token work and nothing else.

It reads the body, decodes it strictly with msgspec into Pulse's own ``CreateToken``
schema, mints with ``pulse_core``'s ``TokenService`` (input checks, room namespacing,
claims, HS256) for a fixed project, and writes the same ``TokenCreated`` JSON with a 201.
No routing, no authentication, no rate limit, no request id, no logging: what is left
is the server plus the token work, the least any implementation can cost.

``bench/run.py`` serves it with the server and settings ``pulse serve`` uses
(``pulse_http.server.build_server``):

    LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... PORT=8000 python bench/peers/raw_asgi.py
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import msgspec

from pulse_adapters.clock import SystemClock
from pulse_core import ids
from pulse_core.models.project import Project
from pulse_core.services.tokens import TokenService
from pulse_http.schemas.tokens import CreateToken, TokenCreated

_NOW = datetime.now(UTC)
PROJECT = Project(
    id=ids.new_id(ids.PROJECT, now_ms=ids.ms_of(_NOW)),
    org_id=ids.new_id(ids.ORGANIZATION, now_ms=ids.ms_of(_NOW)),
    name="floor",
    api_key="pulse_key_floor",
    secret_hash="00" * 32,
    created_at=_NOW,
    updated_at=_NOW,
)
TOKENS = TokenService(
    SystemClock(),
    livekit_api_key=os.environ["LIVEKIT_API_KEY"],
    livekit_api_secret=os.environ["LIVEKIT_API_SECRET"],
    livekit_url=os.environ.get("LIVEKIT_HOST") or "ws://localhost:7880",
)
_decode = msgspec.json.Decoder(CreateToken).decode
_encode = msgspec.json.Encoder().encode
_HEADERS = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    request = _decode(body)
    payload = _encode(TokenCreated.of(TOKENS.mint(PROJECT, request.to_domain())))
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [*_HEADERS, (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


if __name__ == "__main__":
    from pulse_http.server import build_server

    # Run from bench/peers (or with it on PYTHONPATH): the server imports "raw_asgi:app".
    build_server("raw_asgi:app", host="127.0.0.1", port=int(os.environ.get("PORT", "8000"))).serve()
