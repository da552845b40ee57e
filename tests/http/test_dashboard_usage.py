"""The organization's usage page lists each live project's totals for the days shown,
on both persistence backends: the largest users first, each linked to its own page for
the same days, a deleted project left out of the list (its usage stays in the totals),
and another organization's projects never in it.

The browser test (tests/dashboard/test_usage.py) shows the charts from signed LiveKit
events; here the usage is written straight into the usage store, to have exact figures
for several projects cheaply."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
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
    days = f"from={today - timedelta(days=29)}&to={today}"
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
        (name, f"/dashboard/projects/{pid}/usage?from={day}&to={day}", ["0", "0", "0"])
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
