"""Command errors, sent back the way mongod sends them.

:class:`CommandError` is what every command handler raises; ``_error_from_exception``
turns anything else (mongomock's pymongo errors, Python errors) into one, and
``_duplicate_key_error`` builds the ``E11000 ...`` error of a unique index violation
with the ``keyPattern``/``keyValue`` fields pymongo exposes. ``Document`` (a decoded
BSON document) is defined here because every other module of the package uses it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.errors import OperationFailure as _PyMongoOperationFailure

log = logging.getLogger(__package__)  # one logger for the package, as before the split

Document = dict[str, Any]

_EPOCH = datetime(1970, 1, 1)  # naive UTC, matching stored datetimes

# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------

_CODE_NAMES: dict[int, str] = {
    1: "InternalError",
    2: "BadValue",
    9: "FailedToParse",
    14: "TypeMismatch",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    43: "CursorNotFound",
    48: "NamespaceExists",
    59: "CommandNotFound",
    67: "CannotCreateIndex",
    72: "InvalidOptions",
    73: "InvalidNamespace",
    85: "IndexOptionsConflict",
    86: "IndexKeySpecsConflict",
    238: "NotImplemented",
    11000: "DuplicateKey",
}


class CommandError(Exception):
    """A command failure, sent back the way mongod sends it.

    As a command reply it is ``{ok: 0, errmsg, code, codeName, ...extra}``. As a write
    error it becomes an entry in ``writeErrors``. ``extra`` carries fields such as
    ``keyPattern``/``keyValue`` that pymongo exposes on its exceptions.
    """

    def __init__(self, code: int, errmsg: str, **extra: Any) -> None:
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg
        self.extra = extra

    @property
    def code_name(self) -> str:
        return _CODE_NAMES.get(self.code, "UnknownError")

    def to_reply(self) -> Document:
        return {
            "ok": 0.0,
            "errmsg": self.errmsg,
            "code": self.code,
            "codeName": self.code_name,
            **self.extra,
        }

    def to_write_error(self, index: int) -> Document:
        return {"index": index, "code": self.code, "errmsg": self.errmsg, **self.extra}


def _error_from_exception(exc: BaseException) -> CommandError:
    """Turn mongomock/pymongo/Python exceptions into real-shaped command errors."""
    if isinstance(exc, CommandError):
        return exc
    if isinstance(exc, _PyMongoOperationFailure):  # mongomock raises pymongo's error classes
        code = exc.code if isinstance(exc.code, int) else 2
        return CommandError(code, str(exc))
    if isinstance(exc, NotImplementedError):
        return CommandError(238, f"not supported by the mongomock wire server: {exc}")
    if isinstance(exc, (TypeError, ValueError, KeyError)):
        return CommandError(2, str(exc) or type(exc).__name__)
    log.exception("mongo wire server: unexpected error while executing a command")
    return CommandError(1, f"{type(exc).__name__}: {exc}")


def _format_key_value(value: Any) -> str:
    """Render a value the way mongod prints it in ``dup key: { ... }`` messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, datetime):
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return f"new Date({(naive - _EPOCH) // timedelta(milliseconds=1)})"
    if isinstance(value, Mapping):
        return _format_key_document(value)
    if isinstance(value, list):
        return "[ " + ", ".join(_format_key_value(item) for item in value) + " ]"
    return str(value)


def _format_key_document(doc: Mapping[str, Any]) -> str:
    if not doc:
        return "{}"
    return "{ " + ", ".join(f"{k}: {_format_key_value(v)}" for k, v in doc.items()) + " }"


def _duplicate_key_error(
    ns: str, index_name: str, key_pattern: Mapping[str, Any], key_value: Mapping[str, Any]
) -> CommandError:
    errmsg = (
        f"E11000 duplicate key error collection: {ns} index: {index_name} "
        f"dup key: {_format_key_document(key_value)}"
    )
    return CommandError(11000, errmsg, keyPattern=dict(key_pattern), keyValue=dict(key_value))
