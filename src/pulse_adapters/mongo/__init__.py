"""MongoDB adapters: Pulse's shared persistence for running several API replicas.

Built on pymongo's asyncio API (``AsyncMongoClient``). Create one :class:`MongoDatabase`
(``MONGO_URI``, ``MONGO_DB_NAME``), ``await connect()`` it (ping + indexes), hand it to the
repositories, ``await close()`` it on shutdown. Documents keep the original Go service's
collections and field names (see :mod:`pulse_adapters.mongo.repositories`); every index is
described by :func:`index_plan`. Driver errors surface as ``Conflict`` (duplicate key,
with the field) or ``Unavailable`` (down or too slow, within the configured timeout).
Audited writes carry their record in the written document and move it to ``audit_log``
right after (:mod:`pulse_adapters.mongo.outbox`); run ``MongoAuditRepository.settle()``
at start-up and periodically to finish moves a crash cut short.
"""

from pulse_adapters.mongo.audit import MongoAuditRepository
from pulse_adapters.mongo.database import MongoDatabase
from pulse_adapters.mongo.errors import translate, translate_errors
from pulse_adapters.mongo.events import (
    MongoDeliveryRepository,
    MongoEventRepository,
    MongoWebhookEndpointRepository,
)
from pulse_adapters.mongo.idempotency import MongoIdempotencyStore
from pulse_adapters.mongo.indexes import IndexSpec, index_plan
from pulse_adapters.mongo.keys import MongoApiKeyRepository
from pulse_adapters.mongo.meta import MongoMetaRepository
from pulse_adapters.mongo.repositories import (
    MongoOrganizationRepository,
    MongoProjectRepository,
)
from pulse_adapters.mongo.usage import MongoConnectionRepository, MongoUsageRepository
from pulse_adapters.mongo.users import MongoSessionRepository, MongoUserRepository

__all__ = [
    "IndexSpec",
    "MongoApiKeyRepository",
    "MongoAuditRepository",
    "MongoConnectionRepository",
    "MongoDatabase",
    "MongoDeliveryRepository",
    "MongoEventRepository",
    "MongoIdempotencyStore",
    "MongoMetaRepository",
    "MongoOrganizationRepository",
    "MongoProjectRepository",
    "MongoSessionRepository",
    "MongoUsageRepository",
    "MongoUserRepository",
    "MongoWebhookEndpointRepository",
    "index_plan",
    "translate",
    "translate_errors",
]
