"""``POST /v1/livekit/webhook``: where LiveKit's ``webhook.urls`` point.

Only the cheap part happens here, within LiveKit's timeout: verify the signature (a JWT
in ``Authorization`` whose ``sha256`` claim is the body's hash), check that the body is a
LiveKit event, queue it, answer 200 ``{}``. Applying it (records, events, deliveries)
is the workers' job (:mod:`pulse_core.services.livekit_events`). A call that is not
LiveKit's is a 401 and changes nothing.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency

from pulse_core.errors import InvalidInput
from pulse_core.livekit_webhooks import LiveKitWebhookVerifier, parse_livekit_event
from pulse_core.models.jobs import QUEUE, ApplyLiveKitEvent, encode_job
from pulse_core.ports.clock import Clock
from pulse_core.ports.queue import JobQueue

CONTENT_TYPES = frozenset({"application/webhook+json", "application/json"})


@post("/v1/livekit/webhook", status_code=200, tags=["livekit"])
async def livekit_webhook(
    request: Request[Any, Any, Any],
    livekit_verifier: NamedDependency[LiveKitWebhookVerifier],
    job_queue: NamedDependency[JobQueue],
    clock: NamedDependency[Clock],
) -> dict[str, str]:
    """Accept one of LiveKit's webhooks: verified, queued, answered."""
    body = await request.body()
    livekit_verifier.verify(body, request.headers.get("authorization"), now=clock.time())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        raise InvalidInput(
            "content-type must be application/webhook+json or application/json",
            field="content-type",
        )
    parse_livekit_event(body)  # garbage is the sender's error (400), not a poison job
    job = ApplyLiveKitEvent(body=body.decode("utf-8"), received_at=clock.now())
    await job_queue.enqueue(QUEUE, encode_job(job))
    return {}
