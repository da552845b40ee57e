"""The usage pages over HTTP, on both persistence backends. The organization's page
lists each live project's totals for the days shown: the largest users first, each
linked to its own page for the same days, a deleted project left out of the list (its
usage stays in the totals), and another organization's projects never in it. Days are
UTC days, or another time zone's when asked (``?tz=``), which the browser then
remembers.

The browser test (tests/dashboard/test_usage.py) shows the charts from signed LiveKit
events; here the usage is written straight into the usage store, to have exact figures
for several projects cheaply."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_core import ids
from pulse_core.models.usage import Metric, UsageRecord
from pulse_http.container import Container
from tests.http.conftest import Tenant
from tests.http.test_dashboard_keys import signed_in_as

Client = AsyncTestClient[Any]


async def _project(client: Client, tenant: Tenant, name: str) -> str:
    created = await client.post(
        "/v1/projects",
        json={"org_id": tenant.org_id, "name": name},
        headers=tenant.owner_headers,
    )
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    return project_id


def _used(
    client: Client, container: Container, at: datetime, project_id: str, used: dict[Metric, int]
) -> None:
    """Record ``used`` (metric: quantity) for the project at ``at``, on the app's loop."""
    records = [
        UsageRecord(
            id=ids.new_id(ids.USAGE, now_ms=ids.ms_of(at)),
            project_id=project_id,
            metric=metric,
            quantity=quantity,
            timestamp=at,
        )
        for metric, quantity in used.items()
    ]
    client.blocking_portal.call(container.adapters.usage().record, records)


def _rows(page: str) -> list[tuple[str, str, str, list[str]]]:
    """The by-project table: (project id, name, link, the cells' numbers) per row."""
    rows = []
    for match in re.finditer(r'<tr data-project="([^"]+)">(.*?)</tr>', page, re.S):
        project_id, cells = match.groups()
        link = re.search(r'<a href="([^"]+)">([^<]*)</a>', cells)
        assert link, cells
        numbers = re.findall(r"<td>([^<]*)</td>", cells)
        rows.append(
            (project_id, html.unescape(link.group(2)), html.unescape(link.group(1)), numbers)
        )
    return rows


async def test_the_organization_s_usage_lists_each_live_project_largest_first(
    client: Client,
    container: Container,
    clock: ManualClock,
    tenant_a: Tenant,
    tenant_b: Tenant,
) -> None:
    beta = await _project(client, tenant_a, "Beta app")
    gone = await _project(client, tenant_a, "Gone app")
    quiet = await _project(client, tenant_a, "Quiet app")
    now = clock.now()  # midnight, UTC: the first moment of the window's last day
    _used(client, container, now, tenant_a.project_id, {"participant_minutes": 5})
    _used(client, container, now, beta, {"participant_minutes": 1200, "egress_minutes": 3})
    _used(client, container, now, gone, {"participant_minutes": 7})
    _used(client, container, now, tenant_b.project_id, {"participant_minutes": 100})
    deleted = await client.delete(f"/v1/projects/{gone}", headers=tenant_a.owner_headers)
    assert deleted.status_code == 204, deleted.text

    signed_in_as(client, container, "owner", tenant_a.org_id)
    page = await client.get(f"/dashboard/organizations/{tenant_a.org_id}/usage")
    assert page.status_code == 200, page.text
    today = now.date()
    days = f"from={today - timedelta(days=29)}&to={today}&tz=UTC"
    project_url = "/dashboard/projects/{}/usage?" + days
    assert _rows(page.text) == [
        (beta, "Beta app", project_url.format(beta), ["1,200", "3", "0"]),
        (
            tenant_a.project_id,
            "Alpha app",
            project_url.format(tenant_a.project_id),
            ["5", "0", "0"],
        ),
        (quiet, "Quiet app", project_url.format(quiet), ["0", "0", "0"]),
    ]
    # The deleted project's minutes still count in the organization's total.
    assert "1,212 in total" in page.text
    assert tenant_b.project_id not in page.text

    # A project's own page has no such list; one day asked for narrows the rows' links.
    own = await client.get(f"/dashboard/projects/{beta}/usage")
    assert own.status_code == 200, own.text
    assert _rows(own.text) == []
    day = (today - timedelta(days=1)).isoformat()
    narrowed = await client.get(
        f"/dashboard/organizations/{tenant_a.org_id}/usage", params={"from": day, "to": day}
    )
    # Nothing that day: every project at 0, by name, each linked to that day.
    assert [(row[1], row[2], row[3]) for row in _rows(narrowed.text)] == [
        (name, f"/dashboard/projects/{pid}/usage?from={day}&to={day}&tz=UTC", ["0", "0", "0"])
        for name, pid in (
            ("Alpha app", tenant_a.project_id),
            ("Beta app", beta),
            ("Quiet app", quiet),
        )
    ]


async def test_no_rows_when_the_window_is_refused(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    page = await client.get(
        f"/dashboard/organizations/{tenant_a.org_id}/usage",
        params={"from": "2026-03-10", "to": "2026-03-01"},
    )
    assert page.status_code == 400, page.text[:1000]
    assert "to must be later than from" in page.text
    assert _rows(page.text) == []


def _day_cells(page: str, metric: str) -> dict[str, str]:
    """A chart's day-by-day table: ``{day: number}``, the days that are not 0."""
    section = re.search(rf'<section[^>]*id="usage-{metric}".*?</section>', page, re.S)
    assert section, page[:2000]
    found = re.findall(r'<tr data-day="([^"]+)">.*?<td>([^<]*)</td></tr>', section.group(0))
    return {day: number for day, number in found if number != "0"}


async def test_days_are_another_time_zone_s_when_asked(
    client: Client, container: Container, clock: ManualClock, tenant_a: Tenant
) -> None:
    """Usage at 23:30 UTC on 31 December counts on that day in UTC and New York (18:30),
    on 1 January in Tokyo (08:30); and at 18:10 UTC, in Kolkata (23:40, a half-hour
    offset), on the local day its UTC hour starts in."""
    late = datetime(2029, 12, 31, 23, 30, tzinfo=UTC)
    _used(client, container, late, tenant_a.project_id, {"participant_minutes": 5})
    evening = datetime(2029, 12, 31, 18, 10, tzinfo=UTC)
    _used(client, container, evening, tenant_a.project_id, {"egress_minutes": 2})
    assert clock.now() == datetime(2030, 1, 1, tzinfo=UTC)
    signed_in_as(client, container, "owner", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}/usage"

    expected = {
        "UTC": ({"2029-12-31": "5"}, {"2029-12-31": "2"}, "2030-01-01"),
        "America/New_York": ({"2029-12-31": "5"}, {"2029-12-31": "2"}, "2029-12-31"),
        "Asia/Tokyo": ({"2030-01-01": "5"}, {"2030-01-01": "2"}, "2030-01-01"),
        "Asia/Kolkata": ({"2030-01-01": "5"}, {"2029-12-31": "2"}, "2030-01-01"),
    }
    for tz, (participants, egress, today) in expected.items():
        page = await client.get(url, params={"tz": tz})
        assert page.status_code == 200, page.text[:2000]
        assert _day_cells(page.text, "participant_minutes") == participants, tz
        assert _day_cells(page.text, "egress_minutes") == egress, tz
        # The window: the zone's last 30 days, its today last.
        assert f'value="{today}"' in page.text, tz
        assert f"Day ({tz})" in page.text

    # The organization's rows link to the project's page in the same zone.
    org = await client.get(
        f"/dashboard/organizations/{tenant_a.org_id}/usage", params={"tz": "Asia/Tokyo"}
    )
    (row,) = _rows(org.text)
    assert row[2].endswith("&tz=Asia/Tokyo")
    assert row[3] == ["5", "2", "0"]


async def test_a_zone_or_window_the_page_cannot_take_is_refused_next_to_its_field(
    client: Client, container: Container, tenant_a: Tenant
) -> None:
    signed_in_as(client, container, "owner", tenant_a.org_id)
    url = f"/dashboard/projects/{tenant_a.project_id}/usage"
    for tz in ("Mars/Olympus", "zone.tab", "../../etc/passwd", "/etc/localtime", "x" * 5000):
        page = await client.get(url, params={"tz": tz})
        assert page.status_code == 400, (tz, page.text[:1000])
        assert 'id="e-tz"' in page.text
        assert "tz must be a time zone name" in page.text
    # Outside UTC the window is at most 30 days (hours are read); in UTC, 400.
    zoned = {"from": "2029-11-01", "to": "2029-12-01", "tz": "Europe/Paris"}
    page = await client.get(url, params=zoned)
    assert page.status_code == 400, page.text[:1000]
    assert "outside UTC, a window covers at most 30 days" in page.text
    page = await client.get(url, params={**zoned, "to": "2029-11-30"})
    assert page.status_code == 200, page.text[:1000]
    page = await client.get(url, params={**zoned, "tz": "UTC"})
    assert page.status_code == 200, page.text[:1000]


async def test_the_zone_asked_for_is_remembered_by_the_browser(
    client: Client, container: Container, clock: ManualClock, tenant_a: Tenant
) -> None:
    """A zone asked for on either page is where both open next (the menu's links name
    none), until another is asked for; a refused zone, or a cookie naming no zone, is
    not remembered and the page opens in the last good one or UTC."""
    late = datetime(2029, 12, 31, 23, 30, tzinfo=UTC)
    _used(client, container, late, tenant_a.project_id, {"participant_minutes": 5})
    signed_in_as(client, container, "owner", tenant_a.org_id)
    project = f"/dashboard/projects/{tenant_a.project_id}/usage"
    org = f"/dashboard/organizations/{tenant_a.org_id}/usage"

    async def shown(url: str, **params: str) -> tuple[str, dict[str, str]]:
        page = await client.get(url, params=params)
        assert page.status_code in (200, 400), page.text[:1000]
        zone = re.search(r'<th scope="col">Day \(([^)]+)\)</th>', page.text)
        assert zone, page.text[:2000]
        return zone.group(1), _day_cells(page.text, "participant_minutes")

    assert await shown(project) == ("UTC", {"2029-12-31": "5"})
    assert "pulse_tz" not in client.cookies  # nothing asked, nothing remembered

    tokyo = await client.get(org, params={"tz": "Asia/Tokyo"})
    assert tokyo.status_code == 200, tokyo.text[:1000]
    cookie = tokyo.headers["set-cookie"]
    assert cookie.startswith("pulse_tz=Asia%2FTokyo;"), cookie
    for attribute in ("Path=/dashboard", "HttpOnly", "SameSite=strict", "Max-Age=31536000"):
        assert attribute in cookie, cookie
    assert await shown(project) == ("Asia/Tokyo", {"2030-01-01": "5"})
    assert await shown(org) == ("Asia/Tokyo", {"2030-01-01": "5"})
    # The organization's rows name the zone, so they open in it wherever they are sent.
    (row,) = _rows((await client.get(org)).text)
    assert row[2].endswith("&tz=Asia/Tokyo"), row

    # A refused zone is shown refused and leaves the remembered one.
    refused = await client.get(project, params={"tz": "Mars/Olympus"})
    assert refused.status_code == 400, refused.text[:1000]
    assert "set-cookie" not in refused.headers
    assert await shown(project) == ("Asia/Tokyo", {"2030-01-01": "5"})

    # UTC asked for is remembered like any other, and so is a field left empty (UTC).
    assert await shown(project, tz="UTC") == ("UTC", {"2029-12-31": "5"})
    assert await shown(org) == ("UTC", {"2029-12-31": "5"})
    assert await shown(org, tz="Asia/Tokyo") == ("Asia/Tokyo", {"2030-01-01": "5"})
    assert await shown(org, tz="") == ("UTC", {"2029-12-31": "5"})
    assert await shown(org) == ("UTC", {"2029-12-31": "5"})

    # A cookie naming no zone the machine knows (stale, or typed by hand) is ignored.
    for bad in ("Mars/Olympus", "../../etc/passwd", "x" * 300):
        client.cookies.set("pulse_tz", bad, path="/dashboard")
        assert await shown(project) == ("UTC", {"2029-12-31": "5"}), bad
