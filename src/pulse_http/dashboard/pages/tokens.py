"""Minting a LiveKit access token from the dashboard: to try a room before a backend
exists, or to join one as a moderator. ``POST /v1/tokens/create``'s own input struct and
:meth:`~pulse_core.services.tokens.TokenService.mint`, so the same rules, TTL bounds and
metering (``tokens_created``) apply; only those who may change the project mint (a token
opens its rooms). The token is shown once, like a secret."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.response import Template

from pulse_core.errors import PulseError
from pulse_core.services.tokens import TokenService
from pulse_http.dashboard.forms import Refusal, read_form
from pulse_http.dashboard.pages.context import ProjectPage
from pulse_http.dashboard.session import PATH
from pulse_http.schemas.tokens import CreateToken, TokenCreated

Req = Request[Any, Any, Any]


class TokenPages(Controller):
    path = f"{PATH}/projects/{{project_id:str}}/tokens"

    @get("/")
    async def token_form(self, here: NamedDependency[ProjectPage]) -> Template:
        return here.render("tokens.html", values={}, minted=None)

    @post("/")
    async def mint(
        self,
        request: Req,
        editable: NamedDependency[ProjectPage],
        tokens: NamedDependency[TokenService],
    ) -> Template:
        form = await read_form(request)
        try:
            await tokens.prepare(editable.project)
            minted = tokens.mint(editable.project, form.to(CreateToken).to_domain())
        except PulseError as exc:
            return editable.render(
                "tokens.html", refusal=Refusal.of(exc), values=form.values, minted=None
            )
        return editable.render(
            "tokens.html",
            status=201,
            values=form.values,
            minted=TokenCreated.of(minted),
            replace_url=editable.url("/tokens"),
        )
