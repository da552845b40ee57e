"""``make screenshots``: every dashboard page, with demo data, as docs/dashboard.md shows it.

The same set-up as the browser tests: the app on a real socket (tests/support/live_server)
and Debian's Chromium driven by Playwright (tests/support/browser), on the embedded
default with the simulated media engine. Demo data goes in the way a customer's would:
through the REST API, signed LiveKit webhooks and the simulator's people.

    .venv/bin/python -m tests.dashboard.screenshots [directory]   (default docs/images/dashboard)
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pulse_adapters.memory import InMemoryRoomEngine
from pulse_core import rooms
from pulse_http.settings import Settings
from tests.support import livekit_webhooks as lk
from tests.support.browser import chromium
from tests.support.live_server import LiveServer, app_container, live_server
from tests.support.webhook_receiver import WebhookReceiver

PASSWORD = "correct horse battery staple"
ADMIN = "admin@pulse.test"
#: (file name, dashboard path), in the order docs/dashboard.md shows them.
PAGES: list[tuple[str, str]] = [
    ("sign-in", "/dashboard/sign-in"),
    ("organizations", "/dashboard/organizations"),
    ("organization", "/dashboard/organizations/{org}"),
    ("project", "/dashboard/projects/{project}"),
    ("keys", "/dashboard/projects/{project}/keys"),
    ("webhooks", "/dashboard/projects/{project}/webhooks"),
    ("deliveries", "/dashboard/projects/{project}/deliveries"),
    ("usage", "/dashboard/projects/{project}/usage"),
    ("organization-usage", "/dashboard/organizations/{org}/usage"),
    ("rooms", "/dashboard/projects/{project}/rooms"),
    ("room", "/dashboard/projects/{project}/rooms/standup"),
    ("participant", "/dashboard/projects/{project}/rooms/standup/participant?identity=alice"),
    ("tokens", "/dashboard/projects/{project}/tokens"),
    ("media", "/dashboard/projects/{project}/media"),
    ("users", "/dashboard/organizations/{org}/users"),
    ("audit", "/dashboard/organizations/{org}/audit"),
]


def _until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def demo_data(server: LiveServer, receiver: WebhookReceiver) -> dict[str, str]:
    """An organization on the pro plan with one project, a key, a webhook endpoint that
    has been sent a test event, a week of usage, a live room and a recording."""
    server.run(server.container.services.users().create_admin(ADMIN, PASSWORD))
    token = server.container.services.management_auth().mint("demo", role="admin")
    admin = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url, timeout=30) as api:

        def call(method: str, path: str, headers: dict[str, str], **body: Any) -> Any:
            response = api.request(method, path, json=body or None, headers=headers)
            response.raise_for_status()
            return response.json() if response.content else None

        org = call(
            "POST",
            "/v1/organizations",
            admin,
            name="Acme Video",
            admin_email="owner@acme.test",
            plan="pro",
        )
        project = call("POST", "/v1/projects", admin, org_id=org["id"], name="Acme Live")
        keys = {"X-Pulse-Key": project["api_key"], "X-Pulse-Secret": project["api_secret"]}
        call(
            "POST",
            f"/v1/projects/{project['id']}/keys",
            admin,
            name="backend",
            scopes=["tokens:create", "rooms:read"],
        )
        endpoint = call(
            "POST",
            f"/v1/projects/{project['id']}/webhooks/endpoints",
            admin,
            url=receiver.url,
            description="Acme backend",
        )
        receiver.secret = endpoint["secret"]
        call(
            "POST", f"/v1/projects/{project['id']}/webhooks/endpoints/{endpoint['id']}/test", admin
        )
        call(
            "POST",
            f"/v1/organizations/{org['id']}/users",
            admin,
            email="dev@acme.test",
            role="member",
            name="Dev",
        )
        # A week of meetings, as LiveKit reports them.
        day = 86400
        now = int(time.time())
        for n, minutes in enumerate((12, 30, 45, 18, 60, 25, 40)):
            left = now - (6 - n) * day - 3600
            livekit_room = rooms.to_livekit(project["id"], f"daily-{n}")
            who = lk.participant("alice", sid=f"PA_alice{n}", joined_at=left - minutes * 60)
            for name, at in (
                ("participant_joined", left - minutes * 60),
                ("participant_left", left),
            ):
                event = lk.webhook_event(
                    name, created_at=at, room=lk.room(livekit_room), participant=who
                )
                body, headers = lk.signed(
                    event,
                    api_key=server.container.settings().livekit_api_key,
                    api_secret=server.container.settings().livekit_api_secret,
                )
                api.post("/v1/livekit/webhook", content=body, headers=headers).raise_for_status()
        # A live room with people in it, and a recording of it.
        call("POST", "/v1/rooms", keys, name="standup", max_participants=20)
        engine = server.container.adapters.room_engine()
        assert isinstance(engine, InMemoryRoomEngine)
        standup = rooms.to_livekit(project["id"], "standup")
        engine.simulate_join(standup, "alice", name="Alice", tracks=["camera", "microphone"])
        engine.simulate_join(standup, "bob", name="Bob", tracks=["microphone"])
        egress = call("POST", "/v1/media/egress/start", keys, room="standup", kind="room_composite")
        call("POST", "/v1/media/egress/stop", keys, egress_id=egress["id"])
        call("POST", "/v1/media/egress/start", keys, room="standup", kind="room_composite")

        def metered() -> bool:
            usage = api.get(f"/v1/projects/{project['id']}/usage", headers=admin).json()
            return any(i["metric"] == "participant_minutes" for i in usage["items"])

        _until(metered, "the usage of the demo week")
        _until(lambda: len(receiver.received) >= 1, "the test webhook")
    return {"org": org["id"], "project": project["id"]}


def take(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    with tempfile.TemporaryDirectory() as data, contextlib.closing(WebhookReceiver()) as receiver:
        settings = Settings(
            environment="development",
            data_dir=data,
            jwt_secret="screenshots-jwt-secret-0123456789abcdef",
            log_level="warning",
            webhook_allowed_networks=("127.0.0.0/8",),
        )
        with live_server(app_container(settings)) as server, chromium() as browser:
            ids = demo_data(server, receiver)
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            page = context.new_page()
            page.goto(f"{server.base_url}/dashboard/sign-in")
            page.screenshot(path=str(directory / "sign-in.png"), full_page=True)
            taken.append(directory / "sign-in.png")
            page.get_by_label("Email").fill(ADMIN)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/dashboard/organizations")
            for name, path in PAGES[1:]:
                response = page.goto(f"{server.base_url}{path.format(**ids)}")
                if response is None or response.status != 200:
                    status = response.status if response else "no answer"
                    raise RuntimeError(f"{path}: {status}")
                target = directory / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                taken.append(target)
            context.close()
    return taken


def main(argv: list[str]) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    directory = Path(argv[1]) if len(argv) > 1 else Path("docs/images/dashboard")
    for path in take(directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
