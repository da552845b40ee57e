"""Signed-in users over HTTP, continued (tests/http/test_sign_in.py has the flow): a
removal seen by another replica, two organizations, platform admins (`pulse
create-admin` included), the audit trail of signing in, and passwords that never come
back, in an answer or in a log line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_container, make_tenant, offline_container
from tests.http.test_sign_in import (
    OTHER_PASSWORD,
    PASSWORD,
    accept,
    bearer,
    invitation_token,
    invite,
    sign_in,
    signed_in_user,
)
from tests.support.docs import running_pulse_serve

PULSE = str(Path(sys.executable).parent / "pulse")


async def test_a_removal_reaches_another_replica_within_the_cache_ttl(
    settings: Settings, clock: ManualClock
) -> None:
    # Two API processes on one database (the same SQLite file, or the same MongoDB).
    here, there = make_container(settings, clock), make_container(settings, clock)
    admin = bearer(here.services.management_auth().mint("test-admin", role="admin"))
    async with (
        AsyncTestClient(app=create_app(here)) as near,
        AsyncTestClient(app=create_app(there)) as far,
    ):
        tenant = await make_tenant(near, here, admin, "Replicated")
        org, owner = tenant.org_id, tenant.owner_headers
        leaver_id, leaver = await signed_in_user(near, org, owner, "leaver@x.test")
        mover_id, mover = await signed_in_user(near, org, owner, "mover@x.test")
        for headers in (leaver, mover):  # both work on both replicas (and are cached there)
            for client in (near, far):
                assert (await client.get(f"/v1/organizations/{org}", headers=headers)).is_success

        removed = await near.delete(f"/v1/organizations/{org}/users/{leaver_id}", headers=owner)
        assert removed.status_code == 204
        moved = await near.patch(
            f"/v1/organizations/{org}/users/{mover_id}", json={"role": "owner"}, headers=owner
        )
        assert moved.status_code == 200
        for headers in (leaver, mover):  # at once where it was done
            assert (await near.get(f"/v1/organizations/{org}", headers=headers)).status_code == 401

        clock.advance(settings.auth_cache_ttl_seconds + 0.001)
        for headers in (leaver, mover):  # within the cache's bound everywhere else
            stale = await far.get(f"/v1/organizations/{org}", headers=headers)
            assert stale.status_code == 401, stale.text
        # Sign-out too: the other replica forgets the session within the same bound.
        _, signed = await signed_in_user(near, org, owner, "brief@x.test")
        assert (await far.get(f"/v1/organizations/{org}", headers=signed)).status_code == 200
        assert (await near.post("/v1/auth/logout", headers=signed)).status_code == 204
        clock.advance(settings.auth_cache_ttl_seconds + 0.001)
        assert (await far.get(f"/v1/organizations/{org}", headers=signed)).status_code == 401


async def test_users_of_one_organization_never_reach_another(
    client: AsyncTestClient[Any], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    b_user = await invite(client, tenant_b.org_id, tenant_b.owner_headers, "bob@b.test")
    b_users = f"/v1/organizations/{tenant_b.org_id}/users"
    _, a_owner = await signed_in_user(
        client, tenant_a.org_id, tenant_a.owner_headers, "ann@a.test", "owner"
    )
    _, a_member = await signed_in_user(
        client, tenant_a.org_id, tenant_a.owner_headers, "max@a.test"
    )
    for headers in (tenant_a.owner_headers, a_owner, a_member):
        for response in (
            await client.get(b_users, headers=headers),
            await client.post(
                b_users, json={"email": "e@b.test", "role": "owner"}, headers=headers
            ),
            await client.patch(
                f"{b_users}/{b_user['id']}", json={"role": "owner"}, headers=headers
            ),
            await client.delete(f"{b_users}/{b_user['id']}", headers=headers),
            await client.get(f"/v1/organizations/{tenant_b.org_id}", headers=headers),
            await client.get(f"/v1/organizations/{tenant_b.org_id}/audit-log", headers=headers),
            await client.get(f"/v1/projects/{tenant_b.project_id}", headers=headers),
        ):
            assert response.status_code == 404, (response.request.url, response.text)
    # A's signed-in users see A and only A.
    for headers in (a_owner, a_member):
        orgs = await client.get("/v1/organizations", headers=headers)
        assert [o["id"] for o in orgs.json()["items"]] == [tenant_a.org_id]
        projects = await client.get(
            "/v1/projects", params={"org_id": tenant_a.org_id}, headers=headers
        )
        assert [p["id"] for p in projects.json()["items"]] == [tenant_a.project_id]
    # B's user was not touched.
    listed = await client.get(b_users, headers=tenant_b.owner_headers)
    assert [(u["id"], u["role"]) for u in listed.json()["items"]] == [(b_user["id"], "member")]
    assert (await accept(client, invitation_token(b_user))).status_code == 200


async def test_a_platform_admin_signs_in_and_sees_every_organization(
    settings: Settings, client: AsyncTestClient[Any], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    async with offline_container(settings) as offline:
        created = await offline.services.users().create_admin("Root@Ops.test", PASSWORD)
        await offline.adapters.audit().settle()
    assert created.role == "admin" and created.org_id is None

    signed = await sign_in(client, "root@ops.test")
    assert signed.status_code == 200, signed.text
    assert signed.json()["user"]["role"] == "admin" and signed.json()["user"]["org_id"] is None
    root = bearer(signed.json()["access_token"])
    orgs = await client.get("/v1/organizations", headers=root)
    assert {tenant_a.org_id, tenant_b.org_id} <= {o["id"] for o in orgs.json()["items"]}
    for n, tenant in enumerate((tenant_a, tenant_b)):
        users = f"/v1/organizations/{tenant.org_id}/users"
        assert (await client.get(users, headers=root)).status_code == 200
        invited = await invite(client, tenant.org_id, root, f"new{n}@x.test")
        assert invited["org_id"] == tenant.org_id
    made = await client.post(
        "/v1/organizations", json={"name": "Third", "admin_email": "t@third.test"}, headers=root
    )
    assert made.status_code == 201, made.text
    # An admin is not a user of an organization: no organization lists it.
    for tenant in (tenant_a, tenant_b):
        listed = await client.get(f"/v1/organizations/{tenant.org_id}/users", headers=root)
        assert "root@ops.test" not in listed.text
    assert (await client.post("/v1/auth/logout", headers=root)).status_code == 204
    assert (await client.get("/v1/organizations", headers=root)).status_code == 401


def _create_admin(
    data_dir: Path, email: str, *, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME")}
    return subprocess.run(
        [PULSE, "create-admin", "--email", email],
        env={**clean, "DATA_DIR": str(data_dir), **(env or {})},
        cwd=data_dir.parent,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_admin_from_the_command_line_then_sign_in(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"  # the directory running_pulse_serve serves from
    data_dir.mkdir()
    by_env = _create_admin(data_dir, "ops@pulse.test", env={"PULSE_ADMIN_PASSWORD": PASSWORD})
    assert by_env.returncode == 0, by_env.stderr
    assert by_env.stdout.strip().startswith("usr_")
    by_stdin = _create_admin(data_dir, "night@pulse.test", stdin=OTHER_PASSWORD + "\n")
    assert by_stdin.returncode == 0, by_stdin.stderr
    short = _create_admin(data_dir, "weak@pulse.test", stdin="short\n")
    assert short.returncode == 2 and "password" in short.stderr  # bad input: a usage error
    taken = _create_admin(data_dir, "OPS@pulse.test", env={"PULSE_ADMIN_PASSWORD": PASSWORD})
    assert taken.returncode == 1, taken.stdout
    for result in (by_env, by_stdin, short, taken):
        assert PASSWORD not in result.stdout + result.stderr
        assert OTHER_PASSWORD not in result.stdout + result.stderr

    with (
        running_pulse_serve(tmp_path) as (base_url, operator_token),
        httpx.Client(base_url=base_url, timeout=30) as http,
    ):
        operator = bearer(operator_token)
        for name in ("One", "Two"):
            made = http.post(
                "/v1/organizations",
                json={"name": name, "admin_email": f"ops@{name.lower()}.test"},
                headers=operator,
            )
            assert made.status_code == 201, made.text
        for email, password in (("ops@pulse.test", PASSWORD), ("night@pulse.test", OTHER_PASSWORD)):
            signed = http.post("/v1/auth/login", json={"email": email, "password": password})
            assert signed.status_code == 200, signed.text
            assert signed.json()["user"]["role"] == "admin"
            orgs = http.get("/v1/organizations", headers=bearer(signed.json()["access_token"]))
            assert {o["name"] for o in orgs.json()["items"]} >= {"One", "Two"}
        wrong = http.post(
            "/v1/auth/login", json={"email": "ops@pulse.test", "password": OTHER_PASSWORD}
        )
        assert wrong.status_code == 401
        refused = http.post(
            "/v1/auth/login", json={"email": "weak@pulse.test", "password": "short"}
        )
        assert refused.status_code == 401


async def test_signing_in_is_in_the_audit_log_without_a_secret(
    settings: Settings, clock: ManualClock
) -> None:
    container = make_container(msgspec.structs.replace(settings, trust_x_forwarded_for=True), clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        admin = bearer(container.services.management_auth().mint("test-admin", role="admin"))
        tenant = await make_tenant(client, container, admin, "Audited")
        org, owner = tenant.org_id, tenant.owner_headers
        # Records of one millisecond have no order: each step gets its own second.
        invited = await invite(client, org, owner, "ivy@x.test")
        token = invitation_token(invited)
        clock.advance(1)
        assert (await accept(client, token)).status_code == 200
        clock.advance(1)
        wrong = await sign_in(client, "ivy@x.test", OTHER_PASSWORD, address="192.0.2.5")
        assert wrong.status_code == 401
        assert (await sign_in(client, "nobody@x.test", address="192.0.2.5")).status_code == 401
        clock.advance(1)
        signed = await client.post(
            "/v1/auth/login",
            json={"email": "ivy@x.test", "password": PASSWORD},
            headers={"X-Forwarded-For": "192.0.2.6", "User-Agent": "audit-test/1.0"},
        )
        assert signed.status_code == 200
        ivy = bearer(signed.json()["access_token"])
        clock.advance(1)
        assert (await client.post("/v1/auth/logout", headers=ivy)).status_code == 204
        clock.advance(1)
        changed = await client.patch(
            f"/v1/organizations/{org}/users/{invited['id']}", json={"name": "Ivy"}, headers=owner
        )
        assert changed.status_code == 200
        clock.advance(1)
        removed = await client.delete(
            f"/v1/organizations/{org}/users/{invited['id']}", headers=owner
        )
        assert removed.status_code == 204

        log = await client.get(f"/v1/organizations/{org}/audit-log", headers=tenant.member_headers)
        assert log.status_code == 200, log.text
        items = log.json()["items"]
        user_actions = [r["action"] for r in items if r["resource_type"] == "user"]
        # Newest first. The failure of an unknown email belongs to no organization.
        assert user_actions == [
            "user.removed",
            "user.updated",
            "user.signed_out",
            "user.signed_in",
            "user.sign_in_failed",
            "user.invite_accepted",
            "user.invited",
        ]
        by_action = {r["action"]: r for r in items}
        signed_in = by_action["user.signed_in"]
        assert signed_in["actor"] == {"type": "user", "id": invited["id"], "email": "ivy@x.test"}
        assert signed_in["ip"] == "192.0.2.6" and signed_in["user_agent"] == "audit-test/1.0"
        assert signed_in["request_id"] == signed.headers["x-request-id"]
        failed = by_action["user.sign_in_failed"]
        assert failed["resource_id"] == invited["id"] and failed["ip"] == "192.0.2.5"
        assert failed["actor"]["email"] == "ivy@x.test"
        assert by_action["user.signed_out"]["actor"]["id"] == invited["id"]
        for action in ("user.invited", "user.updated", "user.removed"):
            assert by_action[action]["actor"]["type"] == "token"
        filtered = await client.get(
            f"/v1/organizations/{org}/audit-log",
            params={"action": "user.signed_in", "resource_id": invited["id"]},
            headers=owner,
        )
        assert [r["action"] for r in filtered.json()["items"]] == ["user.signed_in"]
        for secret in (PASSWORD, OTHER_PASSWORD, token, token.partition(".")[2]):
            assert secret not in log.text


async def test_passwords_never_come_back_in_an_answer_or_a_log_line(
    settings: Settings, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = msgspec.structs.replace(
        settings, log_level="debug", log_format="json", sign_in_failure_limit=2
    )
    container = make_container(settings, clock)
    answers: list[httpx.Response] = []
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await _tenant(client, container)
        users = f"/v1/organizations/{tenant.org_id}/users"
        invited = await client.post(
            users, json={"email": "pat@x.test", "role": "member"}, headers=tenant.owner_headers
        )
        token = invitation_token(invited.json())
        answers += [
            await accept(client, token, "short"),
            await client.post(
                "/v1/auth/accept-invite",
                json={"token": token, "password": PASSWORD, "extra": PASSWORD},
            ),
            await client.post("/v1/auth/accept-invite", json={"token": token, "password": 7}),
            await accept(client, token),
            await accept(client, token, PASSWORD + "!"),
            await sign_in(client, "pat@x.test"),
            await client.post(
                "/v1/auth/login", json={"email": "pat@x.test", "password": PASSWORD, "x": 1}
            ),
            await client.post("/v1/auth/login", content=f'{{"password": "{PASSWORD}"'),
        ]
        answers += [await sign_in(client, "pat@x.test", OTHER_PASSWORD) for _ in range(4)]
        answers.append(await sign_in(client, "pat@x.test"))  # throttled by now
        answers += [
            await client.get(users, headers=tenant.owner_headers),
            await client.get(
                f"/v1/organizations/{tenant.org_id}/audit-log", headers=tenant.owner_headers
            ),
        ]
    statuses = [a.status_code for a in answers]
    assert statuses[:6] == [400, 400, 400, 200, 400, 200], statuses
    # Limit 2: two failures, then every attempt (the right password too) is throttled.
    assert statuses[-7:] == [401, 401, 429, 429, 429, 200, 200], statuses
    access_token = answers[5].json()["access_token"]
    for answer in answers:
        for secret in (PASSWORD, OTHER_PASSWORD):
            assert secret not in answer.text, answer.text
        assert "hash" not in answer.text.lower()
    captured = capsys.readouterr()
    output = captured.out + captured.err
    lines = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    assert any(line.get("path") == "/v1/auth/login" for line in lines)  # the log is on
    for secret in (PASSWORD, OTHER_PASSWORD, token.partition(".")[2], access_token):
        assert secret not in output


async def _tenant(client: AsyncTestClient[Any], container: Container) -> Tenant:
    admin = bearer(container.services.management_auth().mint("test-admin", role="admin"))
    return await make_tenant(client, container, admin, "Quiet")
