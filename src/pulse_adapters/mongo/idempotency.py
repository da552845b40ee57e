"""MongoDB idempotency records (:mod:`pulse_core.ports.idempotency`).

Document layout (a new collection):

================  ==================================================================
idempotency_keys  _id (scope + newline + key), fingerprint, token, lease_until,
                  expires_at, response (msgspec MessagePack; absent while in progress)
================  ==================================================================

The ``_id`` is unambiguous because a key is printable ASCII (no newline): whatever the
scope holds, the last newline separates it from the key. ``expires_at_1`` is a TTL
index (``expireAfterSeconds: 0``): MongoDB deletes a record about a minute after it
expires. Expiry is also checked against the adapter's clock on every read, so an expired
record the TTL monitor has not reached yet is free all the same.

A claim is an ``insert_one`` (the unique ``_id`` lets exactly one concurrent claim of a
free key in); a claim that finds an expired or abandoned record replaces it only if it
still holds the token it was read with (compare-and-swap), so two claims racing for it
cannot both win.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import msgspec
from pymongo.errors import DuplicateKeyError

from pulse_adapters.mongo.database import MongoDatabase
from pulse_adapters.mongo.errors import translate_errors
from pulse_adapters.mongo.indexes import IDEMPOTENCY_KEYS
from pulse_core.errors import Unavailable
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

_ENCODE = msgspec.msgpack.Encoder().encode
_RESPONSE = msgspec.msgpack.Decoder(StoredResponse)
#: Rounds of read-then-swap a claim tries before giving up; each lost round means
#: another claim changed the record in between, which a handful of rounds outlasts.
_ATTEMPTS = 5


def _id(scope: str, key: str) -> str:
    return f"{scope}\n{key}"


class MongoIdempotencyStore(IdempotencyStore):
    """Records in ``idempotency_keys``; time from ``clock``."""

    def __init__(self, db: MongoDatabase, clock: Clock) -> None:
        self._records = db.collection(IDEMPOTENCY_KEYS)
        self._clock = clock

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
        token = secrets.token_hex(16)
        record: dict[str, Any] = {
            "_id": _id(scope, key),
            "fingerprint": fingerprint,
            "token": token,
            "lease_until": now + timedelta(seconds=lease_seconds),
            "expires_at": now + timedelta(seconds=ttl_seconds),
        }
        for _ in range(_ATTEMPTS):
            with translate_errors(f"claim in {IDEMPOTENCY_KEYS}"):
                try:
                    await self._records.insert_one(record)
                    return Claimed(token=token)
                except DuplicateKeyError:
                    pass
                existing = await self._records.find_one({"_id": record["_id"]})
            if existing is None:
                continue  # released or expired by the TTL monitor meanwhile: insert again
            outcome = _outcome(existing, fingerprint, now)
            if outcome is not None:
                return outcome
            with translate_errors(f"take over in {IDEMPOTENCY_KEYS}"):
                swapped = await self._records.replace_one(
                    {"_id": record["_id"], "token": existing["token"]}, record
                )
            if swapped.matched_count == 1:
                return Claimed(token=token)
        raise Unavailable(f"idempotency key contended beyond {_ATTEMPTS} attempts")

    async def complete(self, scope: str, key: str, token: str, response: StoredResponse) -> bool:
        with translate_errors(f"complete in {IDEMPOTENCY_KEYS}"):
            result = await self._records.update_one(
                {
                    "_id": _id(scope, key),
                    "token": token,
                    "response": {"$exists": False},
                    "expires_at": {"$gt": self._clock.now()},
                },
                {"$set": {"response": _ENCODE(response)}},
            )
        return result.modified_count == 1

    async def release(self, scope: str, key: str, token: str) -> None:
        with translate_errors(f"release in {IDEMPOTENCY_KEYS}"):
            await self._records.delete_one(
                {"_id": _id(scope, key), "token": token, "response": {"$exists": False}}
            )


def _outcome(existing: dict[str, Any], fingerprint: str, now: datetime) -> ClaimOutcome | None:
    """What a claim finding ``existing`` gets, or None when the record is free (expired,
    or in progress past its lease) and may be taken over."""
    if existing["expires_at"] <= now:
        return None
    if existing["fingerprint"] != fingerprint:
        return Mismatch()
    response = existing.get("response")
    if response is not None:
        return Replay(response=_RESPONSE.decode(response))
    if existing["lease_until"] > now:
        return InProgress()
    return None
