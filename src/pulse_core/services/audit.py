"""The audit log: building records for the writes that carry them, and reading them.

A record names the actor (from the principal or the project key), the action
(``<resource>.<verb>``), the resource and its organization, and where the request came
from. Only ids, names and emails go in: never a secret, password, invitation token or
key secret, because no caller ever hands one to :func:`audit_record`.
"""

from __future__ import annotations

from datetime import datetime

from pulse_core import ids
from pulse_core.errors import InvalidInput, NotFound
from pulse_core.models import ManagementPrincipal, Page
from pulse_core.models.audit import Actor, AuditRecord, Caller, ClientInfo
from pulse_core.ports.audit import AuditRepository
from pulse_core.ports.clock import Clock
from pulse_core.services import pagination, validation

_MAX_ACTION = 64


def audit_record(
    clock: Clock,
    actor: Actor,
    action: str,
    *,
    resource_type: str,
    resource_id: str | None,
    org_id: str | None,
    client: ClientInfo | None = None,
) -> AuditRecord:
    """A new record of ``action`` by ``actor``, now."""
    now = clock.now()
    client = client or ClientInfo()
    return AuditRecord(
        id=ids.new_id(ids.AUDIT, now_ms=ids.ms_of(now)),
        at=now,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        org_id=org_id,
        ip=client.ip,
        user_agent=client.user_agent,
        request_id=client.request_id,
    )


def by(
    clock: Clock,
    caller: ManagementPrincipal | Caller,
    action: str,
    *,
    resource_type: str,
    resource_id: str | None,
    org_id: str | None,
) -> AuditRecord:
    """A record of ``action`` by a management principal or another caller."""
    if isinstance(caller, ManagementPrincipal):
        caller = caller.caller()
    return audit_record(
        clock,
        caller.actor,
        action,
        resource_type=resource_type,
        resource_id=resource_id,
        org_id=org_id,
        client=caller.client,
    )


class AuditService:
    def __init__(self, records: AuditRepository) -> None:
        self._records = records

    async def list(
        self,
        actor: ManagementPrincipal,
        org_id: str,
        *,
        action: str | None = None,
        resource_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[AuditRecord]:
        """The organization's records, newest first (members read it too)."""
        if not ids.is_valid_id(org_id, ids.ORGANIZATION) or not actor.can_read(org_id):
            raise NotFound("organization not found")
        size = pagination.check_limit(limit)
        before = pagination.check_cursor(cursor, ids.AUDIT)
        if action is not None and (not action or len(action) > _MAX_ACTION):
            raise InvalidInput(f"action must be 1 to {_MAX_ACTION} characters", field="action")
        if since is not None:
            validation.aware(since, "since")
        rows = await self._records.list_page(
            org_id,
            action=action,
            resource_id=resource_id,
            since=since,
            before=before,
            limit=size + 1,
        )
        return pagination.page_of(rows, size, lambda r: r.id)
