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

The logic is :meth:`Authenticators.admit`, written against plain headers and the ASGI
scope state so that the Litestar guard and the token fast path
(:mod:`pulse_http.fast_tokens`) run the very same code.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from pulse_core.crypto.credentials import KEY_PREFIX
from pulse_core.errors import PermissionDenied, RateLimited, Unauthenticated
from pulse_core.models import ManagementPrincipal, Project
from pulse_core.services import ManagementAuthenticator, ProjectAuthenticator
from pulse_core.services.authentication import INVALID_CREDENTIALS
from pulse_core.services.throttling import Bucket, FailedAuthThrottle, ProjectRateLimits
from pulse_core.services.usage_counter import UsageCounter
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
        usage: UsageCounter | None = None,
        trust_x_forwarded_for: bool = False,
    ) -> None:
        self._usage = usage
        self._management = management
        self._project = project
        self.throttle = throttle
        self.limits = limits
        self._trust_forwarded = trust_x_forwarded_for

    def client_address(self, headers: Mapping[str, str], peer: str | None) -> str:
        """Who failed authentications are counted against: the TCP peer, or (behind a
        trusted proxy) the right-most ``X-Forwarded-For`` entry."""
        if self._trust_forwarded:
            forwarded = headers.get("x-forwarded-for")
            if forwarded:
                return forwarded.rsplit(",", 1)[-1].strip()
        return peer if peer is not None else "unknown"

    async def admit(
        self,
        state: MutableMapping[str, Any],
        kind: AuthKind,
        bucket: Bucket,
        headers: Mapping[str, str],
        peer: str | None,
    ) -> ManagementPrincipal | Project:
        """Authenticate the caller as ``kind`` says and, for a project, charge ``bucket``.

        ``headers`` are the request's (lower-case names), ``peer`` the TCP client's
        address. The caller goes into ``state`` (``"principal"`` or ``"project"``), and so
        do a project's rate-limit headers (``"rate_limit_headers"``, sent with whatever
        the response is, a 429 included) before :class:`RateLimited` is raised.
        """
        if kind == "management":
            return await self.admit_management(state, headers, peer)
        return await self.admit_project(
            state, bucket, headers, peer, secret_required=kind == "project"
        )

    async def admit_management(
        self, state: MutableMapping[str, Any], headers: Mapping[str, str], peer: str | None
    ) -> ManagementPrincipal:
        client = self.client_address(headers, peer)
        self.throttle.check(client)
        try:
            principal = await self.principal_of(headers)
        except Unauthenticated:
            await self.throttle.failed(client)
            raise
        state["principal"] = principal
        return principal

    async def admit_project(
        self,
        state: MutableMapping[str, Any],
        bucket: Bucket,
        headers: Mapping[str, str],
        peer: str | None,
        *,
        secret_required: bool = True,
    ) -> Project:
        client = self.client_address(headers, peer)
        self.throttle.check(client)
        try:
            project = await self.project_of(headers, secret_required=secret_required)
        except Unauthenticated:
            await self.throttle.failed(client)
            raise
        state["project"] = project
        policy, decision = await self.limits.charge(project, bucket)
        state["rate_limit_headers"] = rate_limit_headers(bucket, policy, decision)
        if not decision.allowed:
            raise RateLimited(
                f"rate limit of the {bucket!r} bucket exceeded", retry_after=reset_seconds(decision)
            )
        if self._usage is not None:
            # Metered: every request a project's credentials were admitted for.
            self._usage.count(project.id, "api_requests")
        return project

    async def principal_of(self, headers: Mapping[str, str]) -> ManagementPrincipal:
        token = _bearer(headers)
        if token is not None and not token.startswith(KEY_PREFIX):
            return self._management.authenticate(token)
        key = token or headers.get("x-pulse-key")
        if key is not None:
            await self._project_from(key, headers.get("x-pulse-secret"))
            raise PermissionDenied("project credentials cannot call management routes")
        raise Unauthenticated(INVALID_CREDENTIALS)

    async def project_of(self, headers: Mapping[str, str], *, secret_required: bool) -> Project:
        key = headers.get("x-pulse-key")
        secret = headers.get("x-pulse-secret")
        token = _bearer(headers) if key is None else None
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


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
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
    bucket: Bucket = handler.opt.get("bucket", "api")
    client = connection.scope.get("client")
    await authenticators.admit(
        connection.scope["state"],
        kind,
        bucket,
        connection.headers,
        client[0] if client else None,
    )


def provide_principal(request: Connection) -> ManagementPrincipal:
    principal: ManagementPrincipal = request.state["principal"]
    return principal


def provide_project(request: Connection) -> Project:
    project: Project = request.state["project"]
    return project
