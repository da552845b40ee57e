from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final

import msgspec

from pulse_core.models.token import (
    DEFAULT_GRANTS,
    InvalidTokenReason,
    MintedToken,
    TokenRequest,
    TokenValidation,
    TrackSource,
    VideoGrants,
)
from pulse_core.services.token_claims import REFUSED_GRANTS
from pulse_http.schemas import doc

#: What each grant a project may ask for does (LiveKit's video grant, in snake_case).
GRANTS: Final[Mapping[str, str]] = {
    "room_join": "May join the room (default true).",
    "can_publish": "May publish audio and video tracks (default true).",
    "can_subscribe": "May subscribe to the other participants' tracks (default true).",
    "can_publish_data": "May send data messages (default true).",
    "can_publish_sources": "The only track sources it may publish (`camera`, `microphone`, "
    "`screen_share`, `screen_share_audio`); null (the default): every source. An empty "
    "list is refused (LiveKit would read it as every source).",
    "can_update_own_metadata": "May change its own name, metadata and attributes (default false).",
    "can_subscribe_metrics": "May receive the room's participants' metrics (default false).",
    "hidden": "Invisible to the other participants (default false).",
    "room_admin": "May moderate this one room through LiveKit's RoomService: remove or mute "
    "participants, update metadata (default false). LiveKit checks the room against the "
    "token, so it reaches no other room.",
    "destination_room": "With `room_admin`: the one room of the same project it may forward "
    "or move participants to (a room name of the project).",
}


def _refused(name: str, reason: str) -> dict[str, Any]:
    return {
        "description": f"Refused by Pulse: {reason}. Only `false` (the default) is accepted; "
        f"`true` is a 400 naming `grants.{name}`.",
        "const": False,
        "x-pulse-refused": True,
    }


class GrantsBody(VideoGrants, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """LiveKit's video grant for the token, in snake_case; fields left out keep their safe
    defaults (join, publish, subscribe, send data).

    Every grant is confined to the token's one room. The grants LiveKit does not confine
    to a room (`room_create`, `room_list`, `room_record`, `ingress_admin`, `agent`,
    `recorder`, `can_manage_agent_session`) are refused (400 naming the grant): recording
    goes through `/v1/media/egress`, room administration through `/v1/rooms`."""

    # The domain's own grants (a subclass, so a grant added to VideoGrants is accepted here
    # without an edit) that also refuses unknown fields. Inherited fields cannot carry a
    # Meta: their descriptions are here, and the refused ones are derived from
    # REFUSED_GRANTS (tests/http/test_openapi.py checks that every field has one).
    __openapi_properties__: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        **{name: {"description": text} for name, text in GRANTS.items()},
        **{name: _refused(name, reason) for name, reason in REFUSED_GRANTS.items()},
    }

    def to_domain(self) -> VideoGrants:
        return self  # already a VideoGrants, and as immutable


class CreateToken(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Who the token is for, which room, for how long, with which grants."""

    identity: Annotated[
        str,
        doc(
            "The participant's identity, unique in the room: 1 to 256 bytes of printable "
            "UTF-8, no leading or trailing space.",
            "alice",
        ),
    ]
    room: Annotated[
        str,
        doc(
            "The room, as the project names it: 1 to 128 printable characters, no `/` or "
            "`\\`, no leading or trailing space. Rooms are per project.",
            "demo",
        ),
    ]
    name: Annotated[
        str | None, doc("The participant's display name (at most 256 bytes).", "Alice")
    ] = None
    metadata: Annotated[
        str | None,
        doc("Free text the participant carries (at most 16384 bytes).", '{"seat": 12}'),
    ] = None
    attributes: Annotated[
        dict[str, str] | None,
        doc(
            "Key-value attributes of the participant: at most 64, keys 1 to 128 bytes and not "
            "starting with `lk.`, values at most 4096 bytes, 16384 bytes in all.",
            {"team": "red"},
        ),
    ] = None
    ttl_seconds: Annotated[
        int | None,
        doc(
            "The token's lifetime: 60 up to the project's `token_ttl_max_seconds` (at most "
            "86400). Default: the project's `token_ttl_default_seconds`, else 3600.",
            3600,
        ),
    ] = None
    grants: Annotated[
        GrantsBody | None,
        doc("What the participant may do in the room; default: join, publish, subscribe, data."),
    ] = None

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
    """A LiveKit access token and where to use it."""

    token: Annotated[
        str,
        doc(
            "The LiveKit access token (a JWT, HS256, signed with the LiveKit API secret): "
            "what a LiveKit client SDK connects with.",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJkZXZrZXkiLCJzdWIiOiJhbGljZSJ9.c2ln",
        ),
    ]
    identity: Annotated[str, doc("The participant's identity.", "alice")]
    room: Annotated[str, doc("The room, as the project names it.", "demo")]
    expires_at: Annotated[
        datetime, doc("When the token stops being accepted.", "2026-12-02T02:51:51Z")
    ]
    livekit_url: Annotated[
        str, doc("The LiveKit server the client connects to.", "wss://livekit.example.com")
    ]

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
    """A token to check."""

    token: Annotated[
        str,
        doc(
            "A LiveKit access token (minted by Pulse or by a LiveKit SDK).",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJkZXZrZXkiLCJzdWIiOiJhbGljZSJ9.c2ln",
        ),
    ]


class GrantsOut(msgspec.Struct, frozen=True, kw_only=True):
    """The room-confined grants a valid token carries (refused ones are never true)."""

    room_join: Annotated[bool, doc(GRANTS["room_join"], True)]
    can_publish: Annotated[bool, doc(GRANTS["can_publish"], True)]
    can_subscribe: Annotated[bool, doc(GRANTS["can_subscribe"], True)]
    can_publish_data: Annotated[bool, doc(GRANTS["can_publish_data"], True)]
    can_publish_sources: Annotated[
        list[TrackSource] | None, doc(GRANTS["can_publish_sources"], ["camera", "microphone"])
    ]
    can_update_own_metadata: Annotated[bool, doc(GRANTS["can_update_own_metadata"], False)]
    can_subscribe_metrics: Annotated[bool, doc(GRANTS["can_subscribe_metrics"], False)]
    hidden: Annotated[bool, doc(GRANTS["hidden"], False)]
    room_admin: Annotated[bool, doc(GRANTS["room_admin"], False)]
    destination_room: Annotated[str | None, doc(GRANTS["destination_room"], "lobby")]

    @classmethod
    def of(cls, grants: VideoGrants) -> GrantsOut:
        # Field by field, by name: the refused grants are not fields here, so they are left.
        return msgspec.convert(grants, cls, from_attributes=True)


class TokenValidity(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``{valid: true, identity, room, expires_at, grants}`` or ``{valid: false, reason}``."""

    valid: Annotated[bool, doc("Whether the token is a live token of this project.", True)]
    reason: Annotated[
        InvalidTokenReason | None,
        doc(
            "Why it is not valid (only when `valid` is false): not a well-formed token, not "
            "HS256, not signed with this deployment's LiveKit secret or another issuer, "
            "expired or not yet valid, a room of another project, or a refused grant.",
            "expired",
        ),
    ] = None
    identity: Annotated[str | None, doc("Whom it is for (only when valid).", "alice")] = None
    room: Annotated[
        str | None, doc("Its room, as the project names it (only when valid).", "demo")
    ] = None
    expires_at: Annotated[
        datetime | None, doc("When it expires (only when valid).", "2026-12-02T02:51:51Z")
    ] = None
    grants: Annotated[GrantsOut | None, doc("What it grants (only when valid).")] = None

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
