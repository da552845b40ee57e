from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from pulse_core.models import Organization
from pulse_core.services import OrganizationPatch
from pulse_http.schemas import NEXT_CURSOR, doc

_NAME = doc("The organization's name.", "Acme")
_ADMIN_EMAIL = doc(
    "The organization's administrative contact; unique among live organizations.",
    "ops@acme.example",
)
_PLAN = doc(
    "The plan whose limits apply: `free`, `pro`, `enterprise`, or one the operator "
    "configured (`PLANS_FILE`).",
    "pro",
)


class CreateOrganization(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new organization."""

    name: Annotated[str, _NAME]
    admin_email: Annotated[str, _ADMIN_EMAIL]
    plan: Annotated[str, _PLAN] = "free"


class UpdateOrganization(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A partial update: fields left out keep their value."""

    name: Annotated[str | msgspec.UnsetType, _NAME] = msgspec.UNSET
    admin_email: Annotated[str | msgspec.UnsetType, _ADMIN_EMAIL] = msgspec.UNSET
    plan: Annotated[
        str | msgspec.UnsetType,
        doc("The plan (platform admins only).", "enterprise"),
    ] = msgspec.UNSET

    def to_patch(self) -> OrganizationPatch:
        return OrganizationPatch(name=self.name, admin_email=self.admin_email, plan=self.plan)


class OrganizationOut(msgspec.Struct, frozen=True, kw_only=True):
    """An organization: a tenant, with its projects and users."""

    id: Annotated[str, doc("The organization's id.", "org_01M8T76XB3Y3Z5PJYJH5T1ZC29")]
    name: Annotated[str, _NAME]
    admin_email: Annotated[str, _ADMIN_EMAIL]
    plan: Annotated[str, _PLAN]
    created_at: Annotated[datetime, doc("When it was created.", "2026-12-02T01:51:51.651608Z")]
    updated_at: Annotated[datetime, doc("When it last changed.", "2026-12-02T01:51:51.651608Z")]

    @classmethod
    def of(cls, org: Organization) -> OrganizationOut:
        return cls(
            id=org.id,
            name=org.name,
            admin_email=org.admin_email,
            plan=org.plan,
            created_at=org.created_at,
            updated_at=org.updated_at,
        )


class OrganizationList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of organizations."""

    items: Annotated[list[OrganizationOut], doc("This page's organizations.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]
