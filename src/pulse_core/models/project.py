from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, get_args

import msgspec

from pulse_core.models.redaction import redacted_repr

RatePeriod = Literal["second", "minute"]
RATE_PERIODS: Final[tuple[RatePeriod, ...]] = get_args(RatePeriod)


class RateLimitSettings(msgspec.Struct, frozen=True, kw_only=True):
    """``requests`` per ``period`` sustained, with up to ``burst`` at once."""

    requests: int
    period: RatePeriod = "second"
    burst: int | None = None

    @property
    def period_seconds(self) -> int:
        return 1 if self.period == "second" else 60


class ProjectSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Per-project knobs; ``None`` means the platform default applies."""

    webhook_url: str | None = None
    rate_limit: RateLimitSettings | None = None
    token_ttl_default_seconds: int | None = None
    token_ttl_max_seconds: int | None = None


class PreviousCredential(msgspec.Struct, frozen=True, kw_only=True):
    """The key pair replaced by a rotation, honoured until ``expires_at``."""

    api_key: str
    secret_hash: str
    expires_at: datetime

    def __repr__(self) -> str:
        return redacted_repr(self, ("secret_hash",))


class Project(msgspec.Struct, frozen=True, kw_only=True):
    """An application of an organization, with its API credentials.

    Only ``secret_hash`` = HMAC-SHA256(pepper, secret) is ever stored; the secret itself is
    shown once, when it is issued. ``key_last_used_at`` is when the current pair was last
    used (written in batches, :meth:`ProjectRepository.touch_keys`); a rotation makes a
    new pair, so it starts again from None.
    """

    id: str
    org_id: str
    name: str
    settings: ProjectSettings = ProjectSettings()
    api_key: str
    secret_hash: str
    previous: PreviousCredential | None = None
    key_last_used_at: datetime | None = None
    is_deleted: bool = False
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    def __repr__(self) -> str:
        return redacted_repr(self, ("secret_hash",))
