"""Who is calling, established by one guard before anything else runs.

Each controller declares the kind of caller it serves with ``opt={"auth": ...}``:

- ``"management"``: ``Authorization: Bearer <JWT>``;
- ``"project"``: ``X-Pulse-Key`` + ``X-Pulse-Secret``;
- ``"project_key"``: the key alone is enough (``X-Pulse-Key`` or
  ``Authorization: Bearer pulse_key_…``); a secret, if sent, must match.

Project routes also declare their rate-limit bucket (``opt={"auth": "project", "bucket":
"tokens"}``; ``"api"`` by default; see pulse_core.services.throttling). The guard runs
before the body is read, so an unauthenticated caller learns nothing from validation
errors, and a throttled one costs no credential lookup.

Missing or wrong credentials are one 401 whatever was wrong; valid credentials of the
other kind are a 403 (they are real, they just do not open this door).
"""

from __future__ import annotations

from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from pulse_core.crypto.credentials import KEY_PREFIX
from pulse_core.errors import PermissionDenied, RateLimited, Unauthenticated
from pulse_core.models import ManagementPrincipal, Project
from pulse_core.services import ManagementAuthenticator, ProjectAuthenticator
from pulse_core.services.authentication import INVALID_CREDENTIALS
from pulse_core.services.throttling import Bucket, FailedAuthThrottle, ProjectRateLimits
from pulse_http.rate_limit_headers import rate_limit_headers, reset_seconds

AuthKind = Literal["management", "project", "project_key"]
Connection = ASGIConnection[Any, Any, Any, Any]

MANAGEMENT: dict[str, Any] = {"auth": "management"}
PROJECT: dict[str, Any] = {"auth": "project"}
PROJECT_KEY: dict[str, Any] = {"auth": "project_key"}


class Authenticators:
    """Everything the guard needs, resolved once when the app is built."""

    def __init__(
        self,
        management: ManagementAuthenticator,
        project: ProjectAuthenticator,
        *,
        throttle: FailedAuthThrottle,
        limits: ProjectRateLimits,
        trust_x_forwarded_for: bool = False,
    ) -> None:
        self._management = management
        self._project = project
        self.throttle = throttle
        self.limits = limits
        self._trust_forwarded = trust_x_forwarded_for

    def client_address(self, connection: Connection) -> str:
        if self._trust_forwarded:
            forwarded = connection.headers.get("x-forwarded-for")
            if forwarded:
                return forwarded.rsplit(",", 1)[-1].strip()
        client = connection.client
        return client.host if client is not None else "unknown"

    async def principal_of(self, connection: Connection) -> ManagementPrincipal:
        token = _bearer(connection)
        if token is not None and not token.startswith(KEY_PREFIX):
            return self._management.authenticate(token)
        key = token or connection.headers.get("x-pulse-key")
        if key is not None:
            await self._project_from(key, connection.headers.get("x-pulse-secret"))
            raise PermissionDenied("project credentials cannot call management routes")
        raise Unauthenticated(INVALID_CREDENTIALS)

    async def project_of(self, connection: Connection, *, secret_required: bool) -> Project:
        key = connection.headers.get("x-pulse-key")
        secret = connection.headers.get("x-pulse-secret")
        token = _bearer(connection) if key is None else None
        if key is None and token is not None and token.startswith(KEY_PREFIX):
            key = token
        if key is not None and (secret is not None or not secret_required):
            return await self._project_from(key, secret)
        if token is not None and not token.startswith(KEY_PREFIX):
            self._management.authenticate(token)  # 401 unless it is a real management token
            raise PermissionDenied("management tokens cannot call project routes")
        raise Unauthenticated(INVALID_CREDENTIALS)

    async def _project_from(self, key: str, secret: str | None) -> Project:
        if secret is None:
            return await self._project.identify(key)
        return await self._project.authenticate(key, secret)


def _bearer(connection: Connection) -> str | None:
    value = connection.headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(INVALID_CREDENTIALS)
    return token.strip()


async def authenticate(connection: Connection, handler: BaseRouteHandler) -> None:
    """The guard: authenticate as the handler's ``auth`` option says, keep the caller in
    ``connection.state`` for the ``principal`` / ``project`` dependencies, and charge a
    project's request to its bucket (headers go out with whatever the response is)."""
    kind: AuthKind | None = handler.opt.get("auth")
    if kind is None:
        return
    authenticators: Authenticators = connection.app.state["authenticators"]
    client = authenticators.client_address(connection)
    authenticators.throttle.check(client)
    try:
        if kind == "management":
            connection.state["principal"] = await authenticators.principal_of(connection)
            return
        project = await authenticators.project_of(connection, secret_required=kind == "project")
    except Unauthenticated:
        await authenticators.throttle.failed(client)
        raise
    connection.state["project"] = project
    bucket: Bucket = handler.opt.get("bucket", "api")
    policy, decision = await authenticators.limits.charge(project, bucket)
    connection.scope["state"]["rate_limit_headers"] = rate_limit_headers(bucket, policy, decision)
    if not decision.allowed:
        raise RateLimited(
            f"rate limit of the {bucket!r} bucket exceeded", retry_after=reset_seconds(decision)
        )


def provide_principal(request: Connection) -> ManagementPrincipal:
    principal: ManagementPrincipal = request.state["principal"]
    return principal


def provide_project(request: Connection) -> Project:
    project: Project = request.state["project"]
    return project
