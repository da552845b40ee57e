"""MongoDB users and sessions (:mod:`pulse_core.ports.users`).

Document layout (field names are the domain's; None is never stored, see
:mod:`pulse_adapters.mongo.documents`):

========  ====================================================================
users     _id (id), email, org_id (absent for a platform admin), name, role,
          password_hash, invite_hash, invite_expires_at, created_at, updated_at,
          last_login_at, removed_at, is_removed (derived: removed_at is set)
sessions  _id (id), user_id, org_id, role, created_at, expires_at, revoked_at
========  ====================================================================

``users`` is the Go service's collection. Its ``email_1`` index is unique again, but
partial on ``is_removed: false``, so that removing a user frees its email (the same
device as ``organizations.admin_email_1``: a partial filter can test a stored value for
equality, not a field for absence, hence the derived flag). Every read of a user filters
on ``is_removed: false``, which is what lets the server use that index for sign-in;
documents written without the flag (by another tool) are therefore invisible until
Pulse rewrites them.

Both collections carry an audited write's record in ``audit_outbox`` until it reaches
``audit_log`` (:mod:`pulse_adapters.mongo.outbox`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from pymongo import ASCENDING

from pulse_adapters.mongo.changes import change_by_swap
from pulse_adapters.mongo.database import Document, MongoDatabase
from pulse_adapters.mongo.documents import (
    document_fields,
    page,
    page_filter,
    present,
    struct_from_document,
    struct_to_document,
    update_of,
)
from pulse_adapters.mongo.errors import translate_errors
from pulse_adapters.mongo.indexes import OUTBOX, SESSIONS, USERS
from pulse_adapters.mongo.outbox import Outbox, carrying, pushing
from pulse_core.errors import NotFound
from pulse_core.models.audit import AuditRecord
from pulse_core.models.user import Session, User
from pulse_core.ports.users import SessionRepository, UserRepository, kept_user

#: Users that are not removed: exactly the documents of the partial index ``email_1``.
_PRESENT: Final[Document] = {"is_removed": False}
_USER_FIELDS: Final = (*document_fields(User), "is_removed")


def user_to_document(user: User) -> Document:
    """The ``users`` document of ``user`` (None values still present)."""
    return {**struct_to_document(user), "is_removed": user.removed_at is not None}


def user_from_document(doc: Mapping[str, Any]) -> User:
    """The user stored in ``doc``; ``msgspec.ValidationError`` if it is corrupt."""
    return struct_from_document(doc, User)


class MongoUserRepository(UserRepository):
    """Users in ``users``; the email rule is the partial unique index ``email_1``, so it
    holds across replicas and races."""

    def __init__(self, db: MongoDatabase) -> None:
        self._users = db.collection(USERS)
        self._outbox = Outbox(db)

    async def add(self, user: User, *, audit: AuditRecord | None = None) -> None:
        document = carrying(present(user_to_document(user)), audit)
        with translate_errors(f"insert into {USERS}"):
            await self._users.insert_one(document)
        await self._outbox.deliver(self._users, user.id, audit)

    async def get(self, user_id: str) -> User | None:
        with translate_errors(f"find in {USERS}"):
            doc = await self._users.find_one({"_id": user_id, **_PRESENT})
        return None if doc is None else user_from_document(doc)

    async def get_by_email(self, email: str) -> User | None:
        with translate_errors(f"find in {USERS} by email"):
            doc = await self._users.find_one({"email": email, **_PRESENT})
        return None if doc is None else user_from_document(doc)

    async def list_page(self, *, org_id: str, after: str | None, limit: int) -> list[User]:
        query = page_filter({"org_id": org_id, **_PRESENT}, after)
        with translate_errors(f"list {USERS}"):
            docs = await page(self._users, query, limit)
        return [user_from_document(d) for d in docs]

    async def update(self, user: User, *, audit: AuditRecord | None = None) -> None:
        update = pushing(update_of(user_to_document(user)), audit)
        with translate_errors(f"update {USERS}"):
            result = await self._users.update_one({"_id": user.id, **_PRESENT}, update)
        if result.matched_count == 0:
            raise NotFound("user not found")
        await self._outbox.deliver(self._users, user.id, audit)

    async def change(
        self,
        user_id: str,
        change: Callable[[User], User],
        *,
        audit: AuditRecord | None = None,
    ) -> User | None:
        found = await change_by_swap(
            self._users,
            {"_id": user_id, **_PRESENT},
            read=user_from_document,
            change=lambda stored: kept_user(stored, change(stored)),
            write=lambda changed: pushing(update_of(user_to_document(changed)), audit),
            fields=_USER_FIELDS,
            name=f"user {user_id}",
        )
        if found is None:
            return None
        user, wrote = found
        if wrote:
            await self._outbox.deliver(self._users, user_id, audit)
        return user

    async def record_sign_in(
        self, user_id: str, at: datetime, *, password_hash: str | None = None
    ) -> None:
        fields: Document = {"last_login_at": at}
        if password_hash is not None:
            fields["password_hash"] = password_hash
        with translate_errors(f"update {USERS}"):
            await self._users.update_one({"_id": user_id, **_PRESENT}, {"$set": fields})


def _live(at: datetime) -> Document:
    """Sessions neither revoked nor expired at ``at``."""
    return {"revoked_at": None, "expires_at": {"$gt": at}}


class MongoSessionRepository(SessionRepository):
    """Sessions in ``sessions``, found by id (the JWT's ``sid``) or by user."""

    def __init__(self, db: MongoDatabase) -> None:
        self._sessions = db.collection(SESSIONS)
        self._outbox = Outbox(db)

    async def add(self, session: Session, *, audit: AuditRecord | None = None) -> None:
        document = carrying(present(struct_to_document(session)), audit)
        with translate_errors(f"insert into {SESSIONS}"):
            await self._sessions.insert_one(document)
        await self._outbox.deliver(self._sessions, session.id, audit)

    async def get(self, session_id: str) -> Session | None:
        with translate_errors(f"find in {SESSIONS}"):
            doc = await self._sessions.find_one({"_id": session_id})
        return None if doc is None else struct_from_document(doc, Session)

    async def revoke(
        self, session_id: str, at: datetime, *, audit: AuditRecord | None = None
    ) -> bool:
        update = pushing({"$set": {"revoked_at": at}}, audit)
        with translate_errors(f"update {SESSIONS}"):
            result = await self._sessions.update_one({"_id": session_id, **_live(at)}, update)
        if result.matched_count == 0:
            return False
        await self._outbox.deliver(self._sessions, session_id, audit)
        return True

    async def revoke_for_user(self, user_id: str, at: datetime) -> list[str]:
        """Two steps, as ``MongoProjectRepository.delete_for_organization``: read the
        ids, then ``update_many`` every live session of the user, so that a session
        created in between is revoked too (and, read again, reported)."""
        live = {"user_id": user_id, **_live(at)}
        with translate_errors(f"revoke {SESSIONS} of a user"):
            found = await self._sessions.find(live, {"_id": 1}).sort("_id", ASCENDING).to_list()
            ids = [str(d["_id"]) for d in found]
            result = await self._sessions.update_many(live, {"$set": {"revoked_at": at}})
            if result.modified_count > len(ids):
                late = await self._sessions.find(
                    {"user_id": user_id, "revoked_at": at}, {"_id": 1}
                ).to_list()
                ids = sorted({*ids, *(str(d["_id"]) for d in late)})
        return ids

    async def purge_expired(self, before: datetime) -> int:
        # A session still carrying an audit record (its sign-in, say) stays until
        # settle has moved it: deleting it would lose the record.
        query = {"expires_at": {"$lt": before}, f"{OUTBOX}._id": {"$exists": False}}
        with translate_errors(f"purge {SESSIONS}"):
            result = await self._sessions.delete_many(query)
        return result.deleted_count
