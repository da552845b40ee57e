"""What every dashboard page is sent with, and the CSRF check of every form.

- **Content-Security-Policy**: scripts, styles and images from this origin only (no inline
  script may run, so an injected ``<script>`` is inert even where escaping failed), forms
  post only here, and no page may be framed (``frame-ancestors 'none'``: no clickjacking).
- **no-store**: pages hold secrets shown once and personal data; the browser keeps no copy.
- **no-referrer**: an invitation link's token never leaks to another site.
- **CSRF**: Litestar's double-submit middleware (an HMAC-signed token in an HttpOnly,
  ``SameSite=Strict`` cookie and in each form); a state-changing request without the pair
  is refused before its handler runs.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from pulse_http.dashboard.session import PATH, safe_next, secure_cookies
from pulse_http.settings import Settings

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)
CSRF_COOKIE = "pulse_csrf"


def csrf_middleware(settings: Settings) -> DefineMiddleware:
    config = CSRFConfig(
        # Its own key, derived so that it never equals a key used for anything else.
        secret=f"dashboard-csrf:{settings.jwt_secret}",
        cookie_name=CSRF_COOKIE,
        cookie_path=PATH,
        cookie_secure=secure_cookies(settings),
        cookie_httponly=True,
        cookie_samesite="strict",
        header_name="x-csrf-token",
    )
    return DefineMiddleware(CSRFMiddleware, config=config)


#: The words of a form refused for its CSRF token: most often a page left open across a
#: sign-out or a browser restart (the token's cookie ends with the browser session).
FORM_EXPIRED: Final = (
    "This form has expired",
    "The page was open too long or from an earlier session, so nothing was changed. "
    "Reload the page and send the form again.",
)
# Litestar's CSRFMiddleware says so only in its message.
_CSRF_FAILED = "CSRF token verification failed"


def is_csrf_refusal(exc: Exception) -> bool:
    """Whether ``exc`` is the CSRF middleware refusing a form."""
    return isinstance(exc, PermissionDeniedException) and exc.detail == _CSRF_FAILED


def same_page_before(request: Request[Any, Any, Any]) -> str | None:
    """The dashboard page the form was sent from (its ``Referer``, when it is this
    site's dashboard), to reload it; None otherwise."""
    referer = request.headers.get("referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    origin = urlsplit(str(request.base_url))
    if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return target if safe_next(target) == target else None


class SecurityHeaders:
    """Adds :data:`HEADERS` to every response of the dashboard, errors and redirects too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
