"""SQLite organizations and projects (:mod:`pulse_core.ports.repositories`) on one
:class:`SqliteDatabase`.

Each row holds the looked-up, ordered and unique fields as columns and the whole struct
as msgspec JSON in ``data`` (schema in :mod:`pulse_adapters.sqlite.schema`). The
database enforces every uniqueness rule itself, so a rule holds across processes sharing
the file; a violation comes back as ``Conflict`` and nothing is written, because each
write is one transaction. An audited write stores its record in that same transaction
(:func:`~pulse_adapters.sqlite.audit.insert_audit`, after the change succeeded).

``projects.key_last_used_at_us`` mirrors ``Project.key_last_used_at`` (migration 10), so
that :meth:`SqliteProjectRepository.touch_keys` is one guarded ``UPDATE`` per project, the
whole batch in one transaction, as ``api_keys.touch`` is (:mod:`pulse_adapters.sqlite.keys`).

Encoding and decoding run on the database's worker thread, with the event loop free.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from pulse_adapters.sqlite.audit import insert_audit, micros
from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_core.errors import NotFound
from pulse_core.models import Organization, Project
from pulse_core.models.audit import AuditRecord
from pulse_core.ports.repositories import (
    OrganizationRepository,
    ProjectRepository,
    kept_organization,
    kept_project,
)

S = TypeVar("S", bound=msgspec.Struct)

# Built once: a typed Decoder compiles its schema at construction.
_ENCODER = msgspec.json.Encoder()
_ORGANIZATION = msgspec.json.Decoder(Organization)
_PROJECT = msgspec.json.Decoder(Project)

# The queries, named so that tests can check each one is served by an index. Live-row
# filters are written as the literal `is_deleted = 0` (not a parameter) so that SQLite's
# planner can use the partial indexes, which are declared with that exact condition.
# `id > ?` with "" for "from the start": every id sorts after the empty string.
ORGANIZATION_GET = "SELECT data FROM organizations WHERE id = ? AND is_deleted = 0"
ORGANIZATION_LIST = (
    "SELECT data FROM organizations WHERE is_deleted = 0 AND id > ? ORDER BY id LIMIT ?"
)
ORGANIZATION_INSERT = (
    "INSERT INTO organizations (id, admin_email, is_deleted, data) VALUES (?, ?, ?, ?)"
)
ORGANIZATION_UPDATE = (
    "UPDATE organizations SET admin_email = ?, is_deleted = ?, data = ? WHERE id = ?"
)

PROJECT_GET = "SELECT data FROM projects WHERE id = ? AND is_deleted = 0"
PROJECT_BY_KEY = (
    "SELECT p.data FROM project_keys AS k JOIN projects AS p ON p.id = k.project_id"
    " WHERE k.api_key = ? AND p.is_deleted = 0"
)
PROJECT_LIST = "SELECT data FROM projects WHERE is_deleted = 0 AND id > ? ORDER BY id LIMIT ?"
PROJECT_LIST_OF_ORG = (
    "SELECT data FROM projects WHERE org_id = ? AND is_deleted = 0 AND id > ? ORDER BY id LIMIT ?"
)
PROJECT_IDS_OF_ORG = "SELECT id FROM projects WHERE org_id = ? ORDER BY id"
PROJECT_LIVE_OF_ORG = "SELECT data FROM projects WHERE org_id = ? AND is_deleted = 0 ORDER BY id"
PROJECT_INSERT = (
    "INSERT INTO projects"
    " (id, org_id, api_key, previous_api_key, is_deleted, key_last_used_at_us, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# Setting api_key/previous_api_key fires the trigger that rewrites project_keys.
PROJECT_UPDATE = (
    "UPDATE projects SET org_id = ?, api_key = ?, previous_api_key = ?, is_deleted = ?,"
    " key_last_used_at_us = ?, data = ? WHERE id = ?"
)
# `json(:at)` makes the encoded time a JSON string value inside `data`, exactly as
# msgspec writes it, so the row decodes as if the whole project had been rewritten.
# Only this column and `data` are set: the key trigger does not fire.
PROJECT_TOUCH_KEYS = (
    "UPDATE projects SET key_last_used_at_us = :at_us,"
    " data = json_set(data, '$.key_last_used_at', json(:at))"
    " WHERE id = :id AND (key_last_used_at_us IS NULL OR key_last_used_at_us < :at_us)"
)
# Leaves the key columns alone: a deleted project keeps its keys reserved.
PROJECT_SOFT_DELETE = "UPDATE projects SET is_deleted = 1, data = ? WHERE id = ?"


def _json(obj: object) -> str:
    # Stored as TEXT, not BLOB, so the file stays readable with the sqlite3 shell and
    # SQLite's json_* functions.
    return _ENCODER.encode(obj).decode()


def _after(after: str | None) -> str:
    return "" if after is None else after


def _one(
    decoder: msgspec.json.Decoder[S], sql: str, params: Sequence[Any]
) -> Callable[[sqlite3.Connection], S | None]:
    def work(conn: sqlite3.Connection) -> S | None:
        row = conn.execute(sql, params).fetchone()
        return None if row is None else decoder.decode(row[0])

    return work


def _many(
    decoder: msgspec.json.Decoder[S], sql: str, params: Sequence[Any] | dict[str, Any]
) -> Callable[[sqlite3.Connection], list[S]]:
    def work(conn: sqlite3.Connection) -> list[S]:
        return [decoder.decode(row[0]) for row in conn.execute(sql, params)]

    return work


class SqliteOrganizationRepository(OrganizationRepository):
    """Organizations in table ``organizations``; the live-``admin_email`` rule is a
    partial unique index (``WHERE is_deleted = 0``)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, org: Organization, *, audit: AuditRecord | None = None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                ORGANIZATION_INSERT, (org.id, org.admin_email, int(org.is_deleted), _json(org))
            )
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def get(self, org_id: str) -> Organization | None:
        return await self._db.read(_one(_ORGANIZATION, ORGANIZATION_GET, (org_id,)))

    async def list_page(self, *, after: str | None, limit: int) -> list[Organization]:
        return await self._db.read(
            _many(_ORGANIZATION, ORGANIZATION_LIST, (_after(after), max(limit, 0)))
        )

    async def update(self, org: Organization, *, audit: AuditRecord | None = None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                ORGANIZATION_UPDATE, (org.admin_email, int(org.is_deleted), _json(org), org.id)
            )
            if cursor.rowcount == 0:
                raise NotFound("organization not found")
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def change(
        self,
        org_id: str,
        change: Callable[[Organization], Organization],
        *,
        audit: AuditRecord | None = None,
    ) -> Organization | None:
        # One write transaction (BEGIN IMMEDIATE), as SqliteProjectRepository.change.
        def work(conn: sqlite3.Connection) -> Organization | None:
            row = conn.execute(ORGANIZATION_GET, (org_id,)).fetchone()
            if row is None:
                return None
            stored = _ORGANIZATION.decode(row[0])
            changed = kept_organization(stored, change(stored))
            if changed != stored:
                params = (changed.admin_email, int(changed.is_deleted), _json(changed), org_id)
                conn.execute(ORGANIZATION_UPDATE, params)
                if audit is not None:
                    insert_audit(conn, audit)
            return changed

        return await self._db.write(work)


class SqliteProjectRepository(ProjectRepository):
    """Projects in table ``projects``. Every key a project holds (current and previous)
    is also a row of ``project_keys``, whose primary key makes a key unique across both
    columns of all projects, deleted ones included; triggers on ``projects`` maintain it
    within the same statement."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(PROJECT_INSERT, (project.id, *_project_columns(project)))
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def get(self, project_id: str) -> Project | None:
        return await self._db.read(_one(_PROJECT, PROJECT_GET, (project_id,)))

    async def get_by_api_key(self, api_key: str) -> Project | None:
        return await self._db.read(_one(_PROJECT, PROJECT_BY_KEY, (api_key,)))

    async def list_page(
        self, *, org_id: str | None, after: str | None, limit: int
    ) -> list[Project]:
        if org_id is None:
            work = _many(_PROJECT, PROJECT_LIST, (_after(after), max(limit, 0)))
        else:
            work = _many(_PROJECT, PROJECT_LIST_OF_ORG, (org_id, _after(after), max(limit, 0)))
        return await self._db.read(work)

    async def ids_of_organization(self, org_id: str) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            return [row[0] for row in conn.execute(PROJECT_IDS_OF_ORG, (org_id,))]

        return await self._db.read(work)

    async def update(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(PROJECT_UPDATE, (*_project_columns(project), project.id))
            # rowcount counts the projects row only, not the trigger's project_keys rows.
            if cursor.rowcount == 0:
                raise NotFound("project not found")
            if audit is not None:
                insert_audit(conn, audit)

        await self._db.write(work)

    async def change(
        self,
        project_id: str,
        change: Callable[[Project], Project],
        *,
        audit: AuditRecord | None = None,
    ) -> Project | None:
        # One write transaction (BEGIN IMMEDIATE): the read and the write hold the file's
        # write lock throughout, against this process's other calls and other processes.
        def work(conn: sqlite3.Connection) -> Project | None:
            row = conn.execute(PROJECT_GET, (project_id,)).fetchone()
            if row is None:
                return None
            stored = _PROJECT.decode(row[0])
            changed = kept_project(stored, change(stored))
            if changed != stored:
                conn.execute(PROJECT_UPDATE, (*_project_columns(changed), project_id))
                if audit is not None:
                    insert_audit(conn, audit)
            return changed

        return await self._db.write(work)

    async def touch_keys(self, used: Mapping[str, datetime]) -> None:
        if not used:
            return
        rows = [
            {"id": project_id, "at_us": micros(at), "at": _json(at)}
            for project_id, at in used.items()
        ]

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(PROJECT_TOUCH_KEYS, rows)

        await self._db.write(work)

    async def delete_for_organization(self, org_id: str, at: datetime) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            deleted = [
                msgspec.structs.replace(
                    _PROJECT.decode(data), is_deleted=True, deleted_at=at, updated_at=at
                )
                for (data,) in conn.execute(PROJECT_LIVE_OF_ORG, (org_id,)).fetchall()
            ]
            conn.executemany(PROJECT_SOFT_DELETE, [(_json(p), p.id) for p in deleted])
            return [p.id for p in deleted]

        return await self._db.write(work)


def _project_columns(project: Project) -> tuple[str, str, str | None, int, int | None, str]:
    previous_key = None if project.previous is None else project.previous.api_key
    last_used = project.key_last_used_at
    return (
        project.org_id,
        project.api_key,
        previous_key,
        int(project.is_deleted),
        None if last_used is None else micros(last_used),
        _json(project),
    )
