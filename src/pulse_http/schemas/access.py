"""Bodies of the users, sign-in, keys and audit-log routes (API.md, "Users and sign-in",
"Projects" keys, "Audit log"). Secrets appear only in the answers that create them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from pulse_core.models.audit import ActorType, AuditRecord
from pulse_core.models.user import User, UserRole
from pulse_core.services.keys import KeyView
from pulse_http.schemas import NEXT_CURSOR, doc

_PASSWORD = doc("12 to 256 characters; never stored, only its hash.", "correct horse battery")
_EMAIL = doc("The user's email address, their sign-in name.", "bob@acme.example")
_USER_NAME = doc("The user's name; may be empty.", "Bob")
_ROLE = doc(
    "`owner` (manages the organization) or `member` (reads it); `admin` is a platform operator.",
    "member",
)
_KEY = doc("The key (`X-Pulse-Key`).", "pulse_key_yKKTMgrk0B8FkdujYOBaml6j2vQtTV")
_SCOPES = doc(
    "What the key may do: `tokens:create`, `tokens:validate`, `rooms:read`, `rooms:write`, "
    "`media:read`, `media:write`, `webhooks:read`, `webhooks:write`, `usage:read`. "
    "Empty: every scope.",
    ["tokens:create", "rooms:read"],
)
_AT = "2026-12-02T01:51:51.717556Z"


class InviteUser(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Whom to invite, with which role."""

    email: Annotated[str, _EMAIL]
    role: Annotated[str, doc("`owner` or `member`.", "member")]
    name: Annotated[str, _USER_NAME] = ""


class UpdateUser(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Changes to a user; fields left out keep their value."""

    role: Annotated[
        str | msgspec.UnsetType,
        doc("`owner` or `member`; a change signs the user out everywhere.", "owner"),
    ] = msgspec.UNSET
    name: Annotated[str | msgspec.UnsetType, _USER_NAME] = msgspec.UNSET


class UserOut(msgspec.Struct, frozen=True, kw_only=True):
    """A person who can sign in to manage an organization (or, for `admin`, every one)."""

    id: Annotated[str, doc("The user's id.", "usr_01M8T76XD97K6P7X6CKMM20R83")]
    org_id: Annotated[
        str | None,
        doc(
            "The user's organization; null for a platform admin.", "org_01M8T76XB3Y3Z5PJYJH5T1ZC29"
        ),
    ]
    email: Annotated[str, _EMAIL]
    name: Annotated[str, _USER_NAME]
    role: Annotated[UserRole, _ROLE]
    status: Annotated[
        Literal["active", "invited"],
        doc("`invited` until the invitation is accepted, then `active`.", "active"),
    ]
    created_at: Annotated[datetime, doc("When the user was invited or created.", _AT)]
    last_login_at: Annotated[
        datetime | None, doc("When the user last signed in; null: never.", _AT)
    ]

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
    """An invited user, with the one-time invitation link."""

    invite_url: Annotated[
        str,
        doc(
            "One-time link, valid 7 days; shown this once. Its `token` query parameter is "
            "what `POST /v1/auth/accept-invite` takes.",
            "https://pulse.example.com/dashboard/accept-invite?token=usr_01M8T76XD97K6P7X6CKMM20R83.27qG0d",
        ),
    ]


class UserList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of users."""

    items: Annotated[list[UserOut], doc("This page's users.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


class AcceptInvite(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An invitation and the password to set."""

    token: Annotated[
        str,
        doc(
            "The invitation link's `token` query parameter.",
            "usr_01M8T76XD97K6P7X6CKMM20R83.27qG0dLdaE7pKGsTjysmMhtio4f4NVIjUakCMT64Y4A",
        ),
    ]
    password: Annotated[str, _PASSWORD]


class SignIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A user's email and password."""

    email: Annotated[str, _EMAIL]
    password: Annotated[str, doc("The user's password.", "correct horse battery")]


class SignedInOut(msgspec.Struct, frozen=True, kw_only=True):
    """A management token for the signed-in user."""

    access_token: Annotated[
        str,
        doc(
            "A management JWT: send it as `Authorization: Bearer <access_token>`.",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3JfMDEifQ.c2ln",
        ),
    ]
    expires_at: Annotated[datetime, doc("When the token expires.", "2026-12-02T13:51:51Z")]
    user: Annotated[UserOut, doc("Who signed in.")]


class CreateKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Another key pair for the project."""

    name: Annotated[str, doc("What the key is for.", "billing-service")]
    scopes: Annotated[list[str] | None, _SCOPES] = None
    expires_at: (
        Annotated[
            datetime,
            msgspec.Meta(
                tz=True,
                description="When the key stops working (a future time, with a time zone); "
                "null: never.",
                examples=["2027-01-01T00:00:00Z"],
            ),
        ]
        | None
    ) = None


class KeyOut(msgspec.Struct, frozen=True, kw_only=True):
    """A key pair of the project (never its secret)."""

    id: Annotated[
        str,
        doc(
            "The key's id (`primary` for the pair made with the project).",
            "key_01M8T76XD5YE0R17ZXTHEPXW5H",
        ),
    ]
    name: Annotated[str, doc("What the key is for.", "billing-service")]
    api_key: Annotated[str, _KEY]
    scopes: Annotated[list[str], _SCOPES]
    expires_at: Annotated[
        datetime | None, doc("When it stops working; null: never.", "2027-01-01T00:00:00Z")
    ]
    created_at: Annotated[datetime, doc("When it was made.", _AT)]
    revoked_at: Annotated[datetime | None, doc("When it was revoked; null: it was not.", _AT)]
    last_used_at: Annotated[
        datetime | None,
        doc("When it was last used (recorded in batches: it may lag a little).", _AT),
    ]

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
    """A new key pair, with its secret: the only time it is shown."""

    api_secret: Annotated[
        str,
        doc(
            "The secret (`X-Pulse-Secret`): shown this once.",
            "pulse_secret_uZSCRTgOOWNJxkFUAODgv1Eqgv09oIBmSNBtl0nf2dbcSW",
        ),
    ]


class KeyList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the project's keys: its first key, then the others oldest first."""

    items: Annotated[
        list[KeyOut],
        doc(
            "This page's keys; a key revoked or expired more than 30 days ago is left out"
            " (the audit log keeps its history)."
        ),
    ]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


class ActorOut(msgspec.Struct, frozen=True, kw_only=True):
    """Who acted."""

    type: Annotated[
        ActorType,
        doc(
            "`user` (signed in), `token` (a management token no session backs), `key` (a "
            "project key) or `system`.",
            "user",
        ),
    ]
    id: Annotated[
        str,
        doc(
            "The user's id, the token's subject, the key's id, or `system`.",
            "usr_01M8T76XD97K6P7X6CKMM20R83",
        ),
    ]
    email: Annotated[str | None, doc("The user's email, for a user.", "bob@acme.example")] = None


class AuditRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    """One audit log entry: who did what to which resource, from where."""

    id: Annotated[str, doc("The entry's id.", "aud_01M8T76XD9CV58E2SGXHR87HRD")]
    at: Annotated[datetime, doc("When it happened.", _AT)]
    actor: Annotated[ActorOut, doc("Who did it.")]
    action: Annotated[
        str,
        doc(
            "`<resource>.<verb>`: `organization.created`, `project.updated`, `key.revoked`, "
            "`user.signed_in`, `user.sign_in_failed`, …",
            "key.revoked",
        ),
    ]
    resource_type: Annotated[str, doc("The kind of resource.", "key")]
    resource_id: Annotated[str | None, doc("The resource's id.", "key_01M8T76XD5YE0R17ZXTHEPXW5H")]
    org_id: Annotated[
        str | None, doc("The organization it happened in.", "org_01M8T76XB3Y3Z5PJYJH5T1ZC29")
    ]
    ip: Annotated[str | None, doc("The client's address.", "203.0.113.7")]
    user_agent: Annotated[str | None, doc("The client's user agent.", "curl/8.5.0")]
    request_id: Annotated[str | None, doc("The request's id.", "9040d8c8eb6eaedd2fc9cbc63cd2d64e")]

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
    """A page of the audit log."""

    items: Annotated[list[AuditRecordOut], doc("This page's entries, newest first.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]
