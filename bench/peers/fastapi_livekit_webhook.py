"""The inbound peer: what a user would typically write instead of Pulse's
``POST /v1/livekit/webhook``.

A FastAPI endpoint that verifies LiveKit's webhook with livekit-api's own
``WebhookReceiver`` (the JWT in ``Authorization`` through ``TokenVerifier``, the body's
SHA-256 against its ``sha256`` claim, then the body parsed into a ``WebhookEvent``),
queues it and answers 200 ``{}``; a signature that does not verify is a 401. Where it
queues, ``PEER_ENQUEUE``:

- ``xadd`` (default, ``bench/webhooks_inbound.py``): one ``XADD`` of the raw body and the
  time received to the stream ``PEER_STREAM`` on ``REDIS_URL`` (redis-py's asyncio
  client), the same Redis Pulse's queue uses;
- ``celery`` (``bench/webhooks_outbound.py``): ``deliver.delay(body)``, a task of the
  Celery peer (``celery_webhooks.py``) on its Redis broker, which turns it into a
  Standard Webhook and posts it.

No event-id bookkeeping, no content-type check, no tenants: strictly less work than
Pulse's route. Served with uvicorn (uvloop + httptools, one worker, no access log):

    LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... REDIS_URL=redis://127.0.0.1:6379/0 \\
        uvicorn fastapi_livekit_webhook:app --app-dir bench/peers --loop uvloop --http httptools
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import redis.asyncio
from fastapi import FastAPI, HTTPException, Request
from livekit.api import TokenVerifier, WebhookReceiver

LIVEKIT_API_KEY = os.environ["LIVEKIT_API_KEY"]
LIVEKIT_API_SECRET = os.environ["LIVEKIT_API_SECRET"]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
STREAM = os.environ.get("PEER_STREAM", "peer:livekit-events")
ENQUEUE = os.environ.get("PEER_ENQUEUE", "xadd")

app = FastAPI()
receiver = WebhookReceiver(TokenVerifier(LIVEKIT_API_KEY, LIVEKIT_API_SECRET))
client = redis.asyncio.Redis.from_url(REDIS_URL)

if ENQUEUE == "celery":
    from celery_webhooks import deliver
elif ENQUEUE != "xadd":
    raise SystemExit(f"PEER_ENQUEUE must be xadd or celery, not {ENQUEUE!r}")


@app.post("/v1/livekit/webhook")
async def livekit_webhook(request: Request) -> dict[str, str]:
    body = (await request.body()).decode()
    try:
        receiver.receive(body, request.headers.get("authorization", ""))
    except Exception as exc:  # livekit-api raises bare Exceptions and PyJWT's errors
        raise HTTPException(401, "invalid LiveKit signature") from exc
    if ENQUEUE == "celery":
        deliver.delay(body)
    else:
        await client.xadd(STREAM, {"body": body, "received_at": datetime.now(UTC).isoformat()})
    return {}
