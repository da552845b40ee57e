"""docker-compose.yml and the Dockerfile, checked without Docker.

Docker cannot run in CI, so this parses the files and checks what would otherwise only
break on someone's `docker compose up`: a misspelt environment variable (Pulse would
silently ignore it), a value Pulse's settings loader rejects, a service URL pointing at a
service that does not exist, a dependency on a missing service, a bucket that is never
created, an image that is not pinned, LiveKit's config files (mounted from deploy/) not
agreeing with Pulse's settings on keys, webhook URL or Redis, a URL handed to browsers
that the host cannot open. What only a real `docker compose up` shows (images that pull,
LiveKit accepting its config, media flowing) is not checked here.
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


@pytest.fixture(scope="module")
def worker_env(services: dict[str, Any]) -> dict[str, str]:
    env = services["pulse-worker"]["environment"]
    assert isinstance(env, dict), "use the mapping form so values are typed strings"
    return {str(k): str(v) for k, v in env.items()}


def _mounted(service: dict[str, Any], target: str) -> Any:
    """The YAML file ``service`` mounts at ``target``, parsed (it must exist)."""
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            path = ROOT / source
            assert path.is_file(), f"{source} is mounted but does not exist"
            return yaml.safe_load(path.read_text())
    raise AssertionError(f"nothing mounted at {target}")


def test_the_stack_has_every_service_of_the_product(services: dict[str, Any]) -> None:
    assert {
        "mongo", "redis", "minio", "minio-setup", "livekit", "egress", "ingress", "pulse",
        "pulse-worker",
    } <= set(services)  # fmt: skip


def test_every_image_is_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        assert tag != "latest" and "/" not in tag, f"{name}: {image} is not pinned"
        if "build" not in service:
            assert any(c.isdigit() for c in tag), f"{name}: {image} names no version"


def test_pulse_environment_names_are_settings(
    pulse_env: dict[str, str], worker_env: dict[str, str]
) -> None:
    for env in (pulse_env, worker_env):
        unknown = set(env) - SETTING_NAMES
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
    # Pulse's own development defaults are the same: `make run` joins a local LiveKit too.
    defaults = load_settings({}, env_file=None)
    assert (defaults.livekit_api_key, defaults.livekit_api_secret) == ("devkey", "secret")


def test_livekit_sends_its_webhooks_to_pulse_signed_with_pulses_key(
    services: dict[str, Any], pulse_env: dict[str, str]
) -> None:
    livekit = services["livekit"]
    command = livekit["command"]
    config = _mounted(livekit, command[command.index("--config") + 1])
    # The key LiveKit signs webhooks with is the one Pulse verifies them with.
    assert config["webhook"]["api_key"] == pulse_env["LIVEKIT_API_KEY"]
    assert config["keys"][pulse_env["LIVEKIT_API_KEY"]] == pulse_env["LIVEKIT_API_SECRET"]
    [url] = config["webhook"]["urls"]
    target = urlsplit(url)
    assert target.hostname == "pulse" and target.port == int(pulse_env["PORT"])
    assert target.path == "/v1/livekit/webhook"
    assert urlsplit("//" + config["redis"]["address"]).hostname == "redis"
    # Ingress URLs are handed out as the host reaches the ingress service's ports.
    published = {str(p).split(":")[0]: str(p).split(":")[1] for p in livekit["ports"]}
    assert urlsplit(config["ingress"]["rtmp_base_url"]).port == 1935
    assert published["1935"] == "1935"
    assert published[str(urlsplit(config["ingress"]["whip_base_url"]).port)] == "8080"


@pytest.mark.parametrize(("name", "config_variable"), [
    ("egress", "EGRESS_CONFIG_FILE"), ("ingress", "INGRESS_CONFIG_FILE"),
])  # fmt: skip
def test_egress_and_ingress_work_for_the_stacks_livekit(
    services: dict[str, Any], pulse_env: dict[str, str], name: str, config_variable: str
) -> None:
    service = services[name]
    assert service["image"].startswith(f"livekit/{name}:")
    config = _mounted(service, service["environment"][config_variable])
    assert (config["api_key"], config["api_secret"]) == (
        pulse_env["LIVEKIT_API_KEY"],
        pulse_env["LIVEKIT_API_SECRET"],
    )
    # In LiveKit's network namespace: LiveKit on localhost, and its media on 127.0.0.1,
    # the address it advertises (--node-ip), reachable from there.
    assert service["network_mode"] == "service:livekit"
    assert urlsplit(config["ws_url"]).hostname == "localhost"
    assert urlsplit(config["ws_url"]).port == 7880
    livekit_command = services["livekit"]["command"]
    assert livekit_command[livekit_command.index("--node-ip") + 1] == "127.0.0.1"
    # The same Redis as LiveKit: they talk through it.
    livekit = services["livekit"]
    livekit_config = _mounted(livekit, livekit_command[livekit_command.index("--config") + 1])
    assert config["redis"] == livekit_config["redis"]
    if name == "egress":
        assert "SYS_ADMIN" in service["cap_add"]  # Chrome's sandbox (room composite)


def test_webhooks_are_delivered_by_a_pulse_worker_service(
    services: dict[str, Any], pulse_env: dict[str, str], worker_env: dict[str, str]
) -> None:
    worker = services["pulse-worker"]
    assert worker["command"] == ["pulse", "worker"]
    assert worker["image"] == services["pulse"]["image"]
    assert load_settings(pulse_env, env_file=None).webhook_worker == "off"
    settings = load_settings(worker_env, env_file=None)
    assert settings.job_queue == "redis"  # shared by the API and every worker
    # Same database, queue and secrets as the API, or deliveries would not verify.
    shared = set(pulse_env) - {"WEBHOOK_WORKER"}
    assert {k: worker_env.get(k) for k in shared} == {k: pulse_env[k] for k in shared}
    assert worker["depends_on"] == services["pulse"]["depends_on"]


def test_download_links_and_livekit_urls_open_from_the_host(
    services: dict[str, Any], pulse_env: dict[str, str]
) -> None:
    settings = load_settings(pulse_env, env_file=None)
    public = urlsplit(settings.s3_public_endpoint_url)
    assert public.hostname == "localhost"
    assert f"{public.port}:9000" in services["minio"]["ports"]
    client = urlsplit(settings.livekit_client_url)
    assert client.hostname == "localhost" and f"{client.port}:7880" in services["livekit"]["ports"]


@pytest.mark.parametrize("service", ["pulse", "pulse-worker"])
def test_the_data_directory_is_one_volume_for_the_api_and_its_workers(
    compose: dict[str, Any], services: dict[str, Any], pulse_env: dict[str, str], service: str
) -> None:
    """It holds the usage journals: a crashed process's counts are stored by another's
    next flush, and survive the container's replacement."""
    volumes = [str(v) for v in services[service]["volumes"]]
    [data] = [v for v in volumes if v.split(":")[1] == pulse_env["DATA_DIR"]]
    assert data.split(":")[0] == "pulse-data" and "pulse-data" in compose["volumes"]


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
