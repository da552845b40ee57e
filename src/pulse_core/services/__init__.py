"""Services: what Pulse does, written against ports only."""

from pulse_core.services.authentication import ManagementAuthenticator, ProjectAuthenticator
from pulse_core.services.credential_cache import (
    CredentialCache,
    CredentialCachingProjectRepository,
)
from pulse_core.services.media import MediaService
from pulse_core.services.organizations import OrganizationPatch, OrganizationService
from pulse_core.services.projects import IssuedProject, KeyRotation, ProjectPatch, ProjectService

__all__ = [
    "CredentialCache",
    "CredentialCachingProjectRepository",
    "IssuedProject",
    "KeyRotation",
    "ManagementAuthenticator",
    "MediaService",
    "OrganizationPatch",
    "OrganizationService",
    "ProjectAuthenticator",
    "ProjectPatch",
    "ProjectService",
]
