"""Redis adapters: the shared rate limiter (and the job queue), plus client helpers.

Importing this package does no I/O; clients connect on first use.
"""

from pulse_adapters.redis.client import create_redis_client, ping
from pulse_adapters.redis.queue import RedisJobQueue
from pulse_adapters.redis.rate_limiter import RedisRateLimiter

__all__ = ["RedisJobQueue", "RedisRateLimiter", "create_redis_client", "ping"]
