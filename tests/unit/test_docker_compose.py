"""docker-compose.yml and the Dockerfile, checked without Docker.

Docker cannot run in CI, so this parses the files and checks what would otherwise only
break on someone's `docker compose up`: a misspelt environment variable (Pulse would
silently ignore it), a value Pulse's settings loader rejects, a service URL pointing at a
service that does not exist, a dependency on a missing service, a bucket that is never
created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pulse_http.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SETTING_NAMES = {name.upper() for name in Settings.__struct_fields__}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


@pytest.fixture(scope="module")
def pulse_env(services: dict[str, Any]) -> dict[str, str]:
    env = services["pulse"]["environment"]
    assert isinstance(env, dict), "use the mapping form so values are typed strings"
    return {str(k): str(v) for k, v in env.items()}


def test_the_stack_has_every_backend(services: dict[str, Any]) -> None:
    assert {"mongo", "redis", "minio", "minio-setup", "livekit", "pulse"} <= set(services)


def test_pulse_environment_names_are_settings(pulse_env: dict[str, str]) -> None:
    unknown = set(pulse_env) - SETTING_NAMES
    assert not unknown, f"not Pulse settings (would be ignored): {sorted(unknown)}"
    required = {
        "MONGO_URI", "MONGO_DB_NAME", "REDIS_URL", "LIVEKIT_HOST", "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET", "S3_BUCKET", "S3_ENDPOINT_URL", "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY", "S3_FORCE_PATH_STYLE", "S3_REGION", "JWT_SECRET",
        "API_KEY_PEPPER", "ENVIRONMENT", "HOST",
    }  # fmt: skip
    assert required <= set(pulse_env)


def test_pulse_environment_loads_as_settings(pulse_env: dict[str, str]) -> None:
    settings = load_settings(pulse_env, env_file=None)
    assert settings.persistence == "mongo"
    assert settings.host == "0.0.0.0"
    assert settings.s3_force_path_style is True
    assert settings.environment == "development"  # LiveKit's dev credentials need it


def test_service_urls_point_at_compose_services(
    services: dict[str, Any], pulse_env: dict[str, str]
) -> None:
    expected = {
        "MONGO_URI": "mongo",
        "REDIS_URL": "redis",
        "S3_ENDPOINT_URL": "minio",
        "LIVEKIT_HOST": "livekit",
    }
    for name, service in expected.items():
        assert urlsplit(pulse_env[name]).hostname == service, name
        assert service in services
    assert "replicaSet=rs0" in pulse_env["MONGO_URI"]


def test_mongo_is_a_replica_set_initiated_by_its_healthcheck(services: dict[str, Any]) -> None:
    mongo = services["mongo"]
    assert "--replSet" in mongo["command"]
    assert mongo["command"][mongo["command"].index("--replSet") + 1] == "rs0"
    script = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in script and "_id: 'rs0'" in script and "mongo:27017" in script


def test_livekit_runs_in_dev_mode_with_its_dev_credentials(
    services: dict[str, Any], pulse_env: dict[str, str]
) -> None:
    assert services["livekit"]["image"].startswith("livekit/livekit-server")
    assert "--dev" in services["livekit"]["command"]
    assert (pulse_env["LIVEKIT_API_KEY"], pulse_env["LIVEKIT_API_SECRET"]) == ("devkey", "secret")


def test_the_bucket_pulse_uses_is_created(
    services: dict[str, Any], pulse_env: dict[str, str]
) -> None:
    setup = " ".join(services["minio-setup"]["command"])
    assert f"mc mb --ignore-existing local/{pulse_env['S3_BUCKET']}" in setup
    minio_env = services["minio"]["environment"]
    assert minio_env["MINIO_ROOT_USER"] == pulse_env["S3_ACCESS_KEY_ID"]
    assert minio_env["MINIO_ROOT_PASSWORD"] == pulse_env["S3_SECRET_ACCESS_KEY"]


def test_depends_on_targets_exist(services: dict[str, Any]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        targets = depends if isinstance(depends, list) else list(depends)
        missing = set(targets) - set(services)
        assert not missing, f"{name} depends on missing services {missing}"
    pulse_depends = services["pulse"]["depends_on"]
    assert pulse_depends["mongo"]["condition"] == "service_healthy"
    assert pulse_depends["minio-setup"]["condition"] == "service_completed_successfully"


def test_pulse_is_built_from_the_dockerfile(services: dict[str, Any]) -> None:
    assert services["pulse"]["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "pip install ." in dockerfile
    assert 'CMD ["pulse", "serve"]' in dockerfile
    assert "HOST=0.0.0.0" in dockerfile
