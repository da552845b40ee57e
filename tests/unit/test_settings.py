from __future__ import annotations

from pathlib import Path

import pytest

from pulse_http.settings import ConfigError, load_settings


def test_defaults_run_embedded() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.environment == "development"
    assert settings.persistence == "sqlite"
    assert settings.port == 8080


def test_original_variable_names_are_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "PORT=9090\nMONGO_URI=mongodb://db:27017\nMONGO_DB_NAME=pulse_prod\n"
        "LIVEKIT_HOST=wss://lk.example.com\nJWT_SECRET=from-file\n"
    )
    settings = load_settings({"JWT_SECRET": "from-environment"}, env_file=env)
    assert settings.port == 9090 and settings.persistence == "mongo"
    assert (
        settings.mongo_db_name == "pulse_prod" and settings.livekit_host == "wss://lk.example.com"
    )
    assert settings.jwt_secret == "from-environment"  # the environment wins over .env


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="PORT"):
        load_settings({"PORT": "eighty"}, env_file=None)
    with pytest.raises(ConfigError, match="ENVIRONMENT"):
        load_settings({"ENVIRONMENT": "prod"}, env_file=None)


@pytest.mark.parametrize(
    "variable", ["JWT_SECRET", "API_KEY_PEPPER", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"]
)
def test_production_refuses_missing_or_default_secrets(variable: str) -> None:
    good = {
        "ENVIRONMENT": "production",
        "JWT_SECRET": "j" * 40,
        "API_KEY_PEPPER": "p" * 40,
        "LIVEKIT_API_KEY": "APIkey123",
        "LIVEKIT_API_SECRET": "l" * 40,
    }
    assert load_settings(good, env_file=None).is_production
    for bad in ("", "your-secret-key", "random-pepper-string", "your_api_key", "devkey"):
        with pytest.raises(ConfigError, match=variable):
            load_settings({**good, variable: bad}, env_file=None)
    missing = {k: v for k, v in good.items() if k != variable}
    with pytest.raises(ConfigError, match=variable):
        load_settings(missing, env_file=None)


def test_env_example_documents_every_setting() -> None:
    from pulse_http.settings import Settings

    example = (Path(__file__).parents[2] / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip() for line in example.splitlines() if "=" in line
    }
    missing = {name.upper() for name in Settings.__struct_fields__} - documented
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_configuration_reference_documents_every_setting() -> None:
    from pulse_http.settings import Settings

    reference = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    missing = [f.upper() for f in Settings.__struct_fields__ if f"`{f.upper()}`" not in reference]
    assert not missing, f"docs/configuration.md lacks {missing}"


def test_allowed_networks_are_parsed_and_a_bad_one_names_its_variable() -> None:
    settings = load_settings(
        {"MEDIA_ALLOWED_NETWORKS": "10.0.0.0/8, fd00::/8", "WEBHOOK_ALLOWED_NETWORKS": ""},
        env_file=None,
    )
    assert settings.media_allowed_networks == ("10.0.0.0/8", "fd00::/8")
    assert settings.webhook_allowed_networks == ()
    for bad in ("10.0.0.1/8", "not-a-network", "10.0.0.0/33"):
        with pytest.raises(ConfigError, match="WEBHOOK_ALLOWED_NETWORKS"):
            load_settings({"WEBHOOK_ALLOWED_NETWORKS": bad}, env_file=None)
