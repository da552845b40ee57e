"""SQLite's errors as Pulse's: a UNIQUE violation becomes
:class:`~pulse_core.errors.Conflict` (``field`` = the offending column); a locked, busy,
interrupted, unreadable or full database becomes :class:`~pulse_core.errors.Unavailable`;
anything else (bad SQL, a violated NOT NULL or CHECK) is a bug and stays itself."""

from __future__ import annotations

import re
import sqlite3

from pulse_core.errors import Conflict, Unavailable

# Primary result codes that mean "the storage cannot serve now", not "the request is
# wrong": the caller may retry later, the HTTP shell answers 503.
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_INTERRUPT,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)
_UNIQUE_CODES = frozenset({sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY})
_UNIQUE_MESSAGE = re.compile(r"UNIQUE constraint failed: (\w+)\.(\w+)")
_CONFLICT_DETAILS = {
    ("organizations", "admin_email"): "an organization with this admin_email exists",
    ("project_keys", "api_key"): "api key already exists",
    ("users", "email"): "a user with this email exists",
    ("api_keys", "api_key"): "api key already exists",
}


def translate(exc: sqlite3.Error) -> Exception:
    """The Pulse error for ``exc``, or ``exc`` itself when it is a bug (bad SQL, a
    violated NOT NULL/CHECK...), which must surface as such and not as an outage."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.IntegrityError) and code in _UNIQUE_CODES:
        match = _UNIQUE_MESSAGE.search(str(exc))
        if match is None:
            return Conflict("a uniqueness rule would be broken")
        table, column = match.groups()
        detail = _CONFLICT_DETAILS.get((table, column), f"{table}.{column} already exists")
        return Conflict(detail, field=column)
    if code is not None and code & 0xFF in _UNAVAILABLE_CODES:
        return Unavailable(f"SQLite database unavailable: {exc}")
    return exc
