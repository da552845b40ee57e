"""Audited writes (the ``audit`` argument; pulse_core.ports.repositories, module rules), on
every backend: a write that succeeds stores exactly its record in the set's audit log, a
write that fails stores none, and a write without ``audit`` stores none.

Each write is a scenario: it prepares what the write needs (without auditing anything)
and returns the write itself, a function of the record to pass. The record names an
organization of its own, so the log of that organization holds this write's records only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import msgspec
import pytest

from pulse_core import ids
from pulse_core.errors import Conflict, NotFound
from pulse_core.models.audit import AuditRecord
from pulse_core.models.events import WebhookEndpoint
from pulse_core.models.user import User
from tests.support import builders
from tests.support.builders import T0
from tests.support.repositories import RepoSet

Write = Callable[[AuditRecord | None], Awaitable[object]]
Scenario = Callable[[RepoSet], Awaitable[Write]]
LATER = T0 + timedelta(minutes=1)


def _endpoint(project_id: str) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=ids.new_id(ids.WEBHOOK_ENDPOINT, now_ms=ids.ms_of(T0)),
        project_id=project_id,
        url="https://hooks.example.com/pulse",
        secret="whsec_" + "a" * 32,
        created_at=T0,
        updated_at=T0,
    )


# -- writes that succeed ------------------------------------------------------------------


async def org_add(r: RepoSet) -> Write:
    return lambda audit: r.organizations.add(builders.org(), audit=audit)


async def org_update(r: RepoSet) -> Write:
    org = builders.org()
    await r.organizations.add(org)
    renamed = msgspec.structs.replace(org, name="Renamed", updated_at=LATER)
    return lambda audit: r.organizations.update(renamed, audit=audit)


async def org_change(r: RepoSet) -> Write:
    org = builders.org()
    await r.organizations.add(org)
    return lambda audit: r.organizations.change(
        org.id, lambda o: msgspec.structs.replace(o, name="Renamed"), audit=audit
    )


async def project_add(r: RepoSet) -> Write:
    return lambda audit: r.projects.add(builders.project("org_a"), audit=audit)


async def project_update(r: RepoSet) -> Write:
    project = builders.project("org_a")
    await r.projects.add(project)
    rotated = msgspec.structs.replace(project, api_key=builders.project("x").api_key)
    return lambda audit: r.projects.update(rotated, audit=audit)


async def project_change(r: RepoSet) -> Write:
    project = builders.project("org_a")
    await r.projects.add(project)
    return lambda audit: r.projects.change(
        project.id, lambda p: msgspec.structs.replace(p, name="Renamed"), audit=audit
    )


async def endpoint_add(r: RepoSet) -> Write:
    return lambda audit: r.endpoints.add(_endpoint("prj_a"), audit=audit)


async def endpoint_update(r: RepoSet) -> Write:
    endpoint = _endpoint("prj_a")
    await r.endpoints.add(endpoint)
    disabled = msgspec.structs.replace(endpoint, enabled=False, updated_at=LATER)
    return lambda audit: r.endpoints.update(disabled, audit=audit)


async def endpoint_change(r: RepoSet) -> Write:
    endpoint = _endpoint("prj_a")
    await r.endpoints.add(endpoint)

    async def write(audit: AuditRecord | None) -> None:
        changed = await r.endpoints.change(
            "prj_a", endpoint.id, lambda e: msgspec.structs.replace(e, enabled=False), audit=audit
        )
        assert changed is not None and not changed.enabled

    return write


async def endpoint_delete(r: RepoSet) -> Write:
    endpoint = _endpoint("prj_a")
    await r.endpoints.add(endpoint)

    async def write(audit: AuditRecord | None) -> None:
        assert await r.endpoints.delete("prj_a", endpoint.id, audit=audit) is True

    return write


async def user_add(r: RepoSet) -> Write:
    return lambda audit: r.users.add(builders.user("org_a"), audit=audit)


async def user_update(r: RepoSet) -> Write:
    user = builders.user("org_a")
    await r.users.add(user)
    removed = msgspec.structs.replace(user, removed_at=LATER, updated_at=LATER)
    return lambda audit: r.users.update(removed, audit=audit)


async def user_change(r: RepoSet) -> Write:
    user = builders.user("org_a")
    await r.users.add(user)
    return lambda audit: r.users.change(
        user.id, lambda u: msgspec.structs.replace(u, role="member"), audit=audit
    )


async def session_add(r: RepoSet) -> Write:
    return lambda audit: r.sessions.add(builders.session("usr_a", "org_a"), audit=audit)


async def session_revoke(r: RepoSet) -> Write:
    session = builders.session("usr_a", "org_a")
    await r.sessions.add(session)

    async def write(audit: AuditRecord | None) -> None:
        assert await r.sessions.revoke(session.id, LATER, audit=audit) is True

    return write


async def key_add(r: RepoSet) -> Write:
    return lambda audit: r.api_keys.add(builders.api_key("prj_a", "org_a"), audit=audit)


async def key_update(r: RepoSet) -> Write:
    key = builders.api_key("prj_a", "org_a")
    await r.api_keys.add(key)
    revoked = msgspec.structs.replace(key, revoked_at=LATER)
    return lambda audit: r.api_keys.update(revoked, audit=audit)


async def key_revoke(r: RepoSet) -> Write:
    key = builders.api_key("prj_a", "org_a")
    await r.api_keys.add(key)

    async def write(audit: AuditRecord | None) -> None:
        assert await r.api_keys.revoke("prj_a", key.id, LATER, audit=audit) is True

    return write


SUCCEEDING: dict[str, Scenario] = {
    "organizations.add": org_add,
    "organizations.update": org_update,
    "organizations.change": org_change,
    "projects.add": project_add,
    "projects.update": project_update,
    "projects.change": project_change,
    "endpoints.add": endpoint_add,
    "endpoints.update": endpoint_update,
    "endpoints.change": endpoint_change,
    "endpoints.delete": endpoint_delete,
    "users.add": user_add,
    "users.update": user_update,
    "users.change": user_change,
    "sessions.add": session_add,
    "sessions.revoke": session_revoke,
    "api_keys.add": key_add,
    "api_keys.update": key_update,
    "api_keys.revoke": key_revoke,
}

# -- writes that fail: each raises Conflict or NotFound, or answers False -------------------


def _raises(error: type[Exception], write: Write) -> Write:
    async def failing(audit: AuditRecord | None) -> None:
        with pytest.raises(error):
            await write(audit)

    return failing


async def org_add_taken_email(r: RepoSet) -> Write:
    await r.organizations.add(builders.org(email="ops@acme.test"))
    twin = builders.org(email="ops@acme.test")
    return _raises(Conflict, lambda audit: r.organizations.add(twin, audit=audit))


async def org_update_missing(r: RepoSet) -> Write:
    missing = builders.org()
    return _raises(NotFound, lambda audit: r.organizations.update(missing, audit=audit))


async def org_update_taken_email(r: RepoSet) -> Write:
    await r.organizations.add(builders.org(email="a@acme.test"))
    org = builders.org(email="b@acme.test")
    await r.organizations.add(org)
    taken = msgspec.structs.replace(org, admin_email="a@acme.test")
    return _raises(Conflict, lambda audit: r.organizations.update(taken, audit=audit))


async def org_change_deleted(r: RepoSet) -> Write:
    org = builders.org()
    await r.organizations.add(org)
    await r.organizations.update(msgspec.structs.replace(org, is_deleted=True))

    async def write(audit: AuditRecord | None) -> None:
        assert await r.organizations.change(org.id, lambda o: o, audit=audit) is None

    return write


async def org_change_taken_email(r: RepoSet) -> Write:
    await r.organizations.add(builders.org(email="ops@acme.test"))
    org = builders.org()
    await r.organizations.add(org)
    return _raises(
        Conflict,
        lambda audit: r.organizations.change(
            org.id, lambda o: msgspec.structs.replace(o, admin_email="ops@acme.test"), audit=audit
        ),
    )


async def project_add_taken_key(r: RepoSet) -> Write:
    first = builders.project("org_a")
    await r.projects.add(first)
    twin = builders.project("org_a", api_key=first.api_key)
    return _raises(Conflict, lambda audit: r.projects.add(twin, audit=audit))


async def project_update_missing(r: RepoSet) -> Write:
    missing = builders.project("org_a")
    return _raises(NotFound, lambda audit: r.projects.update(missing, audit=audit))


async def project_update_taken_key(r: RepoSet) -> Write:
    first, second = builders.project("org_a"), builders.project("org_a")
    await r.projects.add(first)
    await r.projects.add(second)
    taken = msgspec.structs.replace(second, api_key=first.api_key)
    return _raises(Conflict, lambda audit: r.projects.update(taken, audit=audit))


async def endpoint_add_taken_id(r: RepoSet) -> Write:
    endpoint = _endpoint("prj_a")
    await r.endpoints.add(endpoint)
    return _raises(Conflict, lambda audit: r.endpoints.add(endpoint, audit=audit))


async def project_change_deleted(r: RepoSet) -> Write:
    project = builders.project("org_a")
    await r.projects.add(project)
    await r.projects.update(msgspec.structs.replace(project, is_deleted=True))

    async def write(audit: AuditRecord | None) -> None:
        assert await r.projects.change(project.id, lambda p: p, audit=audit) is None

    return write


async def project_change_to_itself(r: RepoSet) -> Write:
    project = builders.project("org_a")
    await r.projects.add(project)

    async def write(audit: AuditRecord | None) -> None:
        assert await r.projects.change(project.id, lambda p: p, audit=audit) == project

    return write


async def project_change_taken_key(r: RepoSet) -> Write:
    taken = builders.project("org_a")
    project = builders.project("org_a")
    await r.projects.add(taken)
    await r.projects.add(project)
    return _raises(
        Conflict,
        lambda audit: r.projects.change(
            project.id, lambda p: msgspec.structs.replace(p, api_key=taken.api_key), audit=audit
        ),
    )


async def endpoint_update_missing(r: RepoSet) -> Write:
    missing = _endpoint("prj_a")
    return _raises(NotFound, lambda audit: r.endpoints.update(missing, audit=audit))


async def endpoint_update_of_another_project(r: RepoSet) -> Write:
    endpoint = _endpoint("prj_a")
    await r.endpoints.add(endpoint)
    foreign = msgspec.structs.replace(endpoint, project_id="prj_b")
    return _raises(NotFound, lambda audit: r.endpoints.update(foreign, audit=audit))


async def endpoint_change_of_another_project(r: RepoSet) -> Write:
    endpoint = _endpoint("prj_a")
    await r.endpoints.add(endpoint)

    async def write(audit: AuditRecord | None) -> None:
        assert await r.endpoints.change("prj_b", endpoint.id, lambda e: e, audit=audit) is None

    return write


async def endpoint_change_to_itself(r: RepoSet) -> Write:
    endpoint = _endpoint("prj_a")
    await r.endpoints.add(endpoint)

    async def write(audit: AuditRecord | None) -> None:
        assert await r.endpoints.change("prj_a", endpoint.id, lambda e: e, audit=audit) == endpoint

    return write


async def endpoint_delete_missing(r: RepoSet) -> Write:
    async def write(audit: AuditRecord | None) -> None:
        assert await r.endpoints.delete("prj_a", _endpoint("prj_a").id, audit=audit) is False

    return write


async def user_add_taken_email(r: RepoSet) -> Write:
    await r.users.add(builders.user("org_a", email="ada@acme.test"))
    twin = builders.user("org_a", email="ada@acme.test")
    return _raises(Conflict, lambda audit: r.users.add(twin, audit=audit))


async def user_update_missing(r: RepoSet) -> Write:
    missing = builders.user("org_a")
    return _raises(NotFound, lambda audit: r.users.update(missing, audit=audit))


async def user_update_removed(r: RepoSet) -> Write:
    user = builders.user("org_a")
    await r.users.add(user)
    await r.users.update(msgspec.structs.replace(user, removed_at=LATER))
    renamed = msgspec.structs.replace(user, name="back", removed_at=LATER)
    return _raises(NotFound, lambda audit: r.users.update(renamed, audit=audit))


async def user_update_taken_email(r: RepoSet) -> Write:
    await r.users.add(builders.user("org_a", email="ada@acme.test"))
    bob = builders.user("org_a")
    await r.users.add(bob)
    taken = msgspec.structs.replace(bob, email="ada@acme.test")
    return _raises(Conflict, lambda audit: r.users.update(taken, audit=audit))


async def user_change_missing(r: RepoSet) -> Write:
    async def write(audit: AuditRecord | None) -> None:
        assert await r.users.change(builders.user("org_a").id, lambda u: u, audit=audit) is None

    return write


async def user_change_to_itself(r: RepoSet) -> Write:
    user = builders.user("org_a")
    await r.users.add(user)

    async def write(audit: AuditRecord | None) -> None:
        assert await r.users.change(user.id, lambda u: u, audit=audit) == user

    return write


async def user_change_refused(r: RepoSet) -> Write:
    user = builders.user("org_a")
    await r.users.add(user)

    def refuse(stored: User) -> User:
        raise Conflict("no", code="last_owner")

    return _raises(Conflict, lambda audit: r.users.change(user.id, refuse, audit=audit))


async def user_change_taken_email(r: RepoSet) -> Write:
    await r.users.add(builders.user("org_a", email="ada@acme.test"))
    bob = builders.user("org_a")
    await r.users.add(bob)
    return _raises(
        Conflict,
        lambda audit: r.users.change(
            bob.id, lambda u: msgspec.structs.replace(u, email="ada@acme.test"), audit=audit
        ),
    )


async def session_add_taken_id(r: RepoSet) -> Write:
    session = builders.session("usr_a", "org_a")
    await r.sessions.add(session)
    return _raises(Conflict, lambda audit: r.sessions.add(session, audit=audit))


async def session_revoke_unknown(r: RepoSet) -> Write:
    async def write(audit: AuditRecord | None) -> None:
        assert await r.sessions.revoke("ses_unknown", LATER, audit=audit) is False

    return write


async def session_revoke_again(r: RepoSet) -> Write:
    session = builders.session("usr_a", "org_a")
    await r.sessions.add(session)
    await r.sessions.revoke(session.id, T0)

    async def write(audit: AuditRecord | None) -> None:
        assert await r.sessions.revoke(session.id, LATER, audit=audit) is False

    return write


async def key_add_taken_api_key(r: RepoSet) -> Write:
    key = builders.api_key("prj_a", "org_a")
    await r.api_keys.add(key)
    twin = builders.api_key("prj_b", "org_a", api_key=key.api_key)
    return _raises(Conflict, lambda audit: r.api_keys.add(twin, audit=audit))


async def key_update_missing(r: RepoSet) -> Write:
    missing = builders.api_key("prj_a", "org_a")
    return _raises(NotFound, lambda audit: r.api_keys.update(missing, audit=audit))


async def key_revoke_again(r: RepoSet) -> Write:
    key = builders.api_key("prj_a", "org_a")
    await r.api_keys.add(key)
    await r.api_keys.revoke("prj_a", key.id, T0)

    async def write(audit: AuditRecord | None) -> None:
        assert await r.api_keys.revoke("prj_a", key.id, LATER, audit=audit) is False

    return write


async def key_revoke_of_another_project(r: RepoSet) -> Write:
    key = builders.api_key("prj_a", "org_a")
    await r.api_keys.add(key)

    async def write(audit: AuditRecord | None) -> None:
        assert await r.api_keys.revoke("prj_b", key.id, LATER, audit=audit) is False

    return write


FAILING: dict[str, Scenario] = {
    "organizations.add taken email": org_add_taken_email,
    "organizations.update missing": org_update_missing,
    "organizations.update taken email": org_update_taken_email,
    "organizations.change deleted": org_change_deleted,
    "organizations.change taken email": org_change_taken_email,
    "projects.add taken key": project_add_taken_key,
    "projects.update missing": project_update_missing,
    "projects.update taken key": project_update_taken_key,
    "projects.change deleted": project_change_deleted,
    "projects.change to itself": project_change_to_itself,
    "projects.change taken key": project_change_taken_key,
    "endpoints.add taken id": endpoint_add_taken_id,
    "endpoints.update missing": endpoint_update_missing,
    "endpoints.update of another project": endpoint_update_of_another_project,
    "endpoints.change of another project": endpoint_change_of_another_project,
    "endpoints.change to itself": endpoint_change_to_itself,
    "endpoints.delete missing": endpoint_delete_missing,
    "users.add taken email": user_add_taken_email,
    "users.update missing": user_update_missing,
    "users.update removed": user_update_removed,
    "users.update taken email": user_update_taken_email,
    "users.change missing": user_change_missing,
    "users.change to itself": user_change_to_itself,
    "users.change refused": user_change_refused,
    "users.change taken email": user_change_taken_email,
    "sessions.add taken id": session_add_taken_id,
    "sessions.revoke unknown": session_revoke_unknown,
    "sessions.revoke again": session_revoke_again,
    "api_keys.add taken api_key": key_add_taken_api_key,
    "api_keys.update missing": key_update_missing,
    "api_keys.revoke again": key_revoke_again,
    "api_keys.revoke of another project": key_revoke_of_another_project,
}


# -- the suite ------------------------------------------------------------------------------


async def _log_of(repos: RepoSet, record: AuditRecord) -> list[AuditRecord]:
    return await repos.audit.list_page(record.org_id, limit=100)


@pytest.mark.parametrize("name", SUCCEEDING)
async def test_a_write_that_succeeds_stores_exactly_its_record(repos: RepoSet, name: str) -> None:
    write = await SUCCEEDING[name](repos)
    record = builders.audit_record(builders.org().id, resource_id="res_1")
    await write(record)
    assert await _log_of(repos, record) == [record]
    assert await repos.audit.list_page(record.org_id, resource_id="res_1", limit=10) == [record]
    # Nothing is left carried elsewhere to move twice.
    await repos.audit.settle()
    assert await _log_of(repos, record) == [record]


@pytest.mark.parametrize("name", SUCCEEDING)
async def test_a_write_without_audit_stores_no_record(repos: RepoSet, name: str) -> None:
    write = await SUCCEEDING[name](repos)
    await write(None)
    await repos.audit.settle()
    assert await repos.audit.list_page("org_a", limit=10) == []
    assert await repos.audit.list_page(None, limit=10) == []


@pytest.mark.parametrize("name", FAILING)
async def test_a_write_that_fails_stores_no_record(repos: RepoSet, name: str) -> None:
    write = await FAILING[name](repos)
    record = builders.audit_record(builders.org().id, resource_id="res_1")
    await write(record)
    await repos.audit.settle()
    assert await _log_of(repos, record) == []
    # The failed write's record id is still free: a later write may use it.
    await repos.audit.add(record)
    assert await _log_of(repos, record) == [record]


async def test_records_of_every_repository_share_one_log(repos: RepoSet) -> None:
    org_id = builders.org().id
    records = []
    for scenario in SUCCEEDING.values():
        write = await scenario(repos)
        record = builders.audit_record(org_id)
        await write(record)
        records.append(record)
    assert await repos.audit.list_page(org_id, limit=100) == records[::-1]
