"""The in-memory audit log (:mod:`pulse_core.ports.audit`).

The in-memory repositories whose writes take ``audit`` share one of these (their
``audit_log`` keyword) and call :meth:`InMemoryAuditRepository.append` in the same
synchronous step as the change, after it succeeded: with nothing awaited in between, no
other task can ever see the change without its record, which is this backend's "same unit
of work".
"""

from __future__ import annotations

from datetime import datetime

from pulse_core.models.audit import AuditRecord
from pulse_core.ports.audit import AuditRepository


class InMemoryAuditRepository(AuditRepository):
    def __init__(self) -> None:
        self._by_id: dict[str, AuditRecord] = {}

    def append(self, record: AuditRecord) -> None:
        """Store ``record`` unless its id is stored already. Synchronous on purpose: the
        repositories call it inside their own atomic write (see the module docstring)."""
        self._by_id.setdefault(record.id, record)

    async def add(self, record: AuditRecord) -> None:
        self.append(record)

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
        page = sorted(
            (
                r
                for r in self._by_id.values()
                # `==` and not `is`: None selects the platform's own records exactly.
                if r.org_id == org_id
                and (action is None or r.action == action)
                and (resource_id is None or r.resource_id == resource_id)
                and (since is None or r.at >= since)
                and (before is None or r.id < before)
            ),
            key=lambda r: r.id,
            reverse=True,
        )
        return page[: max(limit, 0)]

    async def purge_before(self, at: datetime) -> int:
        old = [r.id for r in self._by_id.values() if r.at < at]
        for record_id in old:
            del self._by_id[record_id]
        return len(old)
