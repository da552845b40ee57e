"""SQLite adapters: Pulse's embedded default persistence, standard library only.

One file, created on first start, survives restarts, safe under concurrent requests and
shared by several processes on one host. Create one :class:`SqliteDatabase`, ``await
connect()`` it, hand it to the repositories, ``await close()`` it on shutdown.
"""

from pulse_adapters.sqlite.audit import SqliteAuditRepository
from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_adapters.sqlite.events import SqliteDeliveryRepository, SqliteEventRepository
from pulse_adapters.sqlite.idempotency import SqliteIdempotencyStore
from pulse_adapters.sqlite.keys import SqliteApiKeyRepository
from pulse_adapters.sqlite.media_records import (
    SqliteEgressRecordRepository,
    SqliteIngressRecordRepository,
)
from pulse_adapters.sqlite.meta import SqliteMetaRepository
from pulse_adapters.sqlite.queue import SqliteJobQueue
from pulse_adapters.sqlite.repositories import (
    SqliteOrganizationRepository,
    SqliteProjectRepository,
)
from pulse_adapters.sqlite.usage import SqliteConnectionRepository, SqliteUsageRepository
from pulse_adapters.sqlite.users import SqliteSessionRepository, SqliteUserRepository
from pulse_adapters.sqlite.webhook_endpoints import SqliteWebhookEndpointRepository

__all__ = [
    "SqliteApiKeyRepository",
    "SqliteAuditRepository",
    "SqliteConnectionRepository",
    "SqliteDatabase",
    "SqliteDeliveryRepository",
    "SqliteEgressRecordRepository",
    "SqliteEventRepository",
    "SqliteIdempotencyStore",
    "SqliteIngressRecordRepository",
    "SqliteJobQueue",
    "SqliteMetaRepository",
    "SqliteOrganizationRepository",
    "SqliteProjectRepository",
    "SqliteSessionRepository",
    "SqliteUsageRepository",
    "SqliteUserRepository",
    "SqliteWebhookEndpointRepository",
]
