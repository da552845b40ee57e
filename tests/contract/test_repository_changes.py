"""Changes that must be one step, on every backend: ``change`` of organizations, users,
projects and webhook endpoints (a read and a write together, so that concurrent changes
all land, and a refused change writes nothing) and ``ApiKeyRepository.revoke`` (once,
and nothing but ``revoked_at``).

Their audit records follow the audited-writes rules (test_audited_writes.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import msgspec
import pytest

from pulse_core import ids
from pulse_core.errors import Conflict
from pulse_core.models import Organization, Project
from pulse_core.models.events import WebhookEndpoint
from pulse_core.models.user import User
from tests.support import builders
from tests.support.builders import T0
from tests.support.repositories import RepoSet

LATER = T0 + timedelta(minutes=1)


def _renamed(name: str) -> Callable[[User], User]:
    return lambda stored: msgspec.structs.replace(stored, name=name, updated_at=LATER)


async def test_a_change_is_stored_and_returned(repos: RepoSet) -> None:
    ada = builders.user(builders.org().id)
    await repos.users.add(ada)
    changed = await repos.users.change(ada.id, _renamed("Ada L."))
    assert changed == msgspec.structs.replace(ada, name="Ada L.", updated_at=LATER)
    assert await repos.users.get(ada.id) == changed
    assert await repos.users.get_by_email(ada.email) == changed


async def test_a_missing_or_removed_user_is_none_and_change_is_not_called(
    repos: RepoSet,
) -> None:
    calls: list[User] = []

    def change(stored: User) -> User:
        calls.append(stored)
        return stored

    gone = builders.user(builders.org().id)
    await repos.users.add(gone)
    await repos.users.update(msgspec.structs.replace(gone, removed_at=T0))
    assert await repos.users.change(gone.id, change) is None
    assert await repos.users.change(builders.user("org_x").id, change) is None
    assert calls == []


async def test_what_the_change_raises_propagates_and_nothing_is_written(repos: RepoSet) -> None:
    ada = builders.user(builders.org().id)
    await repos.users.add(ada)

    def refuse(stored: User) -> User:
        raise Conflict("no", code="last_owner")

    with pytest.raises(Conflict):
        await repos.users.change(ada.id, refuse)
    assert await repos.users.get(ada.id) == ada


@pytest.mark.parametrize("field", ["id", "org_id"])
async def test_a_change_must_keep_the_users_identity(repos: RepoSet, field: str) -> None:
    ada = builders.user(builders.org().id)
    await repos.users.add(ada)
    other = builders.user(builders.org().id)
    with pytest.raises(ValueError, match="keep the user's id and organization"):
        await repos.users.change(
            ada.id, lambda s: msgspec.structs.replace(s, **{field: getattr(other, field)})
        )
    assert await repos.users.get(ada.id) == ada
    assert await repos.users.get(other.id) is None


async def test_a_change_to_a_taken_email_conflicts_and_writes_nothing(repos: RepoSet) -> None:
    org_id = builders.org().id
    await repos.users.add(builders.user(org_id, email="ada@acme.test"))
    bob = builders.user(org_id, email="bob@acme.test")
    await repos.users.add(bob)
    with pytest.raises(Conflict) as caught:
        await repos.users.change(
            bob.id, lambda s: msgspec.structs.replace(s, email="ada@acme.test", name="B")
        )
    assert caught.value.field == "email"
    assert await repos.users.get(bob.id) == bob


async def test_concurrent_changes_of_one_user_all_land(repos: RepoSet) -> None:
    # Each appends to the name it is given: a change made on a stale read loses letters.
    ada = msgspec.structs.replace(builders.user(builders.org().id), name="")
    await repos.users.add(ada)
    letters = "abcde"

    def appending(letter: str) -> Callable[[User], User]:
        return lambda stored: msgspec.structs.replace(stored, name=stored.name + letter)

    await asyncio.gather(*(repos.users.change(ada.id, appending(c)) for c in letters))
    stored = await repos.users.get(ada.id)
    assert stored is not None and sorted(stored.name) == list(letters)


async def test_a_change_keeps_a_sign_in_recorded_since_the_caller_read(repos: RepoSet) -> None:
    ada = builders.user(builders.org().id)
    await repos.users.add(ada)
    await repos.users.record_sign_in(ada.id, LATER)
    changed = await repos.users.change(ada.id, _renamed("Ada L."))
    assert changed is not None and changed.last_login_at == LATER
    assert await repos.users.get(ada.id) == changed


# -- keys -------------------------------------------------------------------------------


async def test_a_key_is_revoked_once_and_keeps_its_last_use(repos: RepoSet) -> None:
    key = builders.api_key("prj_a", "org_a")
    await repos.api_keys.add(key)
    await repos.api_keys.touch({key.id: LATER})  # after the caller read the key
    assert await repos.api_keys.revoke("prj_a", key.id, LATER) is True
    revoked = msgspec.structs.replace(key, revoked_at=LATER, last_used_at=LATER)
    assert await repos.api_keys.get("prj_a", key.id) == revoked
    assert await repos.api_keys.revoke("prj_a", key.id, LATER + timedelta(hours=1)) is False
    assert await repos.api_keys.get("prj_a", key.id) == revoked
    assert await repos.api_keys.get_by_api_key(key.api_key) == revoked


async def test_an_unknown_or_foreign_key_is_not_revoked(repos: RepoSet) -> None:
    key = builders.api_key("prj_a", "org_a")
    await repos.api_keys.add(key)
    assert await repos.api_keys.revoke("prj_b", key.id, LATER) is False
    assert (
        await repos.api_keys.revoke("prj_a", builders.api_key("prj_a", "org_a").id, LATER) is False
    )
    assert await repos.api_keys.get("prj_a", key.id) == key


async def test_of_revocations_at_once_exactly_one_revokes(repos: RepoSet) -> None:
    key = builders.api_key("prj_a", "org_a")
    await repos.api_keys.add(key)
    times = [LATER + timedelta(seconds=n) for n in range(4)]
    results = await asyncio.gather(*(repos.api_keys.revoke("prj_a", key.id, t) for t in times))
    assert sorted(results) == [False, False, False, True]
    stored = await repos.api_keys.get("prj_a", key.id)
    assert stored is not None and stored.revoked_at == times[results.index(True)]


# -- organizations ----------------------------------------------------------------------


async def test_an_organization_change_is_stored_and_never_revives_a_deleted_one(
    repos: RepoSet,
) -> None:
    org = builders.org()
    await repos.organizations.add(org)
    renamed = await repos.organizations.change(
        org.id, lambda o: msgspec.structs.replace(o, name="Renamed", updated_at=LATER)
    )
    assert renamed == msgspec.structs.replace(org, name="Renamed", updated_at=LATER)
    assert await repos.organizations.get(org.id) == renamed
    await repos.organizations.change(org.id, lambda o: msgspec.structs.replace(o, is_deleted=True))
    calls: list[Organization] = []

    def revive(stored: Organization) -> Organization:
        calls.append(stored)
        return msgspec.structs.replace(stored, is_deleted=False)

    assert await repos.organizations.change(org.id, revive) is None
    assert await repos.organizations.change(builders.org().id, revive) is None
    assert calls == [] and await repos.organizations.get(org.id) is None


async def test_an_organization_change_keeps_the_email_rule_and_its_identity(
    repos: RepoSet,
) -> None:
    taken, org = builders.org(email="ops@acme.test"), builders.org(email="it@acme.test")
    await repos.organizations.add(taken)
    await repos.organizations.add(org)
    with pytest.raises(Conflict):
        await repos.organizations.change(
            org.id, lambda o: msgspec.structs.replace(o, admin_email="ops@acme.test")
        )
    with pytest.raises(ValueError, match="keep the organization's id"):
        await repos.organizations.change(org.id, lambda o: msgspec.structs.replace(o, id=taken.id))
    assert await repos.organizations.get(org.id) == org
    assert await repos.organizations.get(taken.id) == taken


async def test_concurrent_changes_of_one_organization_all_land(repos: RepoSet) -> None:
    org = msgspec.structs.replace(builders.org(), name="")
    await repos.organizations.add(org)

    def appending(letter: str) -> Callable[[Organization], Organization]:
        return lambda stored: msgspec.structs.replace(stored, name=stored.name + letter)

    await asyncio.gather(*(repos.organizations.change(org.id, appending(c)) for c in "abcde"))
    stored = await repos.organizations.get(org.id)
    assert stored is not None and sorted(stored.name) == list("abcde")


# -- projects ---------------------------------------------------------------------------


def _project_renamed(name: str) -> Callable[[Project], Project]:
    return lambda stored: msgspec.structs.replace(stored, name=name, updated_at=LATER)


async def test_a_project_change_is_stored_and_returned(repos: RepoSet) -> None:
    project = builders.project("org_a")
    await repos.projects.add(project)
    changed = await repos.projects.change(project.id, _project_renamed("Renamed"))
    assert changed == msgspec.structs.replace(project, name="Renamed", updated_at=LATER)
    assert await repos.projects.get(project.id) == changed
    assert await repos.projects.get_by_api_key(project.api_key) == changed


async def test_a_deleted_or_missing_project_is_none_and_never_comes_back(repos: RepoSet) -> None:
    project = builders.project("org_a")
    await repos.projects.add(project)
    await repos.projects.update(msgspec.structs.replace(project, is_deleted=True, deleted_at=T0))
    calls: list[Project] = []

    def change(stored: Project) -> Project:
        calls.append(stored)
        return msgspec.structs.replace(stored, is_deleted=False, deleted_at=None)

    assert await repos.projects.change(project.id, change) is None
    assert await repos.projects.change(builders.project("org_a").id, change) is None
    assert calls == [] and await repos.projects.get(project.id) is None


@pytest.mark.parametrize("field", ["id", "org_id"])
async def test_a_project_change_must_keep_its_identity(repos: RepoSet, field: str) -> None:
    project = builders.project("org_a")
    await repos.projects.add(project)
    other = builders.project("org_b")
    with pytest.raises(ValueError, match="keep the project's id and organization"):
        await repos.projects.change(
            project.id, lambda s: msgspec.structs.replace(s, **{field: getattr(other, field)})
        )
    assert await repos.projects.get(project.id) == project


async def test_a_project_change_to_a_taken_key_conflicts_and_writes_nothing(
    repos: RepoSet,
) -> None:
    taken = builders.project("org_a")
    project = builders.project("org_a")
    await repos.projects.add(taken)
    await repos.projects.add(project)
    with pytest.raises(Conflict):
        await repos.projects.change(
            project.id, lambda s: msgspec.structs.replace(s, api_key=taken.api_key, name="X")
        )
    assert await repos.projects.get(project.id) == project


async def test_concurrent_changes_of_one_project_all_land(repos: RepoSet) -> None:
    project = msgspec.structs.replace(builders.project("org_a"), name="")
    await repos.projects.add(project)

    def appending(letter: str) -> Callable[[Project], Project]:
        return lambda stored: msgspec.structs.replace(stored, name=stored.name + letter)

    await asyncio.gather(*(repos.projects.change(project.id, appending(c)) for c in "abcde"))
    stored = await repos.projects.get(project.id)
    assert stored is not None and sorted(stored.name) == list("abcde")


# -- webhook endpoints ----------------------------------------------------------------------


def _endpoint(project_id: str) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=ids.new_id(ids.WEBHOOK_ENDPOINT, now_ms=ids.ms_of(T0)),
        project_id=project_id,
        url="https://hooks.example.com/pulse",
        description="",
        secret="whsec_" + "a" * 32,
        created_at=T0,
        updated_at=T0,
    )


async def test_an_endpoint_change_is_stored_and_scoped_by_project(repos: RepoSet) -> None:
    endpoint = _endpoint("prj_a")
    await repos.endpoints.add(endpoint)
    calls: list[WebhookEndpoint] = []

    def disable(stored: WebhookEndpoint) -> WebhookEndpoint:
        calls.append(stored)
        return msgspec.structs.replace(stored, enabled=False, updated_at=LATER)

    assert await repos.endpoints.change("prj_b", endpoint.id, disable) is None
    assert await repos.endpoints.change("prj_a", _endpoint("prj_a").id, disable) is None
    assert calls == []
    changed = await repos.endpoints.change("prj_a", endpoint.id, disable)
    assert changed == msgspec.structs.replace(endpoint, enabled=False, updated_at=LATER)
    assert await repos.endpoints.get("prj_a", endpoint.id) == changed


async def test_a_deleted_endpoint_is_not_changed_back(repos: RepoSet) -> None:
    endpoint = _endpoint("prj_a")
    await repos.endpoints.add(endpoint)
    assert await repos.endpoints.delete("prj_a", endpoint.id) is True
    assert await repos.endpoints.change("prj_a", endpoint.id, lambda e: e) is None
    assert await repos.endpoints.get("prj_a", endpoint.id) is None


@pytest.mark.parametrize("field", ["id", "project_id"])
async def test_an_endpoint_change_must_keep_its_identity(repos: RepoSet, field: str) -> None:
    endpoint = _endpoint("prj_a")
    await repos.endpoints.add(endpoint)
    other = _endpoint("prj_b")
    with pytest.raises(ValueError, match="keep the endpoint's id and project"):
        await repos.endpoints.change(
            "prj_a",
            endpoint.id,
            lambda s: msgspec.structs.replace(s, **{field: getattr(other, field)}),
        )
    assert await repos.endpoints.get("prj_a", endpoint.id) == endpoint


async def test_concurrent_changes_of_one_endpoint_all_land(repos: RepoSet) -> None:
    endpoint = _endpoint("prj_a")
    await repos.endpoints.add(endpoint)

    def appending(letter: str) -> Callable[[WebhookEndpoint], WebhookEndpoint]:
        return lambda s: msgspec.structs.replace(s, description=s.description + letter)

    await asyncio.gather(
        *(repos.endpoints.change("prj_a", endpoint.id, appending(c)) for c in "abcde")
    )
    stored = await repos.endpoints.get("prj_a", endpoint.id)
    assert stored is not None and sorted(stored.description) == list("abcde")
