"""A project's recordings: the files under its own storage prefix (named by
:mod:`pulse_core.recordings`), listed, their download URLs, and deleting one (recorded in
the audit log). :class:`MediaService <pulse_core.services.media.MediaService>` serves
them through this."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from pulse_core import rooms
from pulse_core.errors import Conflict, InvalidInput, NotFound
from pulse_core.models import Page, Project
from pulse_core.models.audit import Caller
from pulse_core.models.media import Recording, RecordingUrl
from pulse_core.ports.audit import AuditRepository
from pulse_core.ports.clock import Clock
from pulse_core.ports.locks import Locks
from pulse_core.ports.media import EgressTarget, FileTarget, SegmentsTarget
from pulse_core.ports.storage import (
    MAX_URL_EXPIRY_SECONDS,
    ObjectStorage,
    validate_after,
    validate_expires_in,
)
from pulse_core.recordings import recording_key, recording_of, recordings_prefix, room_directory
from pulse_core.services import audit, pagination

DEFAULT_URL_EXPIRY_SECONDS: Final = 3600
#: A deletion is a stat, an audit record and a delete, each bounded by its backend's
#: timeout (S3's retries included); the next one waits for it rather than fail.
DELETE_LOCK_LEASE_SECONDS: Final = 60.0
DELETE_LOCK_WAIT_SECONDS: Final = 30.0


class Recordings:
    """The recordings in ``storage``; download URLs valid ``url_expiry_seconds`` unless
    the caller asks otherwise (``ValueError`` outside 1 s .. 7 days); deletions recorded
    in ``audit`` (None: not recorded, for an embedder without an audit log)."""

    def __init__(
        self,
        storage: ObjectStorage,
        clock: Clock,
        *,
        url_expiry_seconds: int = DEFAULT_URL_EXPIRY_SECONDS,
        audit: AuditRepository | None = None,
        locks: Locks | None = None,
    ) -> None:
        if not 1 <= url_expiry_seconds <= MAX_URL_EXPIRY_SECONDS:
            raise ValueError(f"url_expiry_seconds must be 1..{MAX_URL_EXPIRY_SECONDS}")
        self._storage = storage
        self._clock = clock
        self._url_expiry = url_expiry_seconds
        self._audit = audit
        self._locks = locks

    async def list(
        self,
        project: Project,
        *,
        room: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Recording]:
        """Files in the project's recordings (of ``room`` when given), in key order
        (per room, then by path). Listed from storage, so a file shows up once the
        engine has finished writing it."""
        size = pagination.check_limit(limit)
        base = recordings_prefix(project.id)
        prefix = base
        if room is not None:
            prefix += room_directory(rooms.validate_room(room))
        after = None
        if cursor:
            relative = recording_key(cursor)
            # A recording id whose key is too long once prefixed: no list returned it.
            with contextlib.suppress(InvalidInput):
                after = None if relative is None else validate_after(base + relative)
            if after is None:
                raise InvalidInput("cursor is not a cursor this list returned", field="cursor")
        found = await self._storage.list(prefix=prefix, limit=size + 1, after=after)
        recordings = [recording_of(project.id, stored) for stored in found]
        return pagination.page_of(recordings, size, lambda r: r.id)

    async def url(
        self, project: Project, recording: str, *, expires_in: int | None = None
    ) -> RecordingUrl:
        """A download URL for the project's recording, valid ``expires_in`` seconds
        (default: the service's, 1 hour; at most 7 days)."""
        seconds = validate_expires_in(self._url_expiry if expires_in is None else expires_in)
        relative = recording_key(recording)
        if relative is None:
            raise NotFound("recording not found")
        # Whole seconds, rounded down: never later than the URL's own expiry.
        now = self._clock.now().replace(microsecond=0)
        try:
            url = await self._storage.presigned_url(
                recordings_prefix(project.id) + relative, expires_in=seconds
            )
        except (NotFound, InvalidInput):
            # InvalidInput: a key this storage cannot hold (too long with its prefix),
            # so it holds no such recording either.
            raise NotFound("recording not found") from None
        return RecordingUrl(url=url, expires_at=now + timedelta(seconds=seconds))

    async def delete(self, project: Project, recording: str, *, by: Caller) -> None:
        """Remove the project's recording from storage, recorded in the audit log as
        ``recording.deleted`` by ``by``. ``NotFound`` when the project has no such
        recording (any more): a second deletion is a 404, as for any resource gone.

        The audit record is written first: a deletion that then fails (``Unavailable``)
        leaves a record of an attempt and the file, which a retry deletes; the other
        order could delete a file and lose the record of who did.

        With ``locks``, deletions of one recording take turns, so of two at once one is
        a 404 and the audit log says it was deleted once."""
        if self._locks is None:
            await self._delete(project, recording, by)
            return
        async with self._locks.hold(
            f"recording:{project.id}:{recording}",
            lease_seconds=DELETE_LOCK_LEASE_SECONDS,
            wait_seconds=DELETE_LOCK_WAIT_SECONDS,
        ):
            await self._delete(project, recording, by)

    async def _delete(self, project: Project, recording: str, by: Caller) -> None:
        key = await self._existing_key(project, recording)
        if self._audit is not None:
            await self._audit.add(
                audit.by(
                    self._clock,
                    by,
                    "recording.deleted",
                    resource_type="recording",
                    resource_id=recording,
                    org_id=project.org_id,
                )
            )
        await self._storage.delete(key)

    async def refuse_overwrite(self, targets: Sequence[EgressTarget]) -> None:
        """``Conflict`` naming the field when a file an egress would write exists
        already: the new recording would replace it without a word, and links handed
        out for the old one would serve the new."""
        for target in targets:
            if isinstance(target, FileTarget):
                key, field = target.key, "output.filepath"
            elif isinstance(target, SegmentsTarget):
                key, field = target.playlist_key, "output.path"
            else:
                continue
            if await self._storage.stat(key) is not None:
                raise Conflict(
                    f"{field} names a recording that exists: delete it first, or choose "
                    "another name",
                    field=field,
                )

    async def _existing_key(self, project: Project, recording: str) -> str:
        relative = recording_key(recording)
        if relative is None:
            raise NotFound("recording not found")
        key = recordings_prefix(project.id) + relative
        try:
            found = await self._storage.stat(key)
        except InvalidInput:  # a key this storage cannot hold: so it holds no such file
            found = None
        if found is None:
            raise NotFound("recording not found")
        return key


__all__ = ["DEFAULT_URL_EXPIRY_SECONDS", "Recordings"]
