"""Users who sign in, over HTTP (API.md, "Users and sign-in"): invitations, passwords,
sessions that end at once, the one 401, throttling, and the organization's last owner.

Removal across replicas, tenancy, platform admins and logs are in
tests/http/test_sign_in_access.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_container, make_tenant

PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "another long pass phrase"
WEEK = 7 * 24 * 3600


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def invitation_token(invited: dict[str, Any]) -> str:
    url: str = invited["invite_url"]
    return parse_qs(urlsplit(url).query)["token"][0]


async def invite(
    client: AsyncTestClient[Any],
    org_id: str,
    headers: dict[str, str],
    email: str,
    role: str = "member",
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/organizations/{org_id}/users", json={"email": email, "role": role}, headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def accept(
    client: AsyncTestClient[Any], token: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/v1/auth/accept-invite", json={"token": token, "password": password})


async def sign_in(
    client: AsyncTestClient[Any],
    email: str,
    password: str = PASSWORD,
    *,
    address: str | None = None,
) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return await client.post(
        "/v1/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def signed_in_user(
    client: AsyncTestClient[Any],
    org_id: str,
    headers: dict[str, str],
    email: str,
    role: str = "member",
) -> tuple[str, dict[str, str]]:
    """Invite ``email``, accept, sign in: (user id, the user's Bearer headers)."""
    invited = await invite(client, org_id, headers, email, role)
    assert (await accept(client, invitation_token(invited))).status_code == 200
    signed = await sign_in(client, email)
    assert signed.status_code == 200, signed.text
    return invited["id"], bearer(signed.json()["access_token"])


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("request_id", None)
    return body


async def test_invite_accept_sign_in_and_sign_out(
    client: AsyncTestClient[Any], tenant_a: Tenant, clock: ManualClock
) -> None:
    org = tenant_a.org_id
    invited = await invite(client, org, tenant_a.owner_headers, "Mia@Example.test")
    assert invited["status"] == "invited" and invited["role"] == "member"
    assert invited["email"] == "mia@example.test" and invited["org_id"] == org
    assert "token=" in invited["invite_url"]
    assert "/dashboard/accept-invite?" in invited["invite_url"]
    token = invitation_token(invited)

    # Not accepted yet: no sign-in.
    assert (await sign_in(client, "mia@example.test")).status_code == 401

    short = await accept(client, token, "too short")
    assert short.status_code == 400 and short.json()["field"] == "password", short.text
    accepted = await accept(client, token)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "active" and accepted.json()["id"] == invited["id"]
    again = await accept(client, token, OTHER_PASSWORD)
    assert again.status_code == 400 and again.json()["code"] == "invalid_invitation"
    # The second accept changed nothing: the first password still signs in.
    assert (await sign_in(client, "mia@example.test", OTHER_PASSWORD)).status_code == 401

    signed = await sign_in(client, "MIA@example.test")
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert set(body) == {"access_token", "expires_at", "user"}
    assert body["user"]["id"] == invited["id"] and body["user"]["last_login_at"]
    member = bearer(body["access_token"])

    # A member reads its organization and cannot write.
    assert (await client.get(f"/v1/organizations/{org}", headers=member)).status_code == 200
    projects = await client.get("/v1/projects", params={"org_id": org}, headers=member)
    assert projects.status_code == 200 and projects.json()["items"]
    listed = await client.get(f"/v1/organizations/{org}/users", headers=member)
    assert listed.status_code == 200
    assert [u["email"] for u in listed.json()["items"]] == ["mia@example.test"]
    write = await client.post("/v1/projects", json={"org_id": org, "name": "x"}, headers=member)
    assert write.status_code == 403, write.text
    refused = await client.post(
        f"/v1/organizations/{org}/users",
        json={"email": "x@example.test", "role": "member"},
        headers=member,
    )
    assert refused.status_code == 403

    out = await client.post("/v1/auth/logout", headers=member)
    assert out.status_code == 204
    after = await client.get(f"/v1/organizations/{org}", headers=member)
    assert after.status_code == 401 and "www-authenticate" in after.headers

    # A new sign-in is a new session, which works.
    again_in = await sign_in(client, "mia@example.test")
    assert again_in.status_code == 200
    fresh = bearer(again_in.json()["access_token"])
    assert (await client.get(f"/v1/organizations/{org}", headers=fresh)).status_code == 200
    # ...and the token that signed out stays out.
    assert (await client.get(f"/v1/organizations/{org}", headers=member)).status_code == 401


async def test_invitations_expire_and_cannot_be_forged(
    client: AsyncTestClient[Any], tenant_a: Tenant, clock: ManualClock
) -> None:
    org = tenant_a.org_id
    late = invitation_token(await invite(client, org, tenant_a.owner_headers, "late@x.test"))
    soon = invitation_token(await invite(client, org, tenant_a.owner_headers, "soon@x.test"))
    edge = invitation_token(await invite(client, org, tenant_a.owner_headers, "edge@x.test"))
    user_id, _, secret = soon.partition(".")
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for forged in (
        f"{user_id}.{flipped}",  # the secret tampered with
        f"{user_id}.",  # no secret
        user_id,
        f"{late.partition('.')[0]}.{secret}",  # another invitation's secret
        "usr_01J00000000000000000000000.abc",  # nobody's
        "",
    ):
        refused = await accept(client, forged)
        assert refused.status_code == 400, (forged, refused.text)
        assert refused.json()["code"] == "invalid_invitation"
    # The real one still works after all that.
    assert (await accept(client, soon)).status_code == 200

    clock.advance(WEEK - 1)  # valid for 7 days...
    assert (await accept(client, edge)).status_code == 200
    clock.advance(2)  # ...and not a second more
    expired = await accept(client, late)
    assert expired.status_code == 400 and expired.json()["code"] == "invalid_invitation"
    assert (await sign_in(client, "late@x.test")).status_code == 401


async def test_every_failed_sign_in_is_the_same_401(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    org = tenant_a.org_id
    await invite(client, org, tenant_a.owner_headers, "pending@x.test")
    gone_id, _ = await signed_in_user(client, org, tenant_a.owner_headers, "gone@x.test")
    deleted = await client.delete(
        f"/v1/organizations/{org}/users/{gone_id}", headers=tenant_a.owner_headers
    )
    assert deleted.status_code == 204
    await signed_in_user(client, org, tenant_a.owner_headers, "real@x.test")

    failures = [
        await sign_in(client, "nobody@x.test"),  # unknown email
        await sign_in(client, "real@x.test", OTHER_PASSWORD),  # wrong password
        await sign_in(client, "pending@x.test"),  # invited, not accepted
        await sign_in(client, "gone@x.test"),  # removed (with the right password)
        await sign_in(client, "not an email"),
        await sign_in(client, "real@x.test", "x" * 10_000),  # far too long
    ]
    bodies = [without_request_id(r) for r in failures]
    for response in failures:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"]
    assert all(body == bodies[0] for body in bodies), bodies
    assert bodies[0]["code"] == "invalid_sign_in"


# As with AUTH_FAILURE_LIMIT (tests/http/test_rate_limits.py), the limit is the number
# of failures let through: the failure after them is still answered 401 and starts the
# block, and from then on even the right password is 429.
LIMIT = 3


async def test_failed_sign_ins_are_throttled_per_email(
    settings: Settings, clock: ManualClock
) -> None:
    settings = msgspec.structs.replace(
        settings, sign_in_failure_limit=LIMIT, trust_x_forwarded_for=True
    )
    container = make_container(settings, clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await _tenant(client, container)
        for email in ("target@x.test", "bystander@x.test"):
            invited = await invite(client, tenant.org_id, tenant.owner_headers, email)
            assert (await accept(client, invitation_token(invited))).status_code == 200

        # Each guess from its own address: only the email's count can block them.
        for n in range(LIMIT):
            wrong = await sign_in(client, "target@x.test", OTHER_PASSWORD, address=f"10.0.0.{n}")
            assert wrong.status_code == 401, (n, wrong.text)
        for address in ("10.0.0.9", "10.0.0.10"):  # the right password, anywhere
            blocked = await sign_in(client, "target@x.test", address=address)
            assert blocked.status_code == 429, blocked.text
            assert int(blocked.headers["retry-after"]) >= 1
            assert blocked.json()["code"] == "too_many_failed_attempts"
            assert blocked.json()["detail"].endswith("for this email")  # not the address
            assert "access_token" not in blocked.text

        # Another email, from another address, is not affected.
        other = await sign_in(client, "bystander@x.test", address="10.0.1.1")
        assert other.status_code == 200, other.text

        # The window passes: the right password works again.
        clock.advance(settings.sign_in_failure_window_seconds + 1)
        assert (await sign_in(client, "target@x.test", address="10.0.0.11")).status_code == 200


async def test_failed_sign_ins_are_throttled_per_client_address(
    settings: Settings, clock: ManualClock
) -> None:
    settings = msgspec.structs.replace(
        settings, sign_in_failure_limit=LIMIT, trust_x_forwarded_for=True
    )
    container = make_container(settings, clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await _tenant(client, container)
        invited = await invite(client, tenant.org_id, tenant.owner_headers, "real@x.test")
        assert (await accept(client, invitation_token(invited))).status_code == 200

        # One address guessing at a different email each time (a password spray).
        for n in range(LIMIT):
            guess = await sign_in(client, f"guess{n}@x.test", address="203.0.113.7")
            assert guess.status_code == 401, (n, guess.text)
        blocked = await sign_in(client, "real@x.test", address="203.0.113.7")
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert blocked.json()["detail"].endswith("from this address")

        # The real user, from their own address, signs in; and X-Forwarded-For is read
        # right-most first, so a client cannot escape its block by prepending addresses.
        assert (await sign_in(client, "real@x.test", address="198.51.100.2")).status_code == 200
        spoofed = await sign_in(client, "real@x.test", address="198.51.100.2, 203.0.113.7")
        assert spoofed.status_code == 429


async def _tenant(client: AsyncTestClient[Any], container: Container) -> Tenant:
    admin = bearer(container.services.management_auth().mint("test-admin", role="admin"))
    return await make_tenant(client, container, admin, "Throttled")


async def test_removal_and_role_change_end_sessions_at_once(
    client: AsyncTestClient[Any], tenant_a: Tenant, clock: ManualClock
) -> None:
    org, owner = tenant_a.org_id, tenant_a.owner_headers
    removed_id, removed = await signed_in_user(client, org, owner, "leaver@x.test")
    changed_id, changed = await signed_in_user(client, org, owner, "changer@x.test")
    for headers in (removed, changed):  # both work (and are now in the session cache)
        assert (await client.get(f"/v1/organizations/{org}", headers=headers)).status_code == 200

    gone = await client.delete(f"/v1/organizations/{org}/users/{removed_id}", headers=owner)
    assert gone.status_code == 204
    assert (await client.get(f"/v1/organizations/{org}", headers=removed)).status_code == 401
    listed = await client.get(f"/v1/organizations/{org}/users", headers=owner)
    assert removed_id not in [u["id"] for u in listed.json()["items"]]

    promoted = await client.patch(
        f"/v1/organizations/{org}/users/{changed_id}", json={"role": "owner"}, headers=owner
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
    assert (await client.get(f"/v1/organizations/{org}", headers=changed)).status_code == 401
    # Signing in again gives a token of the new role, which can write.
    renewed = await sign_in(client, "changer@x.test")
    assert renewed.status_code == 200
    as_owner = bearer(renewed.json()["access_token"])
    made = await client.post("/v1/projects", json={"org_id": org, "name": "ok"}, headers=as_owner)
    assert made.status_code == 201, made.text

    # A name change is not a role change: the session goes on.
    named = await client.patch(
        f"/v1/organizations/{org}/users/{changed_id}", json={"name": "Cho"}, headers=owner
    )
    assert named.status_code == 200 and named.json()["name"] == "Cho"
    assert (await client.get(f"/v1/organizations/{org}", headers=as_owner)).status_code == 200


async def test_bad_user_changes_are_refused_naming_the_field(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    org, owner = tenant_a.org_id, tenant_a.owner_headers
    users = f"/v1/organizations/{org}/users"
    for body, field in [
        ({"email": "a@x.test", "role": "admin"}, "role"),
        ({"email": "not-an-email", "role": "member"}, "email"),
        ({"email": "a@x.test", "role": "member", "password": PASSWORD}, "password"),
    ]:
        refused = await client.post(users, json=body, headers=owner)
        assert refused.status_code in (400, 422), refused.text
        assert field in refused.text
        assert PASSWORD not in refused.text
    await invite(client, org, owner, "a@x.test")
    duplicate = await client.post(users, json={"email": "A@x.test", "role": "owner"}, headers=owner)
    assert duplicate.status_code == 409, duplicate.text
    user_id = (await client.get(users, headers=owner)).json()["items"][0]["id"]
    bad_role = await client.patch(f"{users}/{user_id}", json={"role": "admin"}, headers=owner)
    assert bad_role.status_code == 400 and bad_role.json()["field"] == "role"
    missing = await client.delete(f"{users}/usr_01J00000000000000000000000", headers=owner)
    assert missing.status_code == 404


async def test_the_last_owner_stays(client: AsyncTestClient[Any], tenant_a: Tenant) -> None:
    org, operator = tenant_a.org_id, tenant_a.owner_headers
    users = f"/v1/organizations/{org}/users"
    first_id, first = await signed_in_user(client, org, operator, "first@x.test", "owner")

    for method, headers, body in (
        ("DELETE", first, None),
        ("PATCH", first, {"role": "member"}),
        ("DELETE", operator, None),
    ):
        refused = await client.request(method, f"{users}/{first_id}", json=body, headers=headers)
        assert refused.status_code == 409 and refused.json()["code"] == "last_owner", refused.text

    # An invited owner who has not signed up does not count.
    second = await invite(client, org, first, "second@x.test", "owner")
    still = await client.delete(f"{users}/{first_id}", headers=first)
    assert still.status_code == 409 and still.json()["code"] == "last_owner"

    assert (await accept(client, invitation_token(second))).status_code == 200
    demoted = await client.patch(f"{users}/{first_id}", json={"role": "member"}, headers=first)
    assert demoted.status_code == 200 and demoted.json()["role"] == "member"
    # The demotion ended the first owner's session; the second is now the last owner.
    assert (await client.get(users, headers=first)).status_code == 401
    signed = await sign_in(client, "second@x.test")
    second_headers = bearer(signed.json()["access_token"])
    last = await client.delete(f"{users}/{second['id']}", headers=second_headers)
    assert last.status_code == 409 and last.json()["code"] == "last_owner"
    removed = await client.delete(f"{users}/{first_id}", headers=second_headers)
    assert removed.status_code == 204
