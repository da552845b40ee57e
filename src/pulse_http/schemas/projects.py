from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from pulse_core.models import Project, ProjectSettings, RateLimitSettings
from pulse_core.services import ProjectPatch


class RateLimitBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    requests: int
    period: Literal["second", "minute"] = "second"
    burst: int | None = None

    def to_domain(self) -> RateLimitSettings:
        return RateLimitSettings(requests=self.requests, period=self.period, burst=self.burst)


class CreateProject(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    org_id: str
    name: str
    webhook_url: str | None = None
    rate_limit: RateLimitBody | None = None
    token_ttl_default_seconds: int | None = None
    token_ttl_max_seconds: int | None = None

    def settings(self) -> ProjectSettings:
        return ProjectSettings(
            webhook_url=self.webhook_url,
            rate_limit=self.rate_limit.to_domain() if self.rate_limit else None,
            token_ttl_default_seconds=self.token_ttl_default_seconds,
            token_ttl_max_seconds=self.token_ttl_max_seconds,
        )


class UpdateProject(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Partial update; ``null`` resets a setting to the platform default."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    webhook_url: str | msgspec.UnsetType | None = msgspec.UNSET
    rate_limit: RateLimitBody | msgspec.UnsetType | None = msgspec.UNSET
    token_ttl_default_seconds: int | msgspec.UnsetType | None = msgspec.UNSET
    token_ttl_max_seconds: int | msgspec.UnsetType | None = msgspec.UNSET

    def to_patch(self) -> ProjectPatch:
        rate_limit = self.rate_limit
        return ProjectPatch(
            name=self.name,
            webhook_url=self.webhook_url,
            rate_limit=rate_limit.to_domain()
            if isinstance(rate_limit, RateLimitBody)
            else rate_limit,
            token_ttl_default_seconds=self.token_ttl_default_seconds,
            token_ttl_max_seconds=self.token_ttl_max_seconds,
        )


class RegenerateKeys(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    grace_period_seconds: int = 0


class RateLimitOut(msgspec.Struct, frozen=True, kw_only=True):
    requests: int
    period: str
    burst: int | None


class ProjectOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    org_id: str
    name: str
    api_key: str
    webhook_url: str | None
    rate_limit: RateLimitOut | None
    token_ttl_default_seconds: int | None
    token_ttl_max_seconds: int | None
    previous_key_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        settings = project.settings
        rate = settings.rate_limit
        return cls(
            id=project.id,
            org_id=project.org_id,
            name=project.name,
            api_key=project.api_key,
            webhook_url=settings.webhook_url,
            rate_limit=RateLimitOut(requests=rate.requests, period=rate.period, burst=rate.burst)
            if rate
            else None,
            token_ttl_default_seconds=settings.token_ttl_default_seconds,
            token_ttl_max_seconds=settings.token_ttl_max_seconds,
            previous_key_expires_at=project.previous.expires_at if project.previous else None,
            created_at=project.created_at,
            updated_at=project.updated_at,
        )


class ProjectCreated(ProjectOut, frozen=True, kw_only=True):
    """Returned once, at creation: the only time ``api_secret`` is shown."""

    api_secret: str


class ProjectList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ProjectOut]
    next_cursor: str | None


class KeysRegenerated(msgspec.Struct, frozen=True, kw_only=True):
    api_key: str
    api_secret: str
    previous_key_expires_at: datetime | None
