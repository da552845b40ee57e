"""What a deleted project leaves running on the media server, ended.

A project's rooms hold their participants, its egresses record and stream, and its
ingresses take a publisher in, until the media server is told to stop: deleting the
project in Pulse does not. Left running they would use the media server, count against
no limit and no bill (a deleted project's usage is not its organization's), and record
into a project nobody owns. Deleting a project (or its organization) therefore queues an
:class:`~pulse_core.models.jobs.EndProjectMedia` job, and a worker runs
:meth:`MediaTeardown.end`: durable, retried while the media server is down, and
idempotent. The media server then reports each end as usual (``egress_ended``,
``ingress_ended``), which is applied and metered
(:class:`~pulse_core.services.livekit_events.LiveKitEventProcessor`).

Tokens minted for the project stay valid on the media server until they expire (it
knows one key, not Pulse's projects), and a join with one opens the room again. So the
event processor ends such a room as soon as the media server reports it opening
(:meth:`MediaTeardown.end_room`): the deletion holds, at the cost of a moment's join.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Final

from pulse_core import rooms as room_names
from pulse_core.errors import Conflict, NotFound, Unavailable
from pulse_core.models.jobs import QUEUE, EndProjectMedia, encode_job
from pulse_core.ports.media import MediaEngine
from pulse_core.ports.media_records import EgressRecordRepository, IngressRecordRepository
from pulse_core.ports.queue import JobQueue
from pulse_core.ports.rooms import RoomEngine

_PAGE: Final = 200
_log = logging.getLogger("pulse.media_teardown")


class MediaTeardown:
    """Ends the rooms, stops the egresses and deletes the ingresses of deleted projects
    on the engine. Their records stay (usage, the organization's history); an ingress
    record is ended by the engine's report, not here. Without ``rooms`` (an embedder's
    setup with no room engine), rooms are left to end when their last participant
    leaves."""

    def __init__(
        self,
        engine: MediaEngine,
        egress: EgressRecordRepository,
        ingress: IngressRecordRepository,
        queue: JobQueue,
        *,
        rooms: RoomEngine | None = None,
    ) -> None:
        self._engine = engine
        self._egress = egress
        self._ingress = ingress
        self._queue = queue
        self._rooms = rooms

    async def schedule(self, project_ids: Sequence[str]) -> None:
        """Queue the teardown of ``project_ids`` (just deleted). The deletion has
        happened whatever this does: a queue that cannot take the job is logged, not
        raised, so that the caller is not told the deletion failed."""
        if not project_ids:
            return
        try:
            await self._queue.enqueue(
                QUEUE, encode_job(EndProjectMedia(project_ids=tuple(project_ids)))
            )
        except Unavailable as exc:
            _log.error(
                "media of deleted projects %s left running: the job queue is unavailable (%s)",
                ", ".join(project_ids),
                exc.detail,
            )

    async def end(self, project_id: str) -> None:
        """End every live room of the project (its participants are disconnected), stop
        every egress of the project that has not ended and delete every ingress from the
        engine; what the engine no longer knows, or has stopped already, is done.
        ``Unavailable`` when the engine cannot answer: run it again later."""
        if self._rooms is not None:
            for room in await self._rooms.list_rooms(prefix=room_names.project_prefix(project_id)):
                await self.end_room(room.name)
        after = None
        while True:
            page = await self._egress.list_page(project_id, room=None, after=after, limit=_PAGE)
            for egress in page:
                if not egress.ended and egress.status != "ending":
                    with contextlib.suppress(Conflict, NotFound):  # stopped already, or gone
                        await self._engine.stop_egress(egress.engine_id)
            if len(page) < _PAGE:
                break
            after = page[-1].id
        after = None
        while True:
            ingresses = await self._ingress.list_page(
                project_id, room=None, after=after, limit=_PAGE
            )
            for ingress in ingresses:
                with contextlib.suppress(NotFound):
                    await self._engine.delete_ingress(ingress.engine_id)
            if len(ingresses) < _PAGE:
                break
            after = ingresses[-1].id

    async def end_room(self, livekit_room: str) -> None:
        """End the room ``livekit_room`` (the media server's name) of a deleted project,
        disconnecting whoever is in it; a room that has ended already is done.
        ``Unavailable`` when the engine cannot answer."""
        if self._rooms is None:
            return
        with contextlib.suppress(NotFound):
            await self._rooms.delete_room(livekit_room)
