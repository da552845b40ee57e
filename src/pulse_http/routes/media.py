"""Media control (API.md, "Media"): egress, ingress and recordings of the calling
project, plus the public download route of recordings whose storage Pulse serves itself
(a local directory: the :class:`~pulse_core.ports.storage.SignedDownloads` port)."""

from __future__ import annotations

from pathlib import PurePosixPath

from litestar import Controller, Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import File

from pulse_core.models import Project
from pulse_core.models.audit import Caller
from pulse_core.ports.storage import DOWNLOAD_PATH, SignedDownloads
from pulse_core.services import MediaService
from pulse_http.auth import project_route
from pulse_http.schemas.ingress import CreateIngressBody, IngressList, IngressOut
from pulse_http.schemas.media import (
    EgressList,
    EgressOut,
    RecordingList,
    RecordingOut,
    RecordingUrlOut,
    StartEgressBody,
    StopEgressBody,
)


class MediaController(Controller):
    """Egress, ingress and recordings; project key + secret. Another project's id is a
    404, and lists show the caller's own objects only (the service checks both)."""

    path = "/v1/media"
    tags = ["media"]
    opt = project_route("media")

    @post("/egress/start", status_code=201)
    async def start_egress(
        self,
        data: JSONBody[StartEgressBody],
        project: NamedDependency[Project],
        media: NamedDependency[MediaService],
    ) -> EgressOut:
        """Start recording or streaming a room (egress).

        `kind` says what is captured (`room_composite`, the default, mixes the whole room;
        `track_composite`, `track`, `participant`, `web`) and `output` where it goes: a
        file in the configured storage (under the project's prefix), HLS segments, or RTMP
        destinations. Once LiveKit reports its end, the egress shows its final status and
        files. 403 `quota_exceeded` past the plan's `max_concurrent_egress`. Needs
        `media:write`."""
        return EgressOut.of(await media.start_egress(project, data.to_domain()))

    @post("/egress/stop", status_code=200, opt={"problems": (404,)})
    async def stop_egress(
        self,
        data: JSONBody[StopEgressBody],
        project: NamedDependency[Project],
        media: NamedDependency[MediaService],
    ) -> EgressOut:
        """Stop an egress; it ends (`ending`, then `complete`) as LiveKit reports it. 404
        for an egress of another project."""
        return EgressOut.of(await media.stop_egress(project, data.egress_id))

    @get("/egress/{egress_id:str}")
    async def get_egress(
        self,
        egress_id: FromPath[str],
        project: NamedDependency[Project],
        media: NamedDependency[MediaService],
    ) -> EgressOut:
        """Get an egress: its status, outputs and, once ended, the files it produced."""
        return EgressOut.of(await media.get_egress(project, egress_id))

    @get("/egress")
    async def list_egress(
        self,
        project: NamedDependency[Project],
        media: NamedDependency[MediaService],
        room: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> EgressList:
        """List the project's egress, newest first (`room`: one room's)."""
        page = await media.list_egress(project, room=room, limit=limit, cursor=cursor)
        return EgressList(items=[EgressOut.of(e) for e in page.items], next_cursor=page.next_cursor)

    @post("/ingress/create", status_code=201)
    async def create_ingress(
        self,
        data: JSONBody[CreateIngressBody],
        project: NamedDependency[Project],
        media: NamedDependency[MediaService],
    ) -> IngressOut:
        """Create an ingress: a way to bring a stream into a room as a participant.

        `rtmp` and `whip` give a `url` and `stream_key` to publish to; `url` pulls the
        stream from `url`. 403 `quota_exceeded` past the plan's `max_concurrent_ingress`.
        Needs `media:write`."""
        return IngressOut.of(await media.create_ingress(project, data.to_domain()))

    @delete("/ingress/{ingress_id:str}", status_code=204)
    async def delete_ingress(
        self,
        ingress_id: FromPath[str],
        project: NamedDependency[Project],
        media: NamedDependency[MediaService],
    ) -> None:
        """Delete an ingress; a stream still publishing to it is cut."""
        await media.delete_ingress(project, ingress_id)

    @get("/ingress")
    async def list_ingress(
        self,
        project: NamedDependency[Project],
        media: NamedDependency[MediaService],
        room: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> IngressList:
        """List the project's ingress, newest first (`room`: one room's)."""
        page = await media.list_ingress(project, room=room, limit=limit, cursor=cursor)
        return IngressList(
            items=[IngressOut.of(i) for i in page.items], next_cursor=page.next_cursor
        )

    @get("/recordings")
    async def list_recordings(
        self,
        project: NamedDependency[Project],
        media: NamedDependency[MediaService],
        room: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> RecordingList:
        """List the project's recordings (the files its egress wrote to storage)."""
        page = await media.list_recordings(project, room=room, limit=limit, cursor=cursor)
        return RecordingList(
            items=[RecordingOut.of(r) for r in page.items], next_cursor=page.next_cursor
        )

    @get("/recordings/{recording_id:str}/url")
    async def recording_url(
        self,
        recording_id: FromPath[str],
        project: NamedDependency[Project],
        media: NamedDependency[MediaService],
        expires_in: FromQuery[int | None] = None,
    ) -> RecordingUrlOut:
        """A time-limited download URL for a recording (presigned by the bucket, or signed
        by Pulse for a local directory)."""
        url = await media.recording_url(project, recording_id, expires_in=expires_in)
        return RecordingUrlOut.of(url)

    @delete("/recordings/{recording_id:str}", status_code=204, opt={"problems": (404,)})
    async def delete_recording(
        self,
        recording_id: FromPath[str],
        project: NamedDependency[Project],
        media: NamedDependency[MediaService],
        caller: NamedDependency[Caller],
    ) -> None:
        """Delete a recording: the file is removed from storage, and download URLs
        already handed out stop working. Recorded in the organization's audit log
        (`recording.deleted`). 404 for a recording the project does not have, including
        one already deleted. Needs `media:write`."""
        await media.delete_recording(project, recording_id, by=caller)


# Headers of every download: the file's name (and so its type) comes from a caller, so
# the browser must neither sniff nor render it as a page of Pulse's origin, and the URL
# (a bearer capability) must not leak through Referer or shared caches.
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
}


@get(
    DOWNLOAD_PATH + "{key:path}",
    tags=["media"],
    summary="Download a local recording",
    opt={"problems": (403, 404)},
)
async def download_recording(
    key: FromPath[str],
    signed_downloads: NamedDependency[SignedDownloads],
    expires: FromQuery[str] = "",
    signature: FromQuery[str] = "",
) -> File:
    """Download a locally stored recording with a signed URL from
    ``GET /v1/media/recordings/{id}/url``.

    No credentials: the signature is the credential. A wrong or missing signature is 403
    ``download_url_invalid``, an expired URL 403 ``download_url_expired``, a deleted file
    404. Mounted only when recordings are stored in a local directory."""
    path = await signed_downloads.verify_download(key.lstrip("/"), expires, signature)
    return File(
        path=path,
        filename=PurePosixPath(key).name,
        content_disposition_type="attachment",
        headers=_DOWNLOAD_HEADERS,
    )


def download_routes(signed_downloads: SignedDownloads | None) -> list[Router]:
    """The download route, when the storage's URLs point at Pulse (the container's
    ``adapters.signed_downloads``: a local directory); a bucket serves its own presigned
    URLs (None), so nothing is mounted then."""
    if signed_downloads is None:
        return []

    def provide() -> SignedDownloads:
        return signed_downloads

    return [
        Router(
            path="/",
            route_handlers=[download_recording],
            dependencies={
                "signed_downloads": Provide(provide, use_cache=True, sync_to_thread=False)
            },
        )
    ]
