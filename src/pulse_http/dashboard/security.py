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

from litestar.config.csrf import CSRFConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from pulse_http.dashboard.session import PATH, secure_cookies
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
