"""SQLite users and sessions (:mod:`pulse_core.ports.users`): tables ``users`` and
``sessions`` (migration 6 of :mod:`pulse_adapters.sqlite.schema`).

As for the other repositories, the looked-up and ordered fields are real columns and the
whole struct is msgspec JSON in ``data``. A removed user keeps its row (the audit log
names it) with ``removed_at_us`` set; the email rule is a partial unique index over the
others, so the rule holds across processes sharing the file and a removed user frees its
email. Every read of users spells ``removed_at_us IS NULL`` literally, the condition of
the partial indexes, so that the planner can use them.

A session is live while it is neither revoked nor expired (``Session.is_live``). Its
revocation is a read, a check and a write in one ``BEGIN IMMEDIATE`` transaction, so two
sign-outs of one session cannot both see it live. Audited writes store their record in
the transaction of the change (:func:`~pulse_adapters.sqlite.audit.insert_audit`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

import msgspec

from pulse_adapters.sqlite.audit import insert_audit, micros
from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_core.errors import NotFound
from pulse_core.models.audit import AuditRecord
from pulse_core.models.user import Session, User
from pulse_core.ports.users import SessionRepository, UserRepository, kept_user

_ENCODER = msgspec.json.Encoder()
_USER = msgspec.json.Decoder(User)
_SESSION = msgspec.json.Decoder(Session)

# The queries, named so that tests can check each one is served by an index.
USER_INSERT = "INSERT INTO users (id, email, org_id, removed_at_us, data) VALUES (?, ?, ?, ?, ?)"
USER_GET = "SELECT data FROM users WHERE id = ? AND removed_at_us IS NULL"
USER_BY_EMAIL = "SELECT data FROM users WHERE email = ? AND removed_at_us IS NULL"
# `id > ?` with "" for "from the start": every id sorts after the empty string.
USER_LIST = (
    "SELECT data FROM users WHERE org_id = ? AND removed_at_us IS NULL AND id > ?"
    " ORDER BY id LIMIT ?"
)
USER_SIGNED_IN = (
    "UPDATE users SET data = json_set(data, '$.last_login_at', ?)"
    " WHERE id = ? AND removed_at_us IS NULL"
)
USER_SIGNED_IN_REHASHED = (
    "UPDATE users SET data = json_set(data, '$.last_login_at', ?, '$.password_hash', ?)"
    " WHERE id = ? AND removed_at_us IS NULL"
)
USER_UPDATE = (
    "UPDATE users SET email = ?, org_id = ?, removed_at_us = ?, data = ?"
    " WHERE id = ? AND removed_at_us IS NULL"
)

SESSION_INSERT = (
    "INSERT INTO sessions (id, user_id, expires_at_us, revoked_at_us, data) VALUES (?, ?, ?, ?, ?)"
)
SESSION_GET = "SELECT data FROM sessions WHERE id = ?"
SESSION_LIVE = (
    "SELECT data FROM sessions WHERE id = ? AND revoked_at_us IS NULL AND expires_at_us > ?"
)
SESSION_LIVE_OF_USER = (
    "SELECT data FROM sessions"
    " WHERE user_id = ? AND revoked_at_us IS NULL AND expires_at_us > ? ORDER BY id"
)
SESSION_REVOKE = "UPDATE sessions SET revoked_at_us = ?, data = ? WHERE id = ?"
# One statement: sessions are few (users x devices, each gone within its lifetime), and
# the expiry index bounds the scan.
SESSION_PURGE = "DELETE FROM sessions WHERE expires_at_us < ?"


def _json(obj: msgspec.Struct) -> str:
    return _ENCODER.encode(obj).decode()


def _user_row(user: User) -> tuple[str, str | None, int | None, str]:
    removed = None if user.removed_at is None else micros(user.removed_at)
    return (user.email, user.org_id, removed, _json(user))


class SqliteUserRepository(UserRepository):
    """Users in table ``users``; a taken email is ``Conflict`` with ``field="email"``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, user: User, *, audit: AuditRecord | None = None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(USER_INSERT, (user.id, *_user_row(user)))
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def get(self, user_id: str) -> User | None:
        return await self._one(USER_GET, user_id)

    async def get_by_email(self, email: str) -> User | None:
        return await self._one(USER_BY_EMAIL, email)

    async def _one(self, sql: str, value: str) -> User | None:
        def work(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(sql, (value,)).fetchone()
            return None if row is None else _USER.decode(row[0])

        return await self._db.read(work)

    async def list_page(self, *, org_id: str, after: str | None, limit: int) -> list[User]:
        params = (org_id, "" if after is None else after, max(limit, 0))

        def work(conn: sqlite3.Connection) -> list[User]:
            return [_USER.decode(data) for (data,) in conn.execute(USER_LIST, params)]

        return await self._db.read(work)

    async def update(self, user: User, *, audit: AuditRecord | None = None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            if conn.execute(USER_UPDATE, (*_user_row(user), user.id)).rowcount == 0:
                raise NotFound("user not found")
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def change(
        self,
        user_id: str,
        change: Callable[[User], User],
        *,
        audit: AuditRecord | None = None,
    ) -> User | None:
        # One write transaction (BEGIN IMMEDIATE): the read and the write hold the file's
        # write lock throughout, against this process's other calls and other processes.
        def work(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(USER_GET, (user_id,)).fetchone()
            if row is None:
                return None
            stored = _USER.decode(row[0])
            changed = kept_user(stored, change(stored))
            if changed != stored:
                conn.execute(USER_UPDATE, (*_user_row(changed), user_id))
                if audit is not None:
                    insert_audit(conn, audit)
            return changed

        return await self._db.write(work)

    async def record_sign_in(
        self, user_id: str, at: datetime, *, password_hash: str | None = None
    ) -> None:
        # Field by field inside the stored JSON: a role change or removal written since
        # the caller read the user stays.
        when = msgspec.json.decode(_ENCODER.encode(at))
        params: tuple[object, ...]
        if password_hash is None:
            sql, params = USER_SIGNED_IN, (when, user_id)
        else:
            sql, params = USER_SIGNED_IN_REHASHED, (when, password_hash, user_id)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(sql, params)

        await self._db.write(work)


class SqliteSessionRepository(SessionRepository):
    """Sessions in table ``sessions``. Nothing expires rows by itself: call
    :meth:`purge_expired` on a schedule."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, session: Session, *, audit: AuditRecord | None = None) -> None:
        revoked = None if session.revoked_at is None else micros(session.revoked_at)
        row = (session.id, session.user_id, micros(session.expires_at), revoked)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(SESSION_INSERT, (*row, _json(session)))
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def get(self, session_id: str) -> Session | None:
        def work(conn: sqlite3.Connection) -> Session | None:
            row = conn.execute(SESSION_GET, (session_id,)).fetchone()
            return None if row is None else _SESSION.decode(row[0])

        return await self._db.read(work)

    async def revoke(
        self, session_id: str, at: datetime, *, audit: AuditRecord | None = None
    ) -> bool:
        at_us = micros(at)

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(SESSION_LIVE, (session_id, at_us)).fetchone()
            if row is None:
                return False
            _revoke(conn, [_SESSION.decode(row[0])], at)
            if audit is not None:
                insert_audit(conn, audit)
            return True

        return await self._db.write(work)

    async def revoke_for_user(self, user_id: str, at: datetime) -> list[str]:
        at_us = micros(at)

        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(SESSION_LIVE_OF_USER, (user_id, at_us)).fetchall()
            live = [_SESSION.decode(data) for (data,) in rows]
            _revoke(conn, live, at)
            return [s.id for s in live]

        return await self._db.write(work)

    async def purge_expired(self, before: datetime) -> int:
        before_us = micros(before)

        def work(conn: sqlite3.Connection) -> int:
            return conn.execute(SESSION_PURGE, (before_us,)).rowcount

        return await self._db.write(work)


def _revoke(conn: sqlite3.Connection, sessions: list[Session], at: datetime) -> None:
    at_us = micros(at)
    conn.executemany(
        SESSION_REVOKE,
        [(at_us, _json(msgspec.structs.replace(s, revoked_at=at)), s.id) for s in sessions],
    )
