"""A project's egress (recordings and live streams of its rooms), ingress (streams
brought into its rooms) and recordings, with download links (and, for those who may
change the project, deleting one).

The same :class:`~pulse_core.services.MediaService` calls, with the same input structs,
as ``/v1/media`` (:mod:`pulse_http.routes.media`): the service checks ownership, the
plan's concurrent egress and ingress limits and the address policy, and what a page shows
is the API's own response types (RTMP destinations redacted, no engine ids).

Three pages, one list each, so that each list keeps the dashboard's plain ``?cursor=``
pagination: egress at ``…/media``, ingress at ``…/media/ingress``, recordings at
``…/media/recordings``.
"""

from __future__ import annotations

from typing import Any, get_args

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.ports.media import PULL_SCHEMES
from pulse_core.ports.storage import DOWNLOAD_PATH
from pulse_core.services import MediaService
from pulse_http.dashboard.forms import Refusal, read_form
from pulse_http.dashboard.pages.context import ProjectPage
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.session import PATH
from pulse_http.schemas.ingress import CreateIngressBody, IngressOut
from pulse_http.schemas.media import (
    EgressKindName,
    EgressOut,
    RecordingOut,
    StartEgressBody,
)
from pulse_http.settings import Settings

Req = Request[Any, Any, Any]
#: How an ingress gets its media: pushed over RTMP or WHIP, or pulled from a URL.
INGRESS_TYPES = ("rtmp", "whip", "url")
#: An egress the media server is still running: it can be stopped.
RUNNING = frozenset({"starting", "active"})
#: The form's choices: the API's own (``StartEgressBody.kind``, its output tags).
EGRESS_KINDS = get_args(EgressKindName)
OUTPUT_TYPES = ("file", "hls", "rtmp")


class MediaPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}/media"

    # -- egress ----------------------------------------------------------------------

    @get("/")
    async def egress_page(
        self,
        *,
        here: NamedDependency[ProjectPage],
        media: NamedDependency[MediaService],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        return await _egress(here, media, values={"kind": "room_composite"}, cursor=cursor)

    @post("/egress")
    async def start_egress(
        self,
        *,
        request: Req,
        editable: NamedDependency[ProjectPage],
        media: NamedDependency[MediaService],
    ) -> Template | Redirect:
        """``POST /v1/media/egress/start``: every kind and output the API takes, from
        one form whose blank fields are left out (the RTMP URL is the output's one URL)."""
        form = await read_form(request)
        streams = [url for url in form.every("output.urls") if url]
        try:
            body = form.to(StartEgressBody, lists=["output.urls"] if streams else ())
            await media.start_egress(editable.project, body.to_domain())
        except PulseError as exc:
            return await _egress(editable, media, values=form.values, refusal=Refusal.of(exc))
        return Redirect(f"{editable.url('/media')}?notice=started", status_code=303)

    @post("/egress/{egress_id:str}/stop")
    async def stop_egress(
        self,
        *,
        egress_id: FromPath[str],
        editable: NamedDependency[ProjectPage],
        media: NamedDependency[MediaService],
    ) -> Redirect:
        """``POST /v1/media/egress/stop``; another project's id is the error page's 404."""
        await media.stop_egress(editable.project, egress_id)
        return Redirect(f"{editable.url('/media')}?notice=stopped", status_code=303)

    # -- ingress ---------------------------------------------------------------------

    @get("/ingress")
    async def ingress_page(
        self,
        *,
        here: NamedDependency[ProjectPage],
        media: NamedDependency[MediaService],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        return await _ingress(here, media, values={}, cursor=cursor)

    @post("/ingress")
    async def create_ingress(
        self,
        *,
        request: Req,
        editable: NamedDependency[ProjectPage],
        media: NamedDependency[MediaService],
    ) -> Template | Redirect:
        """``POST /v1/media/ingress/create``; the list shows its URL and stream key, as
        the API's list does."""
        form = await read_form(request)
        try:
            body = form.to(CreateIngressBody)
            await media.create_ingress(editable.project, body.to_domain())
        except PulseError as exc:
            return await _ingress(editable, media, values=form.values, refusal=Refusal.of(exc))
        return Redirect(f"{editable.url('/media/ingress')}?notice=created", status_code=303)

    @post("/ingress/{ingress_id:str}/delete")
    async def delete_ingress(
        self,
        *,
        ingress_id: FromPath[str],
        editable: NamedDependency[ProjectPage],
        media: NamedDependency[MediaService],
    ) -> Redirect:
        """``DELETE /v1/media/ingress/{id}``: a stream still publishing to it is cut."""
        await media.delete_ingress(editable.project, ingress_id)
        return Redirect(f"{editable.url('/media/ingress')}?notice=deleted", status_code=303)

    # -- recordings ------------------------------------------------------------------

    @get("/recordings")
    async def recordings_page(
        self,
        *,
        here: NamedDependency[ProjectPage],
        media: NamedDependency[MediaService],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        listed = await media.list_recordings(here.project, limit=PAGE_SIZE, cursor=cursor)
        return here.render(
            "media_recordings.html",
            tab="recordings",
            recordings=[RecordingOut.of(r) for r in listed.items],
            next_cursor=listed.next_cursor,
        )

    @get("/recordings/{recording_id:str}/download")
    async def download(
        self,
        *,
        recording_id: FromPath[str],
        here: NamedDependency[ProjectPage],
        media: NamedDependency[MediaService],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        """To the URL ``GET /v1/media/recordings/{id}/url`` gives, signed when the link is
        followed (a page left open never holds an expired one), with the service's
        default lifetime."""
        signed = await media.recording_url(here.project, recording_id)
        return Redirect(_on_this_origin(signed.url, settings), status_code=303)

    @post("/recordings/{recording_id:str}/delete")
    async def delete_recording(
        self,
        *,
        recording_id: FromPath[str],
        editable: NamedDependency[ProjectPage],
        media: NamedDependency[MediaService],
    ) -> Redirect:
        """``DELETE /v1/media/recordings/{id}``, in the audit log as the signed-in user."""
        await media.delete_recording(editable.project, recording_id, by=editable.viewer.caller())
        target = editable.url("/media/recordings")
        return Redirect(f"{target}?notice=deleted", status_code=303)


def _on_this_origin(url: str, settings: Settings) -> str:
    """A download Pulse serves itself (recordings in a local directory) as a path on the
    origin the dashboard is open on: the signed URL names ``PUBLIC_URL``, which on a
    machine reached by another name (or with no ``PUBLIC_URL`` set) is not where the
    browser is. A bucket's presigned URL is left whole."""
    own = settings.resolved_public_url
    if url.startswith(own + DOWNLOAD_PATH):
        return url[len(own) :]
    return url


async def _egress(
    here: ProjectPage,
    media: MediaService,
    *,
    values: dict[str, str],
    cursor: str | None = None,
    refusal: Refusal | None = None,
) -> Template:
    listed = await media.list_egress(here.project, limit=PAGE_SIZE, cursor=cursor)
    return here.render(
        "media.html",
        refusal=refusal,
        tab="egress",
        egress=[EgressOut.of(e) for e in listed.items],
        running=RUNNING,
        next_cursor=listed.next_cursor,
        values=values,
        kinds=EGRESS_KINDS,
        outputs=OUTPUT_TYPES,
    )


async def _ingress(
    here: ProjectPage,
    media: MediaService,
    *,
    values: dict[str, str],
    cursor: str | None = None,
    refusal: Refusal | None = None,
) -> Template:
    listed = await media.list_ingress(here.project, limit=PAGE_SIZE, cursor=cursor)
    return here.render(
        "media_ingress.html",
        refusal=refusal,
        tab="ingress",
        ingress=[IngressOut.of(i) for i in listed.items],
        types=INGRESS_TYPES,
        pull_schemes=pull_schemes(),
        next_cursor=listed.next_cursor,
        values=values,
    )


def pull_schemes() -> str:
    """What a URL ingress may pull from, for the form's hint: the ingress rule's own list
    (``http://, https:// or srt://``), so the hint cannot promise what it refuses."""
    *first, last = (f"{scheme}://" for scheme in PULL_SCHEMES)
    return f"{', '.join(first)} or {last}" if first else last
