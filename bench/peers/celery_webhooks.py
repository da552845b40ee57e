"""The outbound peer: what a user would typically write instead of Pulse's worker.

A Celery app on a Redis broker (``REDIS_URL``) with one task, ``peer.deliver``: it takes
a LiveKit webhook body (already verified by ``fastapi_livekit_webhook.py``), turns it
into the event Pulse would send (``{id, type, timestamp, project_id, data}``, the room
in the project's words, the participant's fields), signs it with the
``standardwebhooks`` library (``Webhook(secret).sign``) and POSTs it with ``requests``
to ``PEER_ENDPOINT_URL``; anything but a 2xx is retried later (``self.retry``).

Generous to the peer where a typical user might not be: one ``requests.Session`` per
pool thread or process (keep-alive, no new connection per delivery), results ignored (no
result backend writes), log level ``warning`` (no two lines per task). Acknowledged after
the task (``task_acks_late``), so a worker that dies loses nothing, as with Pulse. It
stores nothing: no event log, no delivery record, no attempt history, no endpoint
health, none of which Pulse skips.

    REDIS_URL=... PEER_ENDPOINT_URL=http://127.0.0.1:9000/hook PEER_ENDPOINT_SECRET=whsec_... \\
        celery -A celery_webhooks worker --pool threads --concurrency 10   # cwd bench/peers
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests
from celery import Celery, signals
from standardwebhooks.webhooks import Webhook

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ENDPOINT_URL = os.environ.get("PEER_ENDPOINT_URL", "http://127.0.0.1:9/hook")
ENDPOINT_SECRET = os.environ.get("PEER_ENDPOINT_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
QUEUE = os.environ.get("PEER_QUEUE", "peer-webhooks")

app = Celery("pulse_bench_peer", broker=REDIS_URL)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_acks_late=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
)

TYPES = {
    "room_started": "room.started",
    "room_finished": "room.finished",
    "participant_joined": "participant.joined",
    "participant_left": "participant.left",
    "track_published": "track.published",
    "track_unpublished": "track.unpublished",
}
PROJECT_ID_LENGTH = 30  # Pulse's LiveKit room names are "<project id>_<room>"

_webhook = Webhook(ENDPOINT_SECRET)
_local = threading.local()


def session() -> requests.Session:
    """One per pool thread or process (made after the fork): keep-alive connections."""
    found: requests.Session | None = getattr(_local, "session", None)
    if found is None:
        found = _local.session = requests.Session()
        found.headers["User-Agent"] = "Peer-Webhooks/1"
    return found


def customer_event(livekit: dict[str, Any]) -> dict[str, Any] | None:
    kind = TYPES.get(livekit.get("event", ""))
    name = livekit.get("room", {}).get("name", "")
    if kind is None or len(name) <= PROJECT_ID_LENGTH:
        return None
    data: dict[str, Any] = {
        "room": name[PROJECT_ID_LENGTH + 1 :],
        "room_sid": livekit["room"].get("sid", ""),
    }
    participant = livekit.get("participant")
    if participant is not None:
        joined = int(participant.get("joinedAt", 0))
        data["participant"] = {
            "identity": participant.get("identity", ""),
            "sid": participant.get("sid", ""),
            "name": participant.get("name", ""),
            "kind": participant.get("kind", "STANDARD").lower(),
            "joined_at": datetime.fromtimestamp(joined, UTC).isoformat().replace("+00:00", "Z"),
        }
    created = int(livekit.get("createdAt", 0))
    return {
        "id": "evt_" + livekit["id"],
        "type": kind,
        "timestamp": datetime.fromtimestamp(created, UTC).isoformat().replace("+00:00", "Z"),
        "project_id": name[:PROJECT_ID_LENGTH],
        "data": data,
    }


@signals.worker_ready.connect
def _ready(**_: Any) -> None:
    """For the benchmark: the time the worker became ready to consume, to ``PEER_READY_FILE``."""
    path = os.environ.get("PEER_READY_FILE")
    if path:
        with open(path, "w") as out:
            out.write(repr(time.time()))


@app.task(name="peer.deliver", bind=True, max_retries=7)
def deliver(self: Any, livekit_body: str) -> None:
    event = customer_event(json.loads(livekit_body))
    if event is None:
        return
    body = json.dumps(event, separators=(",", ":"))
    now = datetime.now(UTC)
    headers = {
        "webhook-id": event["id"],
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": _webhook.sign(event["id"], now, body),
        "content-type": "application/json",
    }
    try:
        response = session().post(
            ENDPOINT_URL, data=body.encode(), headers=headers, timeout=15, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise self.retry(exc=exc, countdown=5) from exc
    if not 200 <= response.status_code < 300:
        raise self.retry(countdown=5)
