from __future__ import annotations

from datetime import datetime

import msgspec

from pulse_core.models.token import TokenRequest, TokenValidation, TrackSource, VideoGrants


class GrantsBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """LiveKit's video grant in snake_case; omitted fields keep their safe defaults.

    The server-wide grants are accepted here only to be refused by name (400
    ``grants.room_list``...) instead of as unknown fields.
    """

    room_join: bool = True
    can_publish: bool = True
    can_subscribe: bool = True
    can_publish_data: bool = True
    can_publish_sources: list[TrackSource] | None = None
    can_update_own_metadata: bool = False
    can_subscribe_metrics: bool = False
    hidden: bool = False
    room_admin: bool = False
    destination_room: str | None = None
    room_create: bool = False
    room_list: bool = False
    room_record: bool = False
    ingress_admin: bool = False
    agent: bool = False
    recorder: bool = False
    can_manage_agent_session: bool = False

    def to_domain(self) -> VideoGrants:
        fields = msgspec.structs.asdict(self)
        sources = self.can_publish_sources
        fields["can_publish_sources"] = tuple(sources) if sources is not None else None
        return VideoGrants(**fields)


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
            grants=self.grants.to_domain() if self.grants is not None else VideoGrants(),
        )


class TokenCreated(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    identity: str
    room: str
    expires_at: datetime
    livekit_url: str


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
        sources = grants.can_publish_sources
        return cls(
            room_join=grants.room_join,
            can_publish=grants.can_publish,
            can_subscribe=grants.can_subscribe,
            can_publish_data=grants.can_publish_data,
            can_publish_sources=list(sources) if sources is not None else None,
            can_update_own_metadata=grants.can_update_own_metadata,
            can_subscribe_metrics=grants.can_subscribe_metrics,
            hidden=grants.hidden,
            room_admin=grants.room_admin,
            destination_room=grants.destination_room,
        )


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


