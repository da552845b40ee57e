"""The audit log: who did what to which resource, from where (API.md, "Audit log")."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import msgspec

ActorType = Literal["user", "token", "key", "system"]
#: Kept this many days unless AUDIT_RETENTION_DAYS says otherwise.
DEFAULT_AUDIT_RETENTION_DAYS: Final = 365


class Actor(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who acted: a signed-in ``user`` (its id and email), a management ``token`` that
    no session backs (``pulse admin-token``; its subject), a project ``key`` (its key
    id), or the ``system`` itself."""

    type: ActorType
    id: str
    email: str | None = None


class ClientInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Where a request came from, as the HTTP shell saw it."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """Who made a request and from where: what a write's audit record says of it."""

    actor: Actor
    client: ClientInfo | None = None


SYSTEM: Final = Caller(actor=Actor(type="system", id="system"))


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded action (``aud_…``). ``action`` is ``<resource>.<verb>``
    (``project.created``, ``user.sign_in_failed``...). Never holds a secret, password,
    invitation token or key secret: only ids and names."""

    id: str
    at: datetime
    actor: Actor
    action: str
    resource_type: str
    resource_id: str | None
    org_id: str | None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
