"""Settings from the environment and an optional ``.env`` file.

Variable names are the field names upper-cased; the original Go service's names
(``PORT``, ``ENVIRONMENT``, ``MONGO_URI``, ``MONGO_DB_NAME``, ``LIVEKIT_HOST``,
``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``, ``JWT_SECRET``, ``API_KEY_PEPPER``) keep
working. The process environment wins over ``.env``. Every variable is documented in
``.env.example`` and ``docs/configuration.md``.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

import msgspec
from dotenv import dotenv_values

from pulse_core.errors import InvalidInput
from pulse_core.net import parse_networks
from pulse_core.plans import PlanCatalog, parse_plans
from pulse_core.services.delivery import RetrySchedule
from pulse_http.setting_bounds import BOUNDS, bound_problem

Environment = Literal["development", "test", "production"]

# Development defaults: they make `pulse serve` work with no configuration and are
# refused in production, together with the placeholders of the Go service's README.
DEV_JWT_SECRET = "dev-only-jwt-secret-do-not-use-in-production"  # noqa: S105
DEV_API_KEY_PEPPER = "dev-only-api-key-pepper"
# LiveKit's own development credentials (`livekit-server --dev`), so that tokens minted
# by `make run` join a local LiveKit as they are.
DEV_LIVEKIT_API_KEY = "devkey"
DEV_LIVEKIT_API_SECRET = "secret"  # noqa: S105
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
    # The address policy of URLs tenants give (docs/security.md): private, loopback,
    # link-local... addresses are refused unless inside one of these CIDR lists.
    # MEDIA_: pages and streams LiveKit fetches; WEBHOOK_: endpoints Pulse posts to.
    media_allowed_networks: tuple[str, ...] = ()
    webhook_allowed_networks: tuple[str, ...] = ()
    dns_timeout_seconds: float = 2.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "console", "json"] = "auto"
    # Observability (docs/deployment.md): Prometheus metrics on a port of their own
    # instead of the API port's /metrics (0: on the API port), and OpenTelemetry traces
    # sent to this OTLP/HTTP collector when set (the `otel` extra).
    metrics_port: int = 0
    otel_exporter_otlp_endpoint: str = ""
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
    # The longest-lived management JWT Pulse accepts (exp - now, and exp - iat).
    management_token_max_ttl_seconds: int = 86_400
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
    # The URL handed to clients with their tokens, when it differs from LIVEKIT_HOST (the
    # URL Pulse itself calls): e.g. wss://lk.example.com vs http://livekit.internal:7880.
    livekit_public_url: str = ""
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
    # Webhooks (API.md, "Delivery rules"): the delay before each attempt, the first
    # included; per-request timeout; how long an endpoint may fail before it is disabled;
    # when a job held by a dead worker is handed to another; deliveries at once per
    # worker; whether `pulse serve` runs a worker in-process.
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000"
    webhook_timeout_seconds: float = 15.0
    webhook_disable_after_hours: float = 120.0
    webhook_visibility_timeout_seconds: float = 60.0
    webhook_concurrency: int = 50
    webhook_worker: Literal["on", "off"] = "on"
    # Usage (API.md, "Usage and quotas"): the operator's plans (TOML or JSON); how often
    # in-process counts (tokens, requests, deliveries) are written; how often open
    # connections are checked against LiveKit (0: never).
    plans_file: str = ""
    # Access (API.md, "Users and sign-in", "Audit log"): how long a sign-in lasts, failed
    # sign-ins allowed per email and per client address in the window, and how long
    # audit records are kept.
    session_ttl_seconds: int = 8 * 3600
    sign_in_failure_limit: int = 10
    sign_in_failure_window_seconds: int = 900
    audit_retention_days: int = 365
    usage_flush_seconds: float = 5.0
    usage_reconcile_seconds: float = 300.0
    # Production guard rails: in ENVIRONMENT=production each embedded stand-in is refused
    # unless explicitly allowed here (a single-process deployment on purpose).
    allow_simulated_media: bool = False
    allow_sqlite_in_production: bool = False
    allow_local_rate_limits: bool = False

    @property
    def session_seconds(self) -> int:
        """How long a sign-in lasts: its tokens are management tokens, so never longer
        than MANAGEMENT_TOKEN_MAX_TTL_SECONDS allows."""
        return min(self.session_ttl_seconds, self.management_token_max_ttl_seconds)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def persistence(self) -> Literal["mongo", "sqlite"]:
        return "mongo" if self.mongo_uri else "sqlite"

    @property
    def livekit_client_url(self) -> str:
        """Where end users connect with the tokens Pulse mints: LIVEKIT_PUBLIC_URL, else
        LIVEKIT_HOST, else LiveKit's dev default (``livekit-server --dev``)."""
        return self.livekit_public_url or self.livekit_host or "ws://localhost:7880"

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
    def usage_journal_dir(self) -> Path:
        """Where each process keeps the counts it has not stored yet, so that a crash
        does not lose them (every persistence: Pulse's processes on one host share it)."""
        return Path(self.data_dir) / "usage-journal"

    @property
    def rate_limits(self) -> Literal["redis", "memory"]:
        return "redis" if self.redis_url else "memory"

    @property
    def job_queue(self) -> Literal["redis", "sqlite"]:
        """Redis Streams when Redis is configured (N replicas, N workers), else durable in
        the SQLite file under ``DATA_DIR`` (with MongoDB persistence too)."""
        return "redis" if self.redis_url else "sqlite"

    @property
    def resolved_sqlite_path(self) -> Path:
        return Path(self.sqlite_path) if self.sqlite_path else Path(self.data_dir) / "pulse.sqlite3"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "127.0.0.1", "::") else self.host  # noqa: S104
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def serve_problems(self, workers: int) -> list[str]:
        """What stops ``pulse serve`` with ``workers`` processes, one message each.

        Rate limits and the failed-authentication allowance live in process memory
        unless Redis holds them: N processes would each allow the whole limit, N times
        what the operator configured. So several workers need ``REDIS_URL``."""
        if workers > 1 and self.rate_limits != "redis":
            return [
                f"WORKERS={workers} needs REDIS_URL: without Redis each worker process "
                "would enforce rate limits and the failed-authentication allowance on its "
                f"own ({workers}x the configured limits); set REDIS_URL or use WORKERS=1"
            ]
        if workers < 1:
            return [f"WORKERS must be at least 1, not {workers}"]
        return []

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
        return problems + self._stand_in_problems()

    def _stand_in_problems(self) -> list[str]:
        """The embedded stand-ins production runs on unless each is allowed by name."""
        problems = []
        if self.media_engine == "memory" and not self.allow_simulated_media:
            problems.append(
                "the media engine is the simulation (no LIVEKIT_HOST): rooms, recordings"
                " and streams would not be real; set LIVEKIT_HOST, or"
                " ALLOW_SIMULATED_MEDIA=true to run on it anyway"
            )
        if self.persistence == "sqlite" and not self.allow_sqlite_in_production:
            problems.append(
                "persistence is the SQLite file (no MONGO_URI): one host, no replicas; set"
                " MONGO_URI, or ALLOW_SQLITE_IN_PRODUCTION=true to run on it anyway"
            )
        if self.rate_limits == "memory" and not self.allow_local_rate_limits:
            problems.append(
                "rate limits are per process (no REDIS_URL): each replica would allow the"
                " whole limit; set REDIS_URL, or ALLOW_LOCAL_RATE_LIMITS=true to run on"
                " them anyway"
            )
        return problems


_FIELDS = Settings.__struct_fields__
_LISTS = ("cors_origins", "media_allowed_networks", "webhook_allowed_networks")
# The settings that take one of a few words (ENVIRONMENT, LOG_LEVEL, WEBHOOK_WORKER...):
# read case-insensitively, and a wrong one is answered with the allowed ones.
_CHOICES: dict[str, tuple[str, ...]] = {
    name: get_args(hint)
    for name, hint in get_type_hints(Settings).items()
    if get_origin(hint) is Literal
}
MONGO_URI_SCHEMES = ("mongodb://", "mongodb+srv://")
# A host name (RFC 1123 labels) when HOST is not an IP address.
_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


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
        if field in _LISTS:
            values[field] = tuple(o.strip() for o in value.split(",") if o.strip())
        elif field in _CHOICES:
            word = value.strip().lower()
            if word not in _CHOICES[field]:
                allowed = ", ".join(_CHOICES[field])
                raise ConfigError(f"{field.upper()}: {value.strip()!r} is not one of {allowed}")
            values[field] = word
        else:
            values[field] = value.strip()
    try:
        settings = msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_name_variable(str(exc))) from exc
    _check_values(settings)
    if settings.is_production:
        problems = settings.production_problems()
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))
    return settings


def listen_problem(host: str, port: int) -> str | None:
    """Why ``pulse serve`` cannot listen on ``host``:``port`` as given, or None."""
    if not 1 <= port <= 65535:
        return f"PORT: {port} is not a port (1-65535)"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.fullmatch(host):
            return f"HOST: {host!r} is neither an IP address nor a host name"
    return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _check_observability(settings: Settings) -> None:
    if not 0 <= settings.metrics_port <= 65535:
        raise ConfigError(f"METRICS_PORT: {settings.metrics_port} is not a port (1-65535, 0: off)")
    if settings.metrics_port and settings.metrics_port == settings.port:
        raise ConfigError("METRICS_PORT: must differ from PORT (or be 0: /metrics on PORT)")
    endpoint = settings.otel_exporter_otlp_endpoint
    if endpoint:
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError("OTEL_EXPORTER_OTLP_ENDPOINT: must be an http(s):// URL")
        if not _installed("opentelemetry.exporter.otlp.proto.http"):
            raise ConfigError(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but tracing is not installed:"
                " pip install 'pulse-control-plane[otel]'"
            )


def _check_values(settings: Settings) -> None:
    """What msgspec's types cannot say about the values; ``ConfigError`` naming one."""
    _check_observability(settings)
    problem = listen_problem(settings.host, settings.port)
    if problem:
        raise ConfigError(problem)
    for secret in ("jwt_secret", "api_key_pepper"):
        if not getattr(settings, secret):  # set but empty: the default is set by leaving it out
            raise ConfigError(f"{secret.upper()}: must not be empty (unset it for the default)")
    if settings.mongo_uri and not settings.mongo_uri.startswith(MONGO_URI_SCHEMES):
        # The URI itself is never echoed: it may carry a password.
        raise ConfigError("MONGO_URI: must start with mongodb:// or mongodb+srv://")
    try:
        RetrySchedule.parse(settings.webhook_retry_schedule)
    except InvalidInput as exc:
        raise ConfigError(exc.detail) from exc
    for field in ("media_allowed_networks", "webhook_allowed_networks"):
        try:
            parse_networks(getattr(settings, field), field.upper())
        except InvalidInput as exc:
            raise ConfigError(exc.detail) from exc  # it names the variable
    for field in BOUNDS:
        problem = bound_problem(field, getattr(settings, field))
        if problem:
            raise ConfigError(problem)
    if settings.plans_file:
        try:
            read_plans(settings.plans_file)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"PLANS_FILE: {exc}") from exc


def read_plans(path: str) -> PlanCatalog:
    """The plan catalog with the operator's ``PLANS_FILE`` at ``path`` (or none)."""
    if not path:
        return PlanCatalog()
    return PlanCatalog(parse_plans(Path(path).read_text(encoding="utf-8"), source=path))


def _name_variable(message: str) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.port`"; speak in variable names.
    text, _, where = message.partition(" - at `$.")
    if where:
        return f"{where.rstrip('`').upper()}: {text}"
    return message
