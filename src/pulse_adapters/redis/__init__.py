"""Redis adapters: the shared rate limiter, the job queue, locks and idempotency records,
plus client helpers.

Importing this package does no I/O; clients connect on first use.
"""

from pulse_adapters.redis.client import create_redis_client, ping
from pulse_adapters.redis.idempotency import RedisIdempotencyStore
from pulse_adapters.redis.locks import RedisLocks
from pulse_adapters.redis.queue import RedisJobQueue
from pulse_adapters.redis.rate_limiter import RedisRateLimiter

__all__ = [
    "RedisIdempotencyStore",
    "RedisJobQueue",
    "RedisLocks",
    "RedisRateLimiter",
    "create_redis_client",
    "ping",
]
