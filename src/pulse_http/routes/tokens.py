from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from pulse_core.models import Project
from pulse_core.services.tokens import TokenService
from pulse_http.auth import PROJECT, PROJECT_KEY
from pulse_http.schemas.tokens import CreateToken, TokenCreated, TokenValidity, ValidateToken


class TokensController(Controller):
    """LiveKit access tokens for the calling project's end users (the ``tokens`` bucket)."""

    path = "/v1/tokens"
    tags = ["tokens"]

    @post("/create", status_code=201, opt={**PROJECT, "bucket": "tokens"})
    async def create(
        self,
        data: JSONBody[CreateToken],
        project: NamedDependency[Project],
        tokens: NamedDependency[TokenService],
    ) -> TokenCreated:
        minted = tokens.mint(project, data.to_domain())
        return TokenCreated(
            token=minted.token,
            identity=minted.identity,
            room=minted.room,
            expires_at=minted.expires_at,
            livekit_url=minted.livekit_url,
        )

    @post("/validate", status_code=200, opt={**PROJECT_KEY, "bucket": "tokens"})
    async def validate(
        self,
        data: JSONBody[ValidateToken],
        project: NamedDependency[Project],
        tokens: NamedDependency[TokenService],
    ) -> TokenValidity:
        return TokenValidity.of(tokens.validate(project, data.token))
