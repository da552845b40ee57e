"""The pulse command, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pulse_adapters.clock import SystemClock
from pulse_core.services import ManagementAuthenticator

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
    assert check.returncode == 0 and "WORKERS=3 needs REDIS_URL" in check.stdout


def test_admin_token_refuses_a_lifetime_over_the_bound(tmp_path: Path) -> None:
    env = {"JWT_SECRET": SECRET, "MANAGEMENT_TOKEN_MAX_TTL_SECONDS": "600"}
    refused = _run("admin-token", "--ttl", "601", env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "MANAGEMENT_TOKEN_MAX_TTL_SECONDS" in refused.stderr
    assert _run("admin-token", "--ttl", "600", env=env, cwd=tmp_path).returncode == 0
