"""LiveKit access tokens for a project's end users: what is asked for, what comes back.

The HTTP shell maps its own request/response schemas onto these; an embedder builds them
directly. Rules and limits are enforced by :class:`pulse_core.services.tokens.TokenService`,
whose docstrings are the contract.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from pulse_core.models.redaction import redacted_repr

#: LiveKit track sources (``TrackSource`` enum names, lower-cased as LiveKit writes them).
TrackSource = Literal["camera", "microphone", "screen_share", "screen_share_audio"]

#: Why :meth:`TokenService.validate` refused a token. Stable machine codes.
InvalidTokenReason = Literal[
    "malformed",  # not a JWT, bad JSON/base64, missing or mistyped claims (exp, sub, video)
    "unsupported_algorithm",  # header alg is not HS256 (``none`` included)
    "bad_signature",  # not signed with this deployment's LiveKit secret, or altered
    "wrong_issuer",  # signed with the secret but ``iss`` is not this deployment's API key
    "expired",  # now >= exp
    "not_yet_valid",  # now < nbf (beyond the clock-skew leeway)
    "foreign_project",  # its room (or destination room) is not one of this project's
    "forbidden_grant",  # carries a grant no project token may hold (room_list, sip, ...)
]


class VideoGrants(msgspec.Struct, frozen=True, kw_only=True):
    """LiveKit's video grant, as a project may ask for it; the defaults are safe.

    Granted within the token's one room:

    - ``room_join``: may join the room (default true).
    - ``can_publish`` / ``can_subscribe`` / ``can_publish_data``: publish tracks, subscribe
      to tracks, send data messages (default true).
    - ``can_publish_sources``: ``None`` (default) allows every source; otherwise the only
      sources it may publish. An empty list is refused: LiveKit reads it as "all".
    - ``can_update_own_metadata``: may change its own name/metadata/attributes (default
      false).
    - ``can_subscribe_metrics``: may receive the room's participants' metrics (default
      false).
    - ``hidden``: invisible to the other participants (default false).
    - ``room_admin``: may moderate this one room through LiveKit's RoomService (remove or
      mute participants, update metadata, dispatch the platform's agents); LiveKit checks
      the room name against the token, so it is room-confined (default false).
    - ``destination_room``: with ``room_admin``, the one room (of the same project) it may
      forward or move participants to. A caller room name, namespaced like ``room``.

    Refused when true (``InvalidInput`` with ``field="grants.<name>"``), because LiveKit
    does not confine them to the token's room, so in a shared deployment they reach every
    tenant (see ``pulse_core.services.tokens.REFUSED_GRANTS`` for the reasons):
    ``room_create``, ``room_list``, ``room_record``, ``ingress_admin``, ``agent``,
    ``recorder``, ``can_manage_agent_session``. They exist here only so that a request
    asking for them is answered with the grant's name rather than "unknown field".

    This is the one list of grants: the token's ``video`` claim (written and read back),
    the refusals and the HTTP request body are derived from these fields. A new grant is a
    field here whose default is what LiveKit reads when a token leaves it out (or true:
    every token then states it), plus either its reason in ``REFUSED_GRANTS`` or, if it
    is confined to the room, its place in the HTTP API's answer (``GrantsOut``, which
    shows what it declares and nothing else). If LiveKit reads it other than as a plain
    bool, ``_LIVEKIT_READING`` in ``pulse_core.services.token_claims`` says how.
    """

    room_join: bool = True
    can_publish: bool = True
    can_subscribe: bool = True
    can_publish_data: bool = True
    can_publish_sources: tuple[TrackSource, ...] | None = None
    can_update_own_metadata: bool = False
    can_subscribe_metrics: bool = False
    hidden: bool = False
    room_admin: bool = False
    destination_room: str | None = None
    # Refused (server-wide or reserved); always false in a valid request.
    room_create: bool = False
    room_list: bool = False
    room_record: bool = False
    ingress_admin: bool = False
    agent: bool = False
    recorder: bool = False
    can_manage_agent_session: bool = False


DEFAULT_GRANTS = VideoGrants()


class TokenRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A LiveKit access token for one participant of one room of the calling project.

    ``room`` is the caller's room name (never the namespaced LiveKit one). ``ttl_seconds``
    ``None`` means the project's default. Limits: see ``TokenService.mint``.
    """

    identity: str
    room: str
    name: str | None = None
    metadata: str | None = None
    attributes: dict[str, str] = msgspec.field(default_factory=dict)
    ttl_seconds: int | None = None
    grants: VideoGrants = DEFAULT_GRANTS


class MintedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A signed LiveKit access token and what a client needs to use it.

    ``room`` is the caller's room name; ``livekit_room`` the namespaced name LiveKit knows
    (for logs and operators; the public API shows ``room`` only).
    """

    token: str
    identity: str
    room: str
    livekit_room: str
    livekit_url: str
    expires_at: datetime

    def __repr__(self) -> str:
        return redacted_repr(self, ("token",))


class TokenValidation(msgspec.Struct, frozen=True, kw_only=True):
    """The verdict on a token: ``valid`` with who and what it grants, or ``reason``.

    When ``valid`` is false only ``reason`` is set; when true ``reason`` is ``None`` and
    ``room`` (and ``grants.destination_room``) are the caller's own room names.
    """

    valid: bool
    reason: InvalidTokenReason | None = None
    identity: str | None = None
    room: str | None = None
    expires_at: datetime | None = None
    grants: VideoGrants | None = None
