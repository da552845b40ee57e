from __future__ import annotations

from typing import Any, Final, Literal

import msgspec
from litestar import Controller, route
from litestar.di import NamedDependency
from litestar.params import JSONBody

from pulse_core.models import Project
from pulse_core.services.throttling import Bucket
from pulse_core.services.tokens import TokenService
from pulse_http.auth import project_route
from pulse_http.schemas.tokens import CreateToken, TokenCreated, TokenValidity, ValidateToken


class RouteFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a project route is, declared once next to its handler: the path and method a
    client calls, the rate-limit bucket it is charged to, and whether it needs the secret
    (``secret_required``) or admits the key alone.

    The Litestar handler takes its path, method and guard options (:meth:`opt`) from here,
    and so does :class:`pulse_http.fast_tokens.TokenFastPath`, which serves
    :data:`CREATE_TOKEN` without Litestar: the two cannot disagree on which request is
    which, nor on who may make it.
    """

    path: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    bucket: Bucket
    secret_required: bool
    #: The scope a key needs (API.md, "Projects": scopes).
    scope: str

    def opt(self) -> dict[str, Any]:
        """The handler's ``opt``: what the guard (:func:`pulse_http.auth.authenticate`)
        reads."""
        return project_route(self.scope, key_only=not self.secret_required, bucket=self.bucket)

    def under(self, controller_path: str) -> str:
        """The path relative to a controller mounted at ``controller_path``."""
        if not self.path.startswith(controller_path + "/"):
            raise ValueError(f"{self.path} is not under {controller_path}")
        return self.path.removeprefix(controller_path)


TOKENS: Final = "/v1/tokens"
#: The hot path: one request per participant join, served by the fast path.
CREATE_TOKEN: Final = RouteFacts(
    path=f"{TOKENS}/create",
    method="POST",
    bucket="tokens",
    secret_required=True,
    scope="tokens:create",
)
VALIDATE_TOKEN: Final = RouteFacts(
    path=f"{TOKENS}/validate",
    method="POST",
    bucket="tokens",
    secret_required=False,
    scope="tokens:validate",
)


class TokensController(Controller):
    """LiveKit access tokens for the calling project's end users (the ``tokens`` bucket)."""

    path = TOKENS
    tags = ["tokens"]

    @route(
        CREATE_TOKEN.under(TOKENS),
        http_method=CREATE_TOKEN.method,
        status_code=201,
        opt=CREATE_TOKEN.opt(),
    )
    async def create_token(
        self,
        data: JSONBody[CreateToken],
        project: NamedDependency[Project],
        tokens: NamedDependency[TokenService],
    ) -> TokenCreated:
        """Mint a LiveKit access token for one participant of one of the project's rooms.

        The token is what a LiveKit client SDK connects with, to `livekit_url`. Its lifetime
        is `ttl_seconds` within the project's bounds (default: the project's
        `token_ttl_default_seconds`, else one hour). `grants` default to join, publish,
        subscribe and send data; the grants LiveKit does not confine to the token's room
        (`room_create`, `room_list`, `room_record`, `ingress_admin`, `agent`, `recorder`,
        `can_manage_agent_session`) are refused with 400 naming `grants.<name>`. Rooms are
        the project's own: the same room name in two projects is two LiveKit rooms. Once the
        organization's monthly participant minutes are used up, tokens are refused (403
        `quota_exceeded`). When the plan caps participants per room, the token carries
        `roomConfig.maxParticipants`, which LiveKit applies to a room the join creates.
        Needs the `tokens:create` scope; charged to the `tokens` bucket."""
        await tokens.prepare(project)
        return TokenCreated.of(tokens.mint(project, data.to_domain()))

    @route(
        VALIDATE_TOKEN.under(TOKENS),
        http_method=VALIDATE_TOKEN.method,
        status_code=200,
        opt=VALIDATE_TOKEN.opt(),
    )
    async def validate_token(
        self,
        data: JSONBody[ValidateToken],
        project: NamedDependency[Project],
        tokens: NamedDependency[TokenService],
    ) -> TokenValidity:
        """Check a LiveKit access token: whether it is a live token of this project, and
        for whom, which room and which grants.

        Always 200 for a token, valid or not: `{valid: false, reason}` says why not
        (`malformed`, `bad_signature`, `expired`, `foreign_project`, `forbidden_grant`, …).
        A token of another project is not valid. The key alone is enough (`X-Pulse-Key`,
        or `Authorization: Bearer pulse_key_…`); needs the `tokens:validate` scope."""
        return TokenValidity.of(tokens.validate(project, data.token))
