"""The audit log over HTTP (API.md, "Audit log").

Every management write and every sign-in leaves exactly one record naming who did it
(a token, a signed-in user, a project key), what, to which resource of which
organization, and from where (address, user agent, request id); a refused write leaves
none; no secret is ever in a record. The log is read newest first, filtered, paged by
cursor, per organization, and old records are purged by the lifecycle's upkeep.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
from httpx import Response
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_core.models.audit import AuditRecord
from pulse_core.ports.audit import AuditRepository
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, Upkeep, make_container, make_tenant, unscheduled

Client = AsyncTestClient[Any]

# What the test client's requests come from (Litestar's test transport).
CLIENT_ADDRESS = "testclient"
PASSWORD = "correct horse battery staple"
WRONG_PASSWORD = "incorrect horse battery staple"
HOOK = "https://hooks.example.com/pulse"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class AuditTrail:
    """Makes requests with a user agent of their own, on a clock that moves a second
    before each (so that ids, which sort by time, sort in the order of the writes), and
    checks what the log gained since the last look."""

    client: Client
    clock: ManualClock
    container: Container
    admin: dict[str, str]
    orgs: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)
    count: int = 0
    agents: dict[int, str] = field(default_factory=dict)

    async def send(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> Response:
        self.clock.advance(1)
        self.count += 1
        # Sent as UTF-8 bytes, as clients send it, and stored as the text it is.
        agent = f"audit-test/{self.count} (write; café)"
        response = await self.client.request(
            method, path, headers={**headers, "User-Agent": agent.encode()}, json=body
        )
        self.agents[id(response)] = agent
        return response

    async def records(self, org_id: str, **params: Any) -> list[dict[str, Any]]:
        """Every record of the organization's log, through its pages, as the admin."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 200, **params, **({"cursor": cursor} if cursor else {})}
            page = await self.client.get(
                f"/v1/organizations/{org_id}/audit-log", params=query, headers=self.admin
            )
            assert page.status_code == 200, page.text
            body = page.json()
            items.extend(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return items

    def platform_records(self) -> list[AuditRecord]:
        """Records of no organization (a failed sign-in of an unknown email), read from
        the repository in the app's own event loop."""
        repository: AuditRepository = self.container.adapters.audit()
        return self.client.blocking_portal.call(
            functools.partial(repository.list_page, None, limit=1000)
        )

    async def fresh(self) -> dict[str, list[dict[str, Any]]]:
        new: dict[str, list[dict[str, Any]]] = {}
        for org_id in sorted(self.orgs):
            for record in await self.records(org_id):
                if record["id"] not in self.seen:
                    self.seen.add(record["id"])
                    new.setdefault(org_id, []).append(record)
        for platform in self.platform_records():
            if platform.id not in self.seen:
                self.seen.add(platform.id)
                new.setdefault("", []).append(msgspec.to_builtins(platform))
        return new

    async def one(
        self,
        response: Response,
        *,
        action: str,
        actor: dict[str, Any],
        resource_type: str,
        resource_id: str | None,
        org_id: str | None,
        status: int | None = None,
    ) -> dict[str, Any]:
        """The one record the request behind ``response`` left (anywhere), checked field
        by field; ``org_id`` None: the platform's own log. A write succeeded unless
        ``status`` says otherwise (a failed sign-in is recorded too)."""
        if status is None:
            assert response.status_code < 300, response.text
        else:
            assert response.status_code == status, response.text
        where = org_id or ""
        if org_id is not None:
            self.orgs.add(org_id)
        new = await self.fresh()
        assert list(new) == [where] and len(new[where]) == 1, (action, new)
        record = new[where][0]
        assert record["action"] == action
        assert {"email": None, **record["actor"]} == {"email": None, **actor}, record
        assert record["resource_type"] == resource_type
        assert record["resource_id"] == resource_id
        assert record["org_id"] == org_id
        assert record["ip"] == CLIENT_ADDRESS
        assert record["user_agent"] == self.agents[id(response)]
        assert record["request_id"] == response.headers["x-request-id"]
        return record

    async def none(self, response: Response, status: int) -> None:
        """A refused write: the status expected, and no record anywhere."""
        assert response.status_code == status, response.text
        assert await self.fresh() == {}


@pytest.fixture
async def trail(client: Client, container: Container, clock: ManualClock) -> AuditTrail:
    auth = container.services.management_auth()
    admin = bearer(auth.mint("ops-admin", role="admin"))
    return AuditTrail(client=client, clock=clock, container=container, admin=admin)


async def test_every_management_write_is_recorded_once_and_no_secret_ever(
    trail: AuditTrail, container: Container
) -> None:
    t = trail
    auth = container.services.management_auth()
    admin_actor = {"type": "token", "id": "ops-admin"}

    # -- organizations -------------------------------------------------------------------
    created = await t.send(
        "POST", "/v1/organizations", t.admin, {"name": "Acme", "admin_email": "ops@acme.test"}
    )
    org = created.json()["id"]
    await t.one(
        created,
        action="organization.created",
        actor=admin_actor,
        resource_type="organization",
        resource_id=org,
        org_id=org,
    )
    other = await t.send(
        "POST", "/v1/organizations", t.admin, {"name": "Other", "admin_email": "ops@other.test"}
    )
    other_org = other.json()["id"]
    await t.one(
        other,
        action="organization.created",
        actor=admin_actor,
        resource_type="organization",
        resource_id=other_org,
        org_id=other_org,
    )
    owner_token = auth.mint("acme-owner", role="owner", org_id=org)
    member_token = auth.mint("acme-member", role="member", org_id=org)
    t.secrets |= {owner_token, member_token, t.admin["Authorization"].split()[1]}
    owner, member = bearer(owner_token), bearer(member_token)
    owner_actor = {"type": "token", "id": "acme-owner"}
    duplicate = {"name": "Again", "admin_email": "ops@acme.test"}
    await t.none(await t.send("POST", "/v1/organizations", t.admin, duplicate), 409)
    bad_email = {"name": "Bad", "admin_email": "not an email"}
    await t.none(await t.send("POST", "/v1/organizations", t.admin, bad_email), 400)
    await t.none(
        await t.send("POST", "/v1/organizations", owner, {"name": "X", "admin_email": "x@x.test"}),
        403,
    )
    path = f"/v1/organizations/{org}"
    renamed = await t.send("PUT", path, owner, {"name": "Acme Inc"})
    await t.one(
        renamed,
        action="organization.updated",
        actor=owner_actor,
        resource_type="organization",
        resource_id=org,
        org_id=org,
    )
    await t.none(await t.send("PUT", path, owner, {"admin_email": "ops@other.test"}), 409)
    await t.none(await t.send("PUT", path, owner, {"admin_email": "nope"}), 400)
    await t.none(await t.send("PUT", path, member, {"name": "Mine"}), 403)
    missing = "/v1/organizations/org_01Q3DCBD00PVJ62EW0HZJX0CYX"
    await t.none(await t.send("PUT", missing, t.admin, {"name": "Ghost"}), 404)
    plan = await t.send("PUT", path, t.admin, {"plan": "enterprise"})
    await t.one(
        plan,
        action="organization.plan_changed",
        actor=admin_actor,
        resource_type="organization",
        resource_id=org,
        org_id=org,
    )
    # The plan sent again, unchanged (a whole form): nothing changed, nothing recorded.
    await t.none(await t.send("PUT", path, t.admin, {"plan": "enterprise"}), 200)
    # A rename sent with the plan unchanged is an update, not a change of plan; with a
    # new plan, each is recorded as what it is.
    same_plan = await t.send("PUT", path, t.admin, {"name": "Acme Two", "plan": "enterprise"})
    await t.one(
        same_plan,
        action="organization.updated",
        actor=admin_actor,
        resource_type="organization",
        resource_id=org,
        org_id=org,
    )
    both = await t.send("PUT", path, t.admin, {"name": "Acme Three", "plan": "pro"})
    assert both.status_code == 200 and both.json()["plan"] == "pro"
    assert both.json()["name"] == "Acme Three"
    recorded = (await t.fresh())[org]
    assert sorted(r["action"] for r in recorded) == [
        "organization.plan_changed",
        "organization.updated",
    ]
    restored = await t.send("PUT", path, t.admin, {"plan": "enterprise"})
    await t.one(
        restored,
        action="organization.plan_changed",
        actor=admin_actor,
        resource_type="organization",
        resource_id=org,
        org_id=org,
    )

    # -- projects ------------------------------------------------------------------------
    made = await t.send("POST", "/v1/projects", owner, {"org_id": org, "name": "App"})
    project = made.json()["id"]
    t.secrets.add(made.json()["api_secret"])
    project_fields = {"resource_type": "project", "resource_id": project, "org_id": org}
    await t.one(made, action="project.created", actor=owner_actor, **project_fields)
    await t.none(await t.send("POST", "/v1/projects", member, {"org_id": org, "name": "M"}), 403)
    await t.none(await t.send("POST", "/v1/projects", owner, {"org_id": org, "name": ""}), 400)
    project_path = f"/v1/projects/{project}"
    updated = await t.send("PUT", project_path, owner, {"name": "App 2"})
    await t.one(updated, action="project.updated", actor=owner_actor, **project_fields)
    await t.none(await t.send("PUT", project_path, member, {"name": "App 3"}), 403)
    await t.none(await t.send("PUT", "/v1/projects/prj_nosuch", owner, {"name": "App 3"}), 404)
    rotated = await t.send("POST", f"{project_path}/regenerate-keys", owner, {})
    t.secrets.add(rotated.json()["api_secret"])
    await t.one(rotated, action="project.keys_regenerated", actor=owner_actor, **project_fields)
    too_long = {"grace_period_seconds": 10**6}
    await t.none(await t.send("POST", f"{project_path}/regenerate-keys", owner, too_long), 400)

    # -- keys ----------------------------------------------------------------------------
    keys_path = f"{project_path}/keys"
    key = await t.send("POST", keys_path, owner, {"name": "hooks", "scopes": ["webhooks:write"]})
    hooks_key = key.json()
    t.secrets.add(hooks_key["api_secret"])
    key_fields = {"resource_type": "key", "org_id": org}
    await t.one(
        key, action="key.created", actor=owner_actor, resource_id=hooks_key["id"], **key_fields
    )
    await t.none(await t.send("POST", keys_path, member, {"name": "m"}), 403)
    await t.none(await t.send("POST", keys_path, owner, {"name": "s", "scopes": ["root"]}), 400)
    spare = await t.send("POST", keys_path, owner, {"name": "spare"})
    t.secrets.add(spare.json()["api_secret"])
    spare_id = spare.json()["id"]
    await t.one(spare, action="key.created", actor=owner_actor, resource_id=spare_id, **key_fields)
    await t.none(await t.send("DELETE", f"{keys_path}/{spare_id}", member), 403)
    await t.none(await t.send("DELETE", f"{keys_path}/primary", owner), 409)
    await t.none(await t.send("DELETE", f"{keys_path}/key_nosuch", owner), 404)
    revoked = await t.send("DELETE", f"{keys_path}/{spare_id}", owner)
    await t.one(
        revoked, action="key.revoked", actor=owner_actor, resource_id=spare_id, **key_fields
    )

    # -- webhook endpoints: with a project key, then as the owner ------------------------
    key_headers = {"X-Pulse-Key": hooks_key["api_key"], "X-Pulse-Secret": hooks_key["api_secret"]}
    key_actor = {"type": "key", "id": hooks_key["id"]}
    for base, headers, actor, refused in [
        ("/v1/webhooks", key_headers, key_actor, None),
        (f"{project_path}/webhooks", owner, owner_actor, member),
    ]:
        made = await t.send("POST", f"{base}/endpoints", headers, {"url": HOOK})
        endpoint = made.json()["id"]
        assert made.json()["secret"].startswith("whsec_")
        t.secrets.add(made.json()["secret"])
        hook_fields = {"resource_type": "webhook_endpoint", "resource_id": endpoint, "org_id": org}
        await t.one(made, action="webhook_endpoint.created", actor=actor, **hook_fields)
        bad_url = {"url": "ftp://hooks.example.com/"}
        await t.none(await t.send("POST", f"{base}/endpoints", headers, bad_url), 400)
        one = f"{base}/endpoints/{endpoint}"
        changed = await t.send("PATCH", one, headers, {"description": "orders"})
        await t.one(changed, action="webhook_endpoint.updated", actor=actor, **hook_fields)
        ghost = f"{base}/endpoints/whe_nosuch"
        await t.none(await t.send("PATCH", ghost, headers, {"description": "x"}), 404)
        if refused is not None:
            await t.none(await t.send("PATCH", one, refused, {"description": "x"}), 403)
            await t.none(await t.send("POST", f"{base}/endpoints", refused, {"url": HOOK}), 403)
        rotated = await t.send("POST", f"{one}/rotate-secret", headers, {})
        assert rotated.json()["secret"].startswith("whsec_")
        t.secrets.add(rotated.json()["secret"])
        await t.one(rotated, action="webhook_endpoint.secret_rotated", actor=actor, **hook_fields)
        deleted = await t.send("DELETE", one, headers)
        await t.one(deleted, action="webhook_endpoint.deleted", actor=actor, **hook_fields)

    # -- users and sign-in ---------------------------------------------------------------
    users = f"/v1/organizations/{org}/users"
    invited = await t.send("POST", users, owner, {"email": "dana@acme.test", "role": "owner"})
    dana = invited.json()["id"]
    url = invited.json()["invite_url"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    t.secrets |= {url, token, token.partition(".")[2]}
    user_fields = {"resource_type": "user", "resource_id": dana, "org_id": org}
    await t.one(invited, action="user.invited", actor=owner_actor, **user_fields)
    again = {"email": "dana@acme.test", "role": "member"}
    await t.none(await t.send("POST", users, owner, again), 409)
    await t.none(
        await t.send("POST", users, member, {"email": "e@acme.test", "role": "member"}), 403
    )
    await t.none(await t.send("POST", users, owner, {"email": "f@acme.test", "role": "boss"}), 400)
    dana_actor = {"type": "user", "id": dana, "email": "dana@acme.test"}
    accept = {"token": token, "password": PASSWORD}
    t.secrets.add(PASSWORD)
    accepted = await t.send("POST", "/v1/auth/accept-invite", {}, accept)
    await t.one(accepted, action="user.invite_accepted", actor=dana_actor, **user_fields)
    await t.none(await t.send("POST", "/v1/auth/accept-invite", {}, accept), 400)
    signed = await t.send(
        "POST", "/v1/auth/login", {}, {"email": "dana@acme.test", "password": PASSWORD}
    )
    access = signed.json()["access_token"]
    t.secrets.add(access)
    await t.one(signed, action="user.signed_in", actor=dana_actor, **user_fields)
    t.secrets.add(WRONG_PASSWORD)
    failed = await t.send(
        "POST", "/v1/auth/login", {}, {"email": "dana@acme.test", "password": WRONG_PASSWORD}
    )
    await t.one(failed, status=401, action="user.sign_in_failed", actor=dana_actor, **user_fields)
    # An unknown email: recorded with the email typed, under no organization.
    stranger = await t.send(
        "POST", "/v1/auth/login", {}, {"email": "nobody@acme.test", "password": WRONG_PASSWORD}
    )
    await t.one(
        stranger,
        status=401,
        action="user.sign_in_failed",
        actor={"type": "user", "id": "unknown", "email": "nobody@acme.test"},
        resource_type="user",
        resource_id=None,
        org_id=None,
    )
    # A signed-in user's own writes name them.
    dana_headers = bearer(access)
    by_dana = await t.send("PUT", path, dana_headers, {"name": "Acme (Dana)"})
    await t.one(
        by_dana,
        action="organization.updated",
        actor=dana_actor,
        resource_type="organization",
        resource_id=org,
        org_id=org,
    )
    named = await t.send("PATCH", f"{users}/{dana}", owner, {"name": "Dana"})
    await t.one(named, action="user.updated", actor=owner_actor, **user_fields)
    await t.none(await t.send("PATCH", f"{users}/{dana}", member, {"name": "D"}), 403)
    await t.none(await t.send("PATCH", f"{users}/usr_nosuch", owner, {"name": "D"}), 404)
    extra = await t.send("POST", users, owner, {"email": "eve@acme.test", "role": "member"})
    eve = extra.json()["id"]
    t.secrets.add(extra.json()["invite_url"])
    eve_fields = {"resource_type": "user", "resource_id": eve, "org_id": org}
    await t.one(extra, action="user.invited", actor=owner_actor, **eve_fields)
    await t.none(await t.send("DELETE", f"{users}/{eve}", member), 403)
    removed = await t.send("DELETE", f"{users}/{eve}", dana_headers)
    await t.one(removed, action="user.removed", actor=dana_actor, **eve_fields)
    out = await t.send("POST", "/v1/auth/logout", dana_headers)
    await t.one(out, action="user.signed_out", actor=dana_actor, **user_fields)

    # -- deletions -----------------------------------------------------------------------
    await t.none(await t.send("DELETE", project_path, member), 403)
    gone = await t.send("DELETE", project_path, owner)
    await t.one(gone, action="project.deleted", actor=owner_actor, **project_fields)
    await t.none(await t.send("DELETE", path, member), 403)
    closed = await t.send("DELETE", path, t.admin)
    await t.one(
        closed,
        action="organization.deleted",
        actor=admin_actor,
        resource_type="organization",
        resource_id=org,
        org_id=org,
    )

    # -- no secret, anywhere -------------------------------------------------------------
    assert len(t.secrets) >= 15
    everything = [r for o in sorted(t.orgs) for r in await t.records(o)]
    everything += [msgspec.to_builtins(r) for r in t.platform_records()]
    assert len(everything) == len(t.seen)
    text = json.dumps(everything)
    for secret in t.secrets:
        assert secret not in text, secret
    # Nor in the log's answers as served, page by page.
    for org_id in sorted(t.orgs):
        cursor = None
        while True:
            query: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await t.client.get(
                f"/v1/organizations/{org_id}/audit-log", params=query, headers=t.admin
            )
            assert not any(secret in page.text for secret in t.secrets)
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break


# -- reading the log -----------------------------------------------------------------------


async def _history(
    client: Client, clock: ManualClock, tenant: Tenant
) -> tuple[list[str], dict[str, str]]:
    """A few writes a second apart; the project ids written and when each write was."""
    times: dict[str, str] = {}
    projects = []
    for n in range(3):
        clock.advance(1)
        made = await client.post(
            "/v1/projects",
            json={"org_id": tenant.org_id, "name": f"P{n}"},
            headers=tenant.owner_headers,
        )
        assert made.status_code == 201
        projects.append(made.json()["id"])
        clock.advance(1)
        times[f"update-{n}"] = clock.now().isoformat()
        renamed = await client.put(
            f"/v1/projects/{projects[-1]}", json={"name": f"Q{n}"}, headers=tenant.owner_headers
        )
        assert renamed.status_code == 200
    return projects, times


async def _log(client: Client, org_id: str, headers: dict[str, str], **params: Any) -> Any:
    answer = await client.get(
        f"/v1/organizations/{org_id}/audit-log", params=params, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_filters_order_and_pages(
    client: Client, clock: ManualClock, tenant_a: Tenant
) -> None:
    projects, times = await _history(client, clock, tenant_a)
    everything = (await _log(client, tenant_a.org_id, tenant_a.owner_headers))["items"]
    ids = [r["id"] for r in everything]
    # Newest first: ids (which sort by time) and times descending.
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert [r["at"] for r in everything] == sorted((r["at"] for r in everything), reverse=True)
    actions = [r["action"] for r in everything]
    assert actions[:6] == ["project.updated", "project.created"] * 3
    # make_tenant's two writes, in the same instant of the test's clock: either order.
    assert sorted(actions[6:]) == ["organization.created", "project.created"]
    updates = await _log(client, tenant_a.org_id, tenant_a.owner_headers, action="project.updated")
    assert [r["resource_id"] for r in updates["items"]] == projects[::-1]
    one = await _log(client, tenant_a.org_id, tenant_a.owner_headers, resource_id=projects[1])
    assert [r["action"] for r in one["items"]] == ["project.updated", "project.created"]
    since = await _log(client, tenant_a.org_id, tenant_a.owner_headers, since=times["update-1"])
    assert [r["id"] for r in since["items"]] == ids[:3]
    both = await _log(
        client,
        tenant_a.org_id,
        tenant_a.owner_headers,
        since=times["update-1"],
        action="project.created",
    )
    assert [r["resource_id"] for r in both["items"]] == [projects[2]]
    assert (await _log(client, tenant_a.org_id, tenant_a.owner_headers, action="x.y"))[
        "items"
    ] == []
    # Cursor pages of two walk the whole log, in order, each record once.
    walked: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await _log(client, tenant_a.org_id, tenant_a.member_headers, **params)
        assert 1 <= len(page["items"]) <= 2
        walked += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == ids
    # Filters and pages together.
    first = await _log(
        client, tenant_a.org_id, tenant_a.owner_headers, action="project.created", limit=2
    )
    rest = await _log(
        client,
        tenant_a.org_id,
        tenant_a.owner_headers,
        action="project.created",
        limit=2,
        cursor=first["next_cursor"],
    )
    created = [r["id"] for r in first["items"] + rest["items"]]
    assert created == [r["id"] for r in everything if r["action"] == "project.created"]
    assert rest["next_cursor"] is None


async def test_members_read_their_log_and_no_one_reads_another_organizations(
    client: Client, clock: ManualClock, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    await _history(client, clock, tenant_a)
    mine = await _log(client, tenant_a.org_id, tenant_a.owner_headers)
    assert await _log(client, tenant_a.org_id, tenant_a.member_headers) == mine
    theirs = await _log(client, tenant_b.org_id, tenant_b.owner_headers)
    assert {r["org_id"] for r in mine["items"]} == {tenant_a.org_id}
    assert {r["org_id"] for r in theirs["items"]} == {tenant_b.org_id}
    assert not {r["id"] for r in mine["items"]} & {r["id"] for r in theirs["items"]}
    assert tenant_b.project_id not in json.dumps(mine) and tenant_b.org_id not in json.dumps(mine)
    assert tenant_a.project_id not in json.dumps(theirs)
    for headers in (tenant_b.owner_headers, tenant_b.member_headers):
        refused = await client.get(
            f"/v1/organizations/{tenant_a.org_id}/audit-log", headers=headers
        )
        assert refused.status_code == 404
        # Filters do not open another door.
        sideways = await client.get(
            f"/v1/organizations/{tenant_b.org_id}/audit-log",
            params={"resource_id": tenant_a.project_id},
            headers=headers,
        )
        assert sideways.status_code == 200 and sideways.json()["items"] == []
    # Project credentials are not management credentials.
    key = await client.get(
        f"/v1/organizations/{tenant_a.org_id}/audit-log", headers=tenant_a.project_headers
    )
    assert key.status_code == 403


async def test_bad_queries_are_400_naming_the_parameter(client: Client, tenant_a: Tenant) -> None:
    path = f"/v1/organizations/{tenant_a.org_id}/audit-log"
    cases: list[tuple[dict[str, str | int], str]] = [
        ({"since": "2030-01-01T00:00:00"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"cursor": "nonsense"}, "cursor"),
        ({"action": "a" * 65}, "action"),
    ]
    for params, name in cases:
        answer = await client.get(path, params=params, headers=tenant_a.owner_headers)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["field"] == name, (params, answer.json())


# -- retention -----------------------------------------------------------------------------

RETENTION_DAYS = 30


@pytest.fixture
async def short_memory(
    settings: Settings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Container, Client, Upkeep]]:
    """An app that keeps records 30 days, and its ``access`` upkeep hook, taken off its
    10-minute schedule so that the test runs it (in the app's loop) when it chooses."""
    hooks = unscheduled(monkeypatch, "access")
    kept = msgspec.structs.replace(settings, audit_retention_days=RETENTION_DAYS)
    container = make_container(kept, clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        yield container, client, hooks["access"]


async def test_the_upkeep_purges_records_older_than_the_retention(
    short_memory: tuple[Container, Client, Upkeep], clock: ManualClock
) -> None:
    container, client, upkeep = short_memory
    auth = container.services.management_auth()

    def admin() -> dict[str, str]:  # minted now: a token lives an hour of the clock
        return bearer(auth.mint("ops-admin"))

    tenant = await make_tenant(client, container, admin(), "Old")  # two records, now
    path = f"/v1/projects/{tenant.project_id}"
    clock.advance(timedelta(days=RETENTION_DAYS - 10).total_seconds())
    assert (await client.put(path, json={"name": "Middle"}, headers=admin())).status_code == 200
    clock.advance(timedelta(days=10, seconds=1).total_seconds())
    assert (await client.put(path, json={"name": "New"}, headers=admin())).status_code == 200

    async def actions() -> list[str]:
        return [r["action"] for r in (await _log(client, tenant.org_id, admin()))["items"]]

    old = ["project.updated", "project.updated"]
    assert sorted((await actions())[2:]) == ["organization.created", "project.created"]
    client.blocking_portal.call(upkeep)
    # Older than 30 days (the first two, 30 days and a second ago): gone. 20 days: kept.
    assert await actions() == old
    client.blocking_portal.call(upkeep)
    assert await actions() == old
