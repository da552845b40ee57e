from __future__ import annotations

from datetime import datetime

import msgspec

from pulse_core.models import Organization
from pulse_core.services import OrganizationPatch


class CreateOrganization(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    admin_email: str
    plan: str = "free"


class UpdateOrganization(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    admin_email: str | msgspec.UnsetType = msgspec.UNSET
    plan: str | msgspec.UnsetType = msgspec.UNSET

    def to_patch(self) -> OrganizationPatch:
        return OrganizationPatch(name=self.name, admin_email=self.admin_email, plan=self.plan)


class OrganizationOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    admin_email: str
    plan: str
    created_at: datetime
    updated_at: datetime

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
    items: list[OrganizationOut]
    next_cursor: str | None
