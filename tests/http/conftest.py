"""The REST API end to end: the real app, on real adapters, through an HTTP client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from pulse_adapters.clock import ManualClock
from pulse_http import lifecycle
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.settings import Settings
from tests.support.live_server import app_container
from tests.support.mongo import MongoTestServer

JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789"


# The whole HTTP suite runs once per persistence backend.
@pytest.fixture(params=["sqlite", "mongo"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    mongo: dict[str, str] = {}
    if request.param == "mongo":
        server: MongoTestServer = request.getfixturevalue("mongo_server")
        mongo = {"mongo_uri": server.uri, "mongo_db_name": server.new_db_name()}
    return Settings(
        environment="test",
        data_dir=str(tmp_path / "data"),
        jwt_secret=JWT_SECRET,
        api_key_pepper="test-pepper",
        log_level="warning",
        **mongo,
    )


@pytest.fixture
def container(settings: Settings, clock: ManualClock) -> Container:
    """The app's container, on a clock the test moves by hand."""
    return make_container(settings, clock)


@contextlib.asynccontextmanager
async def offline_container(settings: Settings) -> AsyncIterator[Container]:
    """A container whose database is open in the test's own event loop, to read or
    write stored state directly (the app under test runs in its client's loop)."""
    container = make_container(settings, ManualClock(datetime.now(tz=UTC)))
    database = container.gateways.database()
    await database.connect()
    try:
        yield container
    finally:
        await database.close()


def make_container(settings: Settings, clock: ManualClock) -> Container:
    """A container on ``clock``, resolving the test names of ``tests/support/urls.py``
    and hashing passwords cheaply (``tests/support/live_server.py``)."""
    container = app_container(settings)
    container.adapters.clock.override(providers.Object(clock))
    return container


@pytest.fixture
async def client(container: Container) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(container)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
def admin_headers(container: Container) -> dict[str, str]:
    token = container.services.management_auth().mint("test-admin", role="admin")
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tenant:
    """An organization with one project and the project's credentials."""

    org_id: str
    project_id: str
    api_key: str
    api_secret: str
    owner_headers: dict[str, str]
    member_headers: dict[str, str]

    @property
    def project_headers(self) -> dict[str, str]:
        return {"X-Pulse-Key": self.api_key, "X-Pulse-Secret": self.api_secret}


async def make_tenant(
    client: AsyncTestClient[Any],
    container: Container,
    admin_headers: dict[str, str],
    name: str,
    *,
    plan: str = "enterprise",
) -> Tenant:
    # Unlimited: tests of other features must not meet a plan's limits by accident
    # (tests/http/test_quotas.py meets each on purpose).
    org = await client.post(
        "/v1/organizations",
        json={"name": name, "admin_email": f"admin@{name.lower()}.test", "plan": plan},
        headers=admin_headers,
    )
    assert org.status_code == 201, org.text
    org_id = org.json()["id"]
    auth = container.services.management_auth()
    owner = {"Authorization": "Bearer " + auth.mint("owner", role="owner", org_id=org_id)}
    member = {"Authorization": "Bearer " + auth.mint("member", role="member", org_id=org_id)}
    project = await client.post(
        "/v1/projects", json={"org_id": org_id, "name": f"{name} app"}, headers=owner
    )
    assert project.status_code == 201, project.text
    body = project.json()
    return Tenant(
        org_id=org_id,
        project_id=body["id"],
        api_key=body["api_key"],
        api_secret=body["api_secret"],
        owner_headers=owner,
        member_headers=member,
    )


@pytest.fixture
async def tenant_a(
    client: AsyncTestClient[Any], container: Container, admin_headers: dict[str, str]
) -> Tenant:
    return await make_tenant(client, container, admin_headers, "Alpha")


@pytest.fixture
async def tenant_b(
    client: AsyncTestClient[Any], container: Container, admin_headers: dict[str, str]
) -> Tenant:
    return await make_tenant(client, container, admin_headers, "Bravo")


Upkeep = Callable[[], Awaitable[None]]


def unscheduled(monkeypatch: pytest.MonkeyPatch, name: str) -> dict[str, Upkeep]:
    """Take the periodic hook of lifecycle component ``name`` off its schedule, for apps
    made after this call: the hook lands in the returned dict under ``name`` when the
    app starts, for the test to run (in the app's loop) when it chooses."""
    hooks: dict[str, Upkeep] = {}
    add = lifecycle.Lifecycle.add

    def add_unscheduled(
        self: lifecycle.Lifecycle,
        component: str,
        *,
        every: tuple[float, Upkeep] | None = None,
        **rest: Any,
    ) -> None:
        if component == name and every is not None:
            hooks[component], every = every[1], None
        add(self, component, every=every, **rest)

    monkeypatch.setattr(lifecycle.Lifecycle, "add", add_unscheduled)
    return hooks
