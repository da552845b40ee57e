"""Bodies of the users, sign-in, keys and audit-log routes (API.md, "Users and sign-in",
"Projects" keys, "Audit log"). Secrets appear only in the answers that create them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from pulse_core.models.audit import AuditRecord
from pulse_core.models.user import User
from pulse_core.services.keys import KeyView

_PASSWORD = msgspec.Meta(description="12 to 256 characters; never stored, only its hash.")


class InviteUser(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: str
    role: Annotated[str, msgspec.Meta(description="owner or member")]
    name: str = ""


class UpdateUser(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: str | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET


class UserOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    org_id: str | None
    email: str
    name: str
    role: str
    status: Annotated[str, msgspec.Meta(description="invited until the invitation is accepted")]
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            org_id=user.org_id,
            email=user.email,
            name=user.name,
            role=user.role,
            status="active" if user.password_hash is not None else "invited",
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class UserInvited(UserOut, frozen=True, kw_only=True):
    invite_url: Annotated[
        str, msgspec.Meta(description="One-time link, valid 7 days; shown this once.")
    ]


class UserList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[UserOut]
    next_cursor: str | None


class AcceptInvite(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    token: str
    password: Annotated[str, _PASSWORD]


class SignIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: str
    password: str


class SignedInOut(msgspec.Struct, frozen=True, kw_only=True):
    access_token: Annotated[str, msgspec.Meta(description="A management JWT (Bearer).")]
    expires_at: datetime
    user: UserOut


class CreateKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    scopes: Annotated[
        list[str] | None, msgspec.Meta(description="Omitted or empty: every scope.")
    ] = None
    expires_at: datetime | None = None


class KeyOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    api_key: str
    scopes: list[str]
    expires_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: KeyView) -> KeyOut:
        return cls(
            id=key.id,
            name=key.name,
            api_key=key.api_key,
            scopes=list(key.scopes),
            expires_at=key.expires_at,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
        )


class KeyCreated(KeyOut, frozen=True, kw_only=True):
    api_secret: Annotated[str, msgspec.Meta(description="Shown this once.")]


class KeyList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[KeyOut]


class ActorOut(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    id: str
    email: str | None = None


class AuditRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    at: datetime
    actor: ActorOut
    action: str
    resource_type: str
    resource_id: str | None
    org_id: str | None
    ip: str | None
    user_agent: str | None
    request_id: str | None

    @classmethod
    def of(cls, record: AuditRecord) -> AuditRecordOut:
        return cls(
            id=record.id,
            at=record.at,
            actor=ActorOut(type=record.actor.type, id=record.actor.id, email=record.actor.email),
            action=record.action,
            resource_type=record.resource_type,
            resource_id=record.resource_id,
            org_id=record.org_id,
            ip=record.ip,
            user_agent=record.user_agent,
            request_id=record.request_id,
        )


class AuditList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AuditRecordOut]
    next_cursor: str | None
