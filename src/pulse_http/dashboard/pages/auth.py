"""Sign in, sign out, accept an invitation: the pages anyone may open."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect, Template

from pulse_core.errors import PulseError
from pulse_core.models import ManagementPrincipal
from pulse_core.services.sign_in import SignInService
from pulse_core.services.users import UserService
from pulse_http.dashboard.forms import Refusal, read_form
from pulse_http.dashboard.rendering import page
from pulse_http.dashboard.session import (
    PATH,
    SIGN_IN,
    ended_cookie,
    safe_next,
    session_cookie,
)
from pulse_http.routes.access import anonymous_caller
from pulse_http.schemas.access import AcceptInvite, SignIn
from pulse_http.settings import Settings

Req = Request[Any, Any, Any]


class SignInPages(Controller):
    path = PATH

    @get("/sign-in")
    async def sign_in_page(
        self, next_: Annotated[str | None, QueryParameter(name="next")] = None
    ) -> Template:
        return page("sign_in.html", None, next=safe_next(next_), email="")

    @post("/sign-in")
    async def sign_in(
        self,
        request: Req,
        sign_in: NamedDependency[SignInService],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        form = await read_form(request)
        target = safe_next(form.get("next"))
        try:
            data = form.to(SignIn)
            signed = await sign_in.sign_in(data.email, data.password, by=anonymous_caller(request))
        except PulseError as exc:
            refusal = Refusal.of(exc)
            return page("sign_in.html", None, refusal=refusal, next=target, email=form.get("email"))
        redirect = Redirect(target, status_code=303)
        redirect.set_cookie(session_cookie(settings, signed.access_token))
        return redirect

    @post("/sign-out")
    async def sign_out(
        self,
        request: Req,
        sign_in: NamedDependency[SignInService],
        settings: NamedDependency[Settings],
        viewer: NamedDependency[ManagementPrincipal],
    ) -> Redirect:
        await sign_in.sign_out(viewer)
        redirect = Redirect(f"{SIGN_IN}?notice=signed-out", status_code=303)
        redirect.set_cookie(ended_cookie(settings))
        return redirect

    @get("/accept-invite")
    async def accept_invite_page(
        self, users: NamedDependency[UserService], token: FromQuery[str] = ""
    ) -> Template:
        """Who is invited into which organization, and the password form; a link that
        cannot be accepted says so at once, before a password is typed."""
        return await _invitation_page(users, token)

    @post("/accept-invite")
    async def accept_invite(
        self, request: Req, users: NamedDependency[UserService]
    ) -> Template | Redirect:
        form = await read_form(request)
        try:
            data = form.to(AcceptInvite)
            await users.accept(data.token, data.password, by=anonymous_caller(request))
        except PulseError as exc:
            return await _invitation_page(users, form.get("token"), Refusal.of(exc))
        return Redirect(f"{SIGN_IN}?notice=invite-accepted", status_code=303)


async def _invitation_page(
    users: UserService, token: str, refusal: Refusal | None = None
) -> Template:
    """The invitation's page; without its form when the link itself is refused."""
    try:
        invitation = await users.invitation(token)
    except PulseError as exc:
        refused = Refusal.of(exc)
        return page("accept_invite.html", None, refusal=refused, token=token, invitation=None)
    return page("accept_invite.html", None, refusal=refusal, token=token, invitation=invitation)
