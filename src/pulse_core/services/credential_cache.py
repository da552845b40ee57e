"""A per-process cache of project credentials looked up by API key.

Verifying a project credential is on every project request; the cache keeps the database
off that path. Staleness is bounded two ways:

- on the process that changes a project (rotation, deletion, organization deletion) or
  one of its keys (revocation), :class:`CredentialCachingProjectRepository` and
  :class:`CredentialCachingApiKeyRepository`, through which every such write goes, drop
  the project's entries, so the change holds at once;
- on every other process an entry lives at most ``ttl_seconds`` (default 5 s), which is
  the documented bound for a revoked key to stop working everywhere.

Only lookups that found a live credential are cached; the secret is checked against the
cached hash on every request, so a cached entry never lets a wrong secret through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from pulse_core.models import Project
from pulse_core.models.audit import AuditRecord
from pulse_core.models.keys import ApiKey, ProjectCredential
from pulse_core.ports.clock import Clock
from pulse_core.ports.keys import ApiKeyRepository
from pulse_core.ports.repositories import ProjectRepository

DEFAULT_TTL_SECONDS = 5.0
DEFAULT_MAX_ENTRIES = 10_000


class CredentialCache:
    __slots__ = ("_by_key", "_clock", "_keys_of_project", "_max_entries", "_ttl")

    def __init__(
        self,
        clock: Clock,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._by_key: dict[str, tuple[ProjectCredential, float]] = {}
        self._keys_of_project: dict[str, set[str]] = {}

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    def get(self, api_key: str) -> ProjectCredential | None:
        entry = self._by_key.get(api_key)
        if entry is None:
            return None
        credential, stored_at = entry
        if self._clock.time() - stored_at >= self._ttl:
            self._drop(api_key, credential.project.id)
            return None
        return credential

    def put(self, api_key: str, credential: ProjectCredential) -> None:
        if self._ttl <= 0:
            return
        if len(self._by_key) >= self._max_entries and api_key not in self._by_key:
            # Insertion order is age order: evicting the first entry evicts the oldest.
            oldest_key = next(iter(self._by_key))
            self._drop(oldest_key, self._by_key[oldest_key][0].project.id)
        self._by_key[api_key] = (credential, self._clock.time())
        self._keys_of_project.setdefault(credential.project.id, set()).add(api_key)

    def forget_project(self, project_id: str) -> None:
        """Drop every cached key of ``project_id`` (after a rotation or deletion)."""
        for api_key in self._keys_of_project.pop(project_id, set()):
            self._by_key.pop(api_key, None)

    def forget_organization(self, org_id: str) -> None:
        """Drop every cached key of every project of ``org_id``."""
        for project_id in [
            pid for pid, keys in self._keys_of_project.items() if self._org_of(keys) == org_id
        ]:
            self.forget_project(project_id)

    def _org_of(self, api_keys: set[str]) -> str | None:
        for api_key in api_keys:
            entry = self._by_key.get(api_key)
            if entry is not None:
                return entry[0].project.org_id
        return None

    def clear(self) -> None:
        self._by_key.clear()
        self._keys_of_project.clear()

    def _drop(self, api_key: str, project_id: str) -> None:
        self._by_key.pop(api_key, None)
        keys = self._keys_of_project.get(project_id)
        if keys is not None:
            keys.discard(api_key)
            if not keys:
                del self._keys_of_project[project_id]


class CredentialCachingProjectRepository(ProjectRepository):
    """A :class:`ProjectRepository` that keeps a :class:`CredentialCache` honest.

    Every write that can change or revoke a credential passes through here, so the cache
    entries of the project it touched are dropped right after the write succeeds: a
    service cannot forget to, and an embedder who wires the services with this
    repository gets the same guarantee. Reads pass straight through; the cache itself is
    filled by the authenticator, the only reader that needs it.
    """

    __slots__ = ("_cache", "_inner")

    def __init__(self, inner: ProjectRepository, cache: CredentialCache) -> None:
        self._inner = inner
        self._cache = cache

    @property
    def cache(self) -> CredentialCache:
        return self._cache

    async def add(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        await self._inner.add(project, audit=audit)

    async def get(self, project_id: str) -> Project | None:
        return await self._inner.get(project_id)

    async def get_by_api_key(self, api_key: str) -> Project | None:
        return await self._inner.get_by_api_key(api_key)

    async def list_page(
        self, *, org_id: str | None, after: str | None, limit: int
    ) -> list[Project]:
        return await self._inner.list_page(org_id=org_id, after=after, limit=limit)

    async def update(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        try:
            await self._inner.update(project, audit=audit)
        finally:
            # Dropped even when the write failed or timed out: the write may have landed
            # (a timeout says nothing either way), and a miss only costs one lookup.
            self._cache.forget_project(project.id)

    async def change(
        self,
        project_id: str,
        change: Callable[[Project], Project],
        *,
        audit: AuditRecord | None = None,
    ) -> Project | None:
        try:
            return await self._inner.change(project_id, change, audit=audit)
        finally:
            self._cache.forget_project(project_id)  # as in update

    async def touch_keys(self, used: Mapping[str, datetime]) -> None:
        # No credential changes: the cached entries stay (their project's
        # key_last_used_at may lag, which authentication never reads).
        await self._inner.touch_keys(used)

    async def ids_of_organization(self, org_id: str) -> list[str]:
        return await self._inner.ids_of_organization(org_id)

    async def delete_for_organization(self, org_id: str, at: datetime) -> list[str]:
        try:
            deleted = await self._inner.delete_for_organization(org_id, at)
        except BaseException:
            # Which projects went is unknown: drop every cached key of the organization.
            self._cache.forget_organization(org_id)
            raise
        for project_id in deleted:
            self._cache.forget_project(project_id)
        return deleted


class CredentialCachingApiKeyRepository(ApiKeyRepository):
    """An :class:`ApiKeyRepository` that drops the cached credentials of a key's project
    on every write (a revoked key stops at once on this process)."""

    def __init__(self, inner: ApiKeyRepository, cache: CredentialCache) -> None:
        self._inner = inner
        self._cache = cache

    @property
    def cache(self) -> CredentialCache:
        return self._cache

    async def add(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        await self._inner.add(key, audit=audit)

    async def get(self, project_id: str, key_id: str) -> ApiKey | None:
        return await self._inner.get(project_id, key_id)

    async def get_by_api_key(self, api_key: str) -> ApiKey | None:
        return await self._inner.get_by_api_key(api_key)

    async def list_for_project(self, project_id: str) -> list[ApiKey]:
        return await self._inner.list_for_project(project_id)

    async def list_page(self, project_id: str, *, after: str | None, limit: int) -> list[ApiKey]:
        return await self._inner.list_page(project_id, after=after, limit=limit)

    async def update(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        try:
            await self._inner.update(key, audit=audit)
        finally:
            self._cache.forget_project(key.project_id)

    async def revoke(
        self, project_id: str, key_id: str, at: datetime, *, audit: AuditRecord | None = None
    ) -> bool:
        try:
            return await self._inner.revoke(project_id, key_id, at, audit=audit)
        finally:
            self._cache.forget_project(project_id)

    async def touch(self, last_used: Mapping[str, datetime]) -> None:
        await self._inner.touch(last_used)
