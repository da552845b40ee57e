"""People who sign in: users of an organization (or platform admins) and their sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

UserRole = Literal["admin", "owner", "member"]


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A person with a dashboard login; ``email`` (normalized) is unique among users
    that are not removed. ``org_id`` is None for a platform admin.

    An invited user has no ``password_hash`` yet and an ``invite_hash`` (of the one-time
    invitation secret) valid until ``invite_expires_at``; accepting sets the password and
    clears both. A removed user keeps its record (the audit log names it) with
    ``removed_at`` set, and can never sign in again.
    """

    id: str
    email: str
    org_id: str | None
    name: str = ""
    role: UserRole = "member"
    password_hash: str | None = None
    invite_hash: str | None = None
    invite_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None = None
    removed_at: datetime | None = None

    def __repr__(self) -> str:
        # Hashes of passwords and invitation secrets stay out of logs and tracebacks.
        return f"User(id={self.id!r}, org_id={self.org_id!r}, role={self.role!r})"

    @property
    def is_active(self) -> bool:
        """Can sign in: has accepted its invitation and is not removed."""
        return self.password_hash is not None and self.removed_at is None


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A sign-in: the management JWT it issued carries ``id`` as its ``sid`` claim, and
    the token works only while the session is live (not revoked, not expired). Signing
    out revokes it; removing the user or changing their role revokes all of theirs."""

    id: str
    user_id: str
    org_id: str | None
    role: UserRole
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at
