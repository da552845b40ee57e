"""Ports: what the domain needs from the outside world, as ABCs whose docstrings are the
contract every adapter must honour (and that ``tests/contract/`` checks)."""

from pulse_core.ports.audit import AuditRepository
from pulse_core.ports.clock import Clock
from pulse_core.ports.idempotency import IdempotencyStore
from pulse_core.ports.keys import ApiKeyRepository
from pulse_core.ports.locks import Locks
from pulse_core.ports.media import MediaEngine
from pulse_core.ports.media_records import EgressRecordRepository, IngressRecordRepository
from pulse_core.ports.meta import MetaRepository
from pulse_core.ports.passwords import PasswordHasher
from pulse_core.ports.queue import JobQueue
from pulse_core.ports.rate_limit import RateLimiter
from pulse_core.ports.repositories import (
    OrganizationRepository,
    ProjectRepository,
)
from pulse_core.ports.resolver import HostResolver
from pulse_core.ports.storage import ObjectStorage
from pulse_core.ports.usage import ConnectionRepository, UsageRepository
from pulse_core.ports.users import SessionRepository, UserRepository

__all__ = [
    "ApiKeyRepository",
    "AuditRepository",
    "Clock",
    "ConnectionRepository",
    "EgressRecordRepository",
    "HostResolver",
    "IdempotencyStore",
    "IngressRecordRepository",
    "JobQueue",
    "Locks",
    "MediaEngine",
    "MetaRepository",
    "ObjectStorage",
    "OrganizationRepository",
    "PasswordHasher",
    "ProjectRepository",
    "RateLimiter",
    "SessionRepository",
    "UsageRepository",
    "UserRepository",
]
