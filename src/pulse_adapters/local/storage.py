"""Object storage in a local directory: the embedded default for recordings.

Layout under ``root`` (created on first write)::

    objects/<key>      one file per object, the key's segments as directories
    tmp/               staging area for atomic writes (same filesystem as objects/)

Keeping staged files outside ``objects/`` means listing never sees a half-written file
and no key can collide with a temporary name. Every blocking call runs in a worker thread
(``asyncio.to_thread``) so the event loop never waits on the disk.

Downloads are served by the HTTP shell, not by a bucket, so presigned URLs are Pulse URLs
carrying an HMAC-SHA256 signature and an expiry; :meth:`LocalObjectStorage.verify_download`
(the :class:`~pulse_core.ports.storage.SignedDownloads` side) checks them and returns the
file to stream. The signing key is derived from ``JWT_SECRET``
(:func:`pulse_adapters.local.download_key.download_signing_key`).
"""

from __future__ import annotations

import asyncio
import builtins
import errno
import hashlib
import heapq
import hmac
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from stat import S_ISREG
from typing import TypeVar
from urllib.parse import quote

from pulse_core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PulseError,
    Unavailable,
)
from pulse_core.ports.clock import Clock
from pulse_core.ports.storage import (
    DOWNLOAD_PATH,
    ObjectStorage,
    SignedDownloads,
    StoredObject,
    validate_after,
    validate_expires_in,
    validate_key,
    validate_limit,
    validate_prefix,
)

T = TypeVar("T")

#: Shortest accepted signing key: 256 bits, the HMAC-SHA256 block of security.
MIN_SIGNING_KEY_BYTES = 32

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Twelve digits reach the year 33658; anything longer is garbage, not a timestamp.
_EXPIRES = re.compile(r"[0-9]{1,12}")


def _invalid_url() -> PermissionDenied:
    return PermissionDenied("download URL is invalid", code="download_url_invalid")


class LocalObjectStorage(ObjectStorage, SignedDownloads):
    """Objects as files under ``root``.

    ``signing_key`` (at least 32 bytes, secret, shared by every replica serving the same
    directory) signs download URLs; ``base_url`` is the public origin of the Pulse API
    (``https://pulse.example.com``); ``clock`` stamps ``last_modified`` and judges URL
    expiry. Construction does no I/O.

    Download URL::

        {base_url}/v1/media/files/{key}?expires=<unix seconds>&signature=<hex>

    where ``key`` is percent-encoded per segment and ``signature`` is the lowercase hex
    HMAC-SHA256, keyed with ``signing_key``, of ``"pulse-media-download\\n{key}\\n{expires}"``
    (UTF-8; keys cannot contain a newline, so the message is unambiguous). The URL is
    valid while ``clock.time() < expires``.
    """

    def __init__(self, root: Path, *, signing_key: bytes, base_url: str, clock: Clock) -> None:
        if len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(f"signing_key must be at least {MIN_SIGNING_KEY_BYTES} bytes")
        self._root = Path(root)
        self._objects = self._root / "objects"
        self._tmp = self._root / "tmp"
        self._signing_key = bytes(signing_key)
        self._base_url = base_url.rstrip("/")
        self._clock = clock

    @property
    def root(self) -> Path:
        return self._root

    # -- port -------------------------------------------------------------------------

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        # content_type is not persisted: the download route derives it from the key's
        # extension, which is what a recording's key carries anyway.
        validate_key(key)
        payload = bytes(data)
        mtime_ns = (self._clock.now() - _EPOCH) // _MICROSECOND * 1000
        await self._run(self._put_sync, key, payload, mtime_ns)

    async def stat(self, key: str) -> StoredObject | None:
        validate_key(key)
        return await self._run(self._stat_sync, key)

    async def list(
        self, *, prefix: str, limit: int, after: str | None = None
    ) -> builtins.list[StoredObject]:
        validate_prefix(prefix)
        validate_limit(limit)
        validate_after(after)
        return await self._run(self._list_sync, prefix, limit, after)

    async def presigned_url(self, key: str, *, expires_in: int) -> str:
        validate_key(key)
        validate_expires_in(expires_in)
        if await self.stat(key) is None:
            raise NotFound("object not found", field="key")
        expires = int(self._clock.time()) + expires_in
        return (
            f"{self._base_url}{DOWNLOAD_PATH}{quote(key, safe='/')}"
            f"?expires={expires}&signature={self._sign(key, expires)}"
        )

    async def delete(self, key: str) -> None:
        validate_key(key)
        await self._run(self._delete_sync, key)

    async def ping(self) -> None:
        await self._run(self._ping_sync)

    # -- SignedDownloads: the download route -------------------------------------------

    async def verify_download(self, key: str, expires: str | int, signature: str) -> Path:
        """See :meth:`SignedDownloads.verify_download`; the URL has expired once
        ``clock.time() >= expires``."""
        expires_text = str(expires)
        if not isinstance(key, str) or _EXPIRES.fullmatch(expires_text) is None:
            raise _invalid_url()
        expires_at = int(expires_text)
        expected = self._sign(key, expires_at).encode("ascii")
        # Compare bytes: compare_digest refuses non-ASCII str, and the signature is input.
        offered = signature.encode("utf-8", "replace") if isinstance(signature, str) else b""
        if not hmac.compare_digest(expected, offered):
            raise _invalid_url()
        if self._clock.time() >= expires_at:
            raise PermissionDenied("download URL has expired", code="download_url_expired")
        try:
            validate_key(key)
        except InvalidInput:
            # Only reachable with our own signature over a bad key: never sign those.
            raise _invalid_url() from None
        try:
            path = await self._run(self._file_sync, key)
        except InvalidInput:
            # The key escapes the root through a symlink, or is too long for this disk:
            # either way there is nothing to serve.
            path = None
        if path is None:
            raise NotFound("object not found", field="key")
        return path

    # -- blocking helpers (worker thread) --------------------------------------------

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.to_thread(func, *args)
        except PulseError:
            raise
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise InvalidInput(
                    "key has a segment too long for local storage", field="key"
                ) from exc
            raise Unavailable(f"local storage failed: {exc.strerror or exc}") from exc

    def _base(self) -> Path:
        return self._objects.resolve()

    def _path(self, key: str) -> Path:
        """The resolved file path of ``key``, proven to lie inside ``objects/``.

        Validation already rules out ``..`` and absolute keys; resolving also defeats a
        symlink planted inside the directory that points outside it.
        """
        base = self._base()
        path = base.joinpath(*key.split("/")).resolve()
        if not path.is_relative_to(base) or path == base:
            raise InvalidInput("key resolves outside the storage root", field="key")
        return path

    def _put_sync(self, key: str, data: bytes, mtime_ns: int) -> None:
        self._objects.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise Conflict(
                "a parent of this key is an object (local storage cannot hold both)",
                field="key",
            ) from exc
        fd, staged = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                # Durable before visible: after a crash the key holds old or new bytes.
                os.fsync(handle.fileno())
            os.utime(staged, ns=(mtime_ns, mtime_ns))
            try:
                os.replace(staged, path)
            except IsADirectoryError as exc:
                raise Conflict(
                    "this key is a directory of other objects (local storage cannot hold both)",
                    field="key",
                ) from exc
        finally:
            # Gone after a successful replace; removes the stage after any failure.
            Path(staged).unlink(missing_ok=True)
        _fsync_dir(path.parent)

    def _usable_root(self) -> None:
        """Raise ``Unavailable`` when the storage directory cannot be used (it, or a
        directory above it, is a file): a missing directory is only "nothing stored
        yet", but a broken one must not read as "no such recording"."""
        probe = self._objects
        while not probe.exists() and probe.parent != probe:
            if probe.is_symlink():  # dangling
                break
            probe = probe.parent
        if not probe.is_dir():
            raise Unavailable(f"local storage directory {self._objects} is not a directory")

    def _stat_sync(self, key: str) -> StoredObject | None:
        self._usable_root()
        try:
            info = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not S_ISREG(info.st_mode):
            return None
        return _stored(key, info)

    def _file_sync(self, key: str) -> Path | None:
        self._usable_root()
        path = self._path(key)
        return path if path.is_file() else None

    def _delete_sync(self, key: str) -> None:
        self._usable_root()
        path = self._path(key)
        try:
            if path.is_file():
                path.unlink()
        except FileNotFoundError:
            pass  # deleted concurrently: the outcome the caller asked for

    def _ping_sync(self) -> None:
        # The root may not exist yet (nothing written); its nearest existing ancestor
        # must then be writable for the first put to succeed.
        probe = self._root
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not os.access(probe, os.W_OK | os.X_OK):
            raise Unavailable(f"local storage directory {probe} is not writable")

    def _list_sync(self, prefix: str, limit: int, after: str | None) -> builtins.list[StoredObject]:
        self._usable_root()
        base = self._base()
        start_key = prefix.rpartition("/")[0]
        start = base.joinpath(*start_key.split("/")) if start_key else base
        try:
            if not start.is_dir() or not start.resolve().is_relative_to(base):
                return []
        except OSError:
            return []
        candidates = (
            (key, entry)
            for key, entry in _walk(start, start_key, prefix, after)
            if key.startswith(prefix) and (after is None or key > after)
        )
        found: builtins.list[StoredObject] = []
        for key, entry in heapq.nsmallest(limit, candidates, key=lambda c: c[0]):
            try:
                found.append(_stored(key, entry.stat(follow_symlinks=False)))
            except FileNotFoundError:
                continue  # deleted since the directory was read
        return found

    def _sign(self, key: str, expires: int) -> str:
        message = f"pulse-media-download\n{key}\n{expires}".encode("utf-8", "surrogatepass")
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()


def _walk(
    start: Path, start_key: str, prefix: str, after: str | None
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every regular file under ``start`` as (key, entry), unordered.

    Symlinks are never followed; names that are not valid keys are skipped (Pulse did not
    write them); directories that cannot hold a key matching ``prefix`` and ``after`` are
    not entered, so a page deep into one project does not read every other project.
    """
    stack = [(start, start_key)]
    while stack:
        directory, dir_key = stack.pop()
        try:
            entries = os.scandir(directory)
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while listing
        with entries:
            for entry in entries:
                key = f"{dir_key}/{entry.name}" if dir_key else entry.name
                try:
                    validate_key(key)
                except InvalidInput:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if _may_contain(key + "/", prefix, after):
                        stack.append((Path(entry.path), key))
                elif entry.is_file(follow_symlinks=False):
                    yield key, entry


def _may_contain(directory: str, prefix: str, after: str | None) -> bool:
    """Whether some key starting with ``directory`` (which ends in ``/``) can start with
    ``prefix`` and sort after ``after``."""
    if not (directory.startswith(prefix) or prefix.startswith(directory)):
        return False
    # If ``after`` sorts above ``directory`` without extending it, the two differ at a
    # position inside ``directory`` where ``after`` is larger: every key below is smaller.
    return after is None or after.startswith(directory) or after < directory


def _stored(key: str, info: os.stat_result) -> StoredObject:
    # Integer microseconds keep last_modified exactly what put stamped from the clock.
    modified = _EPOCH + timedelta(microseconds=info.st_mtime_ns // 1000)
    return StoredObject(key=key, size=info.st_size, last_modified=modified)


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; best effort, as some filesystems refuse it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# DOWNLOAD_PATH belongs to the SignedDownloads port; re-exported for URL-building callers.
__all__ = ["DOWNLOAD_PATH", "MIN_SIGNING_KEY_BYTES", "LocalObjectStorage"]
