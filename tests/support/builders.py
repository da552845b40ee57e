"""Domain objects for tests, with every required field filled in."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from pulse_core import ids
from pulse_core.crypto import credentials
from pulse_core.models import (
    Organization,
    PreviousCredential,
    Project,
    ProjectSettings,
    RateLimitSettings,
    UsageRecord,
    User,
)
from pulse_core.models.audit import Actor, AuditRecord
from pulse_core.models.keys import ApiKey, Scope
from pulse_core.models.usage import Metric, OpenConnection
from pulse_core.models.user import Session, UserRole

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
# Prefixes of the access objects' ids (their models name them; pulse_core.ids has no
# constants for them yet).
SESSION_PREFIX, API_KEY_PREFIX, AUDIT_PREFIX = ids.SESSION, ids.API_KEY, ids.AUDIT
# One more millisecond per object built, so ids sort in the order the test built them.
_built = itertools.count()


def _stamp(at: datetime) -> int:
    return ids.ms_of(at) + next(_built)


def org(*, email: str | None = None, name: str = "Acme", at: datetime = T0) -> Organization:
    org_id = ids.new_id(ids.ORGANIZATION, now_ms=_stamp(at))
    return Organization(
        id=org_id,
        name=name,
        admin_email=email or f"{org_id.lower()}@example.com",
        created_at=at,
        updated_at=at,
    )


def project(
    org_id: str,
    *,
    api_key: str | None = None,
    previous_key: str | None = None,
    at: datetime = T0,
) -> Project:
    previous = None
    if previous_key is not None:
        previous = PreviousCredential(
            api_key=previous_key, secret_hash="ab" * 32, expires_at=at + timedelta(hours=1)
        )
    return Project(
        id=ids.new_id(ids.PROJECT, now_ms=_stamp(at)),
        org_id=org_id,
        name="Video app",
        settings=ProjectSettings(
            webhook_url="https://hooks.example.com/pulse",
            rate_limit=RateLimitSettings(requests=10, period="second", burst=20),
            token_ttl_default_seconds=600,
            token_ttl_max_seconds=7200,
        ),
        api_key=api_key or credentials.generate_api_key(),
        secret_hash="cd" * 32,
        previous=previous,
        created_at=at,
        updated_at=at,
    )


def user(
    org_id: str | None,
    *,
    email: str | None = None,
    role: UserRole = "owner",
    at: datetime = T0,
) -> User:
    """A signed-up user (a password hash, no pending invitation); ``org_id`` None with
    ``role="admin"`` is a platform admin."""
    user_id = ids.new_id(ids.USER, now_ms=_stamp(at))
    return User(
        id=user_id,
        email=email or f"{user_id.lower()}@example.com",
        org_id=org_id,
        name="Ada",
        role=role,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        created_at=at,
        updated_at=at,
    )


def session(
    user_id: str,
    org_id: str | None,
    *,
    role: UserRole = "owner",
    at: datetime = T0,
    ttl: timedelta = timedelta(hours=12),
) -> Session:
    """A session of ``user_id`` created at ``at``, live until ``at + ttl``."""
    return Session(
        id=ids.new_id(SESSION_PREFIX, now_ms=_stamp(at)),
        user_id=user_id,
        org_id=org_id,
        role=role,
        created_at=at,
        expires_at=at + ttl,
    )


def api_key(
    project_id: str,
    org_id: str,
    *,
    name: str = "backend",
    api_key: str | None = None,
    scopes: tuple[Scope, ...] = (),
    at: datetime = T0,
) -> ApiKey:
    """A key pair of ``project_id``; its ``api_key`` is new unless given."""
    return ApiKey(
        id=ids.new_id(API_KEY_PREFIX, now_ms=_stamp(at)),
        project_id=project_id,
        org_id=org_id,
        name=name,
        api_key=api_key or credentials.generate_api_key(),
        secret_hash="ef" * 32,
        scopes=scopes,
        created_at=at,
    )


def audit_record(
    org_id: str | None,
    *,
    action: str = "project.updated",
    resource_id: str | None = None,
    at: datetime = T0,
    record_id: str | None = None,
) -> AuditRecord:
    """A record of a user's action on ``resource_id`` (a resource of ``action``'s type);
    its id is new, stamped with ``at``, unless ``record_id`` is given."""
    return AuditRecord(
        id=record_id or ids.new_id(AUDIT_PREFIX, now_ms=_stamp(at)),
        at=at,
        actor=Actor(type="user", id="usr_actor", email="actor@acme.test"),
        action=action,
        resource_type=action.partition(".")[0],
        resource_id=resource_id,
        org_id=org_id,
        ip="203.0.113.7",
        user_agent="pytest",
        request_id="req_1",
    )


def usage(
    project_id: str,
    *,
    at: datetime = T0,
    metric: Metric = "tokens_created",
    quantity: int = 1,
    kind: str = "",
    record_id: str | None = None,
) -> UsageRecord:
    """A usage record; its id is new unless ``record_id`` is given (a repeat's id)."""
    return UsageRecord(
        id=record_id or ids.new_id(ids.USAGE, now_ms=_stamp(at)),
        project_id=project_id,
        metric=metric,
        quantity=quantity,
        timestamp=at,
        kind=kind,
    )


def connection(
    project_id: str,
    *,
    room: str = "lk_room",
    at: datetime = T0,
    participant_sid: str | None = None,
    identity: str = "ada",
) -> OpenConnection:
    """An open connection of ``room``; its sid is new unless given."""
    return OpenConnection(
        project_id=project_id,
        participant_sid=participant_sid or f"PA_{next(_built)}",
        livekit_room=room,
        identity=identity,
        joined_at=at,
    )
