"""What a worker does with each job: decode it, hand it to the service it is for, and say
whether it needs to run again (and when)."""

from __future__ import annotations

import asyncio
from typing import Protocol

import msgspec

from pulse_core.errors import Unavailable
from pulse_core.models.events import Outgoing
from pulse_core.models.jobs import ApplyLiveKitEvent, DeliverWebhook, EndProjectMedia, decode_job
from pulse_core.ports.telemetry import NO_TELEMETRY, Telemetry
from pulse_core.services.delivery import DeliveryService
from pulse_core.services.event_log import EventLog
from pulse_core.services.media_teardown import MediaTeardown


class PoisonJob(Exception):
    """A payload that is no job Pulse knows: running it again cannot help."""


class LiveKitEventApplier(Protocol):
    async def apply(self, job: ApplyLiveKitEvent, *, redelivered: bool = False) -> list[Outgoing]:
        """Apply a verified LiveKit webhook (idempotent); ``redelivered``: an earlier run
        of this very job may have died half-way. Returns the deliveries it created and
        did not queue."""


class JobRunner:
    """Runs one job; ``None`` when it is done, or the delay before it should run again.
    Raises :class:`PoisonJob` for a payload that is not a job, and whatever the service
    raised otherwise (``Unavailable``: try again soon)."""

    def __init__(
        self,
        livekit_events: LiveKitEventApplier,
        deliveries: DeliveryService,
        log: EventLog,
        *,
        teardown: MediaTeardown | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._teardown = teardown
        self._livekit_events = livekit_events
        self._deliveries = deliveries
        self._log = log
        self._telemetry = telemetry

    async def run(self, payload: bytes, *, attempts: int = 1) -> float | None:
        """Run the job in ``payload``, in a telemetry span of its own (the parent of
        everything it does)."""
        try:
            job = decode_job(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PoisonJob(f"not a Pulse job: {exc}") from exc
        attributes = {"pulse.job.attempts": str(attempts)}
        if isinstance(job, DeliverWebhook):
            with self._telemetry.span("pulse.job deliver", attributes):
                return await self._deliveries.attempt(job.project_id, job.delivery_id)
        if isinstance(job, EndProjectMedia):
            if self._teardown is None:
                raise PoisonJob("this worker has no media teardown")
            with self._telemetry.span("pulse.job end_project_media", attributes):
                for project_id in job.project_ids:
                    await self._teardown.end(project_id)
            return None
        with self._telemetry.span("pulse.job livekit_event", attributes):
            await self._apply(job, attempts)
        return None

    async def _apply(self, job: ApplyLiveKitEvent, attempts: int) -> None:
        created = await self._livekit_events.apply(job, redelivered=attempts > 1)
        # The first attempt of each delivery happens here, inline, rather than through
        # one more trip through the queue; only what needs another attempt is queued. If
        # this worker dies first, the job comes back (redelivered) and queues what is
        # still pending, so nothing is lost either way.
        if len(created) == 1:
            await self._first_attempt(created[0])  # the common case: no task to make
        elif created:
            await asyncio.gather(*(self._first_attempt(d) for d in created))

    async def _first_attempt(self, outgoing: Outgoing) -> None:
        try:
            delay = await self._deliveries.first_attempt(outgoing)
        except Unavailable:
            delay = 0.0  # Pulse's own storage did not answer: the queue will try again
        if delay is not None:
            await self._log.queue(outgoing.delivery, delay_seconds=delay)
