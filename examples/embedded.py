"""Pulse's core used from plain Python: no HTTP, no servers, no configuration.

Run it: `python examples/embedded.py`. It creates an organization and a project,
authenticates the project's credentials, rotates them with a grace period and shows the
old pair being refused once the grace period is over.
"""

from __future__ import annotations

import asyncio

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import (
    InMemoryHostResolver,
    InMemoryOrganizationRepository,
    InMemoryProjectRepository,
)
from pulse_core.errors import Unauthenticated
from pulse_core.models import ManagementPrincipal, ProjectSettings
from pulse_core.net import AddressPolicy, UrlGuard
from pulse_core.services import (
    CredentialCache,
    CredentialCachingProjectRepository,
    OrganizationService,
    ProjectAuthenticator,
    ProjectService,
)


async def main() -> None:
    clock = ManualClock()  # SystemClock() in a real service
    pepper = b"keep-me-secret"
    orgs, projects = InMemoryOrganizationRepository(), InMemoryProjectRepository()
    # Every project write goes through the caching repository, which drops the written
    # project's cached credentials: a rotation or deletion holds at once in this process.
    cached = CredentialCachingProjectRepository(projects, CredentialCache(clock))
    organizations = OrganizationService(orgs, cached, clock)
    # Every URL a tenant gives is checked against the address policy (no private,
    # loopback or link-local targets); names resolve through a HostResolver port
    # (SystemHostResolver() in a real service).
    urls = UrlGuard(AddressPolicy(), InMemoryHostResolver({"acme.test": ["93.184.216.34"]}))
    project_service = ProjectService(orgs, cached, clock, pepper=pepper, webhook_urls=urls)
    authenticator = ProjectAuthenticator(cached, clock, pepper=pepper)
    operator = ManagementPrincipal.system()

    org = await organizations.create(operator, name="Acme", admin_email="ops@acme.test")
    issued = await project_service.create(
        operator,
        org_id=org.id,
        name="Video app",
        settings=ProjectSettings(webhook_url="https://acme.test/hooks"),
    )
    print("project:", issued.project.id, "key:", issued.project.api_key)

    caller = await authenticator.authenticate(issued.project.api_key, issued.api_secret)
    print("authenticated as:", caller.name)

    rotation = await project_service.regenerate_keys(
        operator, issued.project.id, grace_period_seconds=60
    )
    await authenticator.authenticate(issued.project.api_key, issued.api_secret)
    print("old pair still works until", rotation.previous_key_expires_at)

    clock.advance(61)
    try:
        await authenticator.authenticate(issued.project.api_key, issued.api_secret)
    except Unauthenticated:
        print("old pair refused after the grace period")
    await authenticator.authenticate(rotation.api_key, rotation.api_secret)
    print("new pair works")


if __name__ == "__main__":
    asyncio.run(main())
