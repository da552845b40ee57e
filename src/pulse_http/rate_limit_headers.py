"""Rate-limit response headers.

Both the IETF httpapi draft fields and the classic ``X-RateLimit-*`` ones, from one
decision:

- ``RateLimit-Policy: "api";q=<burst>;w=<seconds to earn a full burst back>``
- ``RateLimit: "api";r=<remaining>;t=<reset seconds>``
- ``X-RateLimit-Limit: <burst>``, ``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` (the
  same delta seconds as ``t``, not an epoch).

"Reset" is the seconds until the full allowance is back; on a refused request it is the
seconds until the next request can pass, which is also ``Retry-After``.
"""

from __future__ import annotations

import functools
import math

from pulse_core.ports.rate_limit import RateLimit, RateLimitDecision

Headers = list[tuple[bytes, bytes]]


def whole_seconds(seconds: float) -> int:
    """Seconds rounded up: waiting the announced time must always be enough."""
    return max(0, math.ceil(seconds - 1e-9))


def reset_seconds(decision: RateLimitDecision) -> int:
    if decision.allowed:
        return whole_seconds(decision.reset_after)
    return max(1, whole_seconds(decision.retry_after))


def rate_limit_headers(bucket: str, policy: RateLimit, decision: RateLimitDecision) -> Headers:
    policy_header, limit_header = _policy_headers(bucket, policy, decision.limit)
    reset = str(reset_seconds(decision)).encode()
    remaining = str(decision.remaining).encode()
    return [
        policy_header,
        (b"ratelimit", b'"%s";r=%s;t=%s' % (bucket.encode(), remaining, reset)),
        limit_header,
        (b"x-ratelimit-remaining", remaining),
        (b"x-ratelimit-reset", reset),
    ]


# What depends on the policy only is built once per (bucket, policy), not per request.
@functools.lru_cache(maxsize=1024)
def _policy_headers(
    bucket: str, policy: RateLimit, limit: int
) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    window = max(1, whole_seconds(policy.burst * policy.period_seconds / policy.requests))
    limit_bytes = str(limit).encode()
    return (
        (b"ratelimit-policy", b'"%s";q=%s;w=%d' % (bucket.encode(), limit_bytes, window)),
        (b"x-ratelimit-limit", limit_bytes),
    )
