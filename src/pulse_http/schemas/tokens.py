from __future__ import annotations

from datetime import datetime

import msgspec

from pulse_core.models.token import (
    DEFAULT_GRANTS,
    MintedToken,
    TokenRequest,
    TokenValidation,
    TrackSource,
    VideoGrants,
)


class GrantsBody(VideoGrants, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """LiveKit's video grant in snake_case; omitted fields keep their safe defaults.

    The server-wide grants are accepted here only to be refused by name (400
    ``grants.room_list``...) instead of as unknown fields.
    """

    # The domain's own grants (a subclass, so a grant added to VideoGrants is accepted here
    # without an edit) that also refuses unknown fields; the docstring above is OpenAPI's.

    def to_domain(self) -> VideoGrants:
        return self  # already a VideoGrants, and as immutable


class CreateToken(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    identity: str
    room: str
    name: str | None = None
    metadata: str | None = None
    attributes: dict[str, str] | None = None
    ttl_seconds: int | None = None
    grants: GrantsBody | None = None

    def to_domain(self) -> TokenRequest:
        return TokenRequest(
            identity=self.identity,
            room=self.room,
            name=self.name,
            metadata=self.metadata,
            attributes=self.attributes or {},
            ttl_seconds=self.ttl_seconds,
            grants=self.grants.to_domain() if self.grants is not None else DEFAULT_GRANTS,
        )


class TokenCreated(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    identity: str
    room: str
    expires_at: datetime
    livekit_url: str

    @classmethod
    def of(cls, minted: MintedToken) -> TokenCreated:
        """The answer to a minted token, on either path (Litestar's handler and the fast
        path): the caller's room, never the namespaced one."""
        return cls(
            token=minted.token,
            identity=minted.identity,
            room=minted.room,
            expires_at=minted.expires_at,
            livekit_url=minted.livekit_url,
        )


class ValidateToken(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    token: str


class GrantsOut(msgspec.Struct, frozen=True, kw_only=True):
    """The room-confined grants a valid token carries (refused ones are never true)."""

    room_join: bool
    can_publish: bool
    can_subscribe: bool
    can_publish_data: bool
    can_publish_sources: list[TrackSource] | None
    can_update_own_metadata: bool
    can_subscribe_metrics: bool
    hidden: bool
    room_admin: bool
    destination_room: str | None

    @classmethod
    def of(cls, grants: VideoGrants) -> GrantsOut:
        # Field by field, by name: the refused grants are not fields here, so they are left.
        return msgspec.convert(grants, cls, from_attributes=True)


class TokenValidity(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``{valid: true, identity, room, expires_at, grants}`` or ``{valid: false, reason}``."""

    valid: bool
    reason: str | None = None
    identity: str | None = None
    room: str | None = None
    expires_at: datetime | None = None
    grants: GrantsOut | None = None

    @classmethod
    def of(cls, verdict: TokenValidation) -> TokenValidity:
        if not verdict.valid:
            return cls(valid=False, reason=verdict.reason)
        return cls(
            valid=True,
            identity=verdict.identity,
            room=verdict.room,
            expires_at=verdict.expires_at,
            grants=GrantsOut.of(verdict.grants) if verdict.grants is not None else None,
        )
