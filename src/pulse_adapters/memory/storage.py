"""In-memory object storage, with fake but signed, expiring download URLs.

Each method runs without awaiting anything, so under asyncio it is atomic.
"""

from __future__ import annotations

import builtins
import hashlib
import heapq
import hmac
import secrets
from urllib.parse import parse_qs, quote, unquote, urlsplit

import msgspec

from pulse_core.errors import NotFound, PermissionDenied
from pulse_core.ports.clock import Clock
from pulse_core.ports.storage import (
    ObjectStorage,
    StoredObject,
    validate_after,
    validate_expires_in,
    validate_key,
    validate_limit,
    validate_prefix,
)


class _Entry(msgspec.Struct, frozen=True, kw_only=True):
    data: bytes
    content_type: str
    info: StoredObject


class InMemoryObjectStorage(ObjectStorage):
    """Objects in a dict; ``last_modified`` comes from ``clock``.

    Download URLs look like ``{base_url}/{key}?expires=<unix>&signature=<hex>``, signed
    with a random per-instance key; nothing serves them, but :meth:`fetch` resolves one
    the way a server would, checking signature and expiry against ``clock``.
    """

    def __init__(self, clock: Clock, *, base_url: str = "memory://pulse-media") -> None:
        self._clock = clock
        self._base_url = base_url.rstrip("/")
        self._secret = secrets.token_bytes(32)
        self._objects: dict[str, _Entry] = {}

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        validate_key(key)
        # bytes() copies a bytearray/memoryview a caller might mutate afterwards.
        payload = bytes(data)
        info = StoredObject(key=key, size=len(payload), last_modified=self._clock.now())
        self._objects[key] = _Entry(data=payload, content_type=content_type, info=info)

    async def stat(self, key: str) -> StoredObject | None:
        validate_key(key)
        entry = self._objects.get(key)
        return None if entry is None else entry.info

    async def list(
        self, *, prefix: str, limit: int, after: str | None = None
    ) -> builtins.list[StoredObject]:
        validate_prefix(prefix)
        validate_limit(limit)
        validate_after(after)
        keys = heapq.nsmallest(
            limit,
            (k for k in self._objects if k.startswith(prefix) and (after is None or k > after)),
        )
        return [self._objects[k].info for k in keys]

    async def presigned_url(self, key: str, *, expires_in: int) -> str:
        validate_key(key)
        validate_expires_in(expires_in)
        if key not in self._objects:
            raise NotFound("object not found", field="key")
        expires = int(self._clock.time()) + expires_in
        signature = self._sign(key, expires)
        return f"{self._base_url}/{quote(key)}?expires={expires}&signature={signature}"

    async def delete(self, key: str) -> None:
        validate_key(key)
        self._objects.pop(key, None)

    async def ping(self) -> None:
        return None

    async def fetch(self, url: str) -> bytes:
        """The bytes a GET of ``url`` (from :meth:`presigned_url`) would return.

        ``PermissionDenied`` for a URL not made here, tampered with or expired;
        ``NotFound`` when the object was deleted since.
        """
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        prefix = urlsplit(self._base_url).path + "/"
        try:
            expires = int(query["expires"][0])
            signature = query["signature"][0]
        except (KeyError, IndexError, ValueError):
            raise PermissionDenied("download URL is invalid", code="download_url_invalid") from None
        if not parts.path.startswith(prefix):
            raise PermissionDenied("download URL is invalid", code="download_url_invalid")
        key = unquote(parts.path[len(prefix) :])
        if not hmac.compare_digest(self._sign(key, expires), signature):
            raise PermissionDenied("download URL is invalid", code="download_url_invalid")
        if self._clock.time() >= expires:
            raise PermissionDenied("download URL has expired", code="download_url_expired")
        entry = self._objects.get(key)
        if entry is None:
            raise NotFound("object not found", field="key")
        return entry.data

    def _sign(self, key: str, expires: int) -> str:
        message = f"pulse-memory-download\n{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
