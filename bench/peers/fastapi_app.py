"""The peer: what a user would typically write instead of Pulse.

A FastAPI endpoint that takes the same JSON body as ``POST /v1/tokens/create`` (pydantic
model), builds a LiveKit token with livekit-api's ``AccessToken`` (identity, name, ttl,
and the same room grants Pulse writes by default) and answers 201 with the same fields.
No authentication, no rate limit, no room namespacing: strictly less work than Pulse.

Served by ``bench/run.py`` with uvicorn (uvloop + httptools, one worker, no access log):

    LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... \\
        uvicorn fastapi_app:app --app-dir bench/peers --loop uvloop --http httptools
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from livekit import api
from pydantic import BaseModel

LIVEKIT_API_KEY = os.environ["LIVEKIT_API_KEY"]
LIVEKIT_API_SECRET = os.environ["LIVEKIT_API_SECRET"]
LIVEKIT_URL = os.environ.get("LIVEKIT_HOST") or "ws://localhost:7880"

app = FastAPI()


class CreateToken(BaseModel):
    identity: str
    room: str
    name: str | None = None
    ttl_seconds: int = 3600


class TokenCreated(BaseModel):
    token: str
    identity: str
    room: str
    expires_at: datetime
    livekit_url: str


@app.post("/v1/tokens/create", status_code=201)
async def create_token(body: CreateToken) -> TokenCreated:
    ttl = timedelta(seconds=body.ttl_seconds)
    token = (
        api.AccessToken(LIVEKIT_API_KEY, LIVEKIT_API_SECRET)
        .with_identity(body.identity)
        .with_name(body.name or "")
        .with_ttl(ttl)
        .with_grants(
            api.VideoGrants(
                room_join=True,
                room=body.room,
                can_publish=True,
                can_subscribe=True,
                can_publish_data=True,
            )
        )
        .to_jwt()
    )
    return TokenCreated(
        token=token,
        identity=body.identity,
        room=body.room,
        expires_at=datetime.now(UTC) + ttl,
        livekit_url=LIVEKIT_URL,
    )
