"""In-memory users and sessions (:mod:`pulse_core.ports.users`).

Each method runs without awaiting anything, so under asyncio it is atomic: a uniqueness
check, the write and its audit record (appended to the shared ``audit_log``, see
:mod:`pulse_adapters.memory.audit`) cannot interleave with another task.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec

from pulse_adapters.memory.audit import InMemoryAuditRepository
from pulse_core.errors import Conflict, NotFound
from pulse_core.models.audit import AuditRecord
from pulse_core.models.user import Session, User
from pulse_core.ports.users import SessionRepository, UserRepository, kept_user


class InMemoryUserRepository(UserRepository):
    def __init__(self, *, audit_log: InMemoryAuditRepository | None = None) -> None:
        self._by_id: dict[str, User] = {}
        self._audit_log = audit_log if audit_log is not None else InMemoryAuditRepository()

    def _check_email(self, user: User) -> None:
        # Removed users are outside the rule, both as the one written and as the others.
        if user.removed_at is not None:
            return
        for other in self._by_id.values():
            if other.id != user.id and other.removed_at is None and other.email == user.email:
                raise Conflict("a user with this email exists", field="email")

    def _present(self, user_id: str) -> User | None:
        user = self._by_id.get(user_id)
        return None if user is None or user.removed_at is not None else user

    async def add(self, user: User, *, audit: AuditRecord | None = None) -> None:
        if user.id in self._by_id:
            raise Conflict("user id already exists", field="id")
        self._check_email(user)
        self._by_id[user.id] = user
        if audit is not None:
            self._audit_log.append(audit)

    async def get(self, user_id: str) -> User | None:
        return self._present(user_id)

    async def get_by_email(self, email: str) -> User | None:
        return next(
            (u for u in self._by_id.values() if u.email == email and u.removed_at is None), None
        )

    async def list_page(self, *, org_id: str, after: str | None, limit: int) -> list[User]:
        rows = sorted(
            (
                u
                for u in self._by_id.values()
                if u.org_id == org_id and u.removed_at is None and (after is None or u.id > after)
            ),
            key=lambda u: u.id,
        )
        return rows[: max(limit, 0)]

    async def update(self, user: User, *, audit: AuditRecord | None = None) -> None:
        if self._present(user.id) is None:
            raise NotFound("user not found")
        self._check_email(user)
        self._by_id[user.id] = user
        if audit is not None:
            self._audit_log.append(audit)

    async def change(
        self,
        user_id: str,
        change: Callable[[User], User],
        *,
        audit: AuditRecord | None = None,
    ) -> User | None:
        # Internals only, no await: nothing else runs between the read and the write.
        stored = self._present(user_id)
        if stored is None:
            return None
        changed = kept_user(stored, change(stored))
        if changed != stored:
            self._check_email(changed)
            self._by_id[user_id] = changed
            if audit is not None:
                self._audit_log.append(audit)
        return changed

    async def record_sign_in(
        self, user_id: str, at: datetime, *, password_hash: str | None = None
    ) -> None:
        user = self._present(user_id)
        if user is None:
            return
        changes: dict[str, object] = {"last_login_at": at}
        if password_hash is not None:
            changes["password_hash"] = password_hash
        self._by_id[user_id] = msgspec.structs.replace(user, **changes)


class InMemorySessionRepository(SessionRepository):
    """A session is live while ``Session.is_live(at)``: neither revoked nor expired."""

    def __init__(self, *, audit_log: InMemoryAuditRepository | None = None) -> None:
        self._by_id: dict[str, Session] = {}
        self._audit_log = audit_log if audit_log is not None else InMemoryAuditRepository()

    async def add(self, session: Session, *, audit: AuditRecord | None = None) -> None:
        if session.id in self._by_id:
            raise Conflict("session id already exists", field="id")
        self._by_id[session.id] = session
        if audit is not None:
            self._audit_log.append(audit)

    async def get(self, session_id: str) -> Session | None:
        return self._by_id.get(session_id)

    async def revoke(
        self, session_id: str, at: datetime, *, audit: AuditRecord | None = None
    ) -> bool:
        session = self._by_id.get(session_id)
        if session is None or not session.is_live(at):
            return False
        self._by_id[session_id] = msgspec.structs.replace(session, revoked_at=at)
        if audit is not None:
            self._audit_log.append(audit)
        return True

    async def revoke_for_user(self, user_id: str, at: datetime) -> list[str]:
        revoked = sorted(
            s.id for s in self._by_id.values() if s.user_id == user_id and s.is_live(at)
        )
        for session_id in revoked:
            self._by_id[session_id] = msgspec.structs.replace(
                self._by_id[session_id], revoked_at=at
            )
        return revoked

    async def purge_expired(self, before: datetime) -> int:
        expired = [s.id for s in self._by_id.values() if s.expires_at < before]
        for session_id in expired:
            del self._by_id[session_id]
        return len(expired)
