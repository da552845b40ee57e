"""Structured logging: pretty in development, JSON in production.

Every line carries the request id (bound per request in contextvars by the middleware).
Secrets never reach a log line: fields with secret-ish names are replaced, and any value
that looks like a Pulse secret or a JWT is masked, wherever it was put by mistake.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from pulse_http.settings import Settings

REDACTED = "[redacted]"
_SECRET_NAMES = ("secret", "password", "authorization", "token", "pepper", "cookie")
_SECRET_VALUES = re.compile(
    r"pulse_secret_[0-9A-Za-z]+|eyJ[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+"
)


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if any(name in key.lower() for name in _SECRET_NAMES):
            event_dict[key] = REDACTED
        elif isinstance(value, str) and ("pulse_secret_" in value or "eyJ" in value):
            event_dict[key] = _SECRET_VALUES.sub(REDACTED, value)
    return event_dict


def configure_logging(settings: Settings) -> None:
    """Configure structlog once for the process; safe to call again."""
    level = getattr(logging, settings.log_level.upper())
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and settings.is_production
    )
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info if use_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        # Not cached: reconfiguring (tests, a second app) must take effect everywhere.
        # Hot paths bind a concrete logger once instead (see the access log).
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stdout, format="%(message)s", force=True)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
