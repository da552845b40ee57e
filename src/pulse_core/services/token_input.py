"""What :meth:`~pulse_core.services.tokens.TokenService.mint` checks of a request before
signing: identity, name, metadata, attributes (and their sizes), and the ttl.

Each check returns the value to sign or raises :class:`InvalidInput` naming the field. The
limits are defined here, next to the checks that enforce them, and re-exported by
:mod:`pulse_core.services.tokens`, whose docstring says why they are what they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from pulse_core import rooms
from pulse_core.errors import InvalidInput
from pulse_core.models.project import ProjectSettings
from pulse_core.services import validation
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
    "RESERVED_ATTRIBUTE_PREFIX",
    "check_attributes",
    "check_identity",
    "check_metadata",
    "check_name",
    "token_ttl",
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

# C0 and C1 control characters: what ``unicodedata`` calls category Cc.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
#: What a display name may not hold besides controls (see check_name).
_UNSHOWN: Final = validation.INVISIBLE | {"\u2028", "\u2029"}


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


def check_identity(identity: str) -> str:
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
    if rooms.REPLACEMENT in identity:
        raise InvalidInput(f"identity must not contain {rooms.REPLACEMENT_WHY}", field=field)
    return identity


def check_name(name: str | None) -> str:
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
    # Shown to every other participant: nothing that reorders or hides what is around
    # it ("Alice\u202e(nimda)"), nor a line break.
    if not _UNSHOWN.isdisjoint(name):
        raise InvalidInput(
            "name must not contain invisible, text-direction or line-separator characters",
            field=field,
        )
    return name


def check_metadata(metadata: str | None) -> str:
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


def check_attributes(attributes: Mapping[str, str] | None) -> dict[str, str] | None:
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


def token_ttl(settings: ProjectSettings, ttl_seconds: int | None) -> int:
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
