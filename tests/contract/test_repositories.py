"""The repository contract (pulse_core.ports.repositories), run on every backend.

Users, sessions, keys and the audit log: test_access_repositories.py; the ``audit``
argument of the writes: test_audited_writes.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse_core.errors import Conflict, NotFound
from tests.support import builders
from tests.support.builders import T0
from tests.support.repositories import RepoFactory, RepoSet

# -- organizations -------------------------------------------------------------------


async def test_organization_round_trip(repos: RepoSet) -> None:
    org = builders.org()
    await repos.organizations.add(org)
    assert await repos.organizations.get(org.id) == org
    assert (await repos.organizations.get(org.id)).created_at.tzinfo is not None  # type: ignore[union-attr]


async def test_missing_organization_is_none(repos: RepoSet) -> None:
    assert await repos.organizations.get(builders.org().id) is None


async def test_duplicate_live_admin_email_conflicts_and_writes_nothing(repos: RepoSet) -> None:
    first = builders.org(email="ops@acme.test")
    await repos.organizations.add(first)
    second = builders.org(email="ops@acme.test")
    with pytest.raises(Conflict):
        await repos.organizations.add(second)
    assert await repos.organizations.get(second.id) is None


async def test_deleted_organization_frees_its_email_and_disappears(repos: RepoSet) -> None:
    first = builders.org(email="ops@acme.test")
    await repos.organizations.add(first)
    await repos.organizations.update(msgspec.structs.replace(first, is_deleted=True))
    assert await repos.organizations.get(first.id) is None
    assert await repos.organizations.list_page(after=None, limit=10) == []
    second = builders.org(email="ops@acme.test")
    await repos.organizations.add(second)
    assert await repos.organizations.get(second.id) == second


async def test_update_to_a_taken_email_conflicts(repos: RepoSet) -> None:
    a, b = builders.org(email="a@acme.test"), builders.org(email="b@acme.test")
    await repos.organizations.add(a)
    await repos.organizations.add(b)
    with pytest.raises(Conflict):
        await repos.organizations.update(msgspec.structs.replace(b, admin_email="a@acme.test"))
    assert await repos.organizations.get(b.id) == b


async def test_update_replaces_and_missing_update_is_not_found(repos: RepoSet) -> None:
    org = builders.org()
    await repos.organizations.add(org)
    renamed = msgspec.structs.replace(org, name="Renamed", updated_at=T0 + timedelta(seconds=5))
    await repos.organizations.update(renamed)
    assert await repos.organizations.get(org.id) == renamed
    with pytest.raises(NotFound):
        await repos.organizations.update(builders.org())


async def test_organizations_page_in_id_order(repos: RepoSet) -> None:
    orgs = [builders.org() for _ in range(5)]
    for org in reversed(orgs):
        await repos.organizations.add(org)
    expected = sorted(orgs, key=lambda o: o.id)
    first = await repos.organizations.list_page(after=None, limit=2)
    assert first == expected[:2]
    rest = await repos.organizations.list_page(after=first[-1].id, limit=10)
    assert rest == expected[2:]


# -- projects ------------------------------------------------------------------------


async def test_project_round_trip_with_settings_and_previous_key(repos: RepoSet) -> None:
    project = builders.project(builders.org().id, previous_key=builders.project("x").api_key)
    await repos.projects.add(project)
    assert await repos.projects.get(project.id) == project


async def test_project_found_by_current_and_previous_key(repos: RepoSet) -> None:
    old_key = builders.project("x").api_key
    project = builders.project(builders.org().id, previous_key=old_key)
    await repos.projects.add(project)
    assert await repos.projects.get_by_api_key(project.api_key) == project
    assert await repos.projects.get_by_api_key(old_key) == project
    assert await repos.projects.get_by_api_key(builders.project("x").api_key) is None


async def test_api_key_is_unique_even_against_deleted_and_previous_keys(repos: RepoSet) -> None:
    org_id = builders.org().id
    first = builders.project(org_id)
    await repos.projects.add(first)
    await repos.projects.update(msgspec.structs.replace(first, is_deleted=True))
    with pytest.raises(Conflict):
        await repos.projects.add(builders.project(org_id, api_key=first.api_key))
    rotated = builders.project(org_id, previous_key=builders.project("x").api_key)
    await repos.projects.add(rotated)
    assert rotated.previous is not None
    with pytest.raises(Conflict):
        await repos.projects.add(builders.project(org_id, api_key=rotated.previous.api_key))


async def test_rotation_update_moves_the_key(repos: RepoSet) -> None:
    project = builders.project(builders.org().id)
    await repos.projects.add(project)
    new_key = builders.project("x").api_key
    await repos.projects.update(msgspec.structs.replace(project, api_key=new_key))
    assert await repos.projects.get_by_api_key(project.api_key) is None
    found = await repos.projects.get_by_api_key(new_key)
    assert found is not None and found.id == project.id


async def test_deleted_project_is_invisible(repos: RepoSet) -> None:
    project = builders.project(builders.org().id)
    await repos.projects.add(project)
    await repos.projects.update(msgspec.structs.replace(project, is_deleted=True))
    assert await repos.projects.get(project.id) is None
    assert await repos.projects.get_by_api_key(project.api_key) is None
    assert await repos.projects.list_page(org_id=None, after=None, limit=10) == []


async def test_projects_are_listed_per_organization(repos: RepoSet) -> None:
    org_a, org_b = builders.org().id, builders.org().id
    of_a = [builders.project(org_a) for _ in range(3)]
    of_b = [builders.project(org_b) for _ in range(2)]
    for project in of_a + of_b:
        await repos.projects.add(project)
    assert await repos.projects.list_page(org_id=org_a, after=None, limit=10) == sorted(
        of_a, key=lambda p: p.id
    )
    assert await repos.projects.list_page(org_id=org_b, after=None, limit=10) == sorted(
        of_b, key=lambda p: p.id
    )
    everything = await repos.projects.list_page(org_id=None, after=None, limit=10)
    assert everything == sorted(of_a + of_b, key=lambda p: p.id)
    page = await repos.projects.list_page(org_id=org_a, after=None, limit=2)
    assert page == sorted(of_a, key=lambda p: p.id)[:2]
    tail = await repos.projects.list_page(org_id=org_a, after=page[-1].id, limit=2)
    assert tail == sorted(of_a, key=lambda p: p.id)[2:]


async def test_missing_project_update_is_not_found(repos: RepoSet) -> None:
    with pytest.raises(NotFound):
        await repos.projects.update(builders.project(builders.org().id))


async def test_delete_for_organization_cascades_only_there(repos: RepoSet) -> None:
    org_a, org_b = builders.org().id, builders.org().id
    of_a = [builders.project(org_a) for _ in range(2)]
    keep = builders.project(org_b)
    for project in [*of_a, keep]:
        await repos.projects.add(project)
    at = T0 + timedelta(minutes=1)
    deleted = await repos.projects.delete_for_organization(org_a, at)
    assert sorted(deleted) == sorted(p.id for p in of_a)
    for project in of_a:
        assert await repos.projects.get(project.id) is None
        assert await repos.projects.get_by_api_key(project.api_key) is None
    assert await repos.projects.get(keep.id) == keep
    assert await repos.projects.delete_for_organization(org_a, at) == []


async def test_ids_of_organization_include_deleted_projects(repos: RepoSet) -> None:
    org_a, org_b = builders.org().id, builders.org().id
    of_a = [builders.project(org_a) for _ in range(3)]
    for project in [*of_a, builders.project(org_b)]:
        await repos.projects.add(project)
    gone = of_a[1]
    await repos.projects.update(msgspec.structs.replace(gone, is_deleted=True, deleted_at=T0))
    assert await repos.projects.ids_of_organization(org_a) == sorted(p.id for p in of_a)
    assert await repos.projects.ids_of_organization(builders.org().id) == []


# -- when a project's own key pair was last used ---------------------------------------


async def test_touch_keys_only_moves_key_last_used_forward(repos: RepoSet) -> None:
    org_id = builders.org().id
    a, b, c = (builders.project(org_id) for _ in range(3))
    for project in (a, b, c):
        await repos.projects.add(project)
    t1, t2, t3 = (T0 + timedelta(seconds=n) for n in (1, 2, 3))
    unknown = builders.project(org_id).id

    await repos.projects.touch_keys({a.id: t2, b.id: t1, unknown: t3})
    await repos.projects.touch_keys({})
    assert await repos.projects.get(a.id) == msgspec.structs.replace(a, key_last_used_at=t2)
    assert await repos.projects.get(b.id) == msgspec.structs.replace(b, key_last_used_at=t1)
    assert await repos.projects.get(c.id) == c
    # An unknown id is ignored: nothing is made for it.
    assert await repos.projects.get(unknown) is None
    assert await repos.projects.ids_of_organization(org_id) == sorted(p.id for p in (a, b, c))

    # A batch flushed late (older times) changes nothing; a newer one moves forward.
    await repos.projects.touch_keys({a.id: t1, b.id: t3})
    assert await repos.projects.get(a.id) == msgspec.structs.replace(a, key_last_used_at=t2)
    touched_b = msgspec.structs.replace(b, key_last_used_at=t3)
    assert await repos.projects.get(b.id) == touched_b
    assert await repos.projects.get_by_api_key(b.api_key) == touched_b
    listed = await repos.projects.list_page(org_id=org_id, after=None, limit=10)
    assert {p.id: p.key_last_used_at for p in listed} == {a.id: t2, b.id: t3, c.id: None}


async def test_touch_keys_changes_nothing_else_and_writes_no_audit(repos: RepoSet) -> None:
    org_id = builders.org().id
    old_key = builders.project("x").api_key
    used_at = T0 + timedelta(minutes=5)
    # Stored with a time already: it round-trips like any other field.
    project = msgspec.structs.replace(
        builders.project(org_id, previous_key=old_key), key_last_used_at=used_at
    )
    await repos.projects.add(project)
    assert await repos.projects.get(project.id) == project

    later = used_at + timedelta(seconds=1)
    await repos.projects.touch_keys({project.id: later})
    touched = msgspec.structs.replace(project, key_last_used_at=later)
    # Not updated_at, not the settings, not the keys (current and previous still found).
    assert await repos.projects.get(project.id) == touched
    assert await repos.projects.get_by_api_key(project.api_key) == touched
    assert await repos.projects.get_by_api_key(old_key) == touched
    assert await repos.audit.list_page(org_id, limit=10) == []
    assert await repos.audit.list_page(None, limit=10) == []

    # An update writes the time it is given: a rotation starts it again from None...
    rotated = msgspec.structs.replace(
        touched,
        api_key=builders.project("x").api_key,
        previous=None,
        key_last_used_at=None,
        updated_at=later,
    )
    await repos.projects.update(rotated)
    assert await repos.projects.get(project.id) == rotated
    # ...and the next touch sets it, even to a time before the one the old pair had.
    await repos.projects.touch_keys({project.id: used_at})
    assert await repos.projects.get(project.id) == msgspec.structs.replace(
        rotated, key_last_used_at=used_at
    )


# -- the unique rule under arbitrary histories ------------------------------------------

_EMAILS = st.sampled_from(["a@x.test", "b@x.test", "c@x.test"])
_OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["add", "delete", "rename"]), _EMAILS, st.integers(0, 5)),
    max_size=25,
)


# The factory hands out a fresh, empty repository set per example.
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=_OPERATIONS)
def test_admin_email_unique_among_live_organizations(
    repos_factory: RepoFactory, operations: list[tuple[str, str, int]]
) -> None:
    """Against a model: an add or rename succeeds iff no other live org has the email."""

    async def scenario() -> None:
        repo_set = await repos_factory()
        try:
            repo = repo_set.organizations
            live: dict[str, str] = {}  # id -> email: the model
            created = []
            for op, email, pick in operations:
                target = created[pick % len(created)] if created else None
                taken = email in {e for i, e in live.items() if target is None or i != target.id}
                if op == "add" or target is None:
                    org = builders.org(email=email)
                    if email in live.values():
                        with pytest.raises(Conflict):
                            await repo.add(org)
                    else:
                        await repo.add(org)
                        live[org.id] = email
                        created.append(org)
                elif op == "delete":
                    await repo.update(msgspec.structs.replace(target, is_deleted=True))
                    live.pop(target.id, None)
                elif target.id in live:
                    renamed = msgspec.structs.replace(target, admin_email=email)
                    if taken:
                        with pytest.raises(Conflict):
                            await repo.update(renamed)
                    else:
                        await repo.update(renamed)
                        live[target.id] = email
            listed = await repo.list_page(after=None, limit=100)
            assert {o.id: o.admin_email for o in listed} == live
        finally:
            await repo_set.aclose()

    asyncio.run(scenario())
