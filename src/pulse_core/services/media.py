"""Media control for a project: egress, ingress and recordings.

Tenancy. Every method takes the authenticated :class:`~pulse_core.models.Project`
first. Rooms are namespaced on the way in (:func:`pulse_core.rooms.to_livekit`), and
every egress and ingress is recorded with its owner when it is created, so an id of
another project is a ``NotFound`` found in Pulse's own records, before the media
engine is ever asked about it, and lists only ever read the caller's records.

Recordings are files under the project's own storage prefix, named by
:mod:`pulse_core.recordings` (layout and ``rec_…`` ids) and served by
:mod:`pulse_core.services.recordings`; what a request may ask for, and
where an egress's files land, is :mod:`pulse_core.services.egress_plan` (and
:mod:`~pulse_core.services.ingress_plan`).

The request types (:class:`StartEgress`, :class:`CreateIngress`, the output specs) live
in :mod:`pulse_core.models.media`; they, :func:`redact_stream_url` and the recording
naming functions are importable from here too, where embedders have always found them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import msgspec

from pulse_core import ids, rooms
from pulse_core.errors import Conflict, NotFound, PulseError
from pulse_core.models import Page, Project
from pulse_core.models.audit import Caller
from pulse_core.models.media import (
    CreateIngress,
    Egress,
    FileOutputSpec,
    HlsOutputSpec,
    Ingress,
    OutputSpec,
    Recording,
    RecordingUrl,
    RtmpOutputSpec,
    StartEgress,
)
from pulse_core.net.url_guard import UrlGuard
from pulse_core.ports.audit import AuditRepository
from pulse_core.ports.clock import Clock
from pulse_core.ports.locks import Locks
from pulse_core.ports.media import (
    EgressRequest,
    IngressInfo,
    IngressRequest,
    MediaEngine,
    StreamTarget,
)
from pulse_core.ports.media_records import EgressRecordRepository, IngressRecordRepository
from pulse_core.ports.storage import (
    EgressUploadTarget,
    ObjectStorage,
)
from pulse_core.recordings import (
    recording_id,
    recording_key,
    room_directory,
)
from pulse_core.services import pagination
from pulse_core.services.egress_plan import plan_egress, redact_stream_url
from pulse_core.services.egress_refresh import EgressRefresh
from pulse_core.services.ingress_plan import plan_ingress
from pulse_core.services.metering import UsageMeter
from pulse_core.services.quotas import QuotaService
from pulse_core.services.recordings import DEFAULT_URL_EXPIRY_SECONDS, Recordings


class MediaService:
    """Egress, ingress and recordings of the calling project (module docstring).

    ``upload_target``: the storage's :class:`EgressUploadTarget` side when it has one
    (S3, R2, MinIO): file and HLS outputs then carry its upload configuration, so the
    media server writes them straight into the bucket Pulse lists. Without one (local
    directory, memory), the engine keeps them by its own means (the simulated engine
    writes them into this storage through the sink the container gives it).

    Errors: ``InvalidInput`` naming the field; ``NotFound`` for an id the project does
    not own (or that does not exist: never said which); ``Unavailable`` when the engine,
    the records or the storage cannot answer in time.
    """

    def __init__(
        self,
        engine: MediaEngine,
        egress_records: EgressRecordRepository,
        ingress_records: IngressRecordRepository,
        storage: ObjectStorage,
        clock: Clock,
        *,
        url_guard: UrlGuard,
        upload_target: EgressUploadTarget | None = None,
        url_expiry_seconds: int = DEFAULT_URL_EXPIRY_SECONDS,
        quotas: QuotaService | None = None,
        meter: UsageMeter | None = None,
        audit: AuditRepository | None = None,
        locks: Locks | None = None,
    ) -> None:
        self._quotas = quotas
        self._meter = meter
        self._recordings = Recordings(
            storage, clock, url_expiry_seconds=url_expiry_seconds, audit=audit, locks=locks
        )
        self._engine = engine
        self._egress = egress_records
        self._ingress = ingress_records
        self._clock = clock
        self._upload_target = upload_target
        self._urls = url_guard
        self._refresh = EgressRefresh(engine, egress_records, clock, meter)

    # -- egress ----------------------------------------------------------------------

    async def start_egress(self, project: Project, request: StartEgress) -> Egress:
        """Start recording or streaming (see :class:`StartEgress`) and record that
        ``project`` owns it. The egress comes back ``starting``."""
        now = self._clock.now()
        egress_id = ids.new_id(ids.EGRESS, now_ms=ids.ms_of(now))
        plan = plan_egress(project.id, request, egress_id)
        engine_request = plan.request
        await self._check_fetched_urls(engine_request)
        await self._recordings.refuse_overwrite(engine_request.outputs)
        if self._upload_target is not None and plan.writes_files:
            upload = await self._upload_target.egress_upload_config()
            engine_request = msgspec.structs.replace(engine_request, upload=upload)
        # The plan's limits hold from the count to the record being written.
        async with self._quotas.egress_slot(project) if self._quotas else _no_quota():
            info = await self._engine.start_egress(engine_request)
            egress = Egress(
                id=egress_id,
                project_id=project.id,
                engine_id=info.egress_id,
                kind=plan.kind,
                room=plan.room,
                livekit_room=plan.livekit_room,
                status=info.status,
                outputs=[plan.output],
                started_at=info.started_at or now,
                ended_at=info.ended_at,
                error=info.error,
                updated_at=now,
            )
            await self._record(
                self._egress.add(egress), undo=lambda: self._engine.stop_egress(info.egress_id)
            )
        return egress

    async def stop_egress(self, project: Project, egress_id: str) -> Egress:
        """Stop the project's egress; it comes back ``ending`` (then ``complete`` once
        its outputs are finished). Idempotent: stopping a stopped egress returns it."""
        egress = await self._own_egress(project, egress_id)
        if egress.ended or egress.status == "ending":
            return await self._refresh.refresh(egress)
        try:
            info = await self._engine.stop_egress(egress.engine_id)
        except Conflict:
            # It stopped on its own (or through another request) since we last looked.
            return await self._refresh.refresh(egress)
        except NotFound:
            return await self._refresh.gone(egress)
        return await self._refresh.apply(egress, info)

    async def get_egress(self, project: Project, egress_id: str) -> Egress:
        """The project's egress, refreshed from the engine unless it has ended."""
        return await self._refresh.refresh(await self._own_egress(project, egress_id))

    async def list_egress(
        self,
        project: Project,
        *,
        room: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Egress]:
        """The project's egresses (of ``room`` when given), oldest first. Those not yet
        ended are refreshed with one engine call per room on the page."""
        size = pagination.check_limit(limit)
        after = pagination.check_cursor(cursor, ids.EGRESS)
        if room is not None:
            rooms.validate_room(room)
        rows = await self._egress.list_page(project.id, room=room, after=after, limit=size + 1)
        page = pagination.page_of(rows, size, lambda e: e.id)
        return Page(items=await self._refresh.refresh_all(page.items), next_cursor=page.next_cursor)

    async def _check_fetched_urls(self, request: EgressRequest) -> None:
        """Every URL the media server will open for this egress (the page of a web
        egress, each RTMP destination) must pass the address policy: the media server
        fetches them from inside the operator's network."""
        if request.url is not None:
            await self._urls.check(request.url, "url")
        for target in request.outputs:
            if isinstance(target, StreamTarget):
                for i, url in enumerate(target.urls):
                    await self._urls.check(url, f"output.urls[{i}]")

    # -- ingress ---------------------------------------------------------------------

    async def create_ingress(self, project: Project, request: CreateIngress) -> Ingress:
        """Create an RTMP, WHIP or URL-pull ingress into the project's ``room``."""
        now = self._clock.now()
        ingress_id = ids.new_id(ids.INGRESS, now_ms=ids.ms_of(now))
        engine_request = plan_ingress(project.id, request, ingress_id)
        if engine_request.url is not None:
            await self._urls.check(engine_request.url, "url")
        async with self._quotas.ingress_slot(project) if self._quotas else _no_quota():
            return await self._create_ingress(project, request, ingress_id, engine_request, now)

    async def _create_ingress(
        self,
        project: Project,
        request: CreateIngress,
        ingress_id: str,
        engine_request: IngressRequest,
        now: datetime,
    ) -> Ingress:
        info = await self._engine.create_ingress(engine_request)
        ingress = Ingress(
            id=ingress_id,
            project_id=project.id,
            engine_id=info.ingress_id,
            type=engine_request.type,
            room=request.room,
            livekit_room=engine_request.room_name,
            url=info.url,
            stream_key=info.stream_key,
            participant_identity=engine_request.participant_identity,
            participant_name=engine_request.participant_name,
            status=info.status,
            created_at=now,
            updated_at=now,
        )
        await self._record(
            self._ingress.add(ingress), undo=lambda: self._engine.delete_ingress(info.ingress_id)
        )
        return ingress

    async def get_ingress(self, project: Project, ingress_id: str) -> Ingress:
        """The project's ingress, its status refreshed from the engine."""
        ingress = await self._own_ingress(project, ingress_id)
        try:
            info = await self._engine.get_ingress(ingress.engine_id)
        except NotFound:
            return ingress
        return await self._apply_ingress(ingress, info)

    async def delete_ingress(self, project: Project, ingress_id: str) -> None:
        """Delete the project's ingress (a connected publisher is cut off), its last
        publishing session metered first."""
        ingress = await self._own_ingress(project, ingress_id)
        last = None
        # Already gone from the engine: deleting the record finishes the job.
        with contextlib.suppress(NotFound):
            last = await self._engine.delete_ingress(ingress.engine_id)
        if last is not None and self._meter is not None:
            # LiveKit reports the cut-off publisher's end (ingress_ended) later, after the
            # record is gone; metered now, the usage is there at once. That report makes
            # the same usage record (LiveKitEventProcessor meters it without the record),
            # so the session is counted once, and not lost should metering fail here.
            await self._meter.ingress_session(
                project.id, ingress.id, last.started_at_ns, last.ended_at_ns, self._clock.now()
            )
        await self._ingress.delete(project.id, ingress.id)

    async def list_ingress(
        self,
        project: Project,
        *,
        room: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Ingress]:
        """The project's ingresses (of ``room`` when given), oldest first, their status
        refreshed with one engine call per room on the page."""
        size = pagination.check_limit(limit)
        after = pagination.check_cursor(cursor, ids.INGRESS)
        if room is not None:
            rooms.validate_room(room)
        rows = await self._ingress.list_page(project.id, room=room, after=after, limit=size + 1)
        page = pagination.page_of(rows, size, lambda i: i.id)
        items = []
        by_room: dict[str, dict[str, IngressInfo]] = {}
        for ingress in page.items:
            if ingress.livekit_room not in by_room:
                infos = await self._engine.list_ingress(room_name=ingress.livekit_room)
                by_room[ingress.livekit_room] = {i.ingress_id: i for i in infos}
            info = by_room[ingress.livekit_room].get(ingress.engine_id)
            items.append(ingress if info is None else await self._apply_ingress(ingress, info))
        return Page(items=items, next_cursor=page.next_cursor)

    # -- recordings ------------------------------------------------------------------

    async def list_recordings(
        self,
        project: Project,
        *,
        room: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Recording]:
        """As :meth:`Recordings.list <pulse_core.services.recordings.Recordings.list>`."""
        return await self._recordings.list(project, room=room, limit=limit, cursor=cursor)

    async def recording_url(
        self, project: Project, recording: str, *, expires_in: int | None = None
    ) -> RecordingUrl:
        """As :meth:`Recordings.url <pulse_core.services.recordings.Recordings.url>`."""
        return await self._recordings.url(project, recording, expires_in=expires_in)

    async def delete_recording(self, project: Project, recording: str, *, by: Caller) -> None:
        """As :meth:`Recordings.delete <pulse_core.services.recordings.Recordings.delete>`."""
        await self._recordings.delete(project, recording, by=by)

    # -- internals: egress -----------------------------------------------------------

    async def _own_egress(self, project: Project, egress_id: str) -> Egress:
        egress = None
        if isinstance(egress_id, str) and ids.is_valid_id(egress_id, ids.EGRESS):
            egress = await self._egress.get(project.id, egress_id)
        if egress is None:
            raise NotFound("egress not found")
        return egress

    # -- internals: ingress ----------------------------------------------------------

    async def _own_ingress(self, project: Project, ingress_id: str) -> Ingress:
        ingress = None
        if isinstance(ingress_id, str) and ids.is_valid_id(ingress_id, ids.INGRESS):
            ingress = await self._ingress.get(project.id, ingress_id)
        if ingress is None:
            raise NotFound("ingress not found")
        return ingress

    async def _apply_ingress(self, ingress: Ingress, info: IngressInfo) -> Ingress:
        if info.status == ingress.status:
            return ingress
        now = self._clock.now()

        def applied(stored: Ingress) -> Ingress:
            if stored.status == info.status:
                return stored
            return msgspec.structs.replace(stored, status=info.status, updated_at=now)

        # Deleted meanwhile: shown as it was read (a list must not fail for it).
        changed = await self._ingress.change(ingress.project_id, ingress.id, applied)
        return ingress if changed is None else changed

    # -- internals: both -------------------------------------------------------------

    @staticmethod
    async def _record(write: Awaitable[None], *, undo: Callable[[], Awaitable[object]]) -> None:
        """Write an ownership record of something the engine already made; if the write
        fails, undo it on the engine (best effort) so nothing runs that no project owns."""
        try:
            await write
        except PulseError:
            # The original failure is the one the caller must hear about.
            with contextlib.suppress(PulseError):
                await undo()
            raise


# Re-exports included (module docstring).
__all__ = [
    "DEFAULT_URL_EXPIRY_SECONDS",
    "CreateIngress",
    "FileOutputSpec",
    "HlsOutputSpec",
    "MediaService",
    "OutputSpec",
    "RtmpOutputSpec",
    "StartEgress",
    "recording_id",
    "recording_key",
    "redact_stream_url",
    "room_directory",
]


@contextlib.asynccontextmanager
async def _no_quota() -> AsyncIterator[None]:
    yield
