"""``POST /v1/tokens/create`` in-process: Pulse's ASGI app called directly, no server.

What one token request costs Pulse itself, without a server, a socket or wrk: the
middleware (request id, rate-limit headers, access log when on), the fast path
(authentication through the credential cache, the ``tokens`` bucket, strict decode,
``TokenService.mint``, the JSON answer), on the embedded default (SQLite in a temporary
``DATA_DIR``, in-process rate limits) with real key + secret authentication, as
``bench/run.py``'s ``pulse`` run but single-process and steadier on a busy machine.

Scenarios, as in ``token_signing.py``: *basic* is ``bench/run.py``'s request (identity,
room, name, ttl, default grants); *rich* adds metadata, attributes and non-default grants
(``can_publish_sources``, ``can_update_own_metadata``, ``room_admin``,
``can_publish_data=false``). Each figure is the best of ``--repeat`` rounds of
``--number`` requests, per request, in wall-clock time, or with ``--cpu`` in this
process's CPU time (steadier on a machine busy with other work).

    .venv/bin/python bench/in_process.py
    .venv/bin/python bench/in_process.py --number 20000 --repeat 9 --cpu
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import tempfile
import time
from collections.abc import Callable
from typing import Any

from pulse_http.app import create_app
from pulse_http.container import build_container
from pulse_http.settings import Settings

PATH = "/v1/tokens/create"
BASIC = {"identity": "user-42", "room": "demo", "name": "Ada", "ttl_seconds": 600}
RICH = {
    **BASIC,
    "metadata": json.dumps({"user_id": 1234, "avatar": "https://cdn.example.com/a/1234.png"}),
    "attributes": {"role": "host", "team": "blue", "locale": "fr-FR"},
    "grants": {
        "can_publish_data": False,
        "can_publish_sources": ["camera", "microphone"],
        "can_update_own_metadata": True,
        "room_admin": True,
    },
}
SCENARIOS = {"basic": BASIC, "rich": RICH}


async def _call(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, bytes]:
    """One request through the whole ASGI stack; the status and the body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }
    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


async def _project_headers(app: Any, admin_token: str) -> list[tuple[bytes, bytes]]:
    """An organization and a project through the API; the project's rate limit is charged
    on every request and never reached (as in ``bench/run.py``)."""
    admin = [(b"authorization", f"Bearer {admin_token}".encode())]

    async def created(path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, payload = await _call(app, path, admin, json.dumps(body).encode())
        if status != 201:
            raise RuntimeError(f"POST {path}: {status} {payload!r}")
        result: dict[str, Any] = json.loads(payload)
        return result

    org = await created("/v1/organizations", {"name": "Bench", "admin_email": "a@b.co"})
    limit = {"requests": 1_000_000, "period": "second", "burst": 1_000_000}
    project = await created(
        "/v1/projects", {"org_id": org["id"], "name": "bench", "rate_limit": limit}
    )
    return [
        (b"x-pulse-key", project["api_key"].encode()),
        (b"x-pulse-secret", project["api_secret"].encode()),
        (b"content-type", b"application/json"),
    ]


async def _measure(
    number: int, repeat: int, access_log: bool, timer: Callable[[], float]
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            data_dir=data_dir,
            log_level="info" if access_log else "warning",
            log_format="json",
        )
        container = build_container(settings)
        app = create_app(container)
        admin_token = container.services.management_auth().mint("bench", role="admin")
        async with app.lifespan():
            headers = await _project_headers(app, admin_token)
            gc.freeze()  # as pulse_http.asgi does once the app is built
            costs = {}
            for label, request in SCENARIOS.items():
                body = json.dumps(request).encode()
                status, payload = await _call(app, PATH, headers, body)
                if status != 201:
                    raise RuntimeError(f"{label}: {status} {payload!r}")
                best = float("inf")
                for _ in range(repeat):
                    started = timer()
                    for _ in range(number):
                        await _call(app, PATH, headers, body)
                    best = min(best, (timer() - started) / number)
                costs[label] = best * 1e6
            return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--number", type=int, default=10_000, help="requests per round")
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best one counts")
    parser.add_argument(
        "--access-log", action="store_true", help="LOG_LEVEL=info: one JSON line per request"
    )
    parser.add_argument("--cpu", action="store_true", help="time in CPU time, not wall-clock")
    args = parser.parse_args()
    timer = time.process_time if args.cpu else time.perf_counter
    costs = asyncio.run(_measure(args.number, args.repeat, args.access_log, timer))
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"best of {args.repeat} x {args.number} requests{' (CPU time)' if args.cpu else ''}"
    )
    for label, micros in costs.items():
        print(f"{label:<8} {micros:>7.2f} µs/request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
