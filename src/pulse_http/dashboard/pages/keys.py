"""A project's API keys: the list (with when each was last used, never a secret),
creating a named key, revoking one, and rotating the project's first pair.

The same services as ``/v1/projects/{id}/keys`` and ``…/regenerate-keys``: a new secret
is shown once, on a page that points the browser's history back at the list so a reload
cannot show it again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from pulse_core.errors import InvalidInput, PulseError
from pulse_core.models.keys import SCOPES
from pulse_core.ports.clock import Clock
from pulse_core.services import ProjectService
from pulse_core.services.keys import KeyService, KeyView
from pulse_http.dashboard.forms import Form, Refusal, read_form
from pulse_http.dashboard.pages.context import ProjectPage
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.session import PATH
from pulse_http.schemas.access import CreateKey
from pulse_http.schemas.projects import RegenerateKeys

Req = Request[Any, Any, Any]
BLANK_GRACE = "grace period is required; 0 revokes the old key at once"


class KeyPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}/keys"

    @get("/")
    async def keys_page(
        self,
        *,
        here: NamedDependency[ProjectPage],
        keys: NamedDependency[KeyService],
        clock: NamedDependency[Clock],
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        return await _listing(here, keys=keys, clock=clock, cursor=cursor)

    @post("/")
    async def create_key(
        self,
        *,
        request: Req,
        editable: NamedDependency[ProjectPage],
        keys: NamedDependency[KeyService],
        clock: NamedDependency[Clock],
    ) -> Template:
        # A member's post never gets here: ``editable`` sends it to the error page
        # (the services' own rule).
        form = await read_form(request)
        try:
            data = form.to(CreateKey, lists=["scopes"])
            issued = await keys.create(
                editable.viewer,
                editable.project.id,
                name=data.name,
                scopes=data.scopes,
                expires_at=data.expires_at,
            )
        except PulseError as exc:
            return await _listing(
                editable, keys=keys, clock=clock, form=form, refusal=Refusal.of(exc)
            )
        return _secret_once(
            editable,
            status=201,
            heading=f"Key {issued.key.name} created",
            api_key=issued.key.api_key,
            api_secret=issued.api_secret,
            expires_at=None,
        )

    @post("/rotate")
    async def rotate_primary(
        self,
        *,
        request: Req,
        editable: NamedDependency[ProjectPage],
        projects: NamedDependency[ProjectService],
        keys: NamedDependency[KeyService],
        clock: NamedDependency[Clock],
    ) -> Template:
        form = await read_form(request)
        try:
            # The API's default grace is 0 (the old key revoked at once): a field cleared
            # by mistake must not take the production key down, so blank is refused.
            if not form.get("grace_period_seconds").strip():
                raise InvalidInput(BLANK_GRACE, field="grace_period_seconds")
            data = form.to(RegenerateKeys)
            rotation = await projects.regenerate_keys(
                editable.viewer, editable.project.id, grace_period_seconds=data.grace_period_seconds
            )
        except PulseError as exc:
            return await _listing(
                editable, keys=keys, clock=clock, form=form, refusal=Refusal.of(exc)
            )
        # The navigation shows the project as the rotation left it.
        return _secret_once(
            replace(editable, project=rotation.project),
            heading="Primary key rotated",
            api_key=rotation.api_key,
            api_secret=rotation.api_secret,
            expires_at=rotation.previous_key_expires_at,
        )

    @post("/{key_id:str}/revoke")
    async def revoke_key(
        self,
        *,
        key_id: FromPath[str],
        editable: NamedDependency[ProjectPage],
        keys: NamedDependency[KeyService],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        try:
            await keys.revoke(editable.viewer, editable.project.id, key_id)
        except PulseError as exc:
            return await _listing(editable, keys=keys, clock=clock, refusal=Refusal.of(exc))
        return Redirect(f"{editable.url('/keys')}?notice=revoked", status_code=303)


def page_of(listed: list[KeyView], cursor: str | None) -> tuple[list[KeyView], str | None]:
    """One page of the keys, after the key ``cursor`` names. The service lists them
    whole (at most 50 live, plus revoked ones), by id, so oldest first, and a revoked
    key's record stays: a key id is a stable place to go on from. An unknown cursor
    starts over."""
    start = 0
    if cursor is not None:
        start = next((i + 1 for i, k in enumerate(listed) if k.id == cursor), 0)
    shown = listed[start : start + PAGE_SIZE]
    more = start + PAGE_SIZE < len(listed)
    return shown, shown[-1].id if more and shown else None


def state_of(key: KeyView, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def _secret_once(here: ProjectPage, **context: Any) -> Template:
    """A new secret, shown once; the browser's history holds the keys page instead."""
    return here.render("secret_once.html", replace_url=here.url("/keys"), **context)


async def _listing(
    here: ProjectPage,
    *,
    keys: KeyService,
    clock: Clock,
    cursor: str | None = None,
    form: Form | None = None,
    refusal: Refusal | None = None,
) -> Template:
    """The keys page; after a refused form, that form as it was typed and its error."""
    shown, next_cursor = page_of(await keys.list(here.viewer, here.project.id), cursor)
    now = clock.now()
    previous = here.project.previous
    return here.render(
        "keys.html",
        refusal=refusal,
        keys=[(k, state_of(k, now)) for k in shown],
        every_scope=SCOPES,
        previous=previous if previous is not None and previous.expires_at > now else None,
        next_cursor=next_cursor,
        first_page=cursor is None,
        values=form.values if form else {},
        ticked=form.every("scopes") if form else [],
    )
