"""Per-project room namespacing: one LiveKit deployment, many tenants' rooms.

A caller names rooms freely inside its project ("demo"); LiveKit sees
``<project id>_<room>``, e.g. ``prj_01JD5Y4R8M2N3P4Q5R6S7T8V9W_demo``. The caller only ever
sees its own names: :func:`to_livekit` on the way in, :func:`from_livekit` on the way out
(LiveKit webhooks, room listings).

Why this mapping is safe
------------------------
A project id is always ``prj_`` + 26 Crockford base32 characters: exactly
``ID_LENGTH`` = 30 ASCII characters (:func:`pulse_core.ids.is_valid_id`). So

    to_livekit(p, r) = p + "_" + r        with len(p) == 30

1. *Reversible, hence collision-free.* Given a name ``s`` made this way, ``p = s[:30]`` and
   ``r = s[31:]``: the split is positional, never a search for a separator, so it does not
   matter what ``r`` contains (underscores, another ``prj_…_`` prefix, anything). A function
   with a left inverse is injective: distinct ``(p, r)`` pairs give distinct names.
2. *No room escapes its project.* Every name of project ``A`` starts with ``A + "_"``; its
   first 30 characters are ``A``. For a project ``B != A`` the first 30 characters differ, so
   no room string ``r`` makes ``to_livekit(A, r)`` equal ``to_livekit(B, r')`` or start with
   ``B``'s prefix, and :func:`from_livekit` (which reads the project from those 30
   characters) can never attribute ``A``'s room to ``B``.
3. *Exact inverse.* :func:`from_livekit` accepts exactly the image of :func:`to_livekit`:
   a valid project id, the ``_``, then a room :func:`validate_room` accepts. Anything else
   (rooms created on the LiveKit server by other means) is ``None``.

The separator ``_`` is not needed for (1)-(3); it is there so the names read well in
LiveKit's own tools and so a non-Pulse name is rejected cheaply.

Room names
----------
LiveKit accepts any UTF-8 string up to ``limit.max_room_name_length`` bytes (256 by
default). Pulse is deliberately stricter, because room names flow into LiveKit egress file
names, object-storage keys, URLs, logs and dashboards, and a rule can be relaxed later but
never tightened without breaking customers. A room is 1 to ``MAX_ROOM_LENGTH`` characters
and at most ``MAX_ROOM_BYTES`` bytes of UTF-8 (so the namespaced name fits LiveKit's 256),
printable (``str.isprintable``: no control, format/invisible, surrogate, private-use,
unassigned or line/paragraph-separator characters; the ASCII space is the only space),
without leading or trailing spaces, without ``/`` or ``\\`` (path separators turn into
directories, or worse ``..`` traversals, when a room name lands in a recording path), and
without U+FFFD (:data:`REPLACEMENT`).
Names are compared code point by code point, exactly as LiveKit does: no case folding and
no Unicode normalization, so what the caller sends is what it gets back.
"""

from __future__ import annotations

import functools
from typing import Final

from pulse_core import ids
from pulse_core.errors import InvalidInput

SEPARATOR: Final = "_"
#: Length of a project id: ``prj_`` + 26 Crockford base32 characters.
ID_LENGTH: Final = len(ids.PROJECT) + 1 + 26
#: Length of the ``<project id>_`` prefix every Pulse LiveKit room name starts with.
PREFIX_LENGTH: Final = ID_LENGTH + len(SEPARATOR)
#: LiveKit's default ``limit.max_room_name_length`` (bytes, as Go's ``len``).
LIVEKIT_MAX_ROOM_NAME_BYTES: Final = 256
MAX_ROOM_LENGTH: Final = 128
MAX_ROOM_BYTES: Final = LIVEKIT_MAX_ROOM_NAME_BYTES - PREFIX_LENGTH
#: What bytes that are not UTF-8 become when a path is decoded: a name holding it would
#: be reached by every malformed spelling (``%FF``, ``%FE``, ``%80``…), so no name does.
REPLACEMENT: Final = "\ufffd"
REPLACEMENT_WHY: Final = "U+FFFD, the replacement character (what bytes that are not UTF-8 become)"


def validate_room(room: str, field: str = "room") -> str:
    """``room`` unchanged if it is a valid caller room name; :class:`InvalidInput` naming
    ``field`` otherwise (rules in the module docstring)."""
    # The common case, short printable ASCII, in one expression at C speed; the rules are
    # spelled out one by one only to reject, or for non-ASCII names.
    if (
        type(room) is str
        and 0 < len(room) <= MAX_ROOM_LENGTH
        and room.isascii()
        and room.isprintable()
        and room[0] != " "
        and room[-1] != " "
        and "/" not in room
        and "\\" not in room
    ):
        return room
    if not isinstance(room, str) or not room:
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    if len(room) > MAX_ROOM_LENGTH:
        raise InvalidInput(f"{field} must be at most {MAX_ROOM_LENGTH} characters", field=field)
    if not room.isprintable():
        raise InvalidInput(f"{field} must not contain control or invisible characters", field=field)
    # isprintable() leaves the ASCII space as the only whitespace that can get here.
    if room[0] == " " or room[-1] == " ":
        raise InvalidInput(f"{field} must not start or end with whitespace", field=field)
    if "/" in room or "\\" in room:
        raise InvalidInput(f"{field} must not contain '/' or '\\'", field=field)
    if REPLACEMENT in room:
        raise InvalidInput(f"{field} must not contain {REPLACEMENT_WHY}", field=field)
    # isascii() is O(1) in CPython; only non-ASCII names pay for an encode. Printable
    # strings hold no surrogates, so the encode cannot fail.
    if not room.isascii() and len(room.encode("utf-8")) > MAX_ROOM_BYTES:
        raise InvalidInput(f"{field} must be at most {MAX_ROOM_BYTES} bytes of UTF-8", field=field)
    return room


@functools.lru_cache(maxsize=4096)
def project_prefix(project_id: str) -> str:
    """``<project id>_``: every LiveKit room of the project starts with it (for filtering
    a LiveKit room listing). :class:`ValueError` if ``project_id`` is not a project id."""
    # Cached: a token mint needs it every time, for a handful of busy projects, and the id
    # regex costs more than the cache lookup. Failures raise, so they are never cached.
    if len(project_id) != ID_LENGTH or not ids.is_valid_id(project_id, ids.PROJECT):
        # A programming error, not user input: project ids come from the repository.
        raise ValueError(f"not a project id: {project_id!r}")
    return project_id + SEPARATOR


def to_livekit(project_id: str, room: str) -> str:
    """The LiveKit room name of the caller's ``room`` in project ``project_id``.

    :class:`InvalidInput` (field ``room``) for an invalid room; :class:`ValueError` for a
    malformed project id.
    """
    return project_prefix(project_id) + validate_room(room)


def from_livekit(livekit_room: str) -> tuple[str, str] | None:
    """``(project_id, room)`` for a name :func:`to_livekit` made, ``None`` for any other
    name: ``from_livekit(to_livekit(p, r)) == (p, r)``, and whenever the result is not
    ``None``, ``to_livekit(*from_livekit(s)) == s``."""
    if len(livekit_room) <= PREFIX_LENGTH or livekit_room[ID_LENGTH] != SEPARATOR:
        return None
    project_id = livekit_room[:ID_LENGTH]
    if not ids.is_valid_id(project_id, ids.PROJECT):
        return None
    room = livekit_room[PREFIX_LENGTH:]
    try:
        validate_room(room)
    except InvalidInput:
        return None
    return project_id, room


def room_in_project(project_id: str, livekit_room: str) -> str | None:
    """The caller's name of ``livekit_room`` when it is a room of project ``project_id``,
    ``None`` for any other name (another project's room, or one made outside Pulse): what
    a project's room listing keeps of the media server's."""
    found = from_livekit(livekit_room)
    if found is None or found[0] != project_id:
        return None
    return found[1]
