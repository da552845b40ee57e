"""Users and their sessions (the rules of :mod:`pulse_core.ports.repositories` apply,
``audit`` included)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime

from pulse_core.models.audit import AuditRecord
from pulse_core.models.user import Session, User
from pulse_core.ports.changes import kept


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
    async def change(
        self,
        user_id: str,
        change: Callable[[User], User],
        *,
        audit: AuditRecord | None = None,
    ) -> User | None:
        """Replace the user with ``change(stored)`` as one step, and return what is stored
        now; None (``change`` not called) when there is no such user or it is removed.

        No other write to the user lands between the read ``change`` is given and the
        write of its answer: two owners editing one user at once both keep theirs, and a
        one-time invitation is accepted once. ``change`` must be a pure function of the
        user, quick, and keep its id and organization (``ValueError`` otherwise): an
        adapter may call it inside its transaction, on another thread, or again after
        losing a race. What ``change`` raises propagates and nothing is written.
        Answering ``stored`` itself writes nothing, ``audit`` included. ``Conflict``
        (field ``email``) as :meth:`update`."""

    @abc.abstractmethod
    async def record_sign_in(
        self, user_id: str, at: datetime, *, password_hash: str | None = None
    ) -> None:
        """Set the user's ``last_login_at`` (and ``password_hash`` when given, after a
        re-hash) and nothing else: a role change or removal made meanwhile stays as it
        is. A removed or unknown user is left alone."""


def kept_user(stored: User, changed: User) -> User:
    """What :meth:`UserRepository.change` asks of its function; adapters call it."""
    return kept(
        stored, changed, ("id", "org_id"), "a user change must keep the user's id and organization"
    )


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
