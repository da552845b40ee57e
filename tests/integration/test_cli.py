"""The pulse command, run as a user runs it."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pulse_adapters.clock import SystemClock
from pulse_core.services import ManagementAuthenticator
from tests.support.docs import running_pulse_serve
from tests.support.mongo import MongoTestServer
from tests.support.ports import free_port

PULSE = str(Path(sys.executable).parent / "pulse")
SECRET = "cli-test-jwt-secret-0123456789abcdef0123"


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME")}
    return subprocess.run(
        [PULSE, *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_admin_token_is_accepted_by_the_service(tmp_path: Path) -> None:
    result = _run("admin-token", "--subject", "ops", env={"JWT_SECRET": SECRET}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    principal = ManagementAuthenticator(SECRET, SystemClock()).authenticate(result.stdout.strip())
    assert principal.role == "admin" and principal.subject == "ops"


def test_owner_token_needs_an_organization(tmp_path: Path) -> None:
    refused = _run("admin-token", "--role", "owner", env={"JWT_SECRET": SECRET}, cwd=tmp_path)
    assert refused.returncode == 2 and "--org-id" in refused.stderr
    org_id = "org_01J0000000000000000000000A"
    minted = _run(
        "admin-token",
        "--role",
        "owner",
        "--org-id",
        org_id,
        env={"JWT_SECRET": SECRET},
        cwd=tmp_path,
    )
    principal = ManagementAuthenticator(SECRET, SystemClock()).authenticate(minted.stdout.strip())
    assert principal.role == "owner" and principal.org_id == org_id


def test_production_start_refuses_default_secrets_naming_them(tmp_path: Path) -> None:
    result = _run(
        "serve", env={"ENVIRONMENT": "production", "JWT_SECRET": "your-secret-key"}, cwd=tmp_path
    )
    assert result.returncode == 2
    for variable in ("JWT_SECRET", "API_KEY_PEPPER", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        assert variable in result.stderr
    assert "your-secret-key" not in result.stderr + result.stdout  # never echo a secret


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_data_dir_it_cannot_write_is_refused_naming_it(tmp_path: Path, command: str) -> None:
    """Every process keeps its usage journal there, whatever the backends: refused
    before it starts, not a traceback in a server process."""
    (tmp_path / "taken").write_text("a file, not a directory")
    env = {
        "DATA_DIR": str(tmp_path / "taken" / "data"),
        "SQLITE_PATH": str(tmp_path / "pulse.sqlite3"),
        "PORT": str(free_port()),
    }
    result = _run(command, env=env, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "DATA_DIR: cannot keep the usage journal in" in result.stderr
    assert "Traceback" not in result.stderr


def test_dotenv_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=notaport\n")
    result = _run("check-config", env={}, cwd=tmp_path)
    assert result.returncode == 2 and "PORT" in result.stderr


def test_create_indexes_on_sqlite_applies_the_schema(tmp_path: Path) -> None:
    result = _run("db", "create-indexes", env={"DATA_DIR": str(tmp_path / "d")}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "pulse.sqlite3").is_file()


def test_several_workers_without_redis_are_refused_with_the_reason(tmp_path: Path) -> None:
    # Each process would enforce the limits on its own: N workers, N times the limit.
    for args, env in [(("serve", "--workers", "4"), {}), (("serve",), {"WORKERS": "2"})]:
        result = _run(*args, env={"DATA_DIR": str(tmp_path / "d"), **env}, cwd=tmp_path)
        assert result.returncode == 2, result.stdout
        assert "needs REDIS_URL" in result.stderr and "rate limits" in result.stderr
    check = _run("check-config", env={"WORKERS": "3"}, cwd=tmp_path)
    # Said, and the exit status says it too: a check that passes what serve refuses is no check.
    assert check.returncode == 2 and "WORKERS=3 needs REDIS_URL" in check.stdout


def test_admin_token_refuses_a_lifetime_over_the_bound(tmp_path: Path) -> None:
    env = {"JWT_SECRET": SECRET, "MANAGEMENT_TOKEN_MAX_TTL_SECONDS": "600"}
    refused = _run("admin-token", "--ttl", "601", env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "MANAGEMENT_TOKEN_MAX_TTL_SECONDS" in refused.stderr
    assert _run("admin-token", "--ttl", "600", env=env, cwd=tmp_path).returncode == 0


# -- configuration that fails early and clearly (issue 15) ------------------------------


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused start prints: no banner before it, no traceback."""
    assert result.stdout == "", result.stdout  # nothing printed before the refusal
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"ENVIRONMENT": "prod"}, ["ENVIRONMENT", "development, test, production"]),
        ({"WEBHOOK_WORKER": "maybe"}, ["WEBHOOK_WORKER", "on, off"]),
        ({"PORT": "70000"}, ["PORT", "70000", "1-65535"]),
        ({"HOST": "not a host"}, ["HOST", "not a host"]),
        ({"MONGO_URI": "postgres://db:5432"}, ["MONGO_URI", "mongodb://", "mongodb+srv://"]),
        ({"MONGO_URI": "mongodb://db:port/"}, ["MONGO_URI", "Port"]),
        (
            {"MONGO_URI": "mongodb://u:hunter2@db/?retryWrites=perhaps"},
            ["MONGO_URI", "retrywrites"],
        ),
        # Numbers outside their bounds (serve used to die later, with a traceback).
        ({"WEBHOOK_CONCURRENCY": "0"}, ["WEBHOOK_CONCURRENCY", "at least 1", "not 0"]),
        ({"WEBHOOK_TIMEOUT_SECONDS": "-1"}, ["WEBHOOK_TIMEOUT_SECONDS", "more than 0"]),
        ({"WEBHOOK_DISABLE_AFTER_HOURS": "-5"}, ["WEBHOOK_DISABLE_AFTER_HOURS", "more than 0"]),
        (
            {"WEBHOOK_VISIBILITY_TIMEOUT_SECONDS": "-3"},
            ["WEBHOOK_VISIBILITY_TIMEOUT_SECONDS", "more than 0"],
        ),
        ({"RECORDING_URL_TTL_SECONDS": "0"}, ["RECORDING_URL_TTL_SECONDS", "604800"]),
        ({"DNS_TIMEOUT_SECONDS": "nan"}, ["DNS_TIMEOUT_SECONDS", "not nan"]),
        # What the backends' own clients refuse (each server process used to die with a
        # traceback while check-config said nothing).
        ({"REDIS_URL": "localhost:6379"}, ["REDIS_URL", "redis://"]),
        ({"S3_BUCKET": "media"}, ["S3_ACCESS_KEY_ID", "required"]),
        ({"LIVEKIT_HOST": "livekit:7880"}, ["LIVEKIT_HOST", "http(s)://"]),
    ],
)
def test_serve_and_check_config_refuse_a_bad_value_before_anything_else(
    tmp_path: Path, env: dict[str, str], names: list[str]
) -> None:
    for command in ("serve", "check-config"):
        result = _run(command, env={"DATA_DIR": str(tmp_path / "d"), **env}, cwd=tmp_path)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        line = _one_line(result)
        assert line.startswith("pulse: configuration error: ")
        for name in names:
            assert name in line, (command, line)
        assert "hunter2" not in line  # a URI's password is never echoed
    assert not (tmp_path / "d").exists()  # refused before touching anything


def test_words_are_case_insensitive_on_the_command_line(tmp_path: Path) -> None:
    env = {"ENVIRONMENT": "Test", "WEBHOOK_WORKER": "OFF", "LOG_LEVEL": "Warning"}
    result = _run("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "environment:  test" in result.stdout


def test_an_unreachable_mongodb_is_one_line_naming_the_host_and_the_timeout(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens there
    env = {"MONGO_URI": f"mongodb://127.0.0.1:{port}/", "DATABASE_TIMEOUT_SECONDS": "0.5"}
    result = _run("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert result.returncode == 1
    line = _one_line(result)
    assert f"MongoDB at 127.0.0.1:{port} did not answer within 0.5 s" in line, line
    assert "MONGO_URI" in line


def test_a_port_in_use_is_refused_naming_it(tmp_path: Path) -> None:
    """The server binds with SO_REUSEPORT, so a second one on a port in use would share
    it without a word: `pulse serve` refuses, naming the port, before starting."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        # Listening as another `pulse serve` (granian) does, SO_REUSEPORT included.
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        for args, env in [
            (("serve",), {"PORT": str(port)}),
            (("serve", "--port", str(port)), {}),
            (("serve",), {"PORT": str(port), "HOST": "localhost"}),
        ]:
            result = _run(*args, env={"DATA_DIR": str(tmp_path / "d"), **env}, cwd=tmp_path)
            assert result.returncode == 2, result.stdout
            line = _one_line(result)
            assert f"port {port} on 127.0.0.1 is not available" in line, line


@pytest.mark.parametrize("persistence", ["sqlite", "mongo"])
def test_a_changed_pepper_is_refused_at_the_next_start(
    tmp_path: Path, persistence: str, request: pytest.FixtureRequest
) -> None:
    """The first start stores the pepper's check value in the database; a start with
    another pepper on the same database is refused in one line, before the banner."""
    data = {"DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "warning"}
    if persistence == "mongo":
        server: MongoTestServer = request.getfixturevalue("mongo_server")
        data |= {"MONGO_URI": server.uri, "MONGO_DB_NAME": server.new_db_name()}
    with running_pulse_serve(tmp_path, API_KEY_PEPPER="the-first-pepper", **data):
        pass
    changed = _run(
        "serve", "--port", str(free_port()),
        env={**data, "API_KEY_PEPPER": "a-second-pepper"}, cwd=tmp_path,
    )  # fmt: skip
    assert changed.returncode == 1
    line = _one_line(changed)
    assert line.startswith(
        "pulse: cannot start: API_KEY_PEPPER differs from the one this database was created"
        " with: every existing API key would fail with 401"
    ), line
    assert "a-second-pepper" not in line and "the-first-pepper" not in line
    # `pulse worker` refuses it the same way.
    worker = _run("worker", env={**data, "API_KEY_PEPPER": "a-second-pepper"}, cwd=tmp_path)
    assert worker.returncode == 1 and "API_KEY_PEPPER differs" in worker.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("serve", "--workers", "5000"),
        ("serve", "--workers", "0"),
        ("worker", "--concurrency", "100000"),
        ("db", "create-indexes", "--timeout", "nan"),
        ("db", "create-indexes", "--timeout", "-1"),
        ("db", "create-indexes", "--timeout", "0"),
    ],
)
def test_a_flag_outside_its_bounds_is_a_usage_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = _run(*args, env={"DATA_DIR": str(tmp_path / "d")}, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"argument {args[-2]}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


def test_create_admin_refuses_a_blank_password_as_bad_input(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "d"), "PULSE_ADMIN_PASSWORD": " " * 12}
    result = _run("create-admin", "--email", "ops@example.com", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "only spaces" in result.stderr


def test_a_password_piped_with_crlf_is_read_without_its_line_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pulse_http import cli

    monkeypatch.delenv("PULSE_ADMIN_PASSWORD", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\r\n"))
    assert cli._admin_password() == "correct horse battery"


def test_check_config_says_where_the_job_queue_is_and_hides_credentials(
    tmp_path: Path, mongo_server: MongoTestServer
) -> None:
    env = {"DATA_DIR": str(tmp_path / "d"), "MONGO_URI": mongo_server.uri}
    result = _run("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "job queue:    sqlite" in result.stdout
    assert "every `pulse worker` must share this DATA_DIR" in result.stdout
    from pulse_http.cli import _without_userinfo

    assert _without_userinfo("https://u:hunter2@otel.example.com:4318") == (
        "https://***@otel.example.com:4318"
    )
    assert _without_userinfo("https://otel.example.com") == "https://otel.example.com"


def test_serve_port_flag_is_the_port_its_links_name(tmp_path: Path) -> None:
    """Invitation links are made from PUBLIC_URL's default, by the server's processes:
    --port must reach them, not only the socket."""
    with running_pulse_serve(tmp_path, port_flag=True) as (base, token):
        admin = {"Authorization": f"Bearer {token}"}
        org = httpx.post(
            f"{base}/v1/organizations",
            json={"name": "Ports", "admin_email": "ops@ports.test"},
            headers=admin,
        ).json()
        invited = httpx.post(
            f"{base}/v1/organizations/{org['id']}/users",
            json={"email": "new@ports.test", "role": "member"},
            headers=admin,
        )
        assert invited.status_code == 201, invited.text
        port = base.rsplit(":", 1)[1]
        assert f"localhost:{port}/" in invited.json()["invite_url"]


def test_a_host_that_is_not_this_machines_is_refused_as_such(tmp_path: Path) -> None:
    # 192.0.2.1 is TEST-NET-1: documentation only, never a machine's address.
    args = ("serve", "--host", "192.0.2.1", "--port", str(free_port()))
    result = _run(*args, env={"DATA_DIR": str(tmp_path / "d")}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = _one_line(result)
    assert "is not an address of this machine" in line and "another server" not in line


def test_a_visibility_timeout_within_the_webhook_timeout_is_said(tmp_path: Path) -> None:
    env = {
        "DATA_DIR": str(tmp_path / "d"),
        "WEBHOOK_VISIBILITY_TIMEOUT_SECONDS": "10",
        "WEBHOOK_TIMEOUT_SECONDS": "15",
    }
    result = _run("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: WEBHOOK_VISIBILITY_TIMEOUT_SECONDS (10) is not more than" in result.stdout
    fine = _run("check-config", env={"DATA_DIR": str(tmp_path / "d")}, cwd=tmp_path)
    assert "note:" not in fine.stdout
