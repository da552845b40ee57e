"""In-memory repositories.

Each method runs without awaiting anything, so under asyncio it is atomic: the check for
a uniqueness rule and the write cannot interleave with another request.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from pulse_core.errors import Conflict, NotFound
from pulse_core.models import Organization, Project, User
from pulse_core.ports.repositories import (
    OrganizationRepository,
    ProjectRepository,
    UserRepository,
)


class InMemoryOrganizationRepository(OrganizationRepository):
    def __init__(self) -> None:
        self._by_id: dict[str, Organization] = {}

    def _check_email(self, org: Organization) -> None:
        if org.is_deleted:
            return
        for other in self._by_id.values():
            if other.id != org.id and not other.is_deleted and other.admin_email == org.admin_email:
                raise Conflict("an organization with this admin_email exists", field="admin_email")

    async def add(self, org: Organization) -> None:
        if org.id in self._by_id:
            raise Conflict("organization id already exists", field="id")
        self._check_email(org)
        self._by_id[org.id] = org

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

    async def update(self, org: Organization) -> None:
        if org.id not in self._by_id:
            raise NotFound("organization not found")
        self._check_email(org)
        self._by_id[org.id] = org


class InMemoryProjectRepository(ProjectRepository):
    def __init__(self) -> None:
        self._by_id: dict[str, Project] = {}
        self._id_by_key: dict[str, str] = {}

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

    async def add(self, project: Project) -> None:
        if project.id in self._by_id:
            raise Conflict("project id already exists", field="id")
        self._check_keys(project)
        self._store(project)

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

    async def update(self, project: Project) -> None:
        if project.id not in self._by_id:
            raise NotFound("project not found")
        self._check_keys(project)
        self._store(project)

    async def delete_for_organization(self, org_id: str, at: datetime) -> list[str]:
        deleted = []
        for project in list(self._by_id.values()):
            if project.org_id == org_id and not project.is_deleted:
                self._store(
                    msgspec.structs.replace(project, is_deleted=True, deleted_at=at, updated_at=at)
                )
                deleted.append(project.id)
        return sorted(deleted)


class InMemoryUserRepository(UserRepository):
    def __init__(self) -> None:
        self._by_id: dict[str, User] = {}

    async def add(self, user: User) -> None:
        if user.id in self._by_id:
            raise Conflict("user id already exists", field="id")
        if any(u.email == user.email for u in self._by_id.values()):
            raise Conflict("a user with this email exists", field="email")
        self._by_id[user.id] = user

    async def get(self, user_id: str) -> User | None:
        return self._by_id.get(user_id)

    async def get_by_email(self, email: str) -> User | None:
        return next((u for u in self._by_id.values() if u.email == email), None)

    async def list_page(self, *, org_id: str, after: str | None, limit: int) -> list[User]:
        rows = sorted(
            (
                u
                for u in self._by_id.values()
                if u.org_id == org_id and (after is None or u.id > after)
            ),
            key=lambda u: u.id,
        )
        return rows[:limit]
