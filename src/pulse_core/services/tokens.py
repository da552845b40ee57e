"""LiveKit access tokens for a project's end users: minting (Pulse's hot path) and checking.

A minted token is exactly what LiveKit's own SDKs emit (``livekit-api``'s ``AccessToken``):
an HS256 JWT signed with the deployment's LiveKit API secret, ``iss`` = the LiveKit API key,
``sub`` = the participant identity, integer ``nbf``/``exp``, optional ``name``,
``metadata`` and ``attributes``, and a camelCase ``video`` grant whose ``room`` is the
project-namespaced room (:mod:`pulse_core.rooms`). No ``jti``: LiveKit ignores it, neither
``AccessToken`` nor the Go SDK sets one, and Pulse keeps no revocation list it could serve.
``kind``, ``sha256``, ``roomPreset`` and the non-video grants (``sip``, ``agent``,
``inference``, ``observability``, ...) are never emitted: they configure or reach beyond one
room, so a project has no business setting them. Nor is the rest of ``roomConfig`` (it can
start egress and dispatch agents), save one member:

Participant cap
---------------
When the organization's plan caps participants per room (``max_participants_per_room``),
every token carries ``roomConfig: {maxParticipants: <cap>}``. LiveKit applies it to the room
the token's join creates, so the cap holds for rooms LiveKit creates on first join as it
does for rooms made with ``POST /v1/rooms``; a room that exists keeps its own limit. The cap
comes from :class:`~pulse_core.services.quotas.TokenAllowance`, which :meth:`prepare` fills
for an organization not seen yet.

Grants Pulse refuses
--------------------
LiveKit scopes some video grants to the token's ``room`` and checks others without looking
at any room. In a deployment shared by many projects the latter reach every tenant, so a
project token must never carry them: :data:`REFUSED_GRANTS` lists each with its reason,
and asking for one is an :class:`InvalidInput` naming ``grants.<name>``.

Limits
------
Identity, name and room stay within LiveKit's default server limits (256 bytes each, the
room after namespacing), so LiveKit never refuses at join what Pulse signed. Metadata and
attributes are held to a quarter of LiveKit's 64 000-byte defaults: the whole token rides
in the signalling WebSocket URL (``?access_token=``) on every connect and reconnect, where
proxies cap request lines, and a participant's metadata and attributes are sent to every
other participant of the room; large data belongs in the customer's own store, referenced
by id. Limits on UTF-8 text are in bytes, as LiveKit counts them.

Layout
------
This module holds :class:`TokenService` and the rules only
:meth:`TokenService.validate` applies. The request checks and the limits are in
:mod:`pulse_core.services.token_input`, the claims and the grant rules in
:mod:`pulse_core.services.token_claims`; their public constants are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import msgspec

from pulse_core import rooms
from pulse_core.crypto.jwt import HS256Signer, HS256Verifier, TokenError, has_duplicate_members
from pulse_core.errors import NotFound
from pulse_core.models.project import Project
from pulse_core.models.token import (
    DEFAULT_GRANTS,
    InvalidTokenReason,
    MintedToken,
    TokenRequest,
    TokenValidation,
)
from pulse_core.ports.clock import Clock
from pulse_core.services.quotas import TokenAllowance
from pulse_core.services.token_claims import (
    DEFAULT_VIDEO,
    REFUSED_GRANTS,
    TRACK_SOURCES,
    Claims,
    ClaimsIn,
    VideoIn,
    grants_of,
    is_room_cap,
    room_config_of,
    video_of,
    with_rooms,
)
from pulse_core.services.token_input import (
    DEFAULT_TOKEN_TTL_SECONDS,
    MAX_ATTRIBUTE_KEY_BYTES,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_ATTRIBUTES_BYTES,
    MAX_IDENTITY_BYTES,
    MAX_METADATA_BYTES,
    MAX_NAME_BYTES,
    RESERVED_ATTRIBUTE_PREFIX,
    check_attributes,
    check_identity,
    check_metadata,
    check_name,
    token_ttl,
)
from pulse_core.services.usage_counter import UsageCounter

__all__ = [
    "DEFAULT_TOKEN_TTL_SECONDS",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTES_BYTES",
    "MAX_ATTRIBUTE_KEY_BYTES",
    "MAX_ATTRIBUTE_VALUE_BYTES",
    "MAX_IDENTITY_BYTES",
    "MAX_METADATA_BYTES",
    "MAX_NAME_BYTES",
    "MAX_TOKEN_CHARS",
    "NBF_LEEWAY_SECONDS",
    "REFUSED_GRANTS",
    "RESERVED_ATTRIBUTE_PREFIX",
    "TRACK_SOURCES",
    "TokenService",
]

#: Tolerance on ``nbf`` in :meth:`TokenService.validate`, for clocks of Pulse replicas that
#: disagree a little: LiveKit itself allows one minute. ``exp`` gets none: a token stops
#: being valid for Pulse at the instant its ttl ends.
NBF_LEEWAY_SECONDS: Final = 60
#: Longer strings are not even parsed by :meth:`TokenService.validate` (far above the
#: largest token :meth:`TokenService.mint` can produce).
MAX_TOKEN_CHARS: Final = 512 * 1024

# Top-level claims that configure or reach beyond one room; a token carrying any of them
# was not minted for a project (see the module docstring). ``roomConfig`` is checked apart:
# Pulse writes a participant cap there.
_PLATFORM_CLAIMS: Final = frozenset(
    (
        "sip",
        "agent",
        "agentEndpoint",
        "agentThread",
        "inference",
        "observability",
        "roomPreset",
    )
)
_STANDARD_KINDS: Final = frozenset(("", "standard"))


class TokenService:
    """Mints and checks the LiveKit access tokens of projects.

    One instance per LiveKit deployment (API key and secret); it holds no per-request
    state and is safe to share between threads and tasks.
    """

    __slots__ = (
        "_allowance",
        "_api_key",
        "_clock",
        "_livekit_url",
        "_on_minted",
        "_signer",
        "_usage",
        "_verifier",
    )

    def __init__(
        self,
        clock: Clock,
        *,
        livekit_api_key: str,
        livekit_api_secret: str,
        livekit_url: str,
        usage: UsageCounter | None = None,
        allowance: TokenAllowance | None = None,
        on_minted: Callable[[], None] | None = None,
    ) -> None:
        self._usage = usage
        self._allowance = allowance
        # Told of each token minted (the shell's metrics): called with nothing, at once.
        self._on_minted = on_minted
        if not livekit_api_key or not livekit_api_secret:
            raise ValueError("the LiveKit API key and secret must be set")
        self._clock = clock
        self._api_key = livekit_api_key
        self._livekit_url = livekit_url
        self._signer = HS256Signer(livekit_api_secret)
        self._verifier = HS256Verifier(livekit_api_secret)

    @property
    def livekit_url(self) -> str:
        """Where clients connect with the tokens (also in every :class:`MintedToken`)."""
        return self._livekit_url

    async def prepare(self, project: Project) -> None:
        """Make sure :meth:`mint` knows the plan of ``project``'s organization (its
        participant cap, whether its monthly minutes are spent): a lookup the first time an
        organization mints in this process, a dict lookup after. Callers await it before
        :meth:`mint`; without it, an organization's first tokens carry no cap until the
        periodic refresh has seen it. ``Unavailable`` if the plan cannot be read."""
        allowance = self._allowance
        if allowance is not None and not allowance.knows(project.org_id):
            learn = allowance.learn
            if learn is not None:
                await learn(project.org_id)

    def mint(self, project: Project, request: TokenRequest) -> MintedToken:
        """A LiveKit token for ``request.identity`` in ``request.room`` of ``project``.

        ``project`` is the authenticated caller's project (:class:`NotFound` if it is
        deleted). Raises :class:`InvalidInput` naming the first offending field:

        - ``identity``: 1 to 256 bytes of UTF-8, printable (``str.isprintable``: no
          control, NUL, invisible or separator characters), no leading/trailing space.
        - ``room``: see :func:`pulse_core.rooms.validate_room`.
        - ``name``: at most 256 bytes, no control characters; empty means none.
        - ``metadata``: at most ``MAX_METADATA_BYTES`` bytes, free text; empty means none.
        - ``attributes``: at most ``MAX_ATTRIBUTES`` pairs; keys 1 to
          ``MAX_ATTRIBUTE_KEY_BYTES`` bytes, printable, not starting with ``lk.``; values
          at most ``MAX_ATTRIBUTE_VALUE_BYTES`` bytes; at most ``MAX_ATTRIBUTES_BYTES`` bytes
          of keys and values together.
        - ``ttl_seconds``: ``MIN_TOKEN_TTL_SECONDS`` up to the project's
          ``token_ttl_max_seconds`` (platform maximum ``MAX_TOKEN_TTL_SECONDS``); ``None``
          takes the project's ``token_ttl_default_seconds``, else
          ``DEFAULT_TOKEN_TTL_SECONDS`` (capped at the project maximum).
        - ``grants.<name>``: a grant of :data:`REFUSED_GRANTS`, an empty or unknown
          ``can_publish_sources`` entry, an invalid ``destination_room``.

        The token's ``nbf`` is now (whole seconds) and ``exp - nbf`` is exactly the ttl;
        it carries the plan's participant cap, if any (see "Participant cap" above).
        """
        if project.is_deleted:
            raise NotFound("project not found")
        room_config = None
        if self._allowance is not None:
            cap = self._allowance.check(project.org_id)
            if cap is not None:
                room_config = room_config_of(cap)
        identity = check_identity(request.identity)
        livekit_room = rooms.to_livekit(project.id, request.room)
        name = check_name(request.name)
        metadata = check_metadata(request.metadata)
        attributes = check_attributes(request.attributes)
        ttl = token_ttl(project.settings, request.ttl_seconds)
        grants = request.grants
        video = DEFAULT_VIDEO if grants is DEFAULT_GRANTS else video_of(grants)
        destination = None
        if grants.destination_room is not None:
            destination = rooms.project_prefix(project.id) + rooms.validate_room(
                grants.destination_room, "grants.destination_room"
            )
        not_before = int(self._clock.time())
        expires = not_before + ttl
        token = self._signer.sign(
            Claims(
                iss=self._api_key,
                sub=identity,
                nbf=not_before,
                exp=expires,
                video=with_rooms(video, room=livekit_room, destination_room=destination),
                name=name,
                metadata=metadata,
                attributes=attributes,
                room_config=room_config,
            )
        )
        if self._usage is not None:
            self._usage.count(project.id, "tokens_created")
        if self._on_minted is not None:
            self._on_minted()
        return MintedToken(
            token=token,
            identity=identity,
            room=request.room,
            livekit_room=livekit_room,
            livekit_url=self._livekit_url,
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    def validate(self, project: Project, token: str) -> TokenValidation:
        """Whether ``token`` is a live LiveKit token of ``project``; never raises for a bad
        token.

        Valid means: a well-formed HS256 JWT (no member named twice) signed with this
        deployment's LiveKit secret, ``iss`` is its API key, ``exp`` is present and still
        ahead (no leeway), ``nbf`` (if any) is not more than ``NBF_LEEWAY_SECONDS``
        ahead, ``sub`` names a participant,
        its ``video.room`` (and ``destinationRoom``, if any) is a room of ``project``, and it
        carries none of :data:`REFUSED_GRANTS` nor a platform-only claim (``sip``, a
        ``roomConfig`` with more than a participant cap, a non-standard ``kind``, ...).
        Tokens minted elsewhere (LiveKit's own SDKs) are judged by the same rules.
        Otherwise ``valid`` is false and ``reason`` says the first rule broken, in the
        order above.
        """
        try:
            return self._validate(project, token)
        except TokenError as exc:
            reason: InvalidTokenReason = exc.reason  # type: ignore[assignment]
            return TokenValidation(valid=False, reason=reason)

    def _validate(self, project: Project, token: str) -> TokenValidation:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise TokenError("malformed")
        now = self._clock.time()
        raw = self._verifier.decode(token, now=now, leeway=NBF_LEEWAY_SECONDS)
        if has_duplicate_members(token):
            raise TokenError("malformed")
        try:
            claims = msgspec.convert(raw, ClaimsIn)
            video = None
            if claims.video is not None:
                video = msgspec.structs.asdict(msgspec.convert(claims.video, VideoIn))
            expires_at = datetime.fromtimestamp(claims.exp, UTC)
        except (msgspec.ValidationError, OverflowError, OSError, ValueError) as exc:
            raise TokenError("malformed") from exc
        if claims.iss != self._api_key:
            raise TokenError("wrong_issuer")
        # The verifier allowed the leeway on exp too; Pulse itself allows none there.
        if now >= claims.exp:
            raise TokenError("expired")
        if not claims.sub:
            raise TokenError("malformed")
        if video is None:
            raise TokenError("foreign_project")
        owned = rooms.from_livekit(video["room"])
        if owned is None or owned[0] != project.id:
            raise TokenError("foreign_project")
        destination = None
        if video["destination_room"]:
            target = rooms.from_livekit(video["destination_room"])
            if target is None or target[0] != project.id:
                raise TokenError("foreign_project")
            destination = target[1]
        if (
            any(video[name] for name in REFUSED_GRANTS)
            or claims.kind not in _STANDARD_KINDS
            or not _PLATFORM_CLAIMS.isdisjoint(raw)
            or (claims.room_config is not None and not is_room_cap(claims.room_config))
        ):
            raise TokenError("forbidden_grant")
        return TokenValidation(
            valid=True,
            identity=claims.sub,
            room=owned[1],
            expires_at=expires_at,
            grants=grants_of(video, destination),
        )
