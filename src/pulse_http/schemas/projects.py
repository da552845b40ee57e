from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from pulse_core.models import Project, ProjectSettings, RateLimitSettings
from pulse_core.services import ProjectPatch
from pulse_http.schemas import NEXT_CURSOR, doc

_NAME = doc("The project's name.", "App")
_WEBHOOK_URL = doc(
    "A URL of the project's backend (`http` or `https`); null: none. Webhook deliveries "
    "go to the project's webhook endpoints (`/v1/webhooks/endpoints`).",
    "https://app.example.com/hooks/pulse",
)
_RATE_LIMIT = doc(
    "The project's own rate limit, for each bucket (`api`, `tokens`); null: the platform's "
    "default (`RATE_LIMIT_REQUESTS` per `RATE_LIMIT_PERIOD`, burst `RATE_LIMIT_BURST`)."
)
_TTL_DEFAULT = doc(
    "The lifetime of a token minted without `ttl_seconds`: 60 up to "
    "`token_ttl_max_seconds`; null: 3600 (capped at the maximum).",
    3600,
)
_TTL_MAX = doc(
    "The longest lifetime a token of the project may ask for: 60 to 86400; null: 86400.",
    14400,
)
_API_KEY = doc(
    "The project's first API key (`X-Pulse-Key`). Its secret is never shown again.",
    "pulse_key_YSkf1bv3LdLtJRZYidvtIqph4UXkeH",
)
_SECRET = doc(
    "The key's secret (`X-Pulse-Secret`): shown this once; Pulse keeps only a peppered hash.",
    "pulse_secret_tRI2ejszOscuwGjB25t4DndsI05EVaYElzmg7Lcx0KPQ3w",
)
_PREVIOUS_EXPIRES = doc(
    "Until when the previous key pair keeps working after a rotation with a grace period; "
    "null: it no longer works.",
    "2026-12-02T03:00:00Z",
)


class RateLimitBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A rate limit: `requests` per `period`, with bursts of up to `burst`."""

    requests: Annotated[int, doc("Requests allowed per period (1 to 1000000), sustained.", 50)]
    period: Annotated[Literal["second", "minute"], doc("The period of `requests`.", "second")] = (
        "second"
    )
    burst: Annotated[
        int | None,
        doc("Requests allowed at once (1 to 1000000); null: `requests`.", 100),
    ] = None

    def to_domain(self) -> RateLimitSettings:
        return RateLimitSettings(requests=self.requests, period=self.period, burst=self.burst)


class CreateProject(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new project of an organization, with its settings."""

    org_id: Annotated[str, doc("The organization it belongs to.", "org_01M8T76XB3Y3Z5PJYJH5T1ZC29")]
    name: Annotated[str, _NAME]
    webhook_url: Annotated[str | None, _WEBHOOK_URL] = None
    rate_limit: Annotated[RateLimitBody | None, _RATE_LIMIT] = None
    token_ttl_default_seconds: Annotated[int | None, _TTL_DEFAULT] = None
    token_ttl_max_seconds: Annotated[int | None, _TTL_MAX] = None

    def settings(self) -> ProjectSettings:
        return ProjectSettings(
            webhook_url=self.webhook_url,
            rate_limit=self.rate_limit.to_domain() if self.rate_limit else None,
            token_ttl_default_seconds=self.token_ttl_default_seconds,
            token_ttl_max_seconds=self.token_ttl_max_seconds,
        )


class UpdateProject(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A partial update: fields left out keep their value; `null` resets a setting to the
    platform default."""

    name: Annotated[str | msgspec.UnsetType, _NAME] = msgspec.UNSET
    webhook_url: Annotated[str | msgspec.UnsetType | None, _WEBHOOK_URL] = msgspec.UNSET
    rate_limit: Annotated[RateLimitBody | msgspec.UnsetType | None, _RATE_LIMIT] = msgspec.UNSET
    token_ttl_default_seconds: Annotated[int | msgspec.UnsetType | None, _TTL_DEFAULT] = (
        msgspec.UNSET
    )
    token_ttl_max_seconds: Annotated[int | msgspec.UnsetType | None, _TTL_MAX] = msgspec.UNSET

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
    """How the first key pair is rotated."""

    grace_period_seconds: Annotated[
        int,
        doc(
            "How long the previous key and secret keep working: 0 (the default: revoked at "
            "once) to 86400.",
            3600,
        ),
    ] = 0


class RateLimitOut(msgspec.Struct, frozen=True, kw_only=True):
    """The project's own rate limit."""

    requests: Annotated[int, doc("Requests allowed per period, sustained.", 50)]
    period: Annotated[str, doc("`second` or `minute`.", "second")]
    burst: Annotated[int | None, doc("Requests allowed at once; null: `requests`.", 100)]


class ProjectOut(msgspec.Struct, frozen=True, kw_only=True):
    """A project: one customer application, with its keys and settings."""

    id: Annotated[str, doc("The project's id.", "prj_01M8T76XBA01F2Z16J4GCEBSZ1")]
    org_id: Annotated[str, doc("The organization it belongs to.", "org_01M8T76XB3Y3Z5PJYJH5T1ZC29")]
    name: Annotated[str, _NAME]
    api_key: Annotated[str, _API_KEY]
    webhook_url: Annotated[str | None, _WEBHOOK_URL]
    rate_limit: Annotated[RateLimitOut | None, _RATE_LIMIT]
    token_ttl_default_seconds: Annotated[int | None, _TTL_DEFAULT]
    token_ttl_max_seconds: Annotated[int | None, _TTL_MAX]
    previous_key_expires_at: Annotated[datetime | None, _PREVIOUS_EXPIRES]
    created_at: Annotated[datetime, doc("When it was created.", "2026-12-02T01:51:51.658449Z")]
    updated_at: Annotated[datetime, doc("When it last changed.", "2026-12-02T01:51:51.658449Z")]

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
    """A new project, with its first key's secret: the only time `api_secret` is shown."""

    api_secret: Annotated[str, _SECRET]


class ProjectList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of projects."""

    items: Annotated[list[ProjectOut], doc("This page's projects.")]
    next_cursor: Annotated[str | None, NEXT_CURSOR]


class KeysRegenerated(msgspec.Struct, frozen=True, kw_only=True):
    """The project's new first key pair."""

    api_key: Annotated[str, doc("The new key.", "pulse_key_Wq0c7sXYr3aVb8nJt2kLm5pQe9dHfG")]
    api_secret: Annotated[str, _SECRET]
    previous_key_expires_at: Annotated[datetime | None, _PREVIOUS_EXPIRES]
