"""Redis adapters: the shared rate limiter, the job queue and locks, plus client helpers.

Importing this package does no I/O; clients connect on first use.
"""

from pulse_adapters.redis.client import create_redis_client, ping
from pulse_adapters.redis.locks import RedisLocks
from pulse_adapters.redis.queue import RedisJobQueue
from pulse_adapters.redis.rate_limiter import RedisRateLimiter

__all__ = ["RedisJobQueue", "RedisLocks", "RedisRateLimiter", "create_redis_client", "ping"]
