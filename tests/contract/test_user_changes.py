"""``UserRepository.change`` on every backend: a read and a write as one step, so that
concurrent changes of one user all land, and a refused change writes nothing.

Its audit record follows the audited-writes rules (test_audited_writes.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import msgspec
import pytest

from pulse_core.errors import Conflict
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
