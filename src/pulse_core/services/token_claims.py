"""The JWT claims of a LiveKit token as Pulse writes and reads them, chiefly LiveKit's
``video`` claim: the grants Pulse refuses (:data:`REFUSED_GRANTS`), the claim structs
derived from :class:`VideoGrants`, the checks of a request's grants (the track sources
among them), and the request-side view of a verified token's grants.

:mod:`pulse_core.services.tokens` signs and verifies with these and re-exports the public
constants; its docstring says which claims a token carries and why.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import msgspec

from pulse_core.crypto.jwt import TokenError
from pulse_core.errors import InvalidInput
from pulse_core.models.token import DEFAULT_GRANTS, VideoGrants

__all__ = [
    "DEFAULT_VIDEO",
    "REFUSED_GRANTS",
    "TRACK_SOURCES",
    "Claims",
    "ClaimsIn",
    "RoomConfig",
    "VideoIn",
    "grants_of",
    "is_room_cap",
    "room_config_of",
    "video_of",
    "with_rooms",
]

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


# -- LiveKit's ``video`` claim --------------------------------------------------------------
#
# Both structs are built from VideoGrants' fields, in LiveKit's camelCase, so a grant added
# there is signed, read back and (listed in REFUSED_GRANTS) refused without an edit here.
# What is written out by hand is what only LiveKit's source says: how it reads the grants
# it does not treat as a plain bool.

_GRANTS: Final = msgspec.structs.fields(VideoGrants)
# What a token Pulse signs may grant: all but the refused grants, in VideoGrants' order.
_SIGNED: Final = tuple(field for field in _GRANTS if field.name not in REFUSED_GRANTS)
# Where a caller's 1 or 0 is signed as true or false (see _checked_video).
_SIGNED_BOOLS: Final = tuple(field.name for field in _SIGNED if field.type is bool)
_BOOLS: Final = (False, True)

#: ``video`` as :meth:`TokenService.mint` writes it: the namespaced room, then each grant
#: but the refused ones, in VideoGrants' order. A grant that is true by default (join,
#: publish, subscribe, publish data) has no default here, so every token states it:
#: LiveKit reads an absent ``roomJoin`` as false and an absent ``canPublishData`` as "same
#: as canPublish", so only an explicit value says exactly what was asked. The others are
#: written only when they differ from their default, which is also what LiveKit reads when
#: they are absent (false, none).
_VideoClaim: Final = msgspec.defstruct(
    "_VideoClaim",
    [
        ("room", str),
        *(
            (field.name, field.type)
            if field.default is True
            else (field.name, field.type, field.default)
            for field in _SIGNED
        ),
    ],
    kw_only=True,
    rename="camel",
    omit_defaults=True,
    gc=False,
    module=__name__,
)
# A claim with the rooms of one token (mint keeps the rest per grants, see _checked_video).
with_rooms: Final = msgspec.structs.replace

#: How LiveKit reads the grants it does not treat as a plain bool (false when absent, null
#: refused), as (type, value when absent): its ``*bool`` fields and their getters
#: (``auth/grants.go``). Every other grant is read with VideoGrants' own type and default.
_LIVEKIT_READING: Final[Mapping[str, tuple[Any, Any]]] = MappingProxyType(
    {
        "room_join": (bool, False),  # where VideoGrants' default is true
        # Optional: None (absent or null) is true for publish and subscribe, and "same as
        # canPublish" for publishing data (see grants_of).
        "can_publish": (bool | None, None),
        "can_subscribe": (bool | None, None),
        "can_publish_data": (bool | None, None),
        # Optional, and false when absent or null.
        "can_update_own_metadata": (bool | None, False),
        "can_subscribe_metrics": (bool | None, False),
        "can_manage_agent_session": (bool | None, False),
        # LiveKit's TrackSource names in any case: lowered and checked by grants_of.
        "can_publish_sources": (list[str] | None, None),
        # The namespaced room; "" (absent) is none.
        "destination_room": (str, ""),
    }
)

#: ``video`` as any LiveKit SDK may have written it (absent: LiveKit's default).
VideoIn: Final = msgspec.defstruct(
    "VideoIn",
    [
        ("room", str, ""),
        *(
            (field.name, *_LIVEKIT_READING.get(field.name, (field.type, field.default)))
            for field in _GRANTS
        ),
    ],
    rename="camel",
    module=__name__,
)


class RoomConfig(msgspec.Struct, frozen=True, rename="camel", gc=False):
    """The token's ``roomConfig``: what LiveKit gives the room when this token's join
    creates it (``CreateRoomRequest``; ignored when the room exists). Pulse sets nothing
    but the plan's participant cap there: the rest of LiveKit's ``RoomConfiguration``
    (egress, agents, ...) reaches beyond the room's own participants."""

    max_participants: int


@functools.lru_cache(maxsize=64)
def room_config_of(max_participants: int) -> RoomConfig:
    """One shared claim per cap: a deployment has a handful of plans."""
    return RoomConfig(max_participants=max_participants)


def is_room_cap(room_config: Mapping[str, Any]) -> bool:
    """Whether a ``roomConfig`` read from a token holds nothing but a participant cap, as
    :meth:`TokenService.mint` writes it (a whole number; 0 is LiveKit's "no limit")."""
    cap = room_config.get("maxParticipants", 0)
    return (
        set(room_config) <= {"maxParticipants"}
        and isinstance(cap, int)
        and not isinstance(cap, bool)
        and cap >= 0
    )


class Claims(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """The JWT claims set; field names are already LiveKit's."""

    iss: str
    sub: str
    nbf: int
    exp: int
    video: msgspec.Struct  # a _VideoClaim
    name: str = ""
    metadata: str = ""
    attributes: dict[str, str] | None = None
    room_config: RoomConfig | None = msgspec.field(default=None, name="roomConfig")


class ClaimsIn(msgspec.Struct):
    """The claims :meth:`TokenService.validate` reads; others are ignored. ``video`` is then
    read as a ``VideoIn``."""

    exp: int | float
    iss: str = ""
    sub: str = ""
    kind: str = ""
    video: dict[str, Any] | None = None
    room_config: dict[str, Any] | None = msgspec.field(default=None, name="roomConfig")


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


def video_of(grants: VideoGrants) -> msgspec.Struct:
    """``grants`` checked (:data:`REFUSED_GRANTS` first, in their order, then the track
    sources) and made a ``video`` claim without its rooms, which depend on the project."""
    try:
        return _checked_video(grants)
    except TypeError:  # unhashable (a list where VideoGrants has a tuple): checked, not kept
        return _checked_video.__wrapped__(grants)


# Projects ask for a handful of distinct grants, the same ones every time, so checking them
# and building their claim once each takes both off the hot path (measured in
# bench/token_signing.py). ``1 == True``, so grants holding 1 and True are one key: the
# claim is built with True either way, so that what is signed never depends on which of
# them came first.
@functools.lru_cache(maxsize=256)
def _checked_video(grants: VideoGrants) -> msgspec.Struct:
    for name, reason in REFUSED_GRANTS.items():
        if getattr(grants, name):
            raise InvalidInput(f"grants.{name} is not allowed: {reason}", field=f"grants.{name}")
    claim = {field.name: getattr(grants, field.name) for field in _SIGNED}
    for name in _SIGNED_BOOLS:
        if claim[name] in _BOOLS:
            claim[name] = bool(claim[name])
    if grants.can_publish_sources is not None:
        claim["can_publish_sources"] = _check_sources(grants.can_publish_sources)
    claim["destination_room"] = None  # namespaced per project by mint
    return _VideoClaim(room="", **claim)


# The default grants are most requests' grants (a body without "grants").
DEFAULT_VIDEO: Final = video_of(DEFAULT_GRANTS)


def grants_of(video: Mapping[str, Any], destination_room: str | None) -> VideoGrants:
    """The request-side view of a verified ``video`` claim (a ``VideoIn`` as a dict), with
    LiveKit's reading of what it leaves out (``auth/grants.go``): publish and subscribe
    default to true, publishing data to ``canPublish``, the other optional grants to what
    :data:`_LIVEKIT_READING` says."""
    grants = {field.name: video[field.name] for field in _GRANTS}
    for name, (_, absent) in _LIVEKIT_READING.items():
        if grants[name] is None and absent is not None:
            grants[name] = absent
    can_publish = True if grants["can_publish"] is None else grants["can_publish"]
    grants["can_publish"] = can_publish
    if grants["can_subscribe"] is None:
        grants["can_subscribe"] = True
    if grants["can_publish_data"] is None:
        grants["can_publish_data"] = can_publish
    sources = grants["can_publish_sources"]
    if sources:
        lowered = tuple(source.lower() for source in sources)
        if not TRACK_SOURCES.issuperset(lowered):
            raise TokenError("malformed")
        grants["can_publish_sources"] = tuple(dict.fromkeys(lowered))
    else:  # LiveKit reads an empty list as "all", like an absent one
        grants["can_publish_sources"] = None
    grants["destination_room"] = destination_room
    return VideoGrants(**grants)
