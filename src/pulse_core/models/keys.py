"""API keys of a project beyond its first: named, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, get_args

import msgspec

from pulse_core.models.project import Project

Scope = Literal[
    "tokens:create",
    "tokens:validate",
    "rooms:read",
    "rooms:write",
    "media:read",
    "media:write",
    "webhooks:read",
    "webhooks:write",
    "usage:read",
]
SCOPES: Final[tuple[Scope, ...]] = get_args(Scope)
#: The key id of the pair made with the project (``Project.api_key``): every scope.
PRIMARY_KEY_ID: Final = "primary"


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A key pair of ``project_id`` (``key_…``). ``scopes`` empty means every scope.
    Only a peppered hash of the secret is kept. A revoked or expired key authenticates
    nothing; its record stays for the audit trail."""

    id: str
    project_id: str
    org_id: str
    name: str
    api_key: str
    secret_hash: str
    scopes: tuple[Scope, ...] = ()
    expires_at: datetime | None = None
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id!r}, project_id={self.project_id!r}, name={self.name!r})"


class ProjectCredential(msgspec.Struct, frozen=True, kw_only=True):
    """A key of a project as authentication checks it on every request (and caches it):
    the project, which key (:data:`PRIMARY_KEY_ID` for the pair made with the project,
    and for its previous pair during a rotation's grace period), the hash its secret
    must match, its scopes (None: every scope) and its expiry in epoch seconds."""

    project: Project
    key_id: str
    secret_hash: str
    scopes: frozenset[str] | None = None
    expires_at: float | None = None

    def __repr__(self) -> str:
        return f"ProjectCredential(project_id={self.project.id!r}, key_id={self.key_id!r})"

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    @property
    def is_previous_pair(self) -> bool:
        """The project's previous pair, honoured until its grace period ends (the only
        :data:`PRIMARY_KEY_ID` credential with an expiry)."""
        return self.key_id == PRIMARY_KEY_ID and self.expires_at is not None
