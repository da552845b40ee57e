"""Where a project's recordings live in storage, and the ids that name them.

Like :mod:`pulse_core.rooms` for LiveKit room names, this is a naming scheme: pure
functions between what callers see (a room, a path, a ``rec_…`` id) and the keys of
:class:`~pulse_core.ports.storage.ObjectStorage`.

Storage layout
--------------
A project's recordings live under its own prefix (:func:`recordings_prefix`)::

    projects/<project id>/recordings/rooms/<room>/<filepath>    egress of a room
    projects/<project id>/recordings/web/<filepath>             web egress

``<room>`` is the caller's room name with ``%`` written ``%25`` and a leading ``.``
written ``%2E`` (:func:`room_directory`), so ``.`` and ``..`` are valid key segments and
the mapping stays reversible (:func:`recording_of` undoes it). Every segment of a key is
at most :data:`MAX_SEGMENT_BYTES`, so local storage can hold it. Which ``filepath`` an
egress may write is the egress plan's rule
(:func:`pulse_core.services.egress_plan.relative_path`).

Recording ids
-------------
``rec_`` + unpadded base64url of the file's key relative to the project's
``recordings/`` directory. Opaque to callers; resolving one (:func:`recording_key`)
re-checks the key rules, and the service always re-roots the result under the *caller's*
prefix, so an id of another project (or a forged one with ``..``) names a file that does
not exist: ``NotFound``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final
from urllib.parse import unquote

from pulse_core.errors import InvalidInput
from pulse_core.models.media import Recording
from pulse_core.ports.storage import StoredObject, validate_key

RECORDING_PREFIX: Final = "rec_"
#: Longest path segment in bytes: what common filesystems allow (local storage).
MAX_SEGMENT_BYTES: Final = 255

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
# 1024 key bytes take at most 1366 base64 characters; longer is refused before decoding.
_MAX_ID_BODY = 1400


def recordings_prefix(project_id: str) -> str:
    """Where every recording of ``project_id`` lives in storage."""
    return f"projects/{project_id}/recordings/"


def room_directory(room: str | None) -> str:
    """The directory (ending with ``/``) of ``room``'s recordings under a project's
    ``recordings/`` prefix; ``web/`` for web egress (``room`` None)."""
    if room is None:
        return "web/"
    segment = room.replace("%", "%25")
    if segment.startswith("."):
        segment = "%2E" + segment[1:]
    return f"rooms/{segment}/"


def recording_id(relative_key: str) -> str:
    """The opaque id of the file at ``relative_key`` (relative to the recordings prefix)."""
    encoded = base64.urlsafe_b64encode(relative_key.encode("utf-8")).rstrip(b"=")
    return RECORDING_PREFIX + encoded.decode("ascii")


def recording_key(recording: str) -> str | None:
    """The relative key a :func:`recording_id` names, or None for anything that is not
    one (wrong prefix, bad base64, a non-canonical encoding, a key breaking the rules)."""
    if not isinstance(recording, str) or not recording.startswith(RECORDING_PREFIX):
        return None
    body = recording[len(RECORDING_PREFIX) :]
    if len(body) > _MAX_ID_BODY or _BASE64URL.fullmatch(body) is None:
        return None
    try:
        relative = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
        validate_key(relative)
    except (binascii.Error, ValueError, InvalidInput):  # UnicodeDecodeError is a ValueError
        return None
    # One id per file: an alternative encoding of the same bytes is not an id.
    return relative if recording_id(relative) == recording else None


def recording_of(project_id: str, stored: StoredObject) -> Recording:
    """The recording a stored object of ``project_id`` is (its key is under
    :func:`recordings_prefix`): the room and path read back from the layout."""
    relative = stored.key[len(recordings_prefix(project_id)) :]
    room: str | None = None
    path = relative
    if relative.startswith("rooms/"):
        segment, _, rest = relative[len("rooms/") :].partition("/")
        if rest:
            # room_directory only ever writes %25 and %2E, so unquote is its exact inverse.
            room, path = unquote(segment), rest
    elif relative.startswith("web/"):
        path = relative[len("web/") :]
    return Recording(
        id=recording_id(relative),
        room=room,
        path=path,
        size=stored.size,
        created_at=stored.last_modified,
    )


__all__ = [
    "MAX_SEGMENT_BYTES",
    "RECORDING_PREFIX",
    "recording_id",
    "recording_key",
    "recording_of",
    "recordings_prefix",
    "room_directory",
]
