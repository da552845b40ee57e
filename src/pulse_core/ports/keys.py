"""API keys of projects beyond their first (the rules of
:mod:`pulse_core.ports.repositories` apply, ``audit`` included)."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from datetime import datetime

from pulse_core.models.audit import AuditRecord
from pulse_core.models.keys import ApiKey


class ApiKeyRepository(abc.ABC):
    """Unique rule: ``api_key`` (across every project, revoked keys included; the
    projects' own first keys live on the project and are generated apart, so they never
    collide)."""

    @abc.abstractmethod
    async def add(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        """Store ``key``; ``Conflict`` if its ``api_key`` exists."""

    @abc.abstractmethod
    async def get(self, project_id: str, key_id: str) -> ApiKey | None:
        """The key of ``project_id`` (revoked ones too), or None."""

    @abc.abstractmethod
    async def get_by_api_key(self, api_key: str) -> ApiKey | None:
        """The key whose ``api_key`` is ``api_key``, revoked or expired ones too (the
        caller judges), whichever project: authentication only."""

    @abc.abstractmethod
    async def list_for_project(self, project_id: str) -> list[ApiKey]:
        """The project's keys (revoked ones too), oldest first."""

    async def list_page(self, project_id: str, *, after: str | None, limit: int) -> list[ApiKey]:
        """Up to ``limit`` keys of the project (revoked and expired ones too) whose id is
        greater than ``after`` (from the first when None), by id: oldest first. An
        unknown project, or ``after`` past its last key, is an empty list.

        This default reads :meth:`list_for_project` whole; adapters answer from their
        ``(project_id, id)`` index instead."""
        keys = await self.list_for_project(project_id)
        return [k for k in keys if after is None or k.id > after][:limit]

    @abc.abstractmethod
    async def update(self, key: ApiKey, *, audit: AuditRecord | None = None) -> None:
        """Replace the key with the same project and id; ``NotFound`` if absent."""

    @abc.abstractmethod
    async def revoke(
        self, project_id: str, key_id: str, at: datetime, *, audit: AuditRecord | None = None
    ) -> bool:
        """Set the project's key's ``revoked_at`` to ``at`` unless it is revoked already,
        and nothing else (a ``touch`` since the caller read it stays); whether it was
        revoked now. Two revocations at once: one is True, the other False and stores no
        record. An unknown key, or another project's, is False too."""

    @abc.abstractmethod
    async def touch(self, last_used: Mapping[str, datetime]) -> None:
        """Set ``last_used_at`` of each key id to the given time unless it holds a later
        one already (batched by the caller: never one write per request)."""
