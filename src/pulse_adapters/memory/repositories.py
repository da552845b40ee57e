"""In-memory organization and project repositories.

Each method runs without awaiting anything, so under asyncio it is atomic: the check for
a uniqueness rule, the write and its audit record cannot interleave with another request.
Audit records go to the shared ``audit_log`` (see :mod:`pulse_adapters.memory.audit`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import msgspec

from pulse_adapters.memory.audit import InMemoryAuditRepository
from pulse_core.errors import Conflict, NotFound
from pulse_core.models import Organization, Project
from pulse_core.models.audit import AuditRecord
from pulse_core.ports.repositories import (
    OrganizationRepository,
    ProjectRepository,
    kept_organization,
    kept_project,
)


class InMemoryOrganizationRepository(OrganizationRepository):
    def __init__(self, *, audit_log: InMemoryAuditRepository | None = None) -> None:
        self._by_id: dict[str, Organization] = {}
        self._audit_log = audit_log if audit_log is not None else InMemoryAuditRepository()

    def _check_email(self, org: Organization) -> None:
        if org.is_deleted:
            return
        for other in self._by_id.values():
            if other.id != org.id and not other.is_deleted and other.admin_email == org.admin_email:
                raise Conflict("an organization with this admin_email exists", field="admin_email")

    async def add(self, org: Organization, *, audit: AuditRecord | None = None) -> None:
        if org.id in self._by_id:
            raise Conflict("organization id already exists", field="id")
        self._check_email(org)
        self._by_id[org.id] = org
        if audit is not None:
            self._audit_log.append(audit)

    async def get(self, org_id: str) -> Organization | None:
        org = self._by_id.get(org_id)
        return None if org is None or org.is_deleted else org

    async def list_page(self, *, after: str | None, limit: int) -> list[Organization]:
        rows = sorted(
            (
                o
                for o in self._by_id.values()
                if not o.is_deleted and (after is None or o.id > after)
            ),
            key=lambda o: o.id,
        )
        return rows[:limit]

    async def update(self, org: Organization, *, audit: AuditRecord | None = None) -> None:
        if org.id not in self._by_id:
            raise NotFound("organization not found")
        self._check_email(org)
        self._by_id[org.id] = org
        if audit is not None:
            self._audit_log.append(audit)

    async def change(
        self,
        org_id: str,
        change: Callable[[Organization], Organization],
        *,
        audit: AuditRecord | None = None,
    ) -> Organization | None:
        # Internals only, no await: nothing else runs between the read and the write.
        stored = self._by_id.get(org_id)
        if stored is None or stored.is_deleted:
            return None
        changed = kept_organization(stored, change(stored))
        if changed != stored:
            self._check_email(changed)
            self._by_id[org_id] = changed
            if audit is not None:
                self._audit_log.append(audit)
        return changed


class InMemoryProjectRepository(ProjectRepository):
    def __init__(self, *, audit_log: InMemoryAuditRepository | None = None) -> None:
        self._by_id: dict[str, Project] = {}
        self._id_by_key: dict[str, str] = {}
        self._audit_log = audit_log if audit_log is not None else InMemoryAuditRepository()

    @staticmethod
    def _keys(project: Project) -> set[str]:
        keys = {project.api_key}
        if project.previous is not None:
            keys.add(project.previous.api_key)
        return keys

    def _check_keys(self, project: Project) -> None:
        for key in self._keys(project):
            owner = self._id_by_key.get(key)
            if owner is not None and owner != project.id:
                raise Conflict("api key already exists", field="api_key")

    async def add(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        if project.id in self._by_id:
            raise Conflict("project id already exists", field="id")
        self._check_keys(project)
        self._store(project)
        if audit is not None:
            self._audit_log.append(audit)

    def _store(self, project: Project) -> None:
        old = self._by_id.get(project.id)
        if old is not None:
            for key in self._keys(old):
                self._id_by_key.pop(key, None)
        self._by_id[project.id] = project
        for key in self._keys(project):
            self._id_by_key[key] = project.id

    async def get(self, project_id: str) -> Project | None:
        project = self._by_id.get(project_id)
        return None if project is None or project.is_deleted else project

    async def get_by_api_key(self, api_key: str) -> Project | None:
        project_id = self._id_by_key.get(api_key)
        return None if project_id is None else await self.get(project_id)

    async def list_page(
        self, *, org_id: str | None, after: str | None, limit: int
    ) -> list[Project]:
        rows = sorted(
            (
                p
                for p in self._by_id.values()
                if not p.is_deleted
                and (org_id is None or p.org_id == org_id)
                and (after is None or p.id > after)
            ),
            key=lambda p: p.id,
        )
        return rows[:limit]

    async def update(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        if project.id not in self._by_id:
            raise NotFound("project not found")
        self._check_keys(project)
        self._store(project)
        if audit is not None:
            self._audit_log.append(audit)

    async def change(
        self,
        project_id: str,
        change: Callable[[Project], Project],
        *,
        audit: AuditRecord | None = None,
    ) -> Project | None:
        # Internals only, no await: nothing else runs between the read and the write.
        stored = self._by_id.get(project_id)
        if stored is None or stored.is_deleted:
            return None
        changed = kept_project(stored, change(stored))
        if changed != stored:
            self._check_keys(changed)
            self._store(changed)
            if audit is not None:
                self._audit_log.append(audit)
        return changed

    async def touch_keys(self, used: Mapping[str, datetime]) -> None:
        for project_id, at in used.items():
            project = self._by_id.get(project_id)
            if project is not None and (
                project.key_last_used_at is None or project.key_last_used_at < at
            ):
                self._by_id[project_id] = msgspec.structs.replace(project, key_last_used_at=at)

    async def ids_of_organization(self, org_id: str) -> list[str]:
        return sorted(p.id for p in self._by_id.values() if p.org_id == org_id)

    async def delete_for_organization(self, org_id: str, at: datetime) -> list[str]:
        deleted = []
        for project in list(self._by_id.values()):
            if project.org_id == org_id and not project.is_deleted:
                self._store(
                    msgspec.structs.replace(project, is_deleted=True, deleted_at=at, updated_at=at)
                )
                deleted.append(project.id)
        return sorted(deleted)
