from __future__ import annotations

from typing import Literal

import msgspec

Role = Literal["admin", "owner", "member"]


class ManagementPrincipal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling a management operation.

    ``admin`` operates the platform and sees every organization; ``owner`` and ``member``
    are confined to ``org_id``, and a member may only read.
    """

    subject: str
    role: Role
    org_id: str | None = None

    @classmethod
    def system(cls) -> ManagementPrincipal:
        """The platform itself, for embedders and operator tooling."""
        return cls(subject="system", role="admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can_read(self, org_id: str) -> bool:
        return self.is_admin or self.org_id == org_id

    def can_write(self, org_id: str) -> bool:
        return self.is_admin or (self.role == "owner" and self.org_id == org_id)
