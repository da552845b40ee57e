"""Domain models: frozen msgspec structs, timezone-aware UTC times, prefixed ids."""

from pulse_core.models.organization import Organization
from pulse_core.models.page import Page
from pulse_core.models.principal import ManagementPrincipal, Role
from pulse_core.models.project import (
    PreviousCredential,
    Project,
    ProjectSettings,
    RateLimitSettings,
)
from pulse_core.models.usage import OpenConnection, UsageRecord, UsageTotal
from pulse_core.models.user import User

__all__ = [
    "ManagementPrincipal",
    "OpenConnection",
    "Organization",
    "Page",
    "PreviousCredential",
    "Project",
    "ProjectSettings",
    "RateLimitSettings",
    "Role",
    "UsageRecord",
    "UsageTotal",
    "User",
]
