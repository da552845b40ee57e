from __future__ import annotations

from pulse_adapters.clock import ManualClock
from pulse_core.services import CredentialCache
from tests.support import builders


def test_entries_expire_after_the_ttl(clock: ManualClock) -> None:
    cache = CredentialCache(clock, ttl_seconds=5)
    project = builders.project("org")
    cache.put(project.api_key, project)
    clock.advance(4.9)
    assert cache.get(project.api_key) == project
    clock.advance(0.2)
    assert cache.get(project.api_key) is None


def test_forget_project_drops_every_key_of_it(clock: ManualClock) -> None:
    cache = CredentialCache(clock)
    project = builders.project("org", previous_key=builders.project("x").api_key)
    other = builders.project("org")
    assert project.previous is not None
    cache.put(project.api_key, project)
    cache.put(project.previous.api_key, project)
    cache.put(other.api_key, other)
    cache.forget_project(project.id)
    assert cache.get(project.api_key) is None and cache.get(project.previous.api_key) is None
    assert cache.get(other.api_key) == other


def test_size_is_bounded_by_evicting_the_oldest(clock: ManualClock) -> None:
    cache = CredentialCache(clock, max_entries=3)
    projects = [builders.project("org") for _ in range(4)]
    for project in projects:
        cache.put(project.api_key, project)
    assert cache.get(projects[0].api_key) is None
    assert all(cache.get(p.api_key) == p for p in projects[1:])


def test_zero_ttl_disables_caching(clock: ManualClock) -> None:
    cache = CredentialCache(clock, ttl_seconds=0)
    project = builders.project("org")
    cache.put(project.api_key, project)
    assert cache.get(project.api_key) is None
