"""pymongo's exceptions translated into Pulse's, in one place.

Every repository call runs inside :func:`translate_errors`, so callers only ever see the
:mod:`pulse_core.errors` hierarchy for what they can act on:

- a unique-index violation (``DuplicateKeyError``, or code 11000 inside a
  ``BulkWriteError``/``OperationFailure``) becomes :class:`~pulse_core.errors.Conflict`,
  whose ``field`` is the domain field behind the violated index (``admin_email``,
  ``api_key``, ``email`` or ``id``), read from the server's ``keyPattern``;
- an unreachable, failing-over or too-slow server (``ConnectionFailure`` and its
  subclasses ``AutoReconnect``/``NotPrimaryError``/``NetworkTimeout``/
  ``ServerSelectionTimeoutError``/``WaitQueueTimeoutError``, ``ExecutionTimeout``, and any
  ``PyMongoError`` whose ``timeout`` is true) becomes :class:`~pulse_core.errors.Unavailable`.

Anything else (a malformed query, an authorization failure...) is a bug or a
misconfiguration, not a condition a caller can handle, and propagates unchanged. The
original exception is always chained (``raise ... from exc``) so logs keep the driver's
details.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
)

from pulse_core.errors import Conflict, Unavailable

#: Server error codes that mean "duplicate key" (11001 and 12582 are legacy spellings).
DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})

# Document field of a unique index -> the domain field a Conflict names. Both key columns
# of a project (and their combined multikey copy) are "api_key" to the caller: the rule is
# that a key is never stored twice, whichever slot holds it.
_CONFLICT_FIELDS: Mapping[str, str] = {
    "_id": "id",
    "admin_email": "admin_email",
    "email": "email",
    "pulse_api_key": "api_key",
    "previous_api_key": "api_key",
    "api_keys": "api_key",
    "api_key": "api_key",  # api_keys.api_key (keys beyond a project's first)
}

# Servers older than 4.4 (and some proxies) omit keyPattern; the errmsg still names the
# index ("... index: admin_email_1 dup key: ..."), whose name starts with its field.
_INDEX_IN_ERRMSG = re.compile(r"index: (\S+)")


def conflict_field(details: Mapping[str, Any] | None) -> str | None:
    """The domain field behind a duplicate-key error's details, or None if unknown."""
    if not details:
        return None
    key_pattern = details.get("keyPattern")
    if isinstance(key_pattern, Mapping) and key_pattern:
        return _CONFLICT_FIELDS.get(next(iter(key_pattern)))
    match = _INDEX_IN_ERRMSG.search(str(details.get("errmsg", "")))
    if match:
        index_name = match.group(1)
        for field in sorted(_CONFLICT_FIELDS, key=len, reverse=True):
            if index_name.startswith(f"{field}_"):
                return _CONFLICT_FIELDS[field]
    return None


def _conflict(details: Mapping[str, Any] | None) -> Conflict:
    field = conflict_field(details)
    what = f"this {field}" if field else "this value"
    return Conflict(f"an object with {what} already exists", field=field)


def _duplicate_key_details(exc: PyMongoError) -> Mapping[str, Any] | None:
    """The write error of a duplicate key, or None if ``exc`` is not one."""
    if isinstance(exc, BulkWriteError):
        for error in exc.details.get("writeErrors", []):
            if error.get("code") in DUPLICATE_KEY_CODES:
                return dict(error)
        return None
    if isinstance(exc, OperationFailure) and exc.code in DUPLICATE_KEY_CODES:
        return {"errmsg": str(exc), **(exc.details or {})}
    return None


def translate(exc: PyMongoError, action: str) -> Exception:
    """The Pulse error for ``exc``, or ``exc`` itself when it is not one a caller can act
    on. ``action`` ("insert into projects"...) goes into the ``Unavailable`` message."""
    details = _duplicate_key_details(exc)
    if details is not None:
        return _conflict(details)
    if isinstance(exc, (ConnectionFailure, ExecutionTimeout)) or exc.timeout:
        return Unavailable(f"mongodb is unavailable ({action}): {type(exc).__name__}")
    return exc


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Run the body, re-raising driver errors as Pulse errors (see the module doc).

    Works around ``await`` expressions: ``with translate_errors("find projects"): ...``.
    """
    try:
        yield
    except PyMongoError as exc:
        translated = translate(exc, action)
        if translated is exc:
            raise
        raise translated from exc
