"""The jobs Pulse puts on its :class:`~pulse_core.ports.queue.JobQueue`: a tagged union,
encoded and decoded in one place (:func:`encode_job`, :func:`decode_job`)."""

from __future__ import annotations

from datetime import datetime

import msgspec

#: The one queue Pulse's workers consume.
QUEUE: str = "pulse"


class ApplyLiveKitEvent(msgspec.Struct, frozen=True, kw_only=True, tag="livekit_event"):
    """A verified LiveKit webhook, as received: applying it (records, events, deliveries)
    happens off the request path, and is idempotent (LiveKit's event id)."""

    body: str
    received_at: datetime


class DeliverWebhook(msgspec.Struct, frozen=True, kw_only=True, tag="deliver"):
    """Attempt one delivery now."""

    project_id: str
    delivery_id: str


class EndProjectMedia(msgspec.Struct, frozen=True, kw_only=True, tag="end_project_media"):
    """Stop what deleted projects left running on the media server
    (:mod:`pulse_core.services.media_teardown`)."""

    project_ids: tuple[str, ...]


Job = ApplyLiveKitEvent | DeliverWebhook | EndProjectMedia

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Job)


def encode_job(job: Job) -> bytes:
    return _encoder.encode(job)


def decode_job(payload: bytes) -> Job:
    """The job in ``payload``; ``msgspec.DecodeError`` / ``ValidationError`` when it is
    not one (a poison job: dead-letter it)."""
    return _decoder.decode(payload)
