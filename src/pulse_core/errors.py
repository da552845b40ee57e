"""The one error hierarchy of Pulse.

Every failure a caller can act on is a :class:`PulseError`. Adapters translate their
drivers' exceptions into these at the boundary (``raise Conflict(...) from exc``) and the
HTTP shell maps each class to one status code in one place. ``code`` is a stable,
machine-readable string; ``field`` names the offending input when there is one.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "PulseError",
    "QuotaExceeded",
    "RateLimited",
    "Unauthenticated",
    "Unavailable",
    "Unprocessable",
]


class PulseError(Exception):
    """Base of every error Pulse raises on purpose."""

    code: str = "error"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(PulseError):
    """The request is malformed or violates a rule; ``field`` says which input."""

    code = "invalid_input"


class Unprocessable(PulseError):
    """The request is well-formed but cannot be carried out as sent (an
    ``Idempotency-Key`` already used for a different request)."""

    code = "unprocessable"


class NotFound(PulseError):
    """The object does not exist, or belongs to another tenant (never say which)."""

    code = "not_found"


class Conflict(PulseError):
    """A uniqueness rule would be broken (duplicate email, key, ...)."""

    code = "conflict"


class Unauthenticated(PulseError):
    """Credentials are missing, malformed, unknown, revoked or wrong (never say which)."""

    code = "unauthenticated"


class PermissionDenied(PulseError):
    """Valid credentials that may not perform this action."""

    code = "permission_denied"


#: How a plan's limit is raised, the end of every refusal of one: plans are the platform
#: admins' to change (an owner sees this too, and cannot).
LARGER_PLAN = "a platform admin can move the organization to a larger plan"


class QuotaExceeded(PermissionDenied):
    """The organization's plan does not allow this: ``limit`` (its name) is ``value``
    and ``used`` of it is in use (or counted this month) already."""

    code = "quota_exceeded"

    def __init__(
        self, limit: str, *, value: int, used: int, detail: str = "", field: str | None = None
    ) -> None:
        super().__init__(
            detail or (f"the plan's {limit} is {value} and {used} is in use; {LARGER_PLAN}"),
            field=field,
        )
        self.limit = limit
        self.value = value
        self.used = used


class RateLimited(PulseError):
    """Too many requests; ``retry_after`` is the number of seconds to wait."""

    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after


class Unavailable(PulseError):
    """A backend (database, cache, media server, storage) is down or too slow."""

    code = "unavailable"
