"""What the double knows: rooms, participants, egresses, ingresses and the calls it
received (``ServerState``, ``RecordedCall``), and the small helpers every RPC uses:
the clock, LiveKit-style ids and copies of protobuf messages.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from livekit.protocol import egress as lk_egress
from livekit.protocol import ingress as lk_ingress
from livekit.protocol import models as lk_models
from livekit.protocol import room as lk_room

_GUID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass
class RecordedCall:
    """One request as the server saw it, so tests can assert what the adapter sent."""

    service: str
    method: str
    content_type: str
    request: Message | None = None  # decoded request; None if it never got that far
    claims: dict[str, Any] | None = None  # verified JWT claims; None without a valid token
    status: int = 0
    error_code: str | None = None  # Twirp code, "unauthenticated" for plain-text 401s


@dataclass
class ServerState:
    """Everything the double knows. Live protobuf objects: read them between awaited SDK
    calls (the server thread is idle then) or under ``LiveKitTwirpServer.lock``."""

    rooms: dict[str, lk_models.Room] = field(default_factory=dict)
    participants: dict[str, dict[str, lk_models.ParticipantInfo]] = field(default_factory=dict)
    egresses: dict[str, lk_egress.EgressInfo] = field(default_factory=dict)
    egress_requests: dict[str, Message] = field(default_factory=dict)  # as sent, unredacted
    ingresses: dict[str, lk_ingress.IngressInfo] = field(default_factory=dict)
    sent_data: list[lk_room.SendDataRequest] = field(default_factory=list)
    calls: list[RecordedCall] = field(default_factory=list)

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Calls to ``method`` ("StopEgress" or "Egress/StopEgress")."""
        return [c for c in self.calls if method in (c.method, f"{c.service}/{c.method}")]


# --------------------------------------------------------------------------- helpers


def _now_ns() -> int:
    return time.time_ns()


def _guid(prefix: str) -> str:
    """LiveKit ids are a prefix plus 12 base57 characters (``EG_``, ``IN_``, ``RM_``...)."""
    return prefix + "".join(secrets.choice(_GUID_ALPHABET) for _ in range(12))


def _clone(msg: Message) -> Any:
    copy = type(msg)()
    copy.CopyFrom(msg)
    return copy
