"""Services: what Pulse does, written against ports only."""

from pulse_core.services.audit import AuditService
from pulse_core.services.authentication import ManagementAuthenticator, ProjectAuthenticator
from pulse_core.services.credential_cache import (
    CredentialCache,
    CredentialCachingApiKeyRepository,
    CredentialCachingProjectRepository,
)
from pulse_core.services.event_log import EventLog
from pulse_core.services.keys import IssuedKey, KeyService
from pulse_core.services.media import MediaService
from pulse_core.services.organizations import OrganizationPatch, OrganizationService
from pulse_core.services.projects import IssuedProject, KeyRotation, ProjectPatch, ProjectService
from pulse_core.services.quotas import QuotaService
from pulse_core.services.rooms import RoomService
from pulse_core.services.tokens import TokenService
from pulse_core.services.usage import UsageService
from pulse_core.services.users import UserService
from pulse_core.services.webhooks import WebhookService

__all__ = [
    "AuditService",
    "CredentialCache",
    "CredentialCachingApiKeyRepository",
    "CredentialCachingProjectRepository",
    "EventLog",
    "IssuedKey",
    "IssuedProject",
    "KeyRotation",
    "KeyService",
    "ManagementAuthenticator",
    "MediaService",
    "OrganizationPatch",
    "OrganizationService",
    "ProjectAuthenticator",
    "ProjectPatch",
    "ProjectService",
    "QuotaService",
    "RoomService",
    "TokenService",
    "UsageService",
    "UserService",
    "WebhookService",
]
