"""Ports: what the domain needs from the outside world, as ABCs whose docstrings are the
contract every adapter must honour (and that ``tests/contract/`` checks)."""

from pulse_core.ports.clock import Clock
from pulse_core.ports.media import MediaEngine
from pulse_core.ports.media_records import EgressRecordRepository, IngressRecordRepository
from pulse_core.ports.queue import JobQueue
from pulse_core.ports.rate_limit import RateLimiter
from pulse_core.ports.repositories import (
    OrganizationRepository,
    ProjectRepository,
    UsageRepository,
    UserRepository,
)
from pulse_core.ports.resolver import HostResolver
from pulse_core.ports.storage import ObjectStorage

__all__ = [
    "Clock",
    "EgressRecordRepository",
    "HostResolver",
    "IngressRecordRepository",
    "JobQueue",
    "MediaEngine",
    "ObjectStorage",
    "OrganizationRepository",
    "ProjectRepository",
    "RateLimiter",
    "UsageRepository",
    "UserRepository",
]
