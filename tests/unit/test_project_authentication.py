"""Project credentials through the service layer, with two replicas sharing a database."""

from __future__ import annotations

import pytest

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryOrganizationRepository, InMemoryProjectRepository
from pulse_core.errors import Unauthenticated
from pulse_core.models import ManagementPrincipal
from pulse_core.services import (
    CredentialCache,
    CredentialCachingProjectRepository,
    OrganizationService,
    ProjectAuthenticator,
    ProjectService,
)
from tests.support.urls import url_guard_for_tests

PEPPER = b"pepper"
ADMIN = ManagementPrincipal.system()


class Replica:
    """One API process: its own credential cache over the shared repositories."""

    def __init__(
        self,
        orgs: InMemoryOrganizationRepository,
        projects: InMemoryProjectRepository,
        clock: ManualClock,
    ) -> None:
        self.cache = CredentialCache(clock, ttl_seconds=5)
        repository = CredentialCachingProjectRepository(projects, self.cache)
        self.auth = ProjectAuthenticator(repository, clock, pepper=PEPPER)
        self.orgs = OrganizationService(orgs, repository, clock)
        self.projects = ProjectService(
            orgs, repository, clock, pepper=PEPPER, webhook_urls=url_guard_for_tests()
        )


@pytest.fixture
def replicas(clock: ManualClock) -> tuple[Replica, Replica]:
    orgs, projects = InMemoryOrganizationRepository(), InMemoryProjectRepository()
    return Replica(orgs, projects, clock), Replica(orgs, projects, clock)


async def test_rotation_holds_at_once_here_and_within_the_ttl_elsewhere(
    replicas: tuple[Replica, Replica], clock: ManualClock
) -> None:
    here, there = replicas
    org = await here.orgs.create(ADMIN, name="Acme", admin_email="ops@acme.test")
    issued = await here.projects.create(ADMIN, org_id=org.id, name="App")
    key, secret = issued.project.api_key, issued.api_secret
    assert (await there.auth.authenticate(key, secret)).id == issued.project.id  # now cached there

    await here.projects.regenerate_keys(ADMIN, issued.project.id)
    with pytest.raises(Unauthenticated):
        await here.auth.authenticate(key, secret)
    # The other replica may serve its cached copy for at most the TTL...
    assert (await there.auth.authenticate(key, secret)).id == issued.project.id
    clock.advance(5)
    # ...and not a moment longer.
    with pytest.raises(Unauthenticated):
        await there.auth.authenticate(key, secret)


async def test_cached_entry_never_lets_a_wrong_secret_through(
    replicas: tuple[Replica, Replica],
) -> None:
    here, _ = replicas
    org = await here.orgs.create(ADMIN, name="Acme", admin_email="ops@acme.test")
    issued = await here.projects.create(ADMIN, org_id=org.id, name="App")
    other = await here.projects.create(ADMIN, org_id=org.id, name="Other")
    await here.auth.authenticate(issued.project.api_key, issued.api_secret)
    with pytest.raises(Unauthenticated):
        await here.auth.authenticate(issued.project.api_key, other.api_secret)


async def test_organization_delete_revokes_every_project_key(
    replicas: tuple[Replica, Replica],
) -> None:
    here, _ = replicas
    org = await here.orgs.create(ADMIN, name="Acme", admin_email="ops@acme.test")
    issued = [await here.projects.create(ADMIN, org_id=org.id, name=f"P{i}") for i in range(3)]
    for item in issued:
        await here.auth.authenticate(item.project.api_key, item.api_secret)
    await here.orgs.delete(ADMIN, org.id)
    for item in issued:
        with pytest.raises(Unauthenticated):
            await here.auth.authenticate(item.project.api_key, item.api_secret)


async def test_malformed_credentials_never_reach_the_database(clock: ManualClock) -> None:
    class Exploding(InMemoryProjectRepository):
        async def get_by_api_key(self, api_key: str) -> None:  # type: ignore[override]
            raise AssertionError("looked up a malformed key")

    repository = CredentialCachingProjectRepository(Exploding(), CredentialCache(clock))
    auth = ProjectAuthenticator(repository, clock, pepper=PEPPER)
    for key, secret in [
        ("pulse_key_x", "pulse_secret_y"),
        ("", ""),
        ("pulse_key_" + "A" * 30, "s"),
    ]:
        with pytest.raises(Unauthenticated):
            await auth.authenticate(key, secret)


async def test_any_string_as_secret_is_a_clean_401_even_on_a_cache_hit(
    replicas: tuple[Replica, Replica],
) -> None:
    here, _ = replicas
    org = await here.orgs.create(ADMIN, name="Acme", admin_email="ops@acme.test")
    issued = await here.projects.create(ADMIN, org_id=org.id, name="App")
    await here.auth.authenticate(issued.project.api_key, issued.api_secret)  # cached now
    for secret in ("", "\ud800", "pulse_secret_" + "\x00" * 46, "é" * 60):
        with pytest.raises(Unauthenticated):
            await here.auth.authenticate(issued.project.api_key, secret)
