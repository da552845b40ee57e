"""Users and their sessions (the rules of :mod:`pulse_core.ports.repositories` apply,
``audit`` included)."""

from __future__ import annotations

import abc
from datetime import datetime

from pulse_core.models.audit import AuditRecord
from pulse_core.models.user import Session, User


class UserRepository(abc.ABC):
    """Users. Unique rule: ``email`` among users that are not removed (a removed user
    frees its email; the Go service's unique ``users.email`` index, made partial)."""

    @abc.abstractmethod
    async def add(self, user: User, *, audit: AuditRecord | None = None) -> None:
        """Store ``user``; ``Conflict`` (field ``email``) if the email is taken."""

    @abc.abstractmethod
    async def get(self, user_id: str) -> User | None:
        """The user ``user_id`` unless removed, or None."""

    @abc.abstractmethod
    async def get_by_email(self, email: str) -> User | None:
        """The user (not removed) with exactly this already normalized ``email``."""

    @abc.abstractmethod
    async def list_page(self, *, org_id: str, after: str | None, limit: int) -> list[User]:
        """Users of ``org_id`` that are not removed, in id order."""

    @abc.abstractmethod
    async def update(self, user: User, *, audit: AuditRecord | None = None) -> None:
        """Replace the user with ``user.id`` (removal is an update setting
        ``removed_at``); ``NotFound`` if there is none or it is removed."""

    @abc.abstractmethod
    async def record_sign_in(
        self, user_id: str, at: datetime, *, password_hash: str | None = None
    ) -> None:
        """Set the user's ``last_login_at`` (and ``password_hash`` when given, after a
        re-hash) and nothing else: a role change or removal made meanwhile stays as it
        is. A removed or unknown user is left alone."""


class SessionRepository(abc.ABC):
    """Sign-in sessions. Expired ones may be purged."""

    @abc.abstractmethod
    async def add(self, session: Session, *, audit: AuditRecord | None = None) -> None:
        """Store a new session."""

    @abc.abstractmethod
    async def get(self, session_id: str) -> Session | None:
        """The session, revoked or not, or None."""

    @abc.abstractmethod
    async def revoke(
        self, session_id: str, at: datetime, *, audit: AuditRecord | None = None
    ) -> bool:
        """Revoke a live session at ``at``; whether it was live (no record otherwise)."""

    @abc.abstractmethod
    async def revoke_for_user(self, user_id: str, at: datetime) -> list[str]:
        """Revoke every live session of ``user_id``; their ids."""

    @abc.abstractmethod
    async def purge_expired(self, before: datetime) -> int:
        """Delete sessions that expired before ``before``; how many went."""
