"""A project's recordings: the files under its own storage prefix (named by
:mod:`pulse_core.recordings`), listed, and their download URLs. :class:`MediaService
<pulse_core.services.media.MediaService>` serves them through this."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from pulse_core import rooms
from pulse_core.errors import InvalidInput, NotFound
from pulse_core.models import Page, Project
from pulse_core.models.media import Recording, RecordingUrl
from pulse_core.ports.clock import Clock
from pulse_core.ports.storage import MAX_URL_EXPIRY_SECONDS, ObjectStorage, validate_expires_in
from pulse_core.recordings import recording_key, recording_of, recordings_prefix, room_directory
from pulse_core.services import pagination

DEFAULT_URL_EXPIRY_SECONDS: Final = 3600


class Recordings:
    """The recordings in ``storage``; download URLs valid ``url_expiry_seconds`` unless
    the caller asks otherwise (``ValueError`` outside 1 s .. 7 days)."""

    def __init__(
        self,
        storage: ObjectStorage,
        clock: Clock,
        *,
        url_expiry_seconds: int = DEFAULT_URL_EXPIRY_SECONDS,
    ) -> None:
        if not 1 <= url_expiry_seconds <= MAX_URL_EXPIRY_SECONDS:
            raise ValueError(f"url_expiry_seconds must be 1..{MAX_URL_EXPIRY_SECONDS}")
        self._storage = storage
        self._clock = clock
        self._url_expiry = url_expiry_seconds

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
            if relative is None:
                raise InvalidInput("cursor is not a cursor this list returned", field="cursor")
            after = base + relative
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


__all__ = ["DEFAULT_URL_EXPIRY_SECONDS", "Recordings"]
