"""SQLite adapters: Pulse's embedded default persistence, standard library only.

One file, created on first start, survives restarts, safe under concurrent requests and
shared by several processes on one host. Create one :class:`SqliteDatabase`, ``await
connect()`` it, hand it to the repositories, ``await close()`` it on shutdown.
"""

from pulse_adapters.sqlite.database import SqliteDatabase
from pulse_adapters.sqlite.events import (
    SqliteDeliveryRepository,
    SqliteEventRepository,
    SqliteWebhookEndpointRepository,
)
from pulse_adapters.sqlite.media_records import (
    SqliteEgressRecordRepository,
    SqliteIngressRecordRepository,
)
from pulse_adapters.sqlite.queue import SqliteJobQueue
from pulse_adapters.sqlite.repositories import (
    SqliteOrganizationRepository,
    SqliteProjectRepository,
    SqliteUserRepository,
)
from pulse_adapters.sqlite.usage import SqliteConnectionRepository, SqliteUsageRepository

__all__ = [
    "SqliteConnectionRepository",
    "SqliteDatabase",
    "SqliteDeliveryRepository",
    "SqliteEgressRecordRepository",
    "SqliteEventRepository",
    "SqliteIngressRecordRepository",
    "SqliteJobQueue",
    "SqliteOrganizationRepository",
    "SqliteProjectRepository",
    "SqliteUsageRepository",
    "SqliteUserRepository",
    "SqliteWebhookEndpointRepository",
]
