"""Pages: the templates, their engine, and what every page is given.

Jinja with autoescaping on (anything a tenant named is text, never markup) and
``StrictUndefined`` (a misspelt name in a template fails its test instead of rendering
an empty string).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from pulse_core.models import ManagementPrincipal
from pulse_http.dashboard.forms import Refusal

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

#: Messages a redirect may ask a page to show (``?notice=``): a fixed set, so that a
#: link cannot make the dashboard say anything it did not write.
NOTICES: dict[str, str] = {
    "signed-out": "You have signed out.",
    "session-ended": "Your session has ended: sign in again to go on where you were.",
    "invite-accepted": "Your password is set. Sign in with it.",
    "saved": "Saved.",
    "deleted": "Deleted.",
    "created": "Created.",
    "revoked": "Revoked.",
    "rotated": "Rotated.",
    "sent": "Sent.",
    "queued": "Queued.",
    "removed": "Removed.",
    "muted": "Muted.",
    "ended": "Ended.",
    "stopped": "Stopped.",
    "unmuted": "Unmuted.",
    "exists": "It already exists: nothing changed.",
    "started": "Started.",
}


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    def environment() -> JinjaTemplateEngine:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.globals["notices"] = NOTICES
        return JinjaTemplateEngine.from_environment(env)

    return TemplateConfig(instance=environment())


def page(
    name: str,
    viewer: ManagementPrincipal | None,
    *,
    status: int = 200,
    refusal: Refusal | None = None,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> Template:
    """Render ``name`` for ``viewer``; ``refusal`` is an action refused (shown at its
    field, or at the top of the page when it names none), ``status`` its status,
    ``headers`` the response's own."""
    if refusal is not None:
        status = refusal.status
    return Template(
        template_name=name,
        context={"viewer": viewer, "refusal": refusal, **context},
        status_code=status,
        headers=dict(headers or {}),
    )
