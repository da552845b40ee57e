"""The access contract (pulse_core.ports.users, .keys, .audit), run on every backend:
users and their partial email rule, sessions, a project's extra API keys, the audit log.

Audited writes (the ``audit`` argument) have their own suite: test_audited_writes.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from pulse_core.errors import Conflict, NotFound
from pulse_core.models.audit import AuditRecord
from tests.support import builders
from tests.support.builders import T0
from tests.support.repositories import RepoSet

SECOND = timedelta(seconds=1)

# -- users ------------------------------------------------------------------------------


async def test_user_round_trip_by_id_and_email(repos: RepoSet) -> None:
    org_id = builders.org().id
    ada = builders.user(org_id, email="ada@acme.test")
    invited = msgspec.structs.replace(
        builders.user(org_id, email="bob@acme.test", role="member"),
        password_hash=None,
        invite_hash="ab" * 32,
        invite_expires_at=T0 + timedelta(days=7),
    )
    admin = builders.user(None, email="root@pulse.test", role="admin")
    for user in (ada, invited, admin):
        await repos.users.add(user)
    for user in (ada, invited, admin):
        assert await repos.users.get(user.id) == user
        assert await repos.users.get_by_email(user.email) == user
    loaded = await repos.users.get(invited.id)
    assert loaded is not None and loaded.invite_expires_at is not None
    assert loaded.invite_expires_at.utcoffset() == timedelta(0)
    assert await repos.users.get(builders.user(org_id).id) is None
    assert await repos.users.get_by_email("nobody@acme.test") is None
    # Already normalized by the caller: the lookup is exact.
    assert await repos.users.get_by_email("ADA@acme.test") is None


async def test_user_email_is_unique_among_present_users(repos: RepoSet) -> None:
    ada = builders.user(builders.org().id, email="ada@acme.test")
    await repos.users.add(ada)
    twin = builders.user(builders.org().id, email="ada@acme.test")
    with pytest.raises(Conflict) as caught:
        await repos.users.add(twin)
    assert caught.value.field == "email"
    assert await repos.users.get(twin.id) is None
    assert await repos.users.get_by_email("ada@acme.test") == ada


async def test_users_are_listed_per_organization_in_id_order(repos: RepoSet) -> None:
    org_a, org_b = builders.org().id, builders.org().id
    of_a = [builders.user(org_a) for _ in range(4)]
    await repos.users.add(builders.user(org_b))
    await repos.users.add(builders.user(None, role="admin"))
    for user in reversed(of_a):
        await repos.users.add(user)
    first = await repos.users.list_page(org_id=org_a, after=None, limit=3)
    assert first == of_a[:3]
    assert await repos.users.list_page(org_id=org_a, after=first[-1].id, limit=3) == of_a[3:]
    assert await repos.users.list_page(org_id=builders.org().id, after=None, limit=3) == []


async def test_user_update_replaces_and_missing_is_not_found(repos: RepoSet) -> None:
    ada = builders.user(builders.org().id, email="ada@acme.test")
    await repos.users.add(ada)
    signed_in = msgspec.structs.replace(
        ada, name="Ada L.", role="member", last_login_at=T0 + SECOND, updated_at=T0 + SECOND
    )
    await repos.users.update(signed_in)
    assert await repos.users.get(ada.id) == signed_in
    with pytest.raises(NotFound):
        await repos.users.update(builders.user(ada.org_id))


async def test_user_update_to_a_taken_email_conflicts(repos: RepoSet) -> None:
    org_id = builders.org().id
    ada, bob = builders.user(org_id, email="ada@acme.test"), builders.user(org_id)
    await repos.users.add(ada)
    await repos.users.add(bob)
    with pytest.raises(Conflict) as caught:
        await repos.users.update(msgspec.structs.replace(bob, email="ada@acme.test"))
    assert caught.value.field == "email"
    assert await repos.users.get(bob.id) == bob


async def test_a_removed_user_disappears_and_frees_its_email(repos: RepoSet) -> None:
    org_id = builders.org().id
    ada = builders.user(org_id, email="ada@acme.test")
    await repos.users.add(ada)
    removed = msgspec.structs.replace(ada, removed_at=T0 + SECOND, updated_at=T0 + SECOND)
    await repos.users.update(removed)
    assert await repos.users.get(ada.id) is None
    assert await repos.users.get_by_email("ada@acme.test") is None
    assert await repos.users.list_page(org_id=org_id, after=None, limit=10) == []
    # Removed for good: it cannot be updated back.
    with pytest.raises(NotFound):
        await repos.users.update(msgspec.structs.replace(ada, name="back"))

    again = builders.user(org_id, email="ada@acme.test")
    await repos.users.add(again)
    assert await repos.users.get_by_email("ada@acme.test") == again
    assert await repos.users.list_page(org_id=org_id, after=None, limit=10) == [again]


# -- sessions ---------------------------------------------------------------------------


async def test_session_round_trip(repos: RepoSet) -> None:
    user = builders.user(builders.org().id)
    session = builders.session(user.id, user.org_id)
    admin_session = builders.session("usr_admin", None, role="admin")
    await repos.sessions.add(session)
    await repos.sessions.add(admin_session)
    assert await repos.sessions.get(session.id) == session
    assert await repos.sessions.get(admin_session.id) == admin_session
    assert await repos.sessions.get(builders.session(user.id, None).id) is None
    with pytest.raises(Conflict):
        await repos.sessions.add(session)


async def test_a_session_is_revoked_once(repos: RepoSet) -> None:
    session = builders.session("usr_a", "org_a")
    await repos.sessions.add(session)
    at = T0 + timedelta(minutes=5)
    assert await repos.sessions.revoke(session.id, at) is True
    assert await repos.sessions.get(session.id) == msgspec.structs.replace(session, revoked_at=at)
    assert await repos.sessions.revoke(session.id, at + SECOND) is False
    assert await repos.sessions.get(session.id) == msgspec.structs.replace(session, revoked_at=at)
    assert await repos.sessions.revoke("ses_unknown", at) is False


async def test_an_expired_session_is_not_live_and_not_revoked(repos: RepoSet) -> None:
    """Live means ``Session.is_live(at)``: neither revoked nor expired at ``at``."""
    session = builders.session("usr_a", "org_a", ttl=timedelta(hours=1))
    await repos.sessions.add(session)
    assert await repos.sessions.revoke(session.id, session.expires_at) is False
    assert await repos.sessions.revoke_for_user("usr_a", session.expires_at) == []
    assert await repos.sessions.get(session.id) == session


async def test_revoke_for_user_revokes_only_that_users_live_sessions(repos: RepoSet) -> None:
    mine = [builders.session("usr_a", "org_a") for _ in range(3)]
    ended = builders.session("usr_a", "org_a")
    expired = builders.session("usr_a", "org_a", at=T0 - timedelta(days=2))
    theirs = builders.session("usr_b", "org_a")
    for session in [*mine, ended, expired, theirs]:
        await repos.sessions.add(session)
    await repos.sessions.revoke(ended.id, T0)
    at = T0 + timedelta(minutes=1)

    assert sorted(await repos.sessions.revoke_for_user("usr_a", at)) == sorted(s.id for s in mine)
    for session in mine:
        assert await repos.sessions.get(session.id) == msgspec.structs.replace(
            session, revoked_at=at
        )
    ended_now = await repos.sessions.get(ended.id)
    assert ended_now is not None and ended_now.revoked_at == T0
    assert await repos.sessions.get(expired.id) == expired
    assert await repos.sessions.get(theirs.id) == theirs
    assert await repos.sessions.revoke_for_user("usr_a", at) == []
    assert await repos.sessions.revoke_for_user("usr_nobody", at) == []


async def test_purge_expired_deletes_sessions_expired_before_the_cutoff(repos: RepoSet) -> None:
    cutoff = T0 + timedelta(hours=1)
    gone = [
        builders.session("usr_a", "org_a", ttl=timedelta(minutes=30)),
        builders.session("usr_b", None, ttl=timedelta(minutes=59)),
    ]
    revoked_but_gone = builders.session("usr_a", "org_a", ttl=timedelta(minutes=1))
    at_cutoff = builders.session("usr_a", "org_a", ttl=timedelta(hours=1))
    later = builders.session("usr_a", "org_a", ttl=timedelta(hours=2))
    for session in [*gone, revoked_but_gone, at_cutoff, later]:
        await repos.sessions.add(session)
    await repos.sessions.revoke(revoked_but_gone.id, T0)

    assert await repos.sessions.purge_expired(cutoff) == 3
    for session in [*gone, revoked_but_gone]:
        assert await repos.sessions.get(session.id) is None
    assert await repos.sessions.get(at_cutoff.id) == at_cutoff
    assert await repos.sessions.get(later.id) == later
    assert await repos.sessions.purge_expired(cutoff) == 0


# -- API keys ---------------------------------------------------------------------------


async def test_key_round_trip_scoped_by_project(repos: RepoSet) -> None:
    key = msgspec.structs.replace(
        builders.api_key("prj_a", "org_a", scopes=("tokens:create", "rooms:read")),
        expires_at=T0 + timedelta(days=30),
    )
    await repos.api_keys.add(key)
    assert await repos.api_keys.get("prj_a", key.id) == key
    assert await repos.api_keys.get("prj_b", key.id) is None
    assert await repos.api_keys.get("prj_a", builders.api_key("prj_a", "org_a").id) is None
    assert await repos.api_keys.get_by_api_key(key.api_key) == key
    assert await repos.api_keys.get_by_api_key(builders.api_key("x", "y").api_key) is None


async def test_api_key_is_unique_across_projects_revoked_ones_included(repos: RepoSet) -> None:
    key = builders.api_key("prj_a", "org_a")
    await repos.api_keys.add(key)
    twin = builders.api_key("prj_b", "org_b", api_key=key.api_key)
    with pytest.raises(Conflict) as caught:
        await repos.api_keys.add(twin)
    assert caught.value.field == "api_key"
    assert await repos.api_keys.get("prj_b", twin.id) is None

    revoked = msgspec.structs.replace(key, revoked_at=T0 + SECOND)
    await repos.api_keys.update(revoked)
    with pytest.raises(Conflict):
        await repos.api_keys.add(builders.api_key("prj_b", "org_b", api_key=key.api_key))
    # Revoked keys are still found: the caller judges, and the record stays for audit.
    assert await repos.api_keys.get("prj_a", key.id) == revoked
    assert await repos.api_keys.get_by_api_key(key.api_key) == revoked


async def test_keys_are_listed_per_project_oldest_first(repos: RepoSet) -> None:
    of_a = [builders.api_key("prj_a", "org_a", name=f"k{i}") for i in range(3)]
    other = builders.api_key("prj_b", "org_a")
    for key in [other, *reversed(of_a)]:
        await repos.api_keys.add(key)
    revoked = msgspec.structs.replace(of_a[1], revoked_at=T0 + SECOND)
    await repos.api_keys.update(revoked)
    assert await repos.api_keys.list_for_project("prj_a") == [of_a[0], revoked, of_a[2]]
    assert await repos.api_keys.list_for_project("prj_b") == [other]
    assert await repos.api_keys.list_for_project("prj_none") == []


async def test_keys_are_paged_per_project_by_id_after_a_cursor(repos: RepoSet) -> None:
    of_a = [builders.api_key("prj_a", "org_a", name=f"k{i}") for i in range(5)]
    other = builders.api_key("prj_b", "org_a")
    for key in [other, *reversed(of_a)]:
        await repos.api_keys.add(key)
    revoked = msgspec.structs.replace(of_a[2], revoked_at=T0 + SECOND)
    await repos.api_keys.update(revoked)
    listed = [of_a[0], of_a[1], revoked, of_a[3], of_a[4]]
    page = repos.api_keys.list_page
    assert await page("prj_a", after=None, limit=2) == listed[:2]
    assert await page("prj_a", after=listed[1].id, limit=2) == listed[2:4]
    assert await page("prj_a", after=listed[3].id, limit=2) == listed[4:]
    assert await page("prj_a", after=listed[4].id, limit=2) == []
    assert await page("prj_a", after=None, limit=50) == listed  # revoked ones too
    # A cursor needs not be a key that exists: ids after it, in order.
    assert await page("prj_a", after="key_", limit=1) == listed[:1]
    assert await page("prj_b", after=None, limit=50) == [other]
    assert await page("prj_none", after=None, limit=50) == []


async def test_key_update_replaces_and_missing_or_foreign_is_not_found(repos: RepoSet) -> None:
    key = builders.api_key("prj_a", "org_a")
    await repos.api_keys.add(key)
    renamed = msgspec.structs.replace(key, name="renamed", scopes=("usage:read",))
    await repos.api_keys.update(renamed)
    assert await repos.api_keys.get("prj_a", key.id) == renamed
    with pytest.raises(NotFound):
        await repos.api_keys.update(builders.api_key("prj_a", "org_a"))
    with pytest.raises(NotFound):
        await repos.api_keys.update(msgspec.structs.replace(key, project_id="prj_b"))
    assert await repos.api_keys.get("prj_a", key.id) == renamed


async def test_touch_only_moves_last_used_forward(repos: RepoSet) -> None:
    a, b, c = (builders.api_key("prj_a", "org_a") for _ in range(3))
    for key in (a, b, c):
        await repos.api_keys.add(key)
    t1, t2, t3 = T0 + SECOND, T0 + 2 * SECOND, T0 + 3 * SECOND

    await repos.api_keys.touch({a.id: t2, b.id: t1, "key_unknown": t3})
    await repos.api_keys.touch({})
    assert await repos.api_keys.get("prj_a", a.id) == msgspec.structs.replace(a, last_used_at=t2)
    assert await repos.api_keys.get("prj_a", b.id) == msgspec.structs.replace(b, last_used_at=t1)
    assert await repos.api_keys.get("prj_a", c.id) == c

    # A batch flushed late (older times) changes nothing; a newer one moves forward.
    await repos.api_keys.touch({a.id: t1, b.id: t3})
    assert await repos.api_keys.get("prj_a", a.id) == msgspec.structs.replace(a, last_used_at=t2)
    assert await repos.api_keys.get("prj_a", b.id) == msgspec.structs.replace(b, last_used_at=t3)
    assert await repos.api_keys.get_by_api_key(b.api_key) == msgspec.structs.replace(
        b, last_used_at=t3
    )
    # Touching leaves everything else of the key as it was, a revocation included.
    revoked = msgspec.structs.replace(a, revoked_at=t3, last_used_at=t2)
    await repos.api_keys.update(revoked)
    await repos.api_keys.touch({a.id: t3})
    assert await repos.api_keys.get("prj_a", a.id) == msgspec.structs.replace(
        revoked, last_used_at=t3
    )


# -- the audit log ----------------------------------------------------------------------


async def test_audit_add_is_idempotent_by_id(repos: RepoSet) -> None:
    record = builders.audit_record("org_a", resource_id="prj_a")
    await repos.audit.add(record)
    await repos.audit.add(record)
    await repos.audit.add(msgspec.structs.replace(record, action="project.deleted"))
    assert await repos.audit.list_page("org_a", limit=10) == [record]


async def test_audit_lists_newest_first_with_a_cursor(repos: RepoSet) -> None:
    records = [builders.audit_record("org_a") for _ in range(5)]
    for record in (records[2], records[0], records[4], records[1], records[3]):
        await repos.audit.add(record)
    newest_first = records[::-1]
    first = await repos.audit.list_page("org_a", limit=2)
    assert first == newest_first[:2]
    second = await repos.audit.list_page("org_a", before=first[-1].id, limit=2)
    assert second == newest_first[2:4]
    assert await repos.audit.list_page("org_a", before=second[-1].id, limit=2) == newest_first[4:]
    assert await repos.audit.list_page("org_a", before=records[0].id, limit=2) == []
    assert await repos.audit.list_page("org_a", limit=0) == []


async def test_audit_filters_by_action_resource_and_since(repos: RepoSet) -> None:
    def rec(action: str, resource_id: str | None, minutes: int) -> AuditRecord:
        at = T0 + timedelta(minutes=minutes)
        return builders.audit_record("org_a", action=action, resource_id=resource_id, at=at)

    records = [
        rec("project.created", "prj_1", 0),
        rec("project.updated", "prj_1", 1),
        rec("key.created", "key_1", 2),
        rec("project.updated", "prj_2", 3),
        rec("project.updated", "prj_1", 4),
        rec("user.sign_in_failed", None, 5),
    ]
    for record in records:
        await repos.audit.add(record)
    newest_first = records[::-1]

    async def listed(**filters: Any) -> list[AuditRecord]:
        return await repos.audit.list_page("org_a", limit=10, **filters)

    def expected(keep: Callable[[AuditRecord], bool]) -> list[AuditRecord]:
        return [r for r in newest_first if keep(r)]

    assert await listed(action="project.updated") == expected(
        lambda r: r.action == "project.updated"
    )
    assert await listed(resource_id="prj_1") == expected(lambda r: r.resource_id == "prj_1")
    since = T0 + timedelta(minutes=3)
    assert await listed(since=since) == expected(lambda r: r.at >= since)
    assert await listed(action="project.updated", resource_id="prj_1", since=since) == [records[4]]
    assert await listed(action="project.updated", resource_id="prj_1") == [records[4], records[1]]
    page = await repos.audit.list_page("org_a", action="project.updated", limit=2)
    assert page == [records[4], records[3]]
    assert await repos.audit.list_page(
        "org_a", action="project.updated", before=page[-1].id, limit=2
    ) == [records[1]]
    assert await listed(action="organization.deleted") == []


async def test_audit_is_scoped_by_organization_and_none_is_the_platform(repos: RepoSet) -> None:
    of_a = [builders.audit_record("org_a", resource_id="prj_x") for _ in range(2)]
    of_b = builders.audit_record("org_b", resource_id="prj_x")
    platform = [
        builders.audit_record(None, action="user.sign_in_failed"),
        builders.audit_record(None, action="organization.created", resource_id="org_c"),
    ]
    for record in [*of_a, of_b, *platform]:
        await repos.audit.add(record)
    assert await repos.audit.list_page("org_a", limit=10) == of_a[::-1]
    assert await repos.audit.list_page("org_b", limit=10) == [of_b]
    assert await repos.audit.list_page(None, limit=10) == platform[::-1]
    assert await repos.audit.list_page("org_a", resource_id="prj_x", limit=10) == of_a[::-1]
    assert await repos.audit.list_page(None, resource_id="prj_x", limit=10) == []
    assert await repos.audit.list_page(None, action="user.sign_in_failed", limit=10) == [
        platform[0]
    ]
    assert await repos.audit.list_page("org_c", limit=10) == []


async def test_audit_purge_deletes_records_before_the_cutoff(repos: RepoSet) -> None:
    cutoff = T0 + timedelta(days=1)
    old = [
        builders.audit_record("org_a", at=T0),
        builders.audit_record(None, at=cutoff - SECOND),
    ]
    kept = [
        builders.audit_record("org_a", at=cutoff),
        builders.audit_record("org_a", at=cutoff + SECOND),
    ]
    for record in [*old, *kept]:
        await repos.audit.add(record)
    assert await repos.audit.purge_before(cutoff) == 2
    assert await repos.audit.list_page("org_a", limit=10) == kept[::-1]
    assert await repos.audit.list_page(None, limit=10) == []
    assert await repos.audit.purge_before(cutoff) == 0
    assert await repos.audit.settle() == 0  # nothing was ever carried elsewhere
