"""Who is looking at the dashboard: the signed-in user's session, held in a cookie.

The cookie holds the management token that sign-in mints (the same JWT, session id and
:class:`~pulse_core.services.sessions.SessionGuard` as ``POST /v1/auth/login``), so the
dashboard admits its users with the REST API's own code: sign-out, removal or a role
change ends a dashboard session exactly as it ends an API one. HttpOnly (no script reads
it), ``SameSite=Strict`` (no other site's page sends it), ``Secure`` outside development,
and scoped to ``/dashboard``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.response import Redirect

from pulse_core.errors import PulseError, Unauthenticated
from pulse_core.models import ManagementPrincipal
from pulse_http.auth import Authenticators
from pulse_http.settings import Settings

COOKIE = "pulse_session"
PATH = "/dashboard"
SIGN_IN = f"{PATH}/sign-in"


class SignInRequired(PulseError):
    """No session, or one that has ended: the dashboard sends the browser to sign in."""

    code = "sign_in_required"


def secure_cookies(settings: Settings) -> bool:
    """``Secure`` cookies everywhere but on a developer's plain-HTTP machine."""
    return settings.environment not in ("development", "test")


def session_cookie(settings: Settings, token: str) -> Cookie:
    """The cookie lives as long as the session it holds (the token says when it ends)."""
    return Cookie(
        key=COOKIE,
        value=token,
        path=PATH,
        max_age=settings.session_seconds,
        httponly=True,
        secure=secure_cookies(settings),
        samesite="strict",
    )


def ended_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=COOKIE,
        value="",
        path=PATH,
        max_age=0,
        httponly=True,
        secure=secure_cookies(settings),
        samesite="strict",
    )


async def provide_viewer(request: Request[Any, Any, Any]) -> ManagementPrincipal:
    """The signed-in user as a management principal, or :class:`SignInRequired`."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired("sign in to continue")
    authenticators: Authenticators = request.app.state["authenticators"]
    client = request.scope.get("client")
    headers = {"authorization": f"Bearer {token}"}
    agent = request.headers.get("user-agent")
    if agent is not None:
        headers["user-agent"] = agent
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded is not None:
        headers["x-forwarded-for"] = forwarded
    try:
        return await authenticators.admit_management(
            request.scope["state"], headers, client[0] if client else None
        )
    except Unauthenticated as exc:
        raise SignInRequired("your session has ended; sign in again") from exc


def to_sign_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Send the browser to sign in, and back here afterwards, query included (reads
    only: a form posted from an ended session is not replayed). A browser that still
    sent a session cookie is told its session ended."""
    settings: Settings = request.app.state["settings"]
    query: dict[str, str] = {}
    if request.method == "GET":
        # As the browser sent it, percent-encoding kept: the path it is sent back to.
        # ASGI makes raw_path optional, and some servers leave the query on it.
        raw: bytes | None = request.scope.get("raw_path")
        here = raw.decode("latin-1").partition("?")[0] if raw else quote(request.url.path)
        asked = request.scope["query_string"].decode("latin-1")
        query["next"] = f"{here}?{asked}" if asked else here
    if request.cookies.get(COOKIE):
        query["notice"] = "session-ended"
    target = f"{SIGN_IN}?{urlencode(query, safe='/')}" if query else SIGN_IN
    response: Response[Any] = Redirect(target, status_code=303)
    response.set_cookie(ended_cookie(settings))
    return response


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a dashboard path only (never another site)."""
    plain = target is not None and "\\" not in target and "//" not in target
    if plain and target is not None and target.startswith(f"{PATH}/"):
        return target
    return PATH
