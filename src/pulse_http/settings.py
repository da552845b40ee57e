"""Settings from the environment and an optional ``.env`` file.

Variable names are the field names upper-cased; the original Go service's names
(``PORT``, ``ENVIRONMENT``, ``MONGO_URI``, ``MONGO_DB_NAME``, ``LIVEKIT_HOST``,
``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``, ``JWT_SECRET``, ``API_KEY_PEPPER``) keep
working. The process environment wins over ``.env``. Every variable is documented in
``.env.example`` and ``docs/configuration.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec
from dotenv import dotenv_values

Environment = Literal["development", "test", "production"]

# Development defaults: they make `pulse serve` work with no configuration and are
# refused in production, together with the placeholders of the Go service's README.
DEV_JWT_SECRET = "dev-only-jwt-secret-do-not-use-in-production"  # noqa: S105
DEV_API_KEY_PEPPER = "dev-only-api-key-pepper"
DEV_LIVEKIT_API_KEY = "devkey"
DEV_LIVEKIT_API_SECRET = "dev-only-livekit-secret-at-least-32-chars"  # noqa: S105
_PLACEHOLDERS = frozenset(
    {
        "",
        "secret",
        "changeme",
        "change-me",
        "your-secret-key",
        "random-pepper-string",
        "your_api_key",
        "your_api_secret",
        DEV_JWT_SECRET,
        DEV_API_KEY_PEPPER,
        DEV_LIVEKIT_API_KEY,
        DEV_LIVEKIT_API_SECRET,
    }
)
MIN_PRODUCTION_SECRET_LENGTH = 32


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # Server
    environment: Environment = "development"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    workers: int = 1
    max_body_bytes: int = 1_048_576
    cors_origins: tuple[str, ...] = ()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "console", "json"] = "auto"
    # Persistence: SQLite under DATA_DIR unless MONGO_URI is set.
    data_dir: str = "./data"
    sqlite_path: str = ""
    mongo_uri: str = ""
    mongo_db_name: str = "pulse_development"
    database_timeout_seconds: float = 5.0
    # Security
    jwt_secret: str = DEV_JWT_SECRET
    api_key_pepper: str = DEV_API_KEY_PEPPER
    auth_cache_ttl_seconds: float = 5.0
    # Rate limits: the platform default for projects without their own setting, and
    # the allowance of failed authentications per client address.
    rate_limit_requests: int = 50
    rate_limit_period: Literal["second", "minute"] = "second"
    rate_limit_burst: int = 100
    auth_failure_limit: int = 20
    auth_failure_window_seconds: int = 60
    # Behind a proxy/load balancer, take the client address from the right-most
    # X-Forwarded-For entry (the one the proxy appended). Off unless you have one.
    trust_x_forwarded_for: bool = False
    # LiveKit
    livekit_host: str = ""
    livekit_api_key: str = DEV_LIVEKIT_API_KEY
    livekit_api_secret: str = DEV_LIVEKIT_API_SECRET
    livekit_timeout_seconds: float = 5.0
    # Redis: rate limits (and job streams) are shared across replicas when set.
    redis_url: str = ""
    redis_timeout_seconds: float = 0.25
    # Object storage: S3-compatible when S3_BUCKET is set, else a local directory.
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_endpoint_url: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_force_path_style: bool = False
    s3_prefix: str = ""
    # Endpoints as browsers reach them (presigned download URLs) and as LiveKit egress
    # workers reach them (uploads), when they differ from S3_ENDPOINT_URL.
    s3_public_endpoint_url: str = ""
    s3_egress_endpoint_url: str = ""
    # How long a recording's download URL works unless the request asks for less or more.
    recording_url_ttl_seconds: int = 3600

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def persistence(self) -> Literal["mongo", "sqlite"]:
        return "mongo" if self.mongo_uri else "sqlite"

    @property
    def livekit_client_url(self) -> str:
        """Where end users connect with the tokens Pulse mints (LiveKit's dev default
        when no LiveKit is configured)."""
        return self.livekit_host or "ws://localhost:7880"

    @property
    def media_engine(self) -> Literal["livekit", "memory"]:
        """LiveKit when LIVEKIT_HOST is set, else the simulated engine."""
        return "livekit" if self.livekit_host else "memory"

    @property
    def object_storage(self) -> Literal["s3", "local"]:
        """An S3-compatible bucket when S3_BUCKET is set, else DATA_DIR/recordings."""
        return "s3" if self.s3_bucket else "local"

    @property
    def recordings_dir(self) -> Path:
        return Path(self.data_dir) / "recordings"

    @property
    def rate_limits(self) -> Literal["redis", "memory"]:
        return "redis" if self.redis_url else "memory"

    @property
    def resolved_sqlite_path(self) -> Path:
        return Path(self.sqlite_path) if self.sqlite_path else Path(self.data_dir) / "pulse.sqlite3"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "127.0.0.1", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    def production_problems(self) -> list[str]:
        """What stops a production start, one message per variable."""
        problems = []
        for name in ("jwt_secret", "api_key_pepper", "livekit_api_key", "livekit_api_secret"):
            value: str = getattr(self, name)
            var = name.upper()
            if value.strip().lower() in _PLACEHOLDERS:
                problems.append(f"{var} is missing or still a default/placeholder value")
            elif name != "livekit_api_key" and len(value) < MIN_PRODUCTION_SECRET_LENGTH:
                problems.append(
                    f"{var} must be at least {MIN_PRODUCTION_SECRET_LENGTH} characters"
                    " in production"
                )
        return problems


_FIELDS = Settings.__struct_fields__


def load_settings(
    environ: Mapping[str, str] | None = None, *, env_file: str | Path | None = ".env"
) -> Settings:
    """Settings from ``env_file`` (if it exists) overlaid with ``environ`` (default
    ``os.environ``). Raises :class:`ConfigError` naming the variable on a bad value, and
    in production on missing or default secrets."""
    raw: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        raw.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    raw.update(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    for field in _FIELDS:
        value = raw.get(field.upper())
        if value is None:
            continue
        if field == "cors_origins":
            values[field] = tuple(o.strip() for o in value.split(",") if o.strip())
        else:
            values[field] = value.strip()
    try:
        settings = msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_name_variable(str(exc))) from exc
    if settings.is_production:
        problems = settings.production_problems()
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))
    return settings


def _name_variable(message: str) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.port`"; speak in variable names.
    text, _, where = message.partition(" - at `$.")
    if where:
        return f"{where.rstrip('`').upper()}: {text}"
    return message
