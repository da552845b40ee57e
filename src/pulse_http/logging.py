"""Structured logging: pretty in development, JSON in production.

Every line carries the request id (set per request by the middleware in one context
variable, :func:`bind_request_id`). Secrets never reach a log line: fields with
secret-ish names are replaced, and any value that looks like a Pulse secret or a JWT is
masked, wherever it was put by mistake.

The access log, one line per request, is on every request's path (token minting
included), so it does not go through structlog's processor chain: :class:`AccessLog`
writes the same line (same fields, same JSON, same redaction of values) in a few
microseconds instead of about twenty. In console mode (development) it is an ordinary
structlog call.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import sys
import time
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TextIO, cast

import msgspec
import structlog

from pulse_http.settings import Settings

REDACTED = "[redacted]"
_SECRET_NAMES = ("secret", "password", "authorization", "token", "pepper", "cookie")
_SECRET_VALUES = re.compile(
    r"pulse_secret_[0-9A-Za-z]+|whsec_[0-9A-Za-z+/=]+"
    r"|eyJ[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+"
)
# Libraries whose debug output carries credentials or stored documents (pymongo's
# commands hold webhook secrets and key hashes, botocore's requests their Authorization
# header): LOG_LEVEL=debug is Pulse's own debug output, these stay at info and above.
_LIBRARIES = (
    "aiohttp",
    "asyncio",
    "boto3",
    "botocore",
    "httpcore",
    "httpx",
    "livekit",
    "pymongo",
    "redis",
    "s3transfer",
    "urllib3",
)


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if any(name in key.lower() for name in _SECRET_NAMES):
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = _mask(value)
    return event_dict


_REQUEST_ID: ContextVar[str | None] = ContextVar("pulse_request_id", default=None)


def bind_request_id(request_id: str) -> Token[str | None]:
    """Make ``request_id`` part of every log line of the current request (task)."""
    return _REQUEST_ID.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    _REQUEST_ID.reset(token)


def add_request_id(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = _REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


_json_encoder = msgspec.json.Encoder()


def _json_dumps(event_dict: Any, default: Any = None, **_kw: Any) -> str:
    # structlog's JSONRenderer serializer: msgspec instead of json.dumps (compact, and
    # several times faster); ``default`` is structlog's fallback for unknown types.
    return msgspec.json.encode(event_dict, enc_hook=default).decode()


def _mask(value: str) -> str:
    # Spelled out, not a loop over the marks: the access log masks every request's path.
    if "pulse_secret_" in value or "whsec_" in value or "eyJ" in value:
        return _SECRET_VALUES.sub(REDACTED, value)
    return value


class _MaskedRecords(logging.Filter):
    """Masks secret values in the lines of the standard library's loggers (libraries'),
    as :func:`redact_secrets` does in Pulse's own."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _mask(message)
        if masked is not message:
            record.msg, record.args = masked, ()
        return True


class _UtcTimestamp:
    """Now as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes it,
    ``2026-11-25T20:46:32.613079Z`` (always with the microseconds), at a third of the
    cost: the date and time of day are formatted once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            self._second = second
        return f"{self._prefix}{int((now - second) * 1_000_000):06d}Z"


class AccessLog:
    """Writes the access-log line of one request: ``event="request"``, method, path (never
    the query string), status, duration, request id, level and timestamp.

    In JSON mode the line is rendered here as the structlog chain would render it (same
    keys in the same order, same ISO-8601 UTC timestamp format, values masked by the same
    rule, one line each), minus the chain's generic steps; other structlog context
    variables are not merged into it. The lines of one event-loop iteration are written
    and flushed together at its end. Disabled when the log level is above ``info``.
    """

    __slots__ = ("_file", "_json", "_log", "_pending", "_timestamp", "enabled")

    def __init__(self, file: TextIO | None, *, use_json: bool, enabled: bool) -> None:
        self._file = file
        self._json = use_json
        self.enabled = enabled
        self._log = structlog.get_logger("pulse.access").bind()
        self._pending: list[str] = []
        self._timestamp = _UtcTimestamp()

    def __call__(
        self, method: str, path: str, status: int, duration_ms: float, request_id: str
    ) -> None:
        if not self.enabled:
            return
        if not self._json or self._file is None:
            self._log.info(
                "request", method=method, path=path, status=status, duration_ms=duration_ms
            )
            return
        line = _json_encoder.encode(
            {
                "method": _mask(method),
                "path": _mask(path),
                "status": status,
                "duration_ms": duration_ms,
                "event": "request",
                "request_id": request_id,
                "level": "info",
                "timestamp": self._timestamp(),
            }
        )
        # The lines of one event-loop iteration are written together at its end: one
        # write(2) for all of them rather than one per line (under load that was most of
        # a line's cost), whether or not the stream itself is buffered.
        pending = self._pending
        pending.append(line.decode() + "\n")
        if len(pending) > 1:
            return  # a write is already scheduled, and will take this line too
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the pending lines now (also run at exit)."""
        lines, self._pending = self._pending, []
        if lines and self._file is not None:
            self._file.write("".join(lines))
            self._file.flush()


_access_log = AccessLog(None, use_json=False, enabled=True)


class _CurrentStdout:
    """``sys.stdout`` as it is at each write, not as it was when logging was configured:
    whoever replaces it later (a test runner capturing each test's output, an embedding
    application) gets the lines, and no logger is left writing to a stream since
    closed."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


_STDOUT = cast(TextIO, _CurrentStdout())


def configured_access_log() -> AccessLog:
    """The access log as the last :func:`configure_logging` set it up."""
    return _access_log


@atexit.register
def _flush_access_log() -> None:
    _access_log.flush()


def writes_json(settings: Settings) -> bool:
    """Whether log lines are JSON (``LOG_FORMAT``; ``auto``: in production)."""
    return settings.log_format == "json" or (
        settings.log_format == "auto" and settings.is_production
    )


class ServerLineFormatter(logging.Formatter):
    """The ASGI server's own lines (started, workers, stopping) as one JSON object each,
    like Pulse's: ``event``, ``level``, ``logger``, ``timestamp``."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, tz=UTC).isoformat().replace("+00:00", "Z")
        line = {
            "event": _mask(record.getMessage()),
            "level": record.levelname.lower(),
            "logger": "granian",
            "timestamp": at,
        }
        return _json_encoder.encode(line).decode()


def server_logging(settings: Settings) -> dict[str, Any]:
    """granian's logging configuration (its ``log_dictconfig``): at ``LOG_LEVEL``, and in
    JSON when Pulse writes JSON, so that no plain line breaks a JSON log stream."""
    if not writes_json(settings):
        return {}
    formatter = {"()": f"{__name__}.ServerLineFormatter"}
    stdout = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
    return {
        "formatters": {"generic": formatter, "access": formatter},
        "handlers": {
            "console": {**stdout, "formatter": "generic"},
            "access": {**stdout, "formatter": "access"},
        },
    }


def configure_logging(settings: Settings) -> None:
    """Configure structlog once for the process; safe to call again."""
    global _access_log  # noqa: PLW0603 - one process-wide logging configuration
    level = getattr(logging, settings.log_level.upper())
    use_json = writes_json(settings)
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_dumps)
        if use_json
        # The plain formatter: the default one (rich, when installed) prints each
        # frame's local variables, and those hold request headers, secrets included.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stdout.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Tracebacks become text (no locals) before redaction, so a secret in an
            # exception's message is masked like any other value, in every format.
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write per line (print() writes the newline apart): with unbuffered output
        # (PYTHONUNBUFFERED) and several processes on one stdout, lines stay whole.
        logger_factory=structlog.WriteLoggerFactory(_STDOUT),
        # Not cached: reconfiguring (tests, a second app) must take effect everywhere.
        # Hot paths bind a concrete logger once instead (see the access log).
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=_STDOUT, format="%(message)s", force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_MaskedRecords())
    for library in _LIBRARIES:
        logging.getLogger(library).setLevel(max(level, logging.INFO))
    _access_log.flush()
    _access_log = AccessLog(_STDOUT, use_json=use_json, enabled=level <= logging.INFO)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
