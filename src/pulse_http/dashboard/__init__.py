"""The dashboard: the organization's web console, served by ``pulse serve`` itself.

Server-rendered pages (Jinja, :mod:`.rendering`) over the same services as the REST API;
plain forms that post and redirect, so every page works with the keyboard and without
script; one small script and one stylesheet shipped in the package (``static/``), nothing
fetched from anywhere else. Where things are:

- :mod:`.session`: the session cookie and who the viewer is;
- :mod:`.security`: the Content-Security-Policy and the CSRF check;
- :mod:`.forms`: forms into the API's input structs, refusals next to their fields;
- :mod:`.pages`: one module per area (sign-in, organizations, a project's settings, keys,
  webhooks, usage, rooms, media, users, audit log).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from pulse_core.errors import PulseError
from pulse_http.dashboard.forms import Refusal
from pulse_http.dashboard.pages.audit import AuditPages
from pulse_http.dashboard.pages.auth import SignInPages
from pulse_http.dashboard.pages.context import (
    provide_editable,
    provide_here,
    provide_org_page,
)
from pulse_http.dashboard.pages.keys import KeyPages
from pulse_http.dashboard.pages.media import MediaPages
from pulse_http.dashboard.pages.organizations import OrganizationPages
from pulse_http.dashboard.pages.participants import ParticipantPages
from pulse_http.dashboard.pages.projects import ProjectPages
from pulse_http.dashboard.pages.rooms import RoomPages
from pulse_http.dashboard.pages.tokens import TokenPages
from pulse_http.dashboard.pages.usage import UsagePages
from pulse_http.dashboard.pages.users import UserPages
from pulse_http.dashboard.pages.webhooks import WebhookPages
from pulse_http.dashboard.rendering import STATIC, page, template_config
from pulse_http.dashboard.security import SecurityHeaders, csrf_middleware
from pulse_http.dashboard.session import PATH, SignInRequired, provide_viewer, to_sign_in
from pulse_http.settings import Settings

__all__ = ["dashboard_routes", "template_config"]

PAGES: tuple[type, ...] = (
    SignInPages,
    OrganizationPages,
    ProjectPages,
    KeyPages,
    UserPages,
    AuditPages,
    UsagePages,
    WebhookPages,
    RoomPages,
    ParticipantPages,
    TokenPages,
    MediaPages,
)


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A refusal no form answers (a page of another tenant, a member's write): the
    error as a page, with the API's status and message."""
    if isinstance(exc, PulseError):
        refusal = Refusal.of(exc)
        status, detail = refusal.status, refusal.detail
    else:
        assert isinstance(exc, HTTPException)
        status, detail = exc.status_code, exc.detail or "request failed"
    titles = {403: "Not allowed", 404: "Not found", 429: "Too many requests"}
    return page(
        "error.html",
        request.scope["state"].get("principal"),
        status=status,
        title=titles.get(status, "Something went wrong"),
        detail=detail,
    )


def dashboard_routes(settings: Settings) -> list[ControllerRouterHandler]:
    pages = Router(
        path="/",
        route_handlers=list(PAGES),
        dependencies={
            "viewer": Provide(provide_viewer),
            # One project's pages: ``here`` to read it, ``editable`` to change it.
            "here": Provide(provide_here),
            "editable": Provide(provide_editable),
            # One organization's pages (overview, users, audit log, usage).
            "org_page": Provide(provide_org_page),
        },
        middleware=[DefineMiddleware(SecurityHeaders), csrf_middleware(settings)],
        exception_handlers={
            SignInRequired: to_sign_in,
            PulseError: _error_page,
            HTTPException: _error_page,
        },
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=f"{PATH}/static", directories=[STATIC], include_in_schema=False
    )
    return [pages, static]
