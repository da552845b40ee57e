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

Every answer under ``/dashboard`` is a page sent with the dashboard's headers, errors
too. The pages' router (and the static files') answer their own errors; a URL no route
matches, or a method its route does not take, fails in Litestar's routing, before any
router, where only the application's exception handlers run: the app takes
:func:`dashboard_exception_handlers` for those, which draw the dashboard's error page
under ``/dashboard`` and leave every other path to the API's problem+json.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.di import Provide
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from pulse_core.errors import PulseError
from pulse_http.dashboard.forms import Refusal
from pulse_http.dashboard.pages.audit import AuditPages
from pulse_http.dashboard.pages.auth import SignInPages
from pulse_http.dashboard.pages.context import (
    drawn_before,
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
from pulse_http.dashboard.security import (
    FORM_EXPIRED,
    HEADERS,
    SecurityHeaders,
    csrf_middleware,
    is_csrf_refusal,
    same_page_before,
)
from pulse_http.dashboard.session import PATH, SignInRequired, provide_viewer, to_sign_in
from pulse_http.head_requests import with_head
from pulse_http.problems import http_error_handler
from pulse_http.settings import Settings

__all__ = ["dashboard_exception_handlers", "dashboard_routes", "template_config"]

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
    titles = {
        403: "Not allowed",
        404: "Not found",
        405: "Method not allowed",
        429: "Too many requests",
    }
    title, back = titles.get(status, "Something went wrong"), None
    if is_csrf_refusal(exc):
        title, detail = FORM_EXPIRED
        back = same_page_before(request)
    return page(
        "error.html",
        request.scope.get("state", {}).get("principal"),
        status=status,
        title=title,
        detail=detail,
        back=back,
        # An error's own headers (a 405's Allow, a 429's Retry-After) go with the page.
        headers=with_head(exc.headers or {}) if isinstance(exc, HTTPException) else {},
        **drawn_before(request),
    )


def _not_routed(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A URL no route matches, or a method its route does not take: under ``/dashboard``
    the dashboard's error page with its headers (:class:`SecurityHeaders` is a router's
    middleware, which such a request never reaches); elsewhere the API's problem+json."""
    path: str = request.scope["path"]
    if path != PATH and not path.startswith(f"{PATH}/"):
        return http_error_handler(request, exc)
    response = _error_page(request, exc)
    for name, value in HEADERS:
        response.headers.setdefault(name.decode(), value.decode())
    return response


def dashboard_exception_handlers() -> dict[type[Exception] | int, Any]:
    """For the application's ``exception_handlers``, over the API's: routing's own
    refusals (:func:`_not_routed`). Keyed by their classes, so that they are chosen
    before the API's handler of every ``HTTPException``; a route's own 404 on the API
    is answered by that same handler, as before."""
    return {NotFoundException: _not_routed, MethodNotAllowedException: _not_routed}


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
        path=f"{PATH}/static",
        directories=[STATIC],
        include_in_schema=False,
        # A file that is not there: the dashboard's page, as for any other dashboard URL.
        middleware=[DefineMiddleware(SecurityHeaders)],
        exception_handlers={HTTPException: _error_page},
    )
    return [pages, static]
