"""The dashboard's defences over HTTP: what every page is sent with, the session cookie,
CSRF, escaping, where sign-in may send the browser, and tenants' pages kept apart.

The browser tests (tests/dashboard/) show the same pages working; these show each
defence refusing, one at a time, on both persistence backends."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from litestar.testing import AsyncTestClient

from pulse_http.container import Container
from pulse_http.dashboard.security import CONTENT_SECURITY_POLICY
from pulse_http.dashboard.session import COOKIE, safe_next
from tests.http.conftest import Tenant, make_tenant

Client = AsyncTestClient[Any]
PASSWORD = "correct horse battery staple"
XSS = "<script>alert(1)</script>"


def csrf_of(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


async def invitation_token(
    client: Client, tenant: Tenant, admin_headers: dict[str, str], email: str, role: str
) -> str:
    """The token of a new invitation of ``email`` into ``tenant``'s organization."""
    invited = await client.post(
        f"/v1/organizations/{tenant.org_id}/users",
        json={"email": email, "role": role},
        headers=admin_headers,
    )
    assert invited.status_code == 201, invited.text
    return unquote(invited.json()["invite_url"].split("token=", 1)[1])


def signed_in_as(client: Client, container: Container, role: str, org_id: str | None) -> None:
    token = container.services.management_auth().mint(f"{role}-1", role=role, org_id=org_id)
    client.cookies.set(COOKIE, token, path="/dashboard")


async def test_pages_forbid_inline_script_framing_caching_and_referrers(client: Client) -> None:
    response = await client.get("/dashboard/sign-in")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    # Redirects and error pages too.
    redirect = await client.get("/dashboard/organizations", follow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # The page has no inline script and loads nothing from elsewhere.
    assert re.search(r"<script(?![^>]*\bsrc=\"/dashboard/static/)", response.text) is None
    assert "http://" not in response.text and "https://" not in response.text


async def test_static_assets_ship_in_the_package(client: Client) -> None:
    for path, kind in (("dashboard.js", "javascript"), ("dashboard.css", "text/css")):
        response = await client.get(f"/dashboard/static/{path}")
        assert response.status_code == 200
        assert kind in response.headers["content-type"]


def assert_dashboard_page(response: Any, status: int, title: str) -> None:
    """``response`` is the dashboard's error page, sent with the dashboard's headers."""
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_a_static_file_that_is_not_there_is_the_dashboards_page(client: Client) -> None:
    assert_dashboard_page(await client.get("/dashboard/static/nope.css"), 404, "Not found")
    # And the files that are there carry the headers too.
    found = await client.get("/dashboard/static/dashboard.css")
    assert found.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert found.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/dashboard/nope", "/dashboard/projects/prj_x/nope", "/dashboard/a/b/c/d"]
)
async def test_a_dashboard_url_nothing_answers_is_the_dashboards_page(
    client: Client, path: str
) -> None:
    """Litestar refuses such a URL while routing, before any router's handlers or
    middleware: the app's handler draws the dashboard's page for it."""
    response = await client.get(path)
    assert_dashboard_page(response, 404, "Not found")
    assert "application/problem+json" not in response.headers["content-type"]


async def test_a_method_a_dashboard_route_does_not_take_is_the_dashboards_page(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    for path in ("/dashboard/sign-out", "/dashboard/organizations/org_x/delete"):
        response = await client.get(path)
        assert_dashboard_page(response, 405, "Method not allowed")
        assert "POST" in response.headers["allow"]
    signed_in_as(client, container, "owner", tenant_a.org_id)
    response = await client.get(f"/dashboard/projects/{tenant_a.project_id}/keys/rotate")
    assert_dashboard_page(response, 405, "Method not allowed")


async def test_the_apis_routing_refusals_stay_problem_json(client: Client) -> None:
    for method, path, status in (
        ("GET", "/v1/nope", 404),
        ("GET", "/nope", 404),
        ("GET", "/dashboardnope", 404),
        ("DELETE", "/v1/tokens/create", 405),
    ):
        response = await client.request(method, path)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == status
        assert "content-security-policy" not in response.headers


async def test_sign_in_sets_an_httponly_strict_cookie_and_sign_out_ends_the_session(
    client: Client, container: Container, tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    invited = await client.post(
        f"/v1/organizations/{tenant_a.org_id}/users",
        json={"email": "owner2@alpha.test", "role": "owner"},
        headers=admin_headers,
    )
    token = invited.json()["invite_url"].split("token=", 1)[1]
    page = await client.get("/dashboard/accept-invite", params={"token": unquote(token)})
    accepted = await client.post(
        "/dashboard/accept-invite",
        data={"token": unquote(token), "password": PASSWORD, "_csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert accepted.status_code == 303, accepted.text
    form = await client.get("/dashboard/sign-in")
    signed = await client.post(
        "/dashboard/sign-in",
        data={
            "email": "owner2@alpha.test",
            "password": PASSWORD,
            "next": "/dashboard/organizations",
            "_csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/dashboard/organizations"
    cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith(COOKIE))
    assert "HttpOnly" in cookie and "Path=/dashboard" in cookie
    assert "samesite=strict" in cookie.lower() and "secure" not in cookie.lower()
    overview = await client.get(f"/dashboard/organizations/{tenant_a.org_id}")
    assert overview.status_code == 200 and "Alpha app" in overview.text

    out = await client.post(
        "/dashboard/sign-out", data={"_csrf_token": csrf_of(overview.text)}, follow_redirects=False
    )
    assert out.status_code == 303
    # The session is over on the server, not only in this browser: the old cookie is refused.
    session = re.search(rf"{COOKIE}=([^;]+)", cookie)
    assert session
    client.cookies.set(COOKIE, session.group(1), path="/dashboard")
    again = await client.get(f"/dashboard/organizations/{tenant_a.org_id}", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/dashboard/sign-in")


async def test_an_ended_session_says_so_and_signing_in_again_returns_with_the_query(
    client: Client, tenant_a: Tenant, admin_headers: dict[str, str]
) -> None:
    token = await invitation_token(client, tenant_a, admin_headers, "back@alpha.test", "member")
    accepted = await client.post(
        "/v1/auth/accept-invite", json={"token": token, "password": PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    wanted = f"/dashboard/projects/{tenant_a.project_id}/usage?tz=Europe/Paris&from=2026-11-01"

    never = await client.get(wanted, follow_redirects=False)  # no session: nothing ended
    assert never.status_code == 303
    assert parse_qs(urlsplit(never.headers["location"]).query) == {"next": [wanted]}
    client.cookies.set(COOKIE, "a-session-the-server-ended", path="/dashboard")
    ended = await client.get(wanted, follow_redirects=False)
    asked = parse_qs(urlsplit(ended.headers["location"]).query)
    assert asked == {"next": [wanted], "notice": ["session-ended"]}

    form = await client.get(ended.headers["location"])
    assert "Your session has ended" in form.text
    field = re.search(r'name="next" value="([^"]*)"', form.text)
    assert field and html.unescape(field.group(1)) == wanted
    signed = await client.post(
        "/dashboard/sign-in",
        data={
            "email": "back@alpha.test",
            "password": PASSWORD,
            "next": html.unescape(field.group(1)),
            "_csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert signed.status_code == 303 and signed.headers["location"] == wanted


async def test_an_invitation_link_says_whom_it_invites_and_a_spent_one_says_so_at_once(
    client: Client, tenant_a: Tenant, tenant_b: Tenant, admin_headers: dict[str, str]
) -> None:
    token = await invitation_token(client, tenant_a, admin_headers, "new@alpha.test", "member")
    page = await client.get("/dashboard/accept-invite", params={"token": token})
    assert page.status_code == 200
    text = re.sub(r"<[^>]+>", "", page.text)
    assert "Join Alpha as new@alpha.test (member)" in text and "Bravo" not in text
    assert 'name="password"' in page.text

    accepted = await client.post(
        "/dashboard/accept-invite",
        data={"token": token, "password": PASSWORD, "_csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    for spent in (token, token[:-2] + "xx", "usr_nonsense.secret", ""):
        again = await client.get("/dashboard/accept-invite", params={"token": spent})
        assert again.status_code == 400, spent
        assert "this invitation is not valid" in again.text and 'name="password"' not in again.text
        assert "new@alpha.test" not in again.text


async def test_state_changes_without_the_csrf_token_are_refused(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}"
    page = await client.get(url)
    token = csrf_of(page.text)
    base = str(client.base_url).rstrip("/")
    for data, referer, reload in (
        ({"name": "pwned"}, f"{base}{url}?tab=1", f'href="{url}?tab=1">Reload the page'),
        ({"name": "pwned", "_csrf_token": "0" * 128}, "https://evil.example/x", None),
    ):
        refused = await client.post(
            url, data=data, headers={"referer": referer}, follow_redirects=False
        )
        assert refused.status_code == 403
        assert "text/html" in refused.headers["content-type"]
        # Plain words, and the page the form came from (this site's only) to reload.
        assert "This form has expired" in refused.text and "CSRF" not in refused.text
        assert (reload in refused.text) if reload else (">Reload the page</a>" not in refused.text)
    # Another session's token does not fit this cookie either.
    del client.cookies["pulse_csrf"]
    stranger = await client.post(url, data={"name": "pwned", "_csrf_token": token})
    assert stranger.status_code == 403
    project = await client.get(
        f"/v1/projects/{tenant_a.project_id}", headers=tenant_a.owner_headers
    )
    assert project.json()["name"] == "Alpha app"


async def test_names_render_as_text(client: Client, container: Container, tenant_a: Tenant) -> None:
    renamed = await client.put(
        f"/v1/projects/{tenant_a.project_id}", json={"name": XSS}, headers=tenant_a.owner_headers
    )
    assert renamed.status_code == 200
    signed_in_as(client, container, "owner", tenant_a.org_id)
    for url in (
        f"/dashboard/organizations/{tenant_a.org_id}",
        f"/dashboard/projects/{tenant_a.project_id}",
    ):
        page = await client.get(url)
        assert XSS not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_tenants_never_see_each_others_pages(
    client: Client, container: Container, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    for url in (
        f"/dashboard/organizations/{tenant_b.org_id}",
        f"/dashboard/projects/{tenant_b.project_id}",
    ):
        page = await client.get(url)
        assert page.status_code == 404, url
        assert "Bravo" not in page.text
    page = await client.get(f"/dashboard/projects/{tenant_b.project_id}")
    refused = await client.post(
        f"/dashboard/projects/{tenant_b.project_id}",
        data={"name": "pwned", "_csrf_token": csrf_of(page.text)},
    )
    assert refused.status_code == 404
    project = await client.get(
        f"/v1/projects/{tenant_b.project_id}", headers=tenant_b.owner_headers
    )
    assert project.json()["name"] == "Bravo app"


async def test_an_error_inside_a_page_keeps_that_pages_navigation_and_only_its_own(
    client: Client, container: Container, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    project = f"/dashboard/projects/{tenant_a.project_id}"
    org = f"/dashboard/organizations/{tenant_a.org_id}"
    missing = await client.get(f"{project}/webhooks/whe_01M8T76XCQ3V4A7Y5QH2R9N1KD")
    assert missing.status_code == 404
    assert f'href="{project}/keys"' in missing.text and f'href="{org}/users"' in missing.text
    garbled = await client.get(f"{org}/audit", params={"cursor": "nonsense"})
    assert garbled.status_code == 400, garbled.text[:2000]
    assert f'href="{org}/users"' in garbled.text and f'href="{project}/keys"' not in garbled.text
    # A page whose own check refused: no navigation of what was asked for, nor any other.
    foreign = await client.get(f"/dashboard/projects/{tenant_b.project_id}/keys")
    assert foreign.status_code == 404 and "Bravo" not in foreign.text
    assert f"/dashboard/projects/{tenant_b.project_id}/" not in foreign.text
    assert 'aria-label="Project"' not in foreign.text


async def test_members_see_and_cannot_change(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    signed_in_as(client, container, "member", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}"
    page = await client.get(url)
    assert page.status_code == 200 and "Alpha app" in page.text
    assert "Save settings" not in page.text and "Delete project" not in page.text
    refused = await client.post(url, data={"name": "pwned", "_csrf_token": csrf_of(page.text)})
    assert refused.status_code == 403
    deleted = await client.post(f"{url}/delete", data={"_csrf_token": csrf_of(page.text)})
    assert deleted.status_code == 403
    gone = await client.post(
        f"/dashboard/organizations/{tenant_a.org_id}/delete",
        data={"_csrf_token": csrf_of(page.text)},
    )
    assert gone.status_code == 403
    minted = await client.post(
        f"{url}/tokens",
        data={"identity": "x", "room": "demo", "_csrf_token": csrf_of(page.text)},
    )
    assert minted.status_code == 403 and "eyJ" not in minted.text
    project = await client.get(
        f"/v1/projects/{tenant_a.project_id}", headers=tenant_a.owner_headers
    )
    assert project.status_code == 200 and project.json()["name"] == "Alpha app"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/dashboard/projects/prj_1", "/dashboard/projects/prj_1"),
        ("https://evil.example/dashboard/", "/dashboard"),
        ("//evil.example/dashboard/", "/dashboard"),
        ("/dashboard//evil.example", "/dashboard"),
        ("/dashboard/\\evil.example", "/dashboard"),
        ("/v1/organizations", "/dashboard"),
        ("", "/dashboard"),
        (None, "/dashboard"),
    ],
)
def test_sign_in_only_sends_the_browser_within_the_dashboard(
    target: str | None, expected: str
) -> None:
    assert safe_next(target) == expected


async def test_a_thousand_projects_are_paged(
    client: Client, container: Container, admin_headers: dict[str, str]
) -> None:
    tenant = await make_tenant(client, container, admin_headers, "Many")
    for n in range(120):
        created = await client.post(
            "/v1/projects",
            json={"org_id": tenant.org_id, "name": f"p{n:04}"},
            headers=tenant.owner_headers,
        )
        assert created.status_code == 201
    signed_in_as(client, container, "owner", tenant.org_id)
    seen: list[str] = []
    url: str | None = f"/dashboard/organizations/{tenant.org_id}"
    while url is not None:
        page = await client.get(url)
        rows = re.findall(r'href="/dashboard/projects/(prj_[0-9A-Za-z]+)"', page.text)
        assert 0 < len(rows) <= 50
        seen += rows
        more = re.search(r'href="([^"]+cursor=[^"]+)" rel="next"', page.text)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert len(seen) == len(set(seen)) == 121


@pytest.mark.parametrize(
    ("environment", "secure"), [("development", False), ("test", False), ("production", True)]
)
def test_cookies_are_secure_outside_development(environment: str, secure: bool) -> None:
    from pulse_http.dashboard.security import csrf_middleware
    from pulse_http.dashboard.session import ended_cookie, session_cookie
    from pulse_http.settings import Settings

    settings = Settings(environment=environment, jwt_secret="x" * 40)  # type: ignore[arg-type]
    for cookie in (session_cookie(settings, "token"), ended_cookie(settings)):
        assert (cookie.secure, cookie.httponly, cookie.samesite) == (secure, True, "strict")
    config = csrf_middleware(settings).kwargs["config"]
    assert (config.cookie_secure, config.cookie_httponly) == (secure, True)
