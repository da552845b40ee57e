"""SQLite idempotency records (:mod:`pulse_core.ports.idempotency`): table
``idempotency_keys`` (migration 9 of :mod:`pulse_adapters.sqlite.schema`).

One row per ``(scope, key)``. ``response`` is NULL while the claim is in progress, then
the response as msgspec MessagePack. Times are integer microseconds since the epoch.
A claim is one ``BEGIN IMMEDIATE`` transaction (read, decide, write), so concurrent
claims, in this process or another sharing the file, are serialized and exactly one
takes a free key. Each claim also deletes a bounded batch of expired rows (along the
``expires_at_us`` index): the table holds about a day of keys, never more.
"""

from __future__ import annotations

import secrets
import sqlite3

import msgspec

from pulse_adapters.sqlite.audit import micros
from pulse_adapters.sqlite.database import SqliteDatabase
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
_PURGE_BATCH = 100

# The queries, named so that tests can check each one is served by an index.
IDEMPOTENCY_GET = (
    "SELECT fingerprint, lease_until_us, expires_at_us, response FROM idempotency_keys"
    " WHERE scope = ? AND key = ?"
)
IDEMPOTENCY_PUT = (
    "INSERT OR REPLACE INTO idempotency_keys"
    " (scope, key, fingerprint, token, lease_until_us, expires_at_us, response)"
    " VALUES (?, ?, ?, ?, ?, ?, NULL)"
)
IDEMPOTENCY_COMPLETE = (
    "UPDATE idempotency_keys SET response = ?"
    " WHERE scope = ? AND key = ? AND token = ? AND response IS NULL AND expires_at_us > ?"
)
IDEMPOTENCY_RELEASE = (
    "DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND token = ? AND response IS NULL"
)
IDEMPOTENCY_PURGE = (
    "DELETE FROM idempotency_keys WHERE rowid IN"
    " (SELECT rowid FROM idempotency_keys WHERE expires_at_us <= ? LIMIT ?)"
)


def _seconds_us(seconds: float) -> int:
    return max(1, round(seconds * 1_000_000))


class SqliteIdempotencyStore(IdempotencyStore):
    """Records in table ``idempotency_keys`` of ``db``; time from ``clock``."""

    def __init__(self, db: SqliteDatabase, clock: Clock) -> None:
        self._db = db
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
        now = micros(self._clock.now())
        token = secrets.token_hex(16)

        def work(conn: sqlite3.Connection) -> ClaimOutcome:
            conn.execute(IDEMPOTENCY_PURGE, (now, _PURGE_BATCH))
            row = conn.execute(IDEMPOTENCY_GET, (scope, key)).fetchone()
            if row is not None:
                stored_fingerprint, lease_until, expires_at, response = row
                # The purge above removed expired rows only up to its batch size.
                if expires_at > now:
                    if stored_fingerprint != fingerprint:
                        return Mismatch()
                    if response is not None:
                        return Replay(response=_RESPONSE.decode(response))
                    if lease_until > now:
                        return InProgress()
            lease_until = now + _seconds_us(lease_seconds)
            expires_at = now + _seconds_us(ttl_seconds)
            conn.execute(IDEMPOTENCY_PUT, (scope, key, fingerprint, token, lease_until, expires_at))
            return Claimed(token=token)

        return await self._db.write(work)

    async def complete(self, scope: str, key: str, token: str, response: StoredResponse) -> bool:
        now = micros(self._clock.now())
        params = (_ENCODE(response), scope, key, token, now)

        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(IDEMPOTENCY_COMPLETE, params).rowcount == 1

        return await self._db.write(work)

    async def release(self, scope: str, key: str, token: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(IDEMPOTENCY_RELEASE, (scope, key, token))

        await self._db.write(work)
