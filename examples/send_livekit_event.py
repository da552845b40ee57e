"""Send Pulse a webhook exactly as LiveKit's server does: the event as protojson, and an
``Authorization`` JWT signed with the LiveKit API key and secret whose ``sha256`` claim
is the body's hash (livekit-api does the signing).

    python examples/send_livekit_event.py participant_joined <livekit room> <identity>
    python examples/send_livekit_event.py participant_left <livekit room> <identity> \
        --joined-ago 150

``--joined-ago SECONDS`` says the participant joined that long ago (LiveKit's
``joined_at``, which participant minutes are counted from); by default, now.
The LiveKit room name is the project's id, ``_``, then the project's own room name
(``prj_…_demo``). Key and secret come from LIVEKIT_API_KEY / LIVEKIT_API_SECRET (the
development defaults otherwise); Pulse's URL from PULSE (http://127.0.0.1:8080).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import time
import urllib.request

from google.protobuf import json_format
from livekit import api
from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent

DEV_KEY = "devkey"
DEV_SECRET = "secret"  # livekit-server --dev, and Pulse's development default


def main() -> None:
    parser = argparse.ArgumentParser(description="Send Pulse a webhook as LiveKit does.")
    parser.add_argument("event", help="LiveKit's event name, e.g. participant_joined")
    parser.add_argument("livekit_room", help="<project id>_<room>")
    parser.add_argument("identity")
    parser.add_argument(
        "--joined-ago",
        type=int,
        default=0,
        metavar="SECONDS",
        help="the participant joined this many seconds ago (default: now)",
    )
    args = parser.parse_args()
    now = int(time.time())
    joined = now - args.joined_ago
    event = WebhookEvent(
        event=args.event,
        id="EV_" + secrets.token_hex(6),
        created_at=now,
        room=models.Room(name=args.livekit_room, sid="RM_demo"),
        participant=models.ParticipantInfo(
            identity=args.identity,
            sid="PA_" + args.identity,
            joined_at=joined,
            joined_at_ms=joined * 1000,
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
