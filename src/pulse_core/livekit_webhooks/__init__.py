"""LiveKit's webhooks, inbound: verify (:mod:`.signature`), decode (:mod:`.protocol`),
and say in Pulse's words (:mod:`.translate`).

The inbound route verifies and enqueues the raw body; the processor parses, finds the
project and the Pulse records, and translates. Pure: nothing here does I/O.
"""

from pulse_core.livekit_webhooks.protocol import (
    Egress,
    FileResult,
    Ingress,
    IngressState,
    LiveKitEvent,
    Participant,
    Room,
    SegmentsResult,
    StreamResult,
    Track,
    parse_livekit_event,
)
from pulse_core.livekit_webhooks.signature import (
    LiveKitWebhookRejected,
    LiveKitWebhookVerifier,
)
from pulse_core.livekit_webhooks.translate import (
    LIVEKIT_EVENTS,
    Translation,
    egress_error,
    egress_status,
    ingress_status,
    livekit_room_of,
    project_room_of,
    translate,
)

__all__ = [
    "LIVEKIT_EVENTS",
    "Egress",
    "FileResult",
    "Ingress",
    "IngressState",
    "LiveKitEvent",
    "LiveKitWebhookRejected",
    "LiveKitWebhookVerifier",
    "Participant",
    "Room",
    "SegmentsResult",
    "StreamResult",
    "Track",
    "Translation",
    "egress_error",
    "egress_status",
    "ingress_status",
    "livekit_room_of",
    "parse_livekit_event",
    "project_room_of",
    "translate",
]
