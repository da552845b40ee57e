"""LiveKit access tokens for a project's end users: minting (Pulse's hot path) and checking.

A minted token is exactly what LiveKit's own SDKs emit (``livekit-api``'s ``AccessToken``):
an HS256 JWT signed with the deployment's LiveKit API secret, ``iss`` = the LiveKit API key,
``sub`` = the participant identity, integer ``nbf``/``exp``, optional ``name``,
``metadata`` and ``attributes``, and a camelCase ``video`` grant whose ``room`` is the
project-namespaced room (:mod:`pulse_core.rooms`). No ``jti``: LiveKit ignores it, neither
``AccessToken`` nor the Go SDK sets one, and Pulse keeps no revocation list it could serve.
``kind``, ``sha256``, ``roomPreset``, ``roomConfig`` and the non-video grants (``sip``,
``agent``, ``inference``, ``observability``, ...) are never emitted: they configure or reach
beyond one room (a ``roomConfig`` can start egress and dispatch agents), so a project has no
business setting them.

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
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

import msgspec

from pulse_core import rooms
from pulse_core.crypto.jwt import HS256Signer, HS256Verifier, TokenError
from pulse_core.errors import InvalidInput, NotFound
from pulse_core.models.project import Project, ProjectSettings
from pulse_core.models.token import (
    InvalidTokenReason,
    MintedToken,
    TokenRequest,
    TokenValidation,
    TrackSource,
    VideoGrants,
)
from pulse_core.ports.clock import Clock
from pulse_core.services.projects import MAX_TOKEN_TTL_SECONDS, MIN_TOKEN_TTL_SECONDS

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

#: Lifetime of a token when neither the request nor the project says otherwise.
DEFAULT_TOKEN_TTL_SECONDS: Final = 3600
#: LiveKit's default ``limit.max_participant_identity_length``.
MAX_IDENTITY_BYTES: Final = 256
#: LiveKit's default ``limit.max_participant_name_length``.
MAX_NAME_BYTES: Final = 256
MAX_METADATA_BYTES: Final = 16_384
MAX_ATTRIBUTES: Final = 64
MAX_ATTRIBUTE_KEY_BYTES: Final = 128
MAX_ATTRIBUTE_VALUE_BYTES: Final = 4096
#: Sum of the UTF-8 sizes of all keys and values (LiveKit's ``max_attributes_size`` rule).
MAX_ATTRIBUTES_BYTES: Final = 16_384
#: Attribute keys LiveKit and its agents framework use for their own participant state
#: (``lk.agent.state``, ``lk.publish_on_behalf``, ...); an end user must not spoof them.
RESERVED_ATTRIBUTE_PREFIX: Final = "lk."
#: Tolerance on ``nbf`` in :meth:`TokenService.validate`, for clocks of Pulse replicas that
#: disagree a little: LiveKit itself allows one minute. ``exp`` gets none: a token stops
#: being valid for Pulse at the instant its ttl ends.
NBF_LEEWAY_SECONDS: Final = 60
#: Longer strings are not even parsed by :meth:`TokenService.validate` (far above the
#: largest token :meth:`TokenService.mint` can produce).
MAX_TOKEN_CHARS: Final = 512 * 1024
TRACK_SOURCES: Final[frozenset[str]] = frozenset(
    ("camera", "microphone", "screen_share", "screen_share_audio")
)

#: Video grants a project token may never carry, and why (checked in LiveKit's server:
#: ``pkg/service/auth.go`` ``Ensure*Permission``, none of which looks at the room).
REFUSED_GRANTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "room_create": "it lets the holder create and delete any room of the LiveKit "
        "deployment, other projects' included; rooms are created on join",
        "room_list": "it lists every room of the LiveKit deployment, other projects' included",
        "room_record": "LiveKit does not confine it to a room: it starts, lists, updates and "
        "stops egress of any room and records any URL; use the egress API, which is "
        "scoped to the project",
        "ingress_admin": "it manages every ingress of the LiveKit deployment, other "
        "projects' included; use the ingress API, which is scoped to the project",
        "agent": "it registers the holder as an agent worker, and LiveKit dispatches workers "
        "to rooms of every project",
        "recorder": "it marks the participant as LiveKit's own recorder (deprecated), which is "
        "reserved for the platform's egress",
        "can_manage_agent_session": "LiveKit does not document it as confined to one room; "
        "refused until it is",
    }
)

# C0 and C1 control characters: what ``unicodedata`` calls category Cc.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Top-level claims that configure or reach beyond one room; a token carrying any of them
# was not minted for a project (see the module docstring).
_PLATFORM_CLAIMS: Final = frozenset(
    (
        "sip",
        "agent",
        "agentEndpoint",
        "agentThread",
        "inference",
        "observability",
        "roomConfig",
        "roomPreset",
    )
)
_STANDARD_KINDS: Final = frozenset(("", "standard"))


class _VideoClaim(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True, gc=False):
    """The ``video`` claim as LiveKit reads it. The five fields without a default are always
    written: LiveKit reads an absent ``canPublishData`` as "same as canPublish", so being
    explicit is the only way the token says exactly what was asked. The rest are written
    only when they differ from LiveKit's own default."""

    room: str
    room_join: bool
    can_publish: bool
    can_subscribe: bool
    can_publish_data: bool
    can_publish_sources: tuple[str, ...] | None = None
    can_update_own_metadata: bool = False
    can_subscribe_metrics: bool = False
    hidden: bool = False
    room_admin: bool = False
    destination_room: str = ""


class _Claims(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """The JWT claims set; field names are already LiveKit's."""

    iss: str
    sub: str
    nbf: int
    exp: int
    video: _VideoClaim
    name: str = ""
    metadata: str = ""
    attributes: dict[str, str] | None = None


class _VideoIn(msgspec.Struct, rename="camel"):
    """A ``video`` claim as any LiveKit SDK may have written it (absent = LiveKit default)."""

    room: str = ""
    room_join: bool = False
    can_publish: bool | None = None
    can_subscribe: bool | None = None
    can_publish_data: bool | None = None
    can_publish_sources: list[str] | None = None
    can_update_own_metadata: bool | None = None
    can_subscribe_metrics: bool | None = None
    hidden: bool = False
    room_admin: bool = False
    destination_room: str = ""
    room_create: bool = False
    room_list: bool = False
    room_record: bool = False
    ingress_admin: bool = False
    agent: bool = False
    recorder: bool = False
    can_manage_agent_session: bool | None = None


class _ClaimsIn(msgspec.Struct):
    """The claims :meth:`TokenService.validate` reads; others are ignored."""

    exp: int | float
    iss: str = ""
    sub: str = ""
    kind: str = ""
    video: _VideoIn | None = None


def _utf8_len(value: str, field: str) -> int:
    # isascii() is O(1) in CPython (the string knows its widest character), so ASCII text,
    # the common case, never pays for an encode.
    if value.isascii():
        return len(value)
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: not text LiveKit (or JSON) can carry
        raise InvalidInput(f"{field} must be valid Unicode text", field=field) from None


# Each check below starts with one expression that accepts the common case, short ASCII,
# at C speed (for ASCII, isprintable() means 0x20-0x7E: no control character). The rules
# are spelled out one by one only to reject, or for non-ASCII text.


def _check_identity(identity: str) -> str:
    if (
        type(identity) is str
        and 0 < len(identity) <= MAX_IDENTITY_BYTES
        and identity.isascii()
        and identity.isprintable()
        and identity[0] != " "
        and identity[-1] != " "
    ):
        return identity
    field = "identity"
    if not isinstance(identity, str) or not identity:
        raise InvalidInput("identity must be a non-empty string", field=field)
    # Characters are never fewer than bytes: a cheap bound before scanning anything.
    if len(identity) > MAX_IDENTITY_BYTES or _utf8_len(identity, field) > MAX_IDENTITY_BYTES:
        raise InvalidInput(
            f"identity must be at most {MAX_IDENTITY_BYTES} bytes of UTF-8", field=field
        )
    if not identity.isprintable():
        raise InvalidInput("identity must not contain control or invisible characters", field=field)
    if identity[0] == " " or identity[-1] == " ":
        raise InvalidInput("identity must not start or end with whitespace", field=field)
    return identity


def _check_name(name: str | None) -> str:
    if not name:
        return ""
    if type(name) is str and len(name) <= MAX_NAME_BYTES and name.isascii() and name.isprintable():
        return name
    field = "name"
    if not isinstance(name, str):
        raise InvalidInput("name must be a string", field=field)
    if len(name) > MAX_NAME_BYTES or _utf8_len(name, field) > MAX_NAME_BYTES:
        raise InvalidInput(f"name must be at most {MAX_NAME_BYTES} bytes of UTF-8", field=field)
    if _CONTROL.search(name) is not None:
        raise InvalidInput("name must not contain control characters", field=field)
    return name


def _check_metadata(metadata: str | None) -> str:
    if not metadata:
        return ""
    field = "metadata"
    if not isinstance(metadata, str):
        raise InvalidInput("metadata must be a string", field=field)
    if len(metadata) > MAX_METADATA_BYTES or _utf8_len(metadata, field) > MAX_METADATA_BYTES:
        raise InvalidInput(
            f"metadata must be at most {MAX_METADATA_BYTES} bytes of UTF-8", field=field
        )
    return metadata


def _check_attributes(attributes: Mapping[str, str] | None) -> dict[str, str] | None:
    if not attributes:
        return None
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidInput(f"at most {MAX_ATTRIBUTES} attributes are allowed", field="attributes")
    total = 0
    for key, value in attributes.items():
        if (
            type(key) is str
            and type(value) is str
            and key.isascii()
            and value.isascii()
            and 0 < len(key) <= MAX_ATTRIBUTE_KEY_BYTES
            and len(value) <= MAX_ATTRIBUTE_VALUE_BYTES
            and key.isprintable()
            and not key.startswith(RESERVED_ATTRIBUTE_PREFIX)
        ):
            total += len(key) + len(value)
        else:
            total += _attribute_size(key, value)
    if total > MAX_ATTRIBUTES_BYTES:
        raise InvalidInput(
            f"attributes must total at most {MAX_ATTRIBUTES_BYTES} bytes of UTF-8",
            field="attributes",
        )
    # A plain dict of the caller's pairs: msgspec encodes it as the JSON object LiveKit
    # expects, whatever Mapping type came in.
    return attributes if type(attributes) is dict else dict(attributes)


def _attribute_size(key: str, value: str) -> int:
    """UTF-8 size of one pair, or :class:`InvalidInput` saying what is wrong with it."""
    field = "attributes"
    if not isinstance(key, str) or not isinstance(value, str):
        raise InvalidInput("attribute keys and values must be strings", field=field)
    if not key or not key.isprintable():
        raise InvalidInput(
            "attribute keys must be non-empty, without control or invisible characters",
            field=field,
        )
    if key.startswith(RESERVED_ATTRIBUTE_PREFIX):
        raise InvalidInput(
            f"attribute keys starting with {RESERVED_ATTRIBUTE_PREFIX!r} are reserved for LiveKit",
            field=field,
        )
    key_bytes = _utf8_len(key, field)
    value_bytes = _utf8_len(value, field)
    if key_bytes > MAX_ATTRIBUTE_KEY_BYTES:
        raise InvalidInput(
            f"attribute keys must be at most {MAX_ATTRIBUTE_KEY_BYTES} bytes of UTF-8",
            field=field,
        )
    if value_bytes > MAX_ATTRIBUTE_VALUE_BYTES:
        raise InvalidInput(
            f"attribute values must be at most {MAX_ATTRIBUTE_VALUE_BYTES} bytes of UTF-8",
            field=field,
        )
    return key_bytes + value_bytes


def _ttl(settings: ProjectSettings, ttl_seconds: int | None) -> int:
    # Project bounds only narrow the platform's; clamp in case stored settings predate a
    # tighter platform bound.
    high = min(settings.token_ttl_max_seconds or MAX_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS)
    if ttl_seconds is None:
        default = settings.token_ttl_default_seconds or DEFAULT_TOKEN_TTL_SECONDS
        return max(MIN_TOKEN_TTL_SECONDS, min(default, high))
    if (
        not isinstance(ttl_seconds, int)
        or isinstance(ttl_seconds, bool)
        or not MIN_TOKEN_TTL_SECONDS <= ttl_seconds <= high
    ):
        raise InvalidInput(
            f"ttl_seconds must be an integer between {MIN_TOKEN_TTL_SECONDS} and {high}",
            field="ttl_seconds",
        )
    return ttl_seconds


def _check_sources(sources: Iterable[str]) -> tuple[str, ...]:
    field = "grants.can_publish_sources"
    if isinstance(sources, str):
        raise InvalidInput(f"{field} must be a list of track sources", field=field)
    try:
        return _checked_sources(tuple(sources))
    except TypeError:  # not iterable, or an unhashable entry: certainly not a source name
        raise InvalidInput(f"{field} must be a list of track sources", field=field) from None


# Only a few dozen distinct lists make sense (subsets of four sources, in some order), and
# busy projects ask for the same one every time.
@functools.lru_cache(maxsize=256)
def _checked_sources(sources: tuple[str, ...]) -> tuple[str, ...]:
    field = "grants.can_publish_sources"
    # Order kept, duplicates dropped: LiveKit treats the list as a set.
    unique = tuple(dict.fromkeys(sources))
    if not unique:
        # LiveKit reads an empty list as "every source", the opposite of what it says.
        raise InvalidInput(
            f"{field} must not be empty (use can_publish=false to forbid publishing)",
            field=field,
        )
    for source in unique:
        if source not in TRACK_SOURCES:
            raise InvalidInput(
                f"{field} must contain only {', '.join(sorted(TRACK_SOURCES))}", field=field
            )
    return unique


def _refuse_server_wide(grants: VideoGrants) -> None:
    # One boolean expression on the common path; the loop only runs to name the culprit.
    if (
        grants.room_create
        or grants.room_list
        or grants.room_record
        or grants.ingress_admin
        or grants.agent
        or grants.recorder
        or grants.can_manage_agent_session
    ):
        for name, reason in REFUSED_GRANTS.items():
            if getattr(grants, name):
                raise InvalidInput(
                    f"grants.{name} is not allowed: {reason}", field=f"grants.{name}"
                )


class TokenService:
    """Mints and checks the LiveKit access tokens of projects.

    One instance per LiveKit deployment (API key and secret); it holds no per-request
    state and is safe to share between threads and tasks.
    """

    __slots__ = ("_api_key", "_clock", "_livekit_url", "_signer", "_verifier")

    def __init__(
        self,
        clock: Clock,
        *,
        livekit_api_key: str,
        livekit_api_secret: str,
        livekit_url: str,
    ) -> None:
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

        The token's ``nbf`` is now (whole seconds) and ``exp - nbf`` is exactly the ttl.
        """
        if project.is_deleted:
            raise NotFound("project not found")
        identity = _check_identity(request.identity)
        livekit_room = rooms.to_livekit(project.id, request.room)
        name = _check_name(request.name)
        metadata = _check_metadata(request.metadata)
        attributes = _check_attributes(request.attributes)
        ttl = _ttl(project.settings, request.ttl_seconds)
        grants = request.grants
        _refuse_server_wide(grants)
        sources = None
        if grants.can_publish_sources is not None:
            sources = _check_sources(grants.can_publish_sources)
        destination = ""
        if grants.destination_room is not None:
            destination = rooms.project_prefix(project.id) + rooms.validate_room(
                grants.destination_room, "grants.destination_room"
            )
        not_before = int(self._clock.time())
        expires = not_before + ttl
        token = self._signer.sign(
            _Claims(
                iss=self._api_key,
                sub=identity,
                nbf=not_before,
                exp=expires,
                video=_VideoClaim(
                    room=livekit_room,
                    room_join=grants.room_join,
                    can_publish=grants.can_publish,
                    can_subscribe=grants.can_subscribe,
                    can_publish_data=grants.can_publish_data,
                    can_publish_sources=sources,
                    can_update_own_metadata=grants.can_update_own_metadata,
                    can_subscribe_metrics=grants.can_subscribe_metrics,
                    hidden=grants.hidden,
                    room_admin=grants.room_admin,
                    destination_room=destination,
                ),
                name=name,
                metadata=metadata,
                attributes=attributes,
            )
        )
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

        Valid means: a well-formed HS256 JWT signed with this deployment's LiveKit secret,
        ``iss`` is its API key, ``exp`` is present and still ahead (no leeway), ``nbf`` (if
        any) is not more than ``NBF_LEEWAY_SECONDS`` ahead, ``sub`` names a participant,
        its ``video.room`` (and ``destinationRoom``, if any) is a room of ``project``, and it
        carries none of :data:`REFUSED_GRANTS` nor a platform-only claim (``sip``,
        ``roomConfig``, a non-standard ``kind``, ...). Tokens minted elsewhere (LiveKit's own
        SDKs) are judged by the same rules. Otherwise ``valid`` is false and ``reason`` says
        the first rule broken, in the order above.
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
        try:
            claims = msgspec.convert(raw, _ClaimsIn)
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
        video = claims.video
        if video is None:
            raise TokenError("foreign_project")
        owned = rooms.from_livekit(video.room)
        if owned is None or owned[0] != project.id:
            raise TokenError("foreign_project")
        destination = None
        if video.destination_room:
            target = rooms.from_livekit(video.destination_room)
            if target is None or target[0] != project.id:
                raise TokenError("foreign_project")
            destination = target[1]
        if (
            video.room_create
            or video.room_list
            or video.room_record
            or video.ingress_admin
            or video.agent
            or video.recorder
            or video.can_manage_agent_session
            or claims.kind not in _STANDARD_KINDS
            or not _PLATFORM_CLAIMS.isdisjoint(raw)
        ):
            raise TokenError("forbidden_grant")
        return TokenValidation(
            valid=True,
            identity=claims.sub,
            room=owned[1],
            expires_at=expires_at,
            grants=_grants_of(video, destination),
        )


def _grants_of(video: _VideoIn, destination_room: str | None) -> VideoGrants:
    """The request-side view of a verified ``video`` claim, with LiveKit's defaults for
    absent fields (``auth/grants.go``: publish/subscribe default to true, data to
    ``canPublish``, metadata updates and metrics to false)."""
    can_publish = True if video.can_publish is None else video.can_publish
    sources: tuple[TrackSource, ...] | None = None
    if video.can_publish_sources:  # LiveKit reads an empty list as "all", like absent
        lowered = tuple(source.lower() for source in video.can_publish_sources)
        if not TRACK_SOURCES.issuperset(lowered):
            raise TokenError("malformed")
        sources = tuple(dict.fromkeys(lowered))  # type: ignore[arg-type]
    return VideoGrants(
        room_join=video.room_join,
        can_publish=can_publish,
        can_subscribe=True if video.can_subscribe is None else video.can_subscribe,
        can_publish_data=can_publish if video.can_publish_data is None else video.can_publish_data,
        can_publish_sources=sources,
        can_update_own_metadata=bool(video.can_update_own_metadata),
        can_subscribe_metrics=bool(video.can_subscribe_metrics),
        hidden=video.hidden,
        room_admin=video.room_admin,
        destination_room=destination_room,
    )
