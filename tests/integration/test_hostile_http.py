"""Raw HTTP that no client library would send, against a real `pulse serve`: each is a
client error (4xx problem+json), never a 500, on the token fast path and on Litestar's."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx

from tests.support.docs import pulse_serve

__all__ = ["pulse_serve"]


def _raw(base: str, request: bytes) -> tuple[int, dict[str, object]]:
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}


def _chunked(path: str, headers: dict[str, str], chunks: bytes) -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: pulse\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\nConnection: close\r\n{lines}\r\n"
    ).encode() + chunks


def _project(base: str, token: str) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=admin, timeout=10) as client:
        org = client.post("/v1/organizations", json={"name": "H", "admin_email": "h@h.test"})
        project = client.post("/v1/projects", json={"org_id": org.json()["id"], "name": "P"})
    body = project.json()
    return {"X-Pulse-Key": body["api_key"], "X-Pulse-Secret": body["api_secret"]}


def test_a_malformed_chunked_body_is_a_400_on_every_path(
    pulse_serve: tuple[str, str],
) -> None:
    base, token = pulse_serve
    project = _project(base, token)
    bad_chunk = b"zz\r\nabc\r\n0\r\n\r\n"
    for path, headers in [
        ("/v1/tokens/create", project),  # the fast path
        ("/v1/media/egress/start", project),
        ("/v1/organizations", {"Authorization": f"Bearer {token}"}),
    ]:
        status, problem = _raw(base, _chunked(path, headers, bad_chunk))
        assert status == 400, (path, problem)
        assert problem["field"] == "body", problem
    # A well-formed chunked body still works.
    good = json.dumps({"identity": "ada", "room": "demo"}).encode()
    chunks = f"{len(good):x}\r\n".encode() + good + b"\r\n0\r\n\r\n"
    status, created = _raw(base, _chunked("/v1/tokens/create", project, chunks))
    assert status == 201 and created["room"] == "demo"


def test_deeply_nested_bodies_are_a_400_on_every_path(pulse_serve: tuple[str, str]) -> None:
    base, token = pulse_serve
    project = _project(base, token)
    deep = "[" * 1000 + "]" * 1000
    with httpx.Client(base_url=base, headers=project, timeout=10) as client:
        for path, body in [
            ("/v1/media/egress/start", f'{{"room": "demo", "output": {deep}}}'),
            ("/v1/tokens/create", f'{{"identity": "a", "room": "demo", "metadata": {deep}}}'),
        ]:
            response = client.post(path, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, (path, response.text)
            assert "deeper than" in response.json()["detail"]
