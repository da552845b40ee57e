"""What the settings loader cannot check without the drivers (``pulse serve``, ``pulse
worker``, ``check-config``): each backend's own refusal of its settings, found by
building its client (no I/O) before any server process does, so that a bad value is one
line naming its variable and exit 2, not a traceback per process."""

from __future__ import annotations

from pulse_core.errors import InvalidInput
from pulse_core.ports.telemetry import NO_TELEMETRY
from pulse_http.container import check_mongo_settings, livekit_engine, redis_client, s3_config
from pulse_http.settings import Settings

#: The variables behind each ``S3Config`` field its errors name (longest names first).
_S3_VARIABLES = (
    ("presign_endpoint_url", "S3_PUBLIC_ENDPOINT_URL"),
    ("egress_endpoint_url", "S3_EGRESS_ENDPOINT_URL"),
    ("endpoint_url", "S3_ENDPOINT_URL"),
    ("access_key_id", "S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY"),
    ("bucket", "S3_BUCKET"),
    ("region", "S3_REGION"),
    ("prefix", "S3_PREFIX"),
)


def backend_problems(settings: Settings) -> list[str]:
    """What the settings loader cannot check without the drivers, one message each
    (``pulse serve``, ``pulse worker``, ``check-config``): the form of ``MONGO_URI`` as
    pymongo parses it, and what the Redis, S3 and LiveKit adapters refuse when they are
    built (no I/O), which would otherwise be a traceback in each server process."""
    problems = []
    if settings.persistence == "mongo":
        try:
            check_mongo_settings(settings)
        except InvalidInput as exc:
            problems.append(f"MONGO_URI: {exc.detail}")
    if settings.redis_url:
        try:
            redis_client(settings, NO_TELEMETRY)
        except ValueError as exc:  # the URL itself is never echoed: it may hold a password
            problems.append(f"REDIS_URL: {_without_url(str(exc), settings.redis_url)}")
    if settings.object_storage == "s3":
        try:
            s3_config(settings)
        except ValueError as exc:
            message = str(exc)
            names = next((v for field, v in _S3_VARIABLES if field in message), "S3_*")
            problems.append(f"{names}: {message}")
    if settings.media_engine == "livekit":
        try:
            livekit_engine(settings, NO_TELEMETRY)
        except ValueError as exc:
            problems.append(f"LIVEKIT_HOST, LIVEKIT_API_KEY, LIVEKIT_API_SECRET: {exc}")
    return problems


def _without_url(message: str, url: str) -> str:
    return message.replace(url, "<REDIS_URL>") if url else message
