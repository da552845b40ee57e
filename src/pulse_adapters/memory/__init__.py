"""In-memory adapters: fast, dependency-free, for unit tests and embedding.

State lives in the process and dies with it. They honour the same contracts as the
persistent adapters (``tests/contract/`` runs the same suites on them).
"""

from pulse_adapters.memory.audit import InMemoryAuditRepository
from pulse_adapters.memory.events import (
    InMemoryDeliveryRepository,
    InMemoryEventRepository,
    InMemoryWebhookEndpointRepository,
)
from pulse_adapters.memory.idempotency import InMemoryIdempotencyStore
from pulse_adapters.memory.keys import InMemoryApiKeyRepository
from pulse_adapters.memory.locks import InMemoryLocks
from pulse_adapters.memory.media_engine import InMemoryMediaEngine
from pulse_adapters.memory.media_records import (
    InMemoryEgressRecordRepository,
    InMemoryIngressRecordRepository,
)
from pulse_adapters.memory.meta import InMemoryMetaRepository
from pulse_adapters.memory.queue import InMemoryJobQueue
from pulse_adapters.memory.rate_limiter import InMemoryRateLimiter
from pulse_adapters.memory.repositories import (
    InMemoryOrganizationRepository,
    InMemoryProjectRepository,
)
from pulse_adapters.memory.resolver import InMemoryHostResolver
from pulse_adapters.memory.room_engine import InMemoryRoomEngine
from pulse_adapters.memory.storage import InMemoryObjectStorage
from pulse_adapters.memory.usage import InMemoryConnectionRepository, InMemoryUsageRepository
from pulse_adapters.memory.usage_journal import InMemoryUsageJournal
from pulse_adapters.memory.users import InMemorySessionRepository, InMemoryUserRepository

__all__ = [
    "InMemoryApiKeyRepository",
    "InMemoryAuditRepository",
    "InMemoryConnectionRepository",
    "InMemoryDeliveryRepository",
    "InMemoryEgressRecordRepository",
    "InMemoryEventRepository",
    "InMemoryHostResolver",
    "InMemoryIdempotencyStore",
    "InMemoryIngressRecordRepository",
    "InMemoryJobQueue",
    "InMemoryLocks",
    "InMemoryMediaEngine",
    "InMemoryMetaRepository",
    "InMemoryObjectStorage",
    "InMemoryOrganizationRepository",
    "InMemoryProjectRepository",
    "InMemoryRateLimiter",
    "InMemoryRoomEngine",
    "InMemorySessionRepository",
    "InMemoryUsageJournal",
    "InMemoryUsageRepository",
    "InMemoryUserRepository",
    "InMemoryWebhookEndpointRepository",
]
