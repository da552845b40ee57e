"""In-memory API keys (:mod:`pulse_core.ports.keys`).

Each method runs without awaiting anything, so under asyncio it is atomic: the
``api_key`` check, the write and its audit record (appended to the shared ``audit_log``,
see :mod:`pulse_adapters.memory.audit`) cannot interleave with another task.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import msgspec

from pulse_adapters.memory.audit import InMemoryAuditRepository
from pulse_core.errors import Conflict, NotFound
from pulse_core.models.audit import AuditRecord
from pulse_core.models.keys import ApiKey
from pulse_core.ports.keys import ApiKeyRepository


class InMemoryApiKeyRepository(ApiKeyRepository):
    def __init__(self, *, audit_log: InMemoryAuditRepository | None = None) -> None:
        self._by_id: dict[str, ApiKey] = {}
        self._id_by_api_key: dict[str, str] = {}
        self._audit_log = audit_log if audit_log is not None else InMemoryAuditRepository()

    def _check_api_key(self, key: ApiKey) -> None:
        owner = self._id_by_api_key.get(key.api_key)
        if owner is not None and owner != key.id:
            raise Conflict("api key already exists", field="api_key")

    def _store(self, key: ApiKey) -> None:
        old = self._by_id.get(key.id)
        if old is not None:
            del self._id_by_api_key[old.api_key]
        self._by_id[key.id] = key
        self._id_by_api_key[key.api_key] = key.id

    def _find(self, project_id: str, key_id: str) -> ApiKey | None:
        key = self._by_id.get(key_id)
        return key if key is not None and key.project_id == project_id else None

    async def add(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        if key.id in self._by_id:
            raise Conflict("api key id already exists", field="id")
        self._check_api_key(key)
        self._store(key)
        if audit is not None:
            self._audit_log.append(audit)

    async def get(self, project_id: str, key_id: str) -> ApiKey | None:
        return self._find(project_id, key_id)

    async def get_by_api_key(self, api_key: str) -> ApiKey | None:
        key_id = self._id_by_api_key.get(api_key)
        return None if key_id is None else self._by_id[key_id]

    async def list_for_project(self, project_id: str) -> list[ApiKey]:
        return sorted(
            (k for k in self._by_id.values() if k.project_id == project_id), key=lambda k: k.id
        )

    async def list_page(self, project_id: str, *, after: str | None, limit: int) -> list[ApiKey]:
        listed = await self.list_for_project(project_id)
        return [k for k in listed if after is None or k.id > after][:limit]

    async def update(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        if self._find(key.project_id, key.id) is None:
            raise NotFound("api key not found")
        self._check_api_key(key)
        self._store(key)
        if audit is not None:
            self._audit_log.append(audit)

    async def revoke(
        self, project_id: str, key_id: str, at: datetime, *, audit: AuditRecord | None = None
    ) -> bool:
        key = self._find(project_id, key_id)
        if key is None or key.revoked_at is not None:
            return False
        self._by_id[key_id] = msgspec.structs.replace(key, revoked_at=at)
        if audit is not None:
            self._audit_log.append(audit)
        return True

    async def touch(self, last_used: Mapping[str, datetime]) -> None:
        for key_id, at in last_used.items():
            key = self._by_id.get(key_id)
            if key is not None and (key.last_used_at is None or key.last_used_at < at):
                self._by_id[key_id] = msgspec.structs.replace(key, last_used_at=at)
