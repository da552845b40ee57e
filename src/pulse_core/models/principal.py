from __future__ import annotations

from typing import Final, Literal, get_args

import msgspec

from pulse_core.models.audit import Actor, Caller, ClientInfo

Role = Literal["admin", "owner", "member"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)


class ManagementPrincipal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling a management operation.

    ``admin`` operates the platform and sees every organization; ``owner`` and ``member``
    are confined to ``org_id``, and a member may only read. ``ValueError`` for an owner or
    member without ``org_id``: confined to no organization, the queries scoped by it would
    read "any organization".
    """

    subject: str
    role: Role
    org_id: str | None = None
    #: Set when a signed-in user's session backs the token (API.md, "Users").
    user_id: str | None = None
    email: str | None = None
    session_id: str | None = None
    #: Where the request came from (for the audit log); None outside HTTP.
    client: ClientInfo | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if self.role != "admin" and not self.org_id:
            raise ValueError("an owner or member principal needs the org_id it is confined to")

    @classmethod
    def system(cls) -> ManagementPrincipal:
        """The platform itself, for embedders and operator tooling."""
        return cls(subject="system", role="admin")

    def actor(self) -> Actor:
        """Who the audit log says acted."""
        if self.user_id is not None:
            return Actor(type="user", id=self.user_id, email=self.email)
        if self.subject == "system":
            return Actor(type="system", id="system")
        return Actor(type="token", id=self.subject)

    def caller(self) -> Caller:
        return Caller(actor=self.actor(), client=self.client)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can_read(self, org_id: str) -> bool:
        return self.is_admin or self.org_id == org_id

    def can_write(self, org_id: str) -> bool:
        return self.is_admin or (self.role == "owner" and self.org_id == org_id)
