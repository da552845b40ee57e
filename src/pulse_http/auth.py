"""Who is calling, established by one guard before anything else runs.

Each controller declares the kind of caller it serves with ``opt={"auth": ...}``:

- ``"management"``: ``Authorization: Bearer <JWT>``;
- ``"project"``: ``X-Pulse-Key`` + ``X-Pulse-Secret``;
- ``"project_key"``: the key alone is enough (``X-Pulse-Key`` or
  ``Authorization: Bearer pulse_key_…``); a secret, if sent, must match.

Project routes also declare their rate-limit bucket (``opt={"auth": "project", "bucket":
"tokens"}``; ``"api"`` by default; see pulse_core.services.throttling) and the scope a key
needs (``"scope"``: a family such as ``"rooms"``, whose ``GET``s need ``rooms:read`` and
other methods ``rooms:write``, an exact scope such as ``"tokens:create"``, or None for
none): :func:`project_route` builds both, and ``tests/http/test_scopes.py`` walks the
route table so that no project route forgets its scope. The guard runs
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

import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from pulse_core.crypto.credentials import KEY_PREFIX
from pulse_core.errors import PermissionDenied, RateLimited, Unauthenticated
from pulse_core.models import ManagementPrincipal, Project
from pulse_core.models.audit import Actor, Caller, ClientInfo
from pulse_core.models.keys import ProjectCredential
from pulse_core.services import ManagementAuthenticator, ProjectAuthenticator
from pulse_core.services.authentication import INVALID_CREDENTIALS
from pulse_core.services.keys import KeyUsage
from pulse_core.services.sessions import SessionGuard
from pulse_core.services.throttling import (
    KEY_ONLY_BUCKET,
    Bucket,
    FailedAuthThrottle,
    ProjectRateLimits,
)
from pulse_core.services.usage_counter import UsageCounter
from pulse_http.rate_limit_headers import rate_limit_headers, reset_seconds

AuthKind = Literal["management", "project", "project_key"]
Connection = ASGIConnection[Any, Any, Any, Any]

MANAGEMENT: dict[str, Any] = {"auth": "management"}
PROJECT: dict[str, Any] = {"auth": "project"}
PROJECT_KEY: dict[str, Any] = {"auth": "project_key"}
_READS = frozenset({"GET", "HEAD"})
_MAX_USER_AGENT = 512


def project_route(scope: str | None, *, key_only: bool = False, **more: Any) -> dict[str, Any]:
    """The ``opt`` of a project route (or controller): its credentials and scope."""
    return {**(PROJECT_KEY if key_only else PROJECT), "scope": scope, **more}


def required_scope(declared: str | None, method: str) -> str | None:
    """The scope a request needs: exact when declared with ``:``, else the family's
    ``:read`` for reads and ``:write`` for everything else."""
    if declared is None or ":" in declared:
        return declared
    return f"{declared}:{'read' if method in _READS else 'write'}"


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
        key_usage: KeyUsage | None = None,
        sessions: SessionGuard | None = None,
        trust_x_forwarded_for: bool = False,
    ) -> None:
        self._usage = usage
        self._key_usage = key_usage
        self._sessions = sessions
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
        *,
        scope: str | None = None,
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
            state, bucket, headers, peer, secret_required=kind == "project", scope=scope
        )

    async def admit_management(
        self, state: MutableMapping[str, Any], headers: Mapping[str, str], peer: str | None
    ) -> ManagementPrincipal:
        client = self.client_address(headers, peer)
        self.throttle.check(client)
        try:
            principal = await self.principal_of(headers)
            if self._sessions is not None:
                await self._sessions.check(principal)
        except Unauthenticated:
            await self.throttle.failed(client)
            raise
        principal = msgspec.structs.replace(principal, client=client_info(state, headers, client))
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
        scope: str | None = None,
    ) -> Project:
        client = self.client_address(headers, peer)
        self.throttle.check(client)
        try:
            credential = await self.project_of(headers, secret_required=secret_required)
        except Unauthenticated:
            await self.throttle.failed(client)
            raise
        project = credential.project
        state["project"] = project
        state["credential"] = credential
        if not secret_required and headers.get("x-pulse-secret") is None:
            bucket = KEY_ONLY_BUCKET  # the key alone cannot spend what minting needs
        # Charged before the scope is checked: a key refused for its scope still spends
        # its project's requests, so it cannot call without limit.
        policy, decision = await self.limits.charge(project, bucket)
        state["rate_limit_headers"] = rate_limit_headers(bucket, policy, decision)
        if not decision.allowed:
            raise RateLimited(
                f"rate limit of the {bucket!r} bucket exceeded", retry_after=reset_seconds(decision)
            )
        if self._usage is not None:
            # Metered: every request a project's credentials were admitted for, one its
            # key's scopes refuse included (docs/usage.md).
            self._usage.count(project.id, "api_requests")
        if scope is not None and not credential.allows(scope):
            raise PermissionDenied(f"this key lacks the {scope} scope", code="insufficient_scope")
        if self._key_usage is not None and not credential.is_previous_pair:
            # A key's use is a request it was allowed to make. The first key's time is its
            # current pair's: a pair replaced by a rotation and still in its grace period
            # does not count as a use of the new one.
            self._key_usage.used(credential.key_id, project.id)
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

    async def project_of(
        self, headers: Mapping[str, str], *, secret_required: bool
    ) -> ProjectCredential:
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

    async def _project_from(self, key: str, secret: str | None) -> ProjectCredential:
        if secret is None:
            return await self._project.identify_key(key)
        return await self._project.verify(key, secret)


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
        scope=required_scope(handler.opt.get("scope"), str(connection.scope.get("method"))),
    )


def provide_principal(request: Connection) -> ManagementPrincipal:
    principal: ManagementPrincipal = request.state["principal"]
    return principal


def provide_project(request: Connection) -> Project:
    project: Project = request.state["project"]
    return project


def provide_caller(request: Connection) -> Caller:
    """Who is calling a project route, for the audit log: the key and where from."""
    credential: ProjectCredential = request.state["credential"]
    return Caller(
        actor=Actor(type="key", id=credential.key_id),
        client=client_info(request.scope["state"], request.headers, _peer(request)),
    )


def client_info(
    state: Mapping[str, Any], headers: Mapping[str, str], address: str | None
) -> ClientInfo:
    """Where the request came from: the address throttling counts against, the user
    agent (bounded: it is the client's to choose) and the request id."""
    agent = headers.get("user-agent")
    return ClientInfo(
        ip=address,
        user_agent=_readable(agent[: _MAX_USER_AGENT * 4]) if agent else None,
        request_id=state.get("request_id"),
    )


def _readable(header: str) -> str:
    """A header value as the client meant it: ASGI hands headers over as latin-1, and
    clients send UTF-8 (bytes that are not UTF-8 become U+FFFD), cut to
    ``_MAX_USER_AGENT`` characters."""
    if header.isascii():
        return header[:_MAX_USER_AGENT]
    return header.encode("latin-1").decode("utf-8", "replace")[:_MAX_USER_AGENT]


def _peer(request: Connection) -> str | None:
    authenticators: Authenticators = request.app.state["authenticators"]
    client = request.scope.get("client")
    return authenticators.client_address(request.headers, client[0] if client else None)
