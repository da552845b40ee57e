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
from pulse_core.models.usage import Metric, OpenConnection

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
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


def user(org_id: str, *, email: str | None = None, at: datetime = T0) -> User:
    user_id = ids.new_id(ids.USER, now_ms=_stamp(at))
    return User(
        id=user_id,
        email=email or f"{user_id.lower()}@example.com",
        org_id=org_id,
        name="Ada",
        role="owner",
        created_at=at,
        updated_at=at,
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
