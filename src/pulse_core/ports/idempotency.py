"""An idempotency store: the answers of writes sent with an ``Idempotency-Key``.

A client that retries a write (a timeout, a dropped connection) sends the same key, and
must get the first answer instead of a second execution (API.md, "Authentication"). The
store remembers, per caller (``scope``) and key, a fingerprint of the request and, once
the first execution has finished, its response. :mod:`pulse_core.services.idempotency`
holds the rules (which answers are kept, the 24 hours, the errors); this port only
keeps records, atomically, across every process that shares the backend.

A record is first *in progress*, held by the claim that created it (its ``token``) for
a lease; then either *completed* with the response, or released (deleted) so that the
key may be claimed again. It expires ``ttl_seconds`` after its claim, whatever its
state. A claim whose holder died (a crashed process) blocks the key only until its
lease runs out: then a new claim takes it over.
"""

from __future__ import annotations

import abc

import msgspec

from pulse_core.models.redaction import redacted_repr


class StoredResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A response as it is replayed: status, the headers worth replaying (lower-case
    names, in order) and the body."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


class Claimed(msgspec.Struct, frozen=True, kw_only=True):
    """The key was free (or expired, or abandoned past its lease): the caller now holds
    it and must :meth:`~IdempotencyStore.complete` or :meth:`~IdempotencyStore.release`
    it with ``token``."""

    token: str

    def __repr__(self) -> str:
        return redacted_repr(self, ("token",))


class InProgress(msgspec.Struct, frozen=True, kw_only=True):
    """Another claim with the same fingerprint holds the key, within its lease."""


class Replay(msgspec.Struct, frozen=True, kw_only=True):
    """The key was completed for the same fingerprint: here is the response."""

    response: StoredResponse


class Mismatch(msgspec.Struct, frozen=True, kw_only=True):
    """The key is held or completed for another fingerprint (a different request)."""


ClaimOutcome = Claimed | InProgress | Replay | Mismatch


class IdempotencyStore(abc.ABC):
    """Records by ``(scope, key)``; scopes are independent (the same key in two scopes
    is two records). Time comes from the adapter's ``Clock``. Every method raises
    ``Unavailable`` when the backend cannot answer within the adapter's timeout."""

    @abc.abstractmethod
    async def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        ttl_seconds: float,
        lease_seconds: float,
    ) -> ClaimOutcome:
        """Atomically look at the record of ``(scope, key)`` and take it if it is free.

        A record that does not exist or has expired (``ttl_seconds`` after the claim that
        created it) is free: it is replaced by a new one, in progress, held by a fresh
        token for ``lease_seconds``, expiring ``ttl_seconds`` from now (:class:`Claimed`).
        Otherwise, in this order: a record with another ``fingerprint`` is
        :class:`Mismatch` (whether in progress or completed); a completed record is
        :class:`Replay` of its response; an in-progress record within its lease is
        :class:`InProgress`; one past its lease is taken over like a free record (the
        old holder's token no longer completes or releases it).

        Of any number of concurrent claims of a free key, across processes sharing the
        backend, exactly one gets :class:`Claimed`.
        """

    @abc.abstractmethod
    async def complete(self, scope: str, key: str, token: str, response: StoredResponse) -> bool:
        """Store ``response`` on the record held by ``token``, which becomes completed
        (its expiry is unchanged). True if stored; False, changing nothing, when the
        record is gone, expired, completed already or held by another token (taken over
        after the lease ran out). A holder past its lease that nobody took over still
        completes."""

    @abc.abstractmethod
    async def release(self, scope: str, key: str, token: str) -> None:
        """Delete the in-progress record held by ``token`` so the key may be claimed
        again at once (the work failed and should be retried for real). Does nothing
        when the record is gone, completed or held by another token."""
