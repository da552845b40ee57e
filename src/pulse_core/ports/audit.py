"""The audit log port (API.md, "Audit log")."""

from __future__ import annotations

import abc
from datetime import datetime

from pulse_core.models.audit import AuditRecord


class AuditRepository(abc.ABC):
    """Audit records, kept ``AUDIT_RETENTION_DAYS``. Records arrive with the writes they
    record (the ``audit`` argument of the repositories' writes) or, for what changes
    nothing else (a failed sign-in), through :meth:`add`."""

    @abc.abstractmethod
    async def add(self, record: AuditRecord) -> None:
        """Store a record on its own; a record whose id is stored already is ignored."""

    @abc.abstractmethod
    async def list_page(
        self,
        org_id: str | None,
        *,
        action: str | None = None,
        resource_id: str | None = None,
        since: datetime | None = None,
        before: str | None = None,
        limit: int,
    ) -> list[AuditRecord]:
        """Records of ``org_id`` (None: the platform's own, with no organization), newest
        first (id descending), filtered by whichever is given (``at >= since``), with
        ids below the cursor ``before``."""

    @abc.abstractmethod
    async def purge_before(self, at: datetime) -> int:
        """Delete records with ``at`` before ``at``; how many went."""

    async def settle(self) -> int:
        """Move records still carried inside written documents into the log (after a
        crash between the two steps); how many moved. Backends that write both in one
        transaction carry nothing: this default does nothing."""
        return 0
