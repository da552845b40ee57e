"""Object storage: where recordings live (an S3-compatible bucket, a local directory, memory).

Keys
    A key is a ``/``-separated relative path, such as ``prj_123/recordings/demo/x.mp4``.
    Callers scope keys with a per-project prefix (``prj_123/``); two projects' prefixes
    never see each other's objects because listing is by string prefix. Every adapter
    enforces the same rules (:func:`validate_key`), raising
    :class:`~pulse_core.errors.InvalidInput` with ``field="key"`` for a key that:

    - is empty or longer than :data:`MAX_KEY_BYTES` (1024) bytes in UTF-8 (an adapter that
      stores keys under its own prefix may lower the limit by that prefix's length);
    - starts with ``/``, ends with ``/``, or has an empty (``a//b``), ``.`` or ``..``
      segment: a filesystem would alias or escape such paths, so no adapter accepts them;
    - contains a control character (NUL, newline, DEL, ...) or a lone surrogate.

    A key should not also be the "directory" of another key (``a`` and ``a/b``): object
    stores allow it, a filesystem cannot, and the local adapter raises
    :class:`~pulse_core.errors.Conflict` for the second ``put``.

Downloads
    :meth:`ObjectStorage.presigned_url` is all a caller needs. A storage whose URLs
    Pulse must serve itself (a local directory) also implements :class:`SignedDownloads`,
    which the HTTP shell's download route depends on.

Errors
    A backend that is down, too slow, misconfigured (missing bucket, refused credentials)
    raises :class:`~pulse_core.errors.Unavailable` within the adapter's timeouts, never
    hangs. Bad arguments raise ``InvalidInput`` naming the argument before any I/O.
"""

from __future__ import annotations

import abc

# ``builtins.list`` in annotations: inside the class body ``list`` is the method.
import builtins
import unicodedata
from datetime import datetime
from pathlib import Path

import msgspec

from pulse_core.errors import InvalidInput

#: S3's own limit on a key, applied to every adapter so a key that works locally works
#: in every bucket.
MAX_KEY_BYTES = 1024
#: Most objects one :meth:`ObjectStorage.list` call returns (S3's page size).
MAX_LIST_LIMIT = 1000
#: Longest validity of a download URL: seven days, the limit of S3 SigV4 presigning.
MAX_URL_EXPIRY_SECONDS = 7 * 24 * 3600
#: Path, under Pulse's public URL, of the route that serves :class:`SignedDownloads`.
DOWNLOAD_PATH = "/v1/media/files/"


class StoredObject(msgspec.Struct, frozen=True, kw_only=True):
    """What storage knows about one object. ``key`` is the caller's key (no adapter
    prefix); ``last_modified`` is timezone-aware UTC."""

    key: str
    size: int
    last_modified: datetime


class EgressUploadConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how LiveKit egress uploads file outputs so they land in the same bucket
    that :class:`ObjectStorage` reads (the fields of LiveKit's ``S3Upload``).

    ``endpoint`` is None for AWS S3 itself. ``key_prefix`` is prepended to every storage
    key in the bucket (``""`` or ending with ``/``): an egress ``filepath`` must be
    :meth:`object_key` of the storage key, or listing will not see the file. ``repr``
    hides the secrets so a logged config leaks nothing.
    """

    bucket: str
    region: str
    endpoint: str | None
    force_path_style: bool
    access_key: str
    secret: str
    session_token: str | None = None
    key_prefix: str = ""

    def object_key(self, key: str) -> str:
        """The bucket key egress must write for storage key ``key`` (validated)."""
        return self.key_prefix + validate_key(key)

    def __repr__(self) -> str:
        return (
            f"EgressUploadConfig(bucket={self.bucket!r}, region={self.region!r}, "
            f"endpoint={self.endpoint!r}, force_path_style={self.force_path_style!r}, "
            f"access_key={self.access_key!r}, secret='***', "
            f"session_token={'***' if self.session_token else None!r}, "
            f"key_prefix={self.key_prefix!r})"
        )


class ObjectStorage(abc.ABC):
    """Recording files in an S3-compatible bucket, a local directory or memory.

    See the module docstring for the key rules and errors shared by every method.
    """

    @abc.abstractmethod
    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        """Store ``data`` at ``key``, replacing any object there.

        The write is atomic: readers see the old object or the new one, never part of
        one. ``content_type`` is served with downloads where the backend keeps it (S3,
        memory); a local directory derives it from the key's extension when serving.
        Recordings are normally written by egress itself; this exists for local
        recordings, imports and tests.
        """

    @abc.abstractmethod
    async def stat(self, key: str) -> StoredObject | None:
        """The object at ``key``, or None when there is none."""

    @abc.abstractmethod
    async def list(
        self, *, prefix: str, limit: int, after: str | None = None
    ) -> builtins.list[StoredObject]:
        """Objects whose key starts with ``prefix`` and sorts after ``after``, in
        ascending key order (UTF-8 byte order, which is code point order).

        ``prefix`` is a plain string prefix (``""`` lists everything, ``prj_1/`` one
        project, ``prj_1/rec`` also matches ``prj_1/recording.mp4``); it follows the key
        rules except that it may be empty, may end with ``/`` and its last segment may be
        partial (``InvalidInput`` with ``field="prefix"``). ``after`` is the last key of
        the previous page (None: from the start); it need not exist any more.
        ``limit`` is 1..:data:`MAX_LIST_LIMIT` (else ``InvalidInput`` ``field="limit"``).

        Returns ``min(limit, remaining)`` objects: fewer than ``limit`` means this is the
        last page, so a caller can paginate with ``after=page[-1].key``.
        """

    @abc.abstractmethod
    async def presigned_url(self, key: str, *, expires_in: int) -> str:
        """A URL anyone can GET the object with, valid for ``expires_in`` seconds
        (1..:data:`MAX_URL_EXPIRY_SECONDS`, else ``InvalidInput`` ``field="expires_in"``).

        ``NotFound`` if there is no object at ``key`` when the URL is made. The URL is a
        bearer capability: it is signed, expires, and names exactly one key.
        """

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete the object at ``key``; deleting a missing key is not an error."""

    async def ping(self) -> None:
        """Return when the backend answers, ``Unavailable`` otherwise (readiness checks).

        The default lists one object; adapters override it with something cheaper.
        """
        await self.list(prefix="", limit=1)

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing
        """Release connections; the default holds none."""


class EgressUploadTarget(abc.ABC):
    """Optional sub-port of a storage that LiveKit egress can upload into directly.

    Only bucket-backed adapters (S3, R2, MinIO) implement it; a local directory or memory
    cannot be reached by an egress worker, so the media service stores recordings there by
    other means (or refuses file outputs) when the storage is not an ``EgressUploadTarget``.
    """

    @abc.abstractmethod
    async def egress_upload_config(self) -> EgressUploadConfig:
        """The bucket, endpoint and credentials egress should upload with.

        Async so an adapter may mint short-lived, scoped credentials; it must not hand
        out anything broader than write access to this storage's bucket and prefix.
        """


class SignedDownloads(abc.ABC):
    """Optional sub-port of a storage whose download URLs point at Pulse itself.

    A bucket serves its own presigned URLs; a local directory cannot, so its
    :meth:`ObjectStorage.presigned_url` returns
    ``{Pulse's public URL}{DOWNLOAD_PATH}{key}?expires=…&signature=…`` (``key``
    percent-encoded per segment) and the HTTP shell serves that path, asking
    :meth:`verify_download` which file a request names. The shell mounts the route only
    when the configured storage has this side.
    """

    @abc.abstractmethod
    async def verify_download(self, key: str, expires: str, signature: str) -> Path:
        """The file to serve for a download URL's ``key``, ``expires`` and ``signature``
        (the query parameters as received, possibly empty: they are caller input).

        ``key`` is the decoded path after :data:`DOWNLOAD_PATH` (no leading ``/``).
        Raises ``PermissionDenied`` with code ``download_url_invalid`` when the signature
        does not match (checked first, in constant time, so a forged URL learns nothing
        else), then ``PermissionDenied`` with code ``download_url_expired`` once the URL
        has expired, then ``NotFound`` when the object is gone.
        """


def _has_control(value: str) -> bool:
    # Cc: C0/C1 controls and DEL (NUL, newline, ...); Cs: lone surrogates, which cannot
    # even be encoded to UTF-8 and so cannot be a key anywhere.
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


def _check_common(value: str, field: str) -> None:
    if _has_control(value):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    if len(value.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidInput(f"{field} must be at most {MAX_KEY_BYTES} bytes", field=field)
    if value.startswith("/"):
        raise InvalidInput(f"{field} must be relative (no leading /)", field=field)


def validate_key(key: str) -> str:
    """``key`` unchanged if it follows the key rules, else ``InvalidInput(field="key")``."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("key must be a non-empty string", field="key")
    _check_common(key, "key")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidInput(
                "key must not have empty, '.' or '..' segments or a trailing /", field="key"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """``prefix`` unchanged if it is a valid listing prefix, else
    ``InvalidInput(field="prefix")``: the key rules, except that it may be empty, may end
    with ``/`` and its last segment may be any partial name (but not ``..``)."""
    if not isinstance(prefix, str):
        raise InvalidInput("prefix must be a string", field="prefix")
    if not prefix:
        return prefix
    _check_common(prefix, "prefix")
    *directories, last = prefix.split("/")
    if last == ".." or any(segment in ("", ".", "..") for segment in directories):
        raise InvalidInput("prefix must not have empty, '.' or '..' segments", field="prefix")
    return prefix


def validate_after(after: str | None) -> str | None:
    """A pagination cursor: any string a key could be compared with (bounded, no control
    characters), else ``InvalidInput(field="after")``."""
    if after is None:
        return None
    if not isinstance(after, str) or _has_control(after):
        raise InvalidInput("after must be a key without control characters", field="after")
    if len(after.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidInput(f"after must be at most {MAX_KEY_BYTES} bytes", field="after")
    return after


def validate_limit(limit: int) -> int:
    """``limit`` if it is 1..:data:`MAX_LIST_LIMIT`, else ``InvalidInput(field="limit")``."""
    # bool is an int subclass; True as a page size is a bug at the call site.
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}", field="limit")
    return limit


def validate_expires_in(expires_in: int) -> int:
    """``expires_in`` if it is 1..:data:`MAX_URL_EXPIRY_SECONDS`, else
    ``InvalidInput(field="expires_in")``."""
    if (
        not isinstance(expires_in, int)
        or isinstance(expires_in, bool)
        or not 1 <= expires_in <= MAX_URL_EXPIRY_SECONDS
    ):
        raise InvalidInput(
            f"expires_in must be between 1 and {MAX_URL_EXPIRY_SECONDS} seconds",
            field="expires_in",
        )
    return expires_in
