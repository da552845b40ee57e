"""What a worker does with each job: decode it, hand it to the service it is for, and say
whether it needs to run again (and when)."""

from __future__ import annotations

from typing import Protocol

import msgspec

from pulse_core.models.jobs import ApplyLiveKitEvent, DeliverWebhook, decode_job
from pulse_core.services.delivery import DeliveryService


class PoisonJob(Exception):
    """A payload that is no job Pulse knows: running it again cannot help."""


class LiveKitEventApplier(Protocol):
    async def apply(self, job: ApplyLiveKitEvent, *, redelivered: bool = False) -> None:
        """Apply a verified LiveKit webhook (idempotent); ``redelivered``: an earlier run
        of this very job may have died half-way."""


class JobRunner:
    """Runs one job; ``None`` when it is done, or the delay before it should run again.
    Raises :class:`PoisonJob` for a payload that is not a job, and whatever the service
    raised otherwise (``Unavailable``: try again soon)."""

    def __init__(self, livekit_events: LiveKitEventApplier, deliveries: DeliveryService) -> None:
        self._livekit_events = livekit_events
        self._deliveries = deliveries

    async def run(self, payload: bytes, *, attempts: int = 1) -> float | None:
        try:
            job = decode_job(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PoisonJob(f"not a Pulse job: {exc}") from exc
        if isinstance(job, DeliverWebhook):
            return await self._deliveries.attempt(job.project_id, job.delivery_id)
        await self._livekit_events.apply(job, redelivered=attempts > 1)
        return None
