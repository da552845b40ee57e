from __future__ import annotations

from datetime import datetime

import pytest

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryProjectRepository
from pulse_core.errors import Unavailable
from pulse_core.models import Project
from pulse_core.models.audit import AuditRecord
from pulse_core.models.keys import ProjectCredential
from pulse_core.services import CredentialCache, CredentialCachingProjectRepository
from tests.support import builders


def cred(project: Project) -> ProjectCredential:
    return ProjectCredential(project=project, key_id="primary", secret_hash=project.secret_hash)


def test_entries_expire_after_the_ttl(clock: ManualClock) -> None:
    cache = CredentialCache(clock, ttl_seconds=5)
    project = builders.project("org")
    cache.put(project.api_key, cred(project))
    clock.advance(4.9)
    assert cache.get(project.api_key) == cred(project)
    clock.advance(0.2)
    assert cache.get(project.api_key) is None


def test_forget_project_drops_every_key_of_it(clock: ManualClock) -> None:
    cache = CredentialCache(clock)
    project = builders.project("org", previous_key=builders.project("x").api_key)
    other = builders.project("org")
    assert project.previous is not None
    cache.put(project.api_key, cred(project))
    cache.put(project.previous.api_key, cred(project))
    cache.put(other.api_key, cred(other))
    cache.forget_project(project.id)
    assert cache.get(project.api_key) is None and cache.get(project.previous.api_key) is None
    assert cache.get(other.api_key) == cred(other)


def test_size_is_bounded_by_evicting_the_oldest(clock: ManualClock) -> None:
    cache = CredentialCache(clock, max_entries=3)
    projects = [builders.project("org") for _ in range(4)]
    for project in projects:
        cache.put(project.api_key, cred(project))
    assert cache.get(projects[0].api_key) is None
    assert all(cache.get(p.api_key) == cred(p) for p in projects[1:])


def test_zero_ttl_disables_caching(clock: ManualClock) -> None:
    cache = CredentialCache(clock, ttl_seconds=0)
    project = builders.project("org")
    cache.put(project.api_key, cred(project))
    assert cache.get(project.api_key) is None


class _FailingUpdates(InMemoryProjectRepository):
    async def update(self, project: Project, *, audit: AuditRecord | None = None) -> None:
        raise Unavailable("database timed out")

    async def delete_for_organization(self, org_id: str, at: datetime) -> list[str]:
        raise Unavailable("database timed out")


async def test_every_project_write_through_the_repository_drops_its_cached_keys(
    clock: ManualClock,
) -> None:
    cache = CredentialCache(clock)
    inner = InMemoryProjectRepository()
    repository = CredentialCachingProjectRepository(inner, cache)
    project = builders.project("org_A")
    await repository.add(project)
    cache.put(project.api_key, cred(project))

    await repository.update(project)
    assert cache.get(project.api_key) is None

    cache.put(project.api_key, cred(project))
    assert await repository.delete_for_organization(project.org_id, clock.now()) == [project.id]
    assert cache.get(project.api_key) is None


async def test_a_failed_or_timed_out_write_still_drops_the_cached_keys(
    clock: ManualClock,
) -> None:
    # A timeout says nothing about whether the write landed: the entry must go either way.
    cache = CredentialCache(clock)
    repository = CredentialCachingProjectRepository(_FailingUpdates(), cache)
    project, other_org = builders.project("org_A"), builders.project("org_B")
    cache.put(project.api_key, cred(project))
    cache.put(other_org.api_key, cred(other_org))
    with pytest.raises(Unavailable):
        await repository.update(project)
    assert cache.get(project.api_key) is None

    cache.put(project.api_key, cred(project))
    with pytest.raises(Unavailable):
        await repository.delete_for_organization(project.org_id, clock.now())
    assert cache.get(project.api_key) is None
    assert cache.get(other_org.api_key) == cred(other_org)
