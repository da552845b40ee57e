"""Idempotency records in process memory: for tests and embedding.

One process only: replicas each holding their own would each run a repeat. The HTTP
service uses the database (SQLite, Mongo) or Redis (:mod:`pulse_http.container`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pulse_core.ports.clock import Clock
from pulse_core.ports.idempotency import (
    Claimed,
    ClaimOutcome,
    IdempotencyStore,
    InProgress,
    Mismatch,
    Replay,
    StoredResponse,
)

#: At most this many expired records are dropped per claim, so a claim's cost is bounded.
_PURGE_BATCH = 100


@dataclass
class _Record:
    fingerprint: str
    token: str
    lease_until: datetime
    expires_at: datetime
    response: StoredResponse | None = None


class InMemoryIdempotencyStore(IdempotencyStore):
    """A dict by ``(scope, key)``. Every method runs without suspending, so each is
    atomic within the event loop. Expired records are dropped on later claims, oldest
    claim first (the dict keeps claim order: a record replaced by a claim moves to the
    end)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._records: dict[tuple[str, str], _Record] = {}

    def __len__(self) -> int:
        """How many records are held (expired ones not yet dropped included)."""
        return len(self._records)

    async def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        ttl_seconds: float,
        lease_seconds: float,
    ) -> ClaimOutcome:
        now = self._clock.now()
        self._purge(now)
        record = self._records.get((scope, key))
        if record is not None and record.expires_at > now:
            if record.fingerprint != fingerprint:
                return Mismatch()
            if record.response is not None:
                return Replay(response=record.response)
            if record.lease_until > now:
                return InProgress()
        token = secrets.token_hex(16)
        self._records.pop((scope, key), None)
        self._records[(scope, key)] = _Record(
            fingerprint=fingerprint,
            token=token,
            lease_until=now + timedelta(seconds=lease_seconds),
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
        return Claimed(token=token)

    async def complete(self, scope: str, key: str, token: str, response: StoredResponse) -> bool:
        record = self._held(scope, key, token)
        if record is None:
            return False
        record.response = response
        return True

    async def release(self, scope: str, key: str, token: str) -> None:
        if self._held(scope, key, token) is not None:
            del self._records[(scope, key)]

    def _held(self, scope: str, key: str, token: str) -> _Record | None:
        record = self._records.get((scope, key))
        if (
            record is None
            or record.token != token
            or record.response is not None
            or record.expires_at <= self._clock.now()
        ):
            return None
        return record

    def _purge(self, now: datetime) -> None:
        for _ in range(_PURGE_BATCH):
            oldest = next(iter(self._records.items()), None)
            if oldest is None or oldest[1].expires_at > now:
                return
            del self._records[oldest[0]]
