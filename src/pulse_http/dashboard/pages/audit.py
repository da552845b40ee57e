"""An organization's audit log: who changed what, and every sign-in, newest first, with
the filters ``GET /v1/organizations/{org_id}/audit-log`` offers (action, resource, since).

The filters are a GET form, so a filtered page is a link one can share or reload; the
next page's link keeps them.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from pulse_core.errors import InvalidInput
from pulse_core.models.audit import AuditRecord
from pulse_core.services.audit import AuditService
from pulse_http.dashboard.forms import Refusal, utc_text
from pulse_http.dashboard.pages.context import OrgPage
from pulse_http.dashboard.pages.organizations import PAGE_SIZE
from pulse_http.dashboard.session import PATH
from pulse_http.routes.params import moment


class AuditPages(Controller):
    path = f"{PATH}/organizations/{{org_id:str}}/audit"

    @get("/")
    async def audit_page(
        self,
        *,
        org_page: NamedDependency[OrgPage],
        audit: NamedDependency[AuditService],
        action: FromQuery[str | None] = None,
        resource_id: FromQuery[str | None] = None,
        since: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        # A blank box of the filter form means "any", as a parameter left out does.
        filters = {
            k: v.strip()
            for k, v in (("action", action), ("resource_id", resource_id), ("since", since))
            if v is not None and v.strip()
        }
        base = org_page.url("/audit")
        records: list[AuditRecord] = []
        next_cursor: str | None = None
        refusal: Refusal | None = None
        try:
            listed = await audit.list(
                org_page.viewer,
                org_page.org.id,
                action=filters.get("action"),
                resource_id=filters.get("resource_id"),
                since=_since(filters.get("since")),
                limit=PAGE_SIZE,
                cursor=cursor,
            )
            records, next_cursor = listed.items, listed.next_cursor
        except InvalidInput as exc:
            refusal = Refusal.of(exc)
        return org_page.render(
            "audit.html",
            refusal=refusal,
            records=records,
            next_cursor=next_cursor,
            filters=filters,
            base_url=base,
            pager_url=f"{base}?{urlencode(filters)}" if filters else base,
        )


def _since(value: str | None) -> datetime | None:
    """The form's "since", read as the API reads it once a browser's zone-less
    date-time box is taken as UTC (as the page labels it)."""
    return None if value is None else moment(utc_text(value), "since")
