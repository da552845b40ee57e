"""``Idempotency-Key``: the rules, on top of
:class:`~pulse_core.ports.idempotency.IdempotencyStore`.

API.md ("Authentication"): every write accepts an optional ``Idempotency-Key`` of 1 to
255 printable ASCII characters. A repeat with the same key, caller and request within 24
hours gets the first answer without the work being done again; the same key with
another request is 422 ``idempotency_key_reused``; a repeat while the first is still
running is 409 ``idempotency_key_in_use``.

What "the same request" is: the :func:`fingerprint` of the method, path, query string
and body. What "the same caller" is, is the HTTP shell's to say (an authenticated
identity, never a header the client could choose); here it is an opaque ``scope``.

Only answers are kept (:func:`is_answer`): a success, or a client error that the same
request would get again. A server error (5xx) or a "try again later" (408, 429) is not
an answer: the claim is released and a retry with the same key executes for real.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

import msgspec

from pulse_core.errors import Conflict, InvalidInput, Unprocessable
from pulse_core.models.redaction import redacted_repr
from pulse_core.ports.idempotency import (
    Claimed,
    IdempotencyStore,
    InProgress,
    Mismatch,
    Replay,
    StoredResponse,
)

#: The header, as API.md spells it (errors name it in ``field``).
HEADER: Final = "Idempotency-Key"
MAX_KEY_LENGTH: Final = 255
#: How long a key's answer is replayed (API.md: 24 hours).
TTL_SECONDS: Final = 24 * 3600.0
#: How long a claim whose holder never finishes (a crashed process) blocks its key.
#: Longer than any request takes (every backend call is bounded by seconds), so a
#: request still running is never taken over by a repeat.
LEASE_SECONDS: Final = 60.0
_NOT_ANSWERS: Final = frozenset({408, 429})
_MALFORMED: Final = f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """A key this request holds while it runs; :meth:`IdempotencyService.finish` it."""

    scope: str
    key: str
    token: str

    def __repr__(self) -> str:
        return redacted_repr(self, ("token",))


def parse_key(values: Sequence[str]) -> str:
    """The key from the header's values (one expected), or ``InvalidInput`` naming the
    header: none, several, empty, too long, or anything but printable ASCII (space to
    ``~``)."""
    if len(values) != 1:
        raise InvalidInput(f"send one {HEADER} header, not {len(values)}", field=HEADER)
    key = values[0]
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise InvalidInput(_MALFORMED, field=HEADER)
    return key


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """What makes two requests "the same": SHA-256 over the method, path, query string
    and body. The path is in it so that one key reused on another route is a mismatch,
    not that route's answer."""
    digest = hashlib.sha256()
    for part in (method.encode("ascii"), path.encode("utf-8", "surrogateescape"), query):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    digest.update(body)
    return digest.hexdigest()


def is_answer(status: int) -> bool:
    """Whether a response with ``status`` is kept and replayed: 2xx, 3xx and 4xx but 408
    and 429 (which say "try again later", so a retry must really try again)."""
    return status < 500 and status not in _NOT_ANSWERS


class IdempotencyService:
    """Claims keys for requests and keeps their answers in ``store``."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        ttl_seconds: float = TTL_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        if ttl_seconds <= 0 or lease_seconds <= 0:
            raise ValueError("ttl_seconds and lease_seconds must be positive")
        self._store = store
        self._ttl = ttl_seconds
        self._lease = lease_seconds

    async def begin(self, scope: str, key: str, fingerprint: str) -> Claim | StoredResponse:
        """Claim ``key`` for a request of ``scope`` (a :class:`Claim`: do the work), or
        the first answer to replay. ``Conflict`` (``idempotency_key_in_use``) while the
        first request runs; ``Unprocessable`` (``idempotency_key_reused``) when the key
        was used for another request; ``Unavailable`` when the store is down (nothing
        can be promised, so nothing runs)."""
        outcome = await self._store.claim(
            scope, key, fingerprint, ttl_seconds=self._ttl, lease_seconds=self._lease
        )
        if isinstance(outcome, Claimed):
            return Claim(scope=scope, key=key, token=outcome.token)
        if isinstance(outcome, Replay):
            return outcome.response
        if isinstance(outcome, InProgress):
            raise Conflict(
                f"a request with this {HEADER} is still running; retry once it has finished",
                field=HEADER,
                code="idempotency_key_in_use",
            )
        assert isinstance(outcome, Mismatch)
        raise Unprocessable(
            f"this {HEADER} was used for a different request (method, path or body);"
            " use a new key for a new request",
            field=HEADER,
            code="idempotency_key_reused",
        )

    async def finish(self, claim: Claim, response: StoredResponse) -> None:
        """Keep ``response`` for repeats if it is an answer (:func:`is_answer`), else
        release the key."""
        if is_answer(response.status):
            await self._store.complete(claim.scope, claim.key, claim.token, response)
        else:
            await self.abandon(claim)

    async def abandon(self, claim: Claim) -> None:
        """Release the key without an answer (the request failed or was cut short)."""
        await self._store.release(claim.scope, claim.key, claim.token)
