from __future__ import annotations

import re
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


PRODUCTION_SECRETS = {
    "ENVIRONMENT": "production",
    "JWT_SECRET": "j" * 40,
    "API_KEY_PEPPER": "p" * 40,
    "LIVEKIT_API_KEY": "APIkey123",
    "LIVEKIT_API_SECRET": "l" * 40,
}
PRODUCTION_BACKENDS = {
    "MONGO_URI": "mongodb://db1:27017,db2:27017/?replicaSet=rs0",
    "REDIS_URL": "redis://cache:6379/0",
    "LIVEKIT_HOST": "https://lk.example.com",
}


@pytest.mark.parametrize(
    "variable", ["JWT_SECRET", "API_KEY_PEPPER", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"]
)
def test_production_refuses_missing_or_default_secrets(variable: str) -> None:
    good = {**PRODUCTION_BACKENDS, **PRODUCTION_SECRETS}
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
        with pytest.raises(ConfigError, match="WEBHOOK_ALLOWED_NETWORKS") as refused:
            load_settings({"WEBHOOK_ALLOWED_NETWORKS": bad}, env_file=None)
        assert str(refused.value).count("WEBHOOK_ALLOWED_NETWORKS") == 1  # said once


# -- configuration that fails early and clearly (issue 15) ------------------------------


def test_words_are_read_case_insensitively() -> None:
    settings = load_settings(
        {
            "ENVIRONMENT": "Development",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "Json",
            "RATE_LIMIT_PERIOD": "Minute",
            "WEBHOOK_WORKER": "OFF",
        },
        env_file=None,
    )
    assert settings.environment == "development" and settings.log_level == "warning"
    assert settings.log_format == "json" and settings.rate_limit_period == "minute"
    assert settings.webhook_worker == "off"
    production = load_settings({**PRODUCTION_SECRETS, **PRODUCTION_BACKENDS}, env_file=None)
    assert (
        load_settings(
            {**PRODUCTION_SECRETS, **PRODUCTION_BACKENDS, "ENVIRONMENT": "Production"},
            env_file=None,
        )
        == production
    )


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("ENVIRONMENT", "prod", "development, test, production"),
        ("WEBHOOK_WORKER", "yes", "on, off"),
        ("RATE_LIMIT_PERIOD", "hour", "second, minute"),
        ("LOG_LEVEL", "verbose", "debug, info, warning, error"),
        ("LOG_FORMAT", "text", "auto, console, json"),
    ],
)
def test_a_wrong_word_is_answered_with_the_allowed_ones(
    variable: str, value: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({variable: value}, env_file=None)
    assert str(raised.value) == f"{variable}: {value!r} is not one of {allowed}"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "0"}, "PORT: 0 is not a port (1-65535)"),
        ({"PORT": "65536"}, "PORT: 65536 is not a port (1-65535)"),
        ({"PORT": "-1"}, "PORT: -1 is not a port"),
        ({"HOST": "my host"}, "HOST: 'my host' is neither an IP address nor a host name"),
        ({"HOST": "http://0.0.0.0"}, "HOST: 'http://0.0.0.0' is neither"),
        ({"HOST": "-bad.example"}, "HOST: '-bad.example' is neither"),
    ],
)
def test_host_and_port_out_of_range_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(env, env_file=None)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "127.0.0.1", "::", "::1", "localhost", "pulse.internal"]
)
def test_addresses_and_host_names_are_accepted(host: str) -> None:
    assert load_settings({"HOST": host, "PORT": "65535"}, env_file=None).host == host


@pytest.mark.parametrize("uri", ["mysql://db:3306", "db:27017", "mongodb:/db", "http://user:pw@db"])
def test_a_mongo_uri_with_another_scheme_is_refused_without_echoing_it(uri: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"MONGO_URI": uri}, env_file=None)
    assert str(raised.value) == "MONGO_URI: must start with mongodb:// or mongodb+srv://"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("mongodb://", "at least one hostname"),
        ("mongodb://db:port/", "Port"),
        ("mongodb://db/?directConnection=maybe", "directconnection"),
        ("mongodb://db1,db2/?directConnection=true", "multiple hosts"),
        ("mongodb+srv://cluster0.example.net:27017/", "must not include a port"),
    ],
)
def test_the_mongo_uri_form_is_checked_by_pymongo(uri: str, reason: str) -> None:
    from pulse_http.backend_checks import backend_problems

    settings = load_settings({"MONGO_URI": uri}, env_file=None)
    [problem] = backend_problems(settings)
    assert problem.startswith("MONGO_URI: not a valid MongoDB connection string")
    assert reason.lower() in problem.lower()
    good = load_settings(
        {"MONGO_URI": "mongodb://u:p@db1,db2:27018/?replicaSet=rs0"}, env_file=None
    )
    assert backend_problems(good) == []


@pytest.mark.parametrize(
    ("environ", "variable", "reason"),
    [
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL", "redis://"),
        ({"REDIS_URL": "redis://user:hunter2@cache:port/0"}, "REDIS_URL", "Port"),
        ({"S3_BUCKET": "media"}, "S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY", "required"),
        (
            {"S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "a", "S3_SECRET_ACCESS_KEY": "b"}
            | {"S3_PREFIX": "pulse"},
            "S3_PREFIX",
            "end with '/'",
        ),
        (
            {"S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "a", "S3_SECRET_ACCESS_KEY": "b"}
            | {"S3_ENDPOINT_URL": "minio:9000"},
            "S3_ENDPOINT_URL",
            "http(s) URL",
        ),
        ({"LIVEKIT_HOST": "livekit:7880"}, "LIVEKIT_HOST", "http(s)://"),
        (
            {"LIVEKIT_HOST": "http://livekit:7880", "LIVEKIT_API_KEY": ""},
            "LIVEKIT_API_KEY",
            "required",
        ),
    ],
)
def test_what_a_backend_refuses_is_one_line_naming_its_variable(
    environ: dict[str, str], variable: str, reason: str
) -> None:
    """Found before any server process builds the backend (it was a traceback in each)."""
    from pulse_http.backend_checks import backend_problems

    [problem] = backend_problems(load_settings(environ, env_file=None))
    assert variable in problem.partition(": ")[0], problem
    assert reason in problem
    assert "hunter2" not in problem


# -- production guard rails --------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "allow", "what"),
    [
        ("LIVEKIT_HOST", "ALLOW_SIMULATED_MEDIA", "the media engine is the simulation"),
        ("MONGO_URI", "ALLOW_SQLITE_IN_PRODUCTION", "persistence is the SQLite file"),
        ("REDIS_URL", "ALLOW_LOCAL_RATE_LIMITS", "rate limits are per process"),
    ],
)
def test_production_refuses_each_embedded_stand_in_unless_allowed(
    backend: str, allow: str, what: str
) -> None:
    without = {k: v for k, v in PRODUCTION_BACKENDS.items() if k != backend}
    with pytest.raises(ConfigError) as raised:
        load_settings({**PRODUCTION_SECRETS, **without}, env_file=None)
    message = str(raised.value)
    # Which stand-in, the setting that replaces it and the one that allows it; only it.
    assert what in message and backend in message and f"{allow}=true" in message
    assert message.count(";") == 1, message
    allowed = load_settings({**PRODUCTION_SECRETS, **without, allow: "true"}, env_file=None)
    assert allowed.is_production
    # Outside production nothing is refused; check-config still lists it.
    development = load_settings({**without, backend: ""}, env_file=None)
    assert any(what in problem for problem in development.production_problems())


def test_production_on_the_embedded_default_needs_all_three_allowed() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(PRODUCTION_SECRETS, env_file=None)
    for allow in ("ALLOW_SIMULATED_MEDIA", "ALLOW_SQLITE_IN_PRODUCTION", "ALLOW_LOCAL_RATE_LIMITS"):
        assert f"{allow}=true" in str(raised.value)
    allowed = {
        "ALLOW_SIMULATED_MEDIA": "true",
        "ALLOW_SQLITE_IN_PRODUCTION": "True",
        "ALLOW_LOCAL_RATE_LIMITS": "1",
    }
    settings = load_settings({**PRODUCTION_SECRETS, **allowed}, env_file=None)
    assert (settings.persistence, settings.rate_limits, settings.media_engine) == (
        "sqlite",
        "memory",
        "memory",
    )


# -- a .env.example that is safe to copy ------------------------------------------------


def test_copying_env_example_to_dotenv_changes_nothing(tmp_path: Path) -> None:
    """Every value .env.example sets is the default: copied to .env it keeps the pepper,
    the JWT secret (every existing key and token keeps working) and everything else;
    the placeholders are commented out."""
    dotenv = tmp_path / ".env"
    dotenv.write_text((Path(__file__).parents[2] / ".env.example").read_text())
    assert load_settings({}, env_file=dotenv) == load_settings({}, env_file=None)


def test_env_example_sets_no_secret() -> None:
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    assigned = {
        line.split("=", 1)[0] for line in example.splitlines() if re.match(r"[A-Z_]+=", line)
    }
    for secret in ("JWT_SECRET", "API_KEY_PEPPER", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        assert secret not in assigned, f".env.example must leave {secret} commented out"


# -- development LiveKit ----------------------------------------------------------------


def test_development_livekit_credentials_are_livekit_server_dev_ones() -> None:
    """`livekit-server --dev` runs with the key `devkey` and the secret `secret`: tokens
    minted by `make run` join it as they are. Production still refuses both."""
    settings = load_settings({}, env_file=None)
    assert (settings.livekit_api_key, settings.livekit_api_secret) == ("devkey", "secret")
    assert settings.livekit_client_url == "ws://localhost:7880"
    problems = " ".join(settings.production_problems())
    assert "LIVEKIT_API_KEY" in problems and "LIVEKIT_API_SECRET" in problems
    with pytest.raises(ConfigError, match="LIVEKIT_API_SECRET"):
        load_settings(
            {**PRODUCTION_SECRETS, **PRODUCTION_BACKENDS, "LIVEKIT_API_SECRET": "secret"},
            env_file=None,
        )


def test_livekit_public_url_is_what_clients_are_given() -> None:
    internal = load_settings({"LIVEKIT_HOST": "http://livekit:7880"}, env_file=None)
    assert internal.livekit_client_url == "http://livekit:7880"
    public = load_settings(
        {"LIVEKIT_HOST": "http://livekit:7880", "LIVEKIT_PUBLIC_URL": "wss://lk.example.com"},
        env_file=None,
    )
    assert public.livekit_client_url == "wss://lk.example.com"
    assert public.livekit_host == "http://livekit:7880"  # what Pulse itself calls


# Every numeric setting has bounds; outside them the start stops naming the variable
# (not later, with a traceback: WEBHOOK_CONCURRENCY=0 used to fail in Worker.__init__).
_OUT_OF_BOUNDS = [
    ("WEBHOOK_CONCURRENCY", "0", "must be at least 1 and at most 10000, not 0"),
    ("WEBHOOK_CONCURRENCY", "10001", "at most 10000"),
    ("WEBHOOK_TIMEOUT_SECONDS", "-1", "must be more than 0 and at most 3600, not -1.0"),
    ("WEBHOOK_TIMEOUT_SECONDS", "0", "more than 0"),
    ("WEBHOOK_TIMEOUT_SECONDS", "inf", "not inf"),
    ("WEBHOOK_DISABLE_AFTER_HOURS", "-5", "more than 0"),
    ("WEBHOOK_DISABLE_AFTER_HOURS", "1e300", "at most 87600"),
    ("WEBHOOK_VISIBILITY_TIMEOUT_SECONDS", "-3", "more than 0"),
    ("WEBHOOK_VISIBILITY_TIMEOUT_SECONDS", "nan", "not nan"),
    ("WORKERS", "0", "at least 1"),
    ("MAX_BODY_BYTES", "-1", "at least 1"),
    ("DNS_TIMEOUT_SECONDS", "0", "more than 0"),
    ("DATABASE_TIMEOUT_SECONDS", "-0.5", "more than 0"),
    ("LIVEKIT_TIMEOUT_SECONDS", "0", "more than 0"),
    ("REDIS_TIMEOUT_SECONDS", "-1", "more than 0"),
    ("AUTH_CACHE_TTL_SECONDS", "-1", "at least 0"),
    ("MANAGEMENT_TOKEN_MAX_TTL_SECONDS", "0", "at least 1"),
    ("RATE_LIMIT_REQUESTS", "0", "at least 1"),
    ("RATE_LIMIT_BURST", "1000001", "at most 1000000"),
    ("AUTH_FAILURE_LIMIT", "0", "at least 1"),
    ("AUTH_FAILURE_WINDOW_SECONDS", "0", "at least 1"),
    ("RECORDING_URL_TTL_SECONDS", "604801", "at most 604800"),
    ("SESSION_TTL_SECONDS", "0", "at least 1"),
    ("SESSION_TTL_SECONDS", "99999999999", "at most 31536000"),
    ("SIGN_IN_FAILURE_LIMIT", "0", "at least 1"),
    ("SIGN_IN_FAILURE_WINDOW_SECONDS", "0", "at least 1"),
    ("AUDIT_RETENTION_DAYS", "999999999", "at most 36500"),
    ("USAGE_FLUSH_SECONDS", "0", "more than 0 and at most 10"),
    ("USAGE_FLUSH_SECONDS", "11", "at most 10"),
    ("USAGE_RECONCILE_SECONDS", "-1", "at least 0"),
]


@pytest.mark.parametrize(("variable", "value", "message"), _OUT_OF_BOUNDS)
def test_a_number_outside_its_bounds_is_refused_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({variable: value}, env_file=None)
    assert str(raised.value).startswith(f"{variable}: "), raised.value
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEBHOOK_CONCURRENCY", "1"),
        ("WEBHOOK_TIMEOUT_SECONDS", "0.5"),
        ("WEBHOOK_DISABLE_AFTER_HOURS", "0.5"),
        ("WEBHOOK_VISIBILITY_TIMEOUT_SECONDS", "1"),
        ("AUTH_CACHE_TTL_SECONDS", "0"),  # no cache
        ("USAGE_RECONCILE_SECONDS", "0"),  # off
        ("USAGE_FLUSH_SECONDS", "10"),
        ("RECORDING_URL_TTL_SECONDS", "604800"),
    ],
)
def test_the_edges_of_the_bounds_are_taken(variable: str, value: str) -> None:
    settings = load_settings({variable: value}, env_file=None)
    assert getattr(settings, variable.lower()) == float(value)


@pytest.mark.parametrize("variable", ["JWT_SECRET", "API_KEY_PEPPER"])
def test_a_secret_set_empty_is_refused_not_used(variable: str) -> None:
    """Empty, it replaced the development default: an empty signing key (forgeable
    tokens) or pepper. Left out, the default applies."""
    with pytest.raises(ConfigError, match=f"{variable}: must not be empty"):
        load_settings({variable: ""}, env_file=None)
    assert getattr(load_settings({}, env_file=None), variable.lower())


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("::1", "http://[::1]:8080"),
        ("0.0.0.0", "http://localhost:8080"),
        ("::", "http://localhost:8080"),
    ],
)
def test_the_default_public_url_is_a_url_for_an_ipv6_host_too(host: str, url: str) -> None:
    assert load_settings({"HOST": host}, env_file=None).resolved_public_url == url
