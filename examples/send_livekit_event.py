"""Send Pulse a webhook exactly as LiveKit's server does: the event as protojson, and an
``Authorization`` JWT signed with the LiveKit API key and secret whose ``sha256`` claim
is the body's hash (livekit-api does the signing).

    python examples/send_livekit_event.py participant_joined <livekit room> <identity>

The LiveKit room name is the project's id, ``_``, then the project's own room name
(``prj_…_demo``). Key and secret come from LIVEKIT_API_KEY / LIVEKIT_API_SECRET (the
development defaults otherwise); Pulse's URL from PULSE (http://127.0.0.1:8080).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import sys
import time
import urllib.request

from google.protobuf import json_format
from livekit import api
from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent

DEV_KEY = "devkey"
DEV_SECRET = "dev-only-livekit-secret-at-least-32-chars"


def main() -> None:
    event_name, livekit_room, identity = sys.argv[1:4]
    now = int(time.time())
    event = WebhookEvent(
        event=event_name,
        id="EV_" + secrets.token_hex(6),
        created_at=now,
        room=models.Room(name=livekit_room, sid="RM_demo"),
        participant=models.ParticipantInfo(
            identity=identity, sid="PA_" + identity, joined_at=now, joined_at_ms=now * 1000
        ),
    )
    body = json_format.MessageToJson(event, indent=None).encode()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    token = (
        api.AccessToken(
            os.environ.get("LIVEKIT_API_KEY", DEV_KEY),
            os.environ.get("LIVEKIT_API_SECRET", DEV_SECRET),
        )
        .with_sha256(digest)
        .to_jwt()
    )
    request = urllib.request.Request(
        os.environ.get("PULSE", "http://127.0.0.1:8080") + "/v1/livekit/webhook",
        data=body,
        headers={"Authorization": token, "Content-Type": "application/webhook+json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        print(f"{event.id}: {answer.status}")


if __name__ == "__main__":
    main()
