"""``POST /v1/livekit/webhook``: where LiveKit's ``webhook.urls`` point.

Only the cheap part happens here, within LiveKit's timeout: verify the signature (a JWT
in ``Authorization`` whose ``sha256`` claim is the body's hash), check that the body is a
LiveKit event, queue it, answer 200 ``{}``. Applying it (records, events, deliveries)
is the workers' job (:mod:`pulse_core.services.livekit_events`). A call that is not
LiveKit's is a 401 and changes nothing.

The route is served twice, from this module: by :func:`livekit_webhook` (Litestar, for
OpenAPI and what the fast path passes on) and by
:class:`pulse_http.fast_livekit.LiveKitWebhookFastPath` (raw ASGI, every event LiveKit
sends). Both take the route's facts from :data:`LIVEKIT_WEBHOOK` and do the work by
calling :func:`accept_livekit_webhook`, so they cannot disagree on which request is the
route, what is checked, in which order, or what the answer is.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec
from litestar import Request, route
from litestar.di import NamedDependency

from pulse_core.errors import InvalidInput
from pulse_core.livekit_webhooks import LiveKitWebhookVerifier, parse_livekit_event
from pulse_core.models.jobs import QUEUE, ApplyLiveKitEvent, encode_job
from pulse_core.ports.clock import Clock
from pulse_core.ports.queue import JobQueue

CONTENT_TYPES = frozenset({"application/webhook+json", "application/json"})


class WebhookRouteFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What an inbound webhook route is, declared once next to its handler: the path and
    method the sender calls and the status of an accepted call. (A webhook's sender
    proves itself with a signature over the body, not with Pulse credentials, so there is
    no bucket or secret here, unlike :class:`pulse_http.routes.tokens.RouteFacts`.)"""

    path: str
    method: Literal["POST"]
    status_code: int


LIVEKIT_WEBHOOK: Final = WebhookRouteFacts(
    path="/v1/livekit/webhook", method="POST", status_code=200
)


async def accept_livekit_webhook(
    body: bytes,
    authorization: str | None,
    content_type: str | None,
    *,
    verifier: LiveKitWebhookVerifier,
    queue: JobQueue,
    clock: Clock,
) -> dict[str, str]:
    """Accept one of LiveKit's webhooks (``body`` and the ``Authorization`` and
    ``Content-Type`` headers, None when absent): verified, queued, and the answer's body.

    Raises what the answer is otherwise: ``LiveKitWebhookRejected`` (401) before anything
    else, so a caller that is not LiveKit learns nothing about the body;
    :class:`InvalidInput` (400) for another content type or a body that is not an event;
    ``Unavailable`` (503) when the queue is. Returns only once the job is queued."""
    verifier.verify(body, authorization, now=clock.time())
    if (content_type or "").split(";")[0].strip().lower() not in CONTENT_TYPES:
        raise InvalidInput(
            "content-type must be application/webhook+json or application/json",
            field="content-type",
        )
    parse_livekit_event(body)  # garbage is the sender's error (400), not a poison job
    try:
        # The parse does not look inside fields it skips: they can still be bad UTF-8.
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The words of problems.bad_encoding_handler, the answer this always had.
        raise InvalidInput("request body is not valid UTF-8", field="body") from exc
    await queue.enqueue(QUEUE, encode_job(ApplyLiveKitEvent(body=text, received_at=clock.now())))
    return {}


@route(
    LIVEKIT_WEBHOOK.path,
    http_method=LIVEKIT_WEBHOOK.method,
    status_code=LIVEKIT_WEBHOOK.status_code,
    tags=["livekit"],
    opt={
        "problems": (400, 401, 413, 503),
        # The handler reads its body itself (after the signature): what OpenAPI says it is.
        "body": {
            "name": "LiveKitWebhookEvent",
            "description": "One of LiveKit's webhook events (`WebhookEvent`, as protojson: "
            "`event`, `id`, `createdAt`, `room`, `participant`, `egressInfo`, …).",
            "media_types": sorted(CONTENT_TYPES),
        },
    },
)
async def livekit_webhook(
    request: Request[Any, Any, Any],
    livekit_verifier: NamedDependency[LiveKitWebhookVerifier],
    job_queue: NamedDependency[JobQueue],
    clock: NamedDependency[Clock],
) -> dict[str, str]:
    """Receive one of LiveKit's webhooks: the URL to set in LiveKit's `webhook.urls`.

    LiveKit signs each call: `Authorization` holds a JWT signed with `LIVEKIT_API_KEY` /
    `LIVEKIT_API_SECRET` whose `sha256` claim is the body's hash. A missing or wrong
    signature is 401 and changes nothing. The event is queued and answered 200 `{}`
    within LiveKit's timeout; applying it (egress and ingress records, usage, the
    project's events and webhooks) happens from the queue, once per LiveKit event id.
    Events for rooms of no live project are acknowledged and ignored."""
    return await accept_livekit_webhook(
        await request.body(),
        request.headers.get("authorization"),
        request.headers.get("content-type"),
        verifier=livekit_verifier,
        queue=job_queue,
        clock=clock,
    )
