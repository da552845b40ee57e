"""The numeric settings' bounds, checked by :func:`pulse_http.settings.load_settings`
(PORT and METRICS_PORT are checked there). Outside them a start fails late (a zero
WEBHOOK_CONCURRENCY) or worse, a later call does (a negative timeout, a lifetime past
year 9999, NaN)."""

from __future__ import annotations

import math

from pulse_core.ports.storage import MAX_URL_EXPIRY_SECONDS
from pulse_core.services.projects import MAX_RATE_REQUESTS

_DAY, _YEAR, _TIMEOUT = 86_400, 365 * 86_400, 3600
# (least, most) by field name. _ABOVE: more than the least, not at least.
BOUNDS: dict[str, tuple[int, int]] = {
    "workers": (1, 1024),
    "max_body_bytes": (1, 1 << 30),
    "dns_timeout_seconds": (0, _TIMEOUT),
    "database_timeout_seconds": (0, _TIMEOUT),
    "auth_cache_ttl_seconds": (0, 3600),
    "management_token_max_ttl_seconds": (1, 10 * _YEAR),
    "rate_limit_requests": (1, MAX_RATE_REQUESTS),
    "rate_limit_burst": (1, MAX_RATE_REQUESTS),
    "auth_failure_limit": (1, MAX_RATE_REQUESTS),
    "auth_failure_window_seconds": (1, _DAY),
    "livekit_timeout_seconds": (0, _TIMEOUT),
    "redis_timeout_seconds": (0, _TIMEOUT),
    "recording_url_ttl_seconds": (1, MAX_URL_EXPIRY_SECONDS),
    "webhook_timeout_seconds": (0, _TIMEOUT),
    "webhook_disable_after_hours": (0, 10 * 365 * 24),
    "webhook_visibility_timeout_seconds": (0, _DAY),
    "webhook_concurrency": (1, 10_000),
    "session_ttl_seconds": (1, _YEAR),
    "sign_in_failure_limit": (1, MAX_RATE_REQUESTS),
    "sign_in_failure_window_seconds": (1, _DAY),
    "audit_retention_days": (1, 100 * 365),
    "usage_flush_seconds": (0, 10),  # API.md: usage is visible within 10 seconds
    "usage_reconcile_seconds": (0, _DAY),  # 0: off
}
_ABOVE = {name for name in BOUNDS if name.endswith("timeout_seconds")} | {
    "webhook_disable_after_hours",
    "usage_flush_seconds",
}


def bound_problem(field: str, value: float) -> str | None:
    """Why ``value`` is outside ``field``'s bounds (one line naming the variable)."""
    low, high = BOUNDS[field]
    above = field in _ABOVE
    if math.isfinite(value) and (low < value if above else low <= value) and value <= high:
        return None
    least = f"more than {low}" if above else f"at least {low}"
    return f"{field.upper()}: must be {least} and at most {high}, not {value}"


def visibility_note(visibility_seconds: float, timeout_seconds: float) -> str | None:
    """A job held longer than the visibility timeout is handed to another worker: one
    whose delivery still waits for its answer (up to WEBHOOK_TIMEOUT_SECONDS) is then
    posted twice. Said, not refused: deliveries are at least once, and a short
    visibility timeout brings a crashed worker's jobs back sooner."""
    if visibility_seconds > timeout_seconds:
        return None
    return (
        f"WEBHOOK_VISIBILITY_TIMEOUT_SECONDS ({visibility_seconds:g}) is not more than"
        f" WEBHOOK_TIMEOUT_SECONDS ({timeout_seconds:g}): a delivery waiting that long for"
        " its answer is handed to another worker and posted twice"
    )
