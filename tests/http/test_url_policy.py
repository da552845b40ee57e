"""Every URL a tenant gives passes one address policy: web egress pages, RTMP outputs,
pulled ingress streams and webhook URLs may not point inside the operator's network."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http.app import create_app
from pulse_http.settings import Settings
from tests.http.conftest import Tenant, make_container, make_tenant

# A sample of every class and spelling; tests/unit/test_address_policy.py has the corpus.
INTERNAL_HOSTS = [
    "169.254.169.254",
    "127.0.0.1",
    "127.1",
    "[::1]",
    "10.0.0.5",
    "localhost",
    "localhost.",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "0177.0.0.1",
    "[::ffff:127.0.0.1]",
    "100.64.0.1",
    "0.0.0.0",
    "hooks.internal.test",  # a name that resolves to 10.0.0.7
    "localhost:6379",
]


def _calls(host: str) -> list[tuple[str, dict[str, Any], str]]:
    return [
        (
            "/v1/media/egress/start",
            {"kind": "web", "url": f"http://{host}/latest/meta-data"},
            "url",
        ),
        (
            "/v1/media/egress/start",
            {"room": "demo", "output": {"type": "rtmp", "urls": [f"rtmp://{host}/live/key"]}},
            "output.urls[0]",
        ),
        (
            "/v1/media/ingress/create",
            {
                "room": "demo",
                "type": "url",
                "participant_identity": "cam",
                "url": f"http://{host}/stream.m3u8",
            },
            "url",
        ),
    ]


@pytest.mark.parametrize("host", INTERNAL_HOSTS)
async def test_internal_addresses_are_refused_everywhere_a_tenant_gives_a_url(
    client: AsyncTestClient[Any], tenant_a: Tenant, host: str
) -> None:
    for path, body, field in _calls(host):
        response = await client.post(path, json=body, headers=tenant_a.project_headers)
        assert response.status_code == 400, (path, host, response.text)
        problem = response.json()
        assert problem["field"] == field, problem
        assert problem["code"] in ("address_not_allowed", "invalid_input"), problem
    webhook = await client.put(
        f"/v1/projects/{tenant_a.project_id}",
        json={"webhook_url": f"https://{host}/hooks"},
        headers=tenant_a.owner_headers,
    )
    assert webhook.status_code == 400 and webhook.json()["field"] == "webhook_url", webhook.text
    endpoint = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": f"https://{host}/hooks"},
        headers=tenant_a.project_headers,
    )
    assert endpoint.status_code == 400 and endpoint.json()["field"] == "url", endpoint.text
    # Nothing was started or stored.
    listed = await client.get("/v1/media/egress", headers=tenant_a.project_headers)
    assert listed.json()["items"] == []


async def test_public_names_and_addresses_are_accepted(
    client: AsyncTestClient[Any], tenant_a: Tenant
) -> None:
    for path, body, _ in _calls("live.example.com") + _calls("93.184.216.34"):
        response = await client.post(path, json=body, headers=tenant_a.project_headers)
        assert response.status_code == 201, (path, response.text)


async def test_the_operator_allow_list_admits_private_networks(
    settings: Settings, clock: ManualClock, admin_headers: dict[str, str]
) -> None:
    allowed = msgspec.structs.replace(
        settings,
        media_allowed_networks=("10.0.0.0/8",),
        webhook_allowed_networks=("127.0.0.0/8",),
    )
    container = make_container(allowed, clock)
    async with AsyncTestClient(app=create_app(container)) as client:
        tenant = await make_tenant(client, container, admin_headers, "Private")
        for path, body, _ in _calls("10.1.2.3"):
            response = await client.post(path, json=body, headers=tenant.project_headers)
            assert response.status_code == 201, (path, response.text)
        for path, body, _ in _calls("127.0.0.1"):  # not in the media list
            response = await client.post(path, json=body, headers=tenant.project_headers)
            assert response.status_code == 400, (path, response.text)
        hook = await client.put(
            f"/v1/projects/{tenant.project_id}",
            json={"webhook_url": "http://127.0.0.1:9000/hooks"},
            headers=tenant.owner_headers,
        )
        assert hook.status_code == 200, hook.text


@pytest.mark.parametrize("port", ["65536", "-1", "99999", "0", "+80", "8o", "٨٠"])
async def test_a_port_outside_1_to_65535_is_refused_everywhere_a_tenant_gives_a_url(
    client: AsyncTestClient[Any], tenant_a: Tenant, port: str
) -> None:
    host = f"93.184.216.34:{port}"
    for path, body, field in _calls(host):
        response = await client.post(path, json=body, headers=tenant_a.project_headers)
        assert response.status_code == 400, (path, port, response.text)
        assert response.json()["field"] == field, response.json()
        assert response.json()["code"] == "invalid_input", response.json()
    webhook = await client.put(
        f"/v1/projects/{tenant_a.project_id}",
        json={"webhook_url": f"https://{host}/hooks"},
        headers=tenant_a.owner_headers,
    )
    assert webhook.status_code == 400 and webhook.json()["field"] == "webhook_url", webhook.text
    for path, headers in (
        ("/v1/webhooks/endpoints", tenant_a.project_headers),
        (f"/v1/projects/{tenant_a.project_id}/webhooks/endpoints", tenant_a.owner_headers),
    ):
        endpoint = await client.post(path, json={"url": f"http://{host}/"}, headers=headers)
        assert endpoint.status_code == 400, (path, endpoint.text)
        assert endpoint.json()["field"] == "url", endpoint.text
    listed = await client.get("/v1/webhooks/endpoints", headers=tenant_a.project_headers)
    assert listed.json()["items"] == []


async def test_a_port_in_range_is_accepted(client: AsyncTestClient[Any], tenant_a: Tenant) -> None:
    for port in ("1", "8443", "65535"):
        endpoint = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": f"http://93.184.216.34:{port}/hooks"},
            headers=tenant_a.project_headers,
        )
        assert endpoint.status_code == 201, endpoint.text


@pytest.mark.parametrize("userinfo", ["user:password@", "user@", ":secret@", "a%40b:c@"])
async def test_a_webhook_url_with_a_user_or_password_is_refused_and_never_stored(
    client: AsyncTestClient[Any], tenant_a: Tenant, userinfo: str
) -> None:
    # The sender would drop them (no Authorization header is made of them), and the
    # endpoint's listings would show the password.
    url = f"https://{userinfo}hooks.example.com/pulse"
    for path, headers in (
        ("/v1/webhooks/endpoints", tenant_a.project_headers),
        (f"/v1/projects/{tenant_a.project_id}/webhooks/endpoints", tenant_a.owner_headers),
    ):
        endpoint = await client.post(path, json={"url": url}, headers=headers)
        assert endpoint.status_code == 400, (path, endpoint.text)
        assert endpoint.json()["field"] == "url", endpoint.text
        assert "password" not in endpoint.text.replace("user name or password", "")
    setting = await client.put(
        f"/v1/projects/{tenant_a.project_id}",
        json={"webhook_url": url},
        headers=tenant_a.owner_headers,
    )
    assert setting.status_code == 400 and setting.json()["field"] == "webhook_url", setting.text
    listed = await client.get("/v1/webhooks/endpoints", headers=tenant_a.project_headers)
    assert listed.json()["items"] == []
