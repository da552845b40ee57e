"""The ``pulse`` command: serve the API and the operator's bootstrap tools."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import errno
import getpass
import ipaddress
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import msgspec

from pulse_core import __version__
from pulse_core.errors import InvalidInput, PulseError, Unavailable
from pulse_core.ports.audit import AuditRepository
from pulse_core.services.users import UserService
from pulse_http.backend_checks import backend_problems
from pulse_http.cli_args import seconds_allowed, within
from pulse_http.container import build_container
from pulse_http.lifecycle import Lifecycle, pepper_check
from pulse_http.observability import MetricsPortError, serve_beside
from pulse_http.server import build_server
from pulse_http.setting_bounds import visibility_note
from pulse_http.settings import ConfigError, Settings, listen_problem, load_settings
from pulse_http.worker_process import run_worker_process


def _settings_or_exit() -> Settings:
    """The settings, every value checked (the drivers' too: MONGO_URI's form), or exit 2
    with one line per problem."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"pulse: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    problems = backend_problems(settings)
    for problem in problems:
        print(f"pulse: configuration error: {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(2)
    return settings


def bind_address(host: str) -> str:
    """The IP address ``pulse serve`` binds for ``host`` (the server takes addresses
    only: a name is resolved); ``OSError`` when a name does not resolve."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        return str(found[0][4][0])


def data_dir_problem(settings: Settings) -> str | None:
    """Why this process could not keep its usage journal under ``DATA_DIR`` (every
    process counts into one, whatever the backends), or None."""
    journal = settings.usage_journal_dir
    try:
        journal.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=journal):
            pass
    except OSError as exc:
        return (
            f"DATA_DIR: cannot keep the usage journal in {journal} ({exc.strerror}):"
            " set DATA_DIR to a directory this user may write"
        )
    return None


def port_taken(address: str, port: int) -> OSError | None:
    """Why ``address``:``port`` cannot be listened on, or None when it is free.

    The server binds with SO_REUSEPORT (one socket per worker process), so a second
    server on a port in use would silently share it: this probe binds without it, which
    fails while anyone listens there. SO_REUSEADDR keeps a recently closed server's
    TIME_WAIT connections from counting as "in use"."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            return exc
    return None


async def _check_backends(settings: Settings) -> None:
    """Open the database (Mongo: reachable within DATABASE_TIMEOUT_SECONDS, indexes) and
    check the API key pepper against it, then close: what the server's workers would
    otherwise find out one traceback each. Raises ``PulseError``."""
    container = build_container(settings)
    database = container.gateways.database()
    lifecycle = Lifecycle()
    lifecycle.add("database", start=database.connect, stop=database.close)
    lifecycle.add("pepper", start=pepper_check(container))
    await lifecycle.start()
    await lifecycle.stop()


def _mint(settings: Settings, subject: str, role: str, org_id: str | None, ttl: int) -> str:
    minted: str = (
        build_container(settings)
        .services.management_auth()
        .mint(subject, role=role, org_id=org_id, ttl_seconds=ttl)
    )
    return minted


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    workers = settings.workers if args.workers is None else args.workers
    # The server's processes load the settings again, from the environment: the flags
    # must reach them there (links made from PUBLIC_URL's default name this port).
    os.environ["HOST"], os.environ["PORT"] = host, str(port)
    problems = settings.serve_problems(workers)
    listen = listen_problem(host, port)
    if listen:
        problems.insert(0, listen)
    data_dir = data_dir_problem(settings)
    if data_dir:
        problems.append(data_dir)
    if problems:
        for problem in problems:
            print(f"pulse: {problem}", file=sys.stderr)
        return 2
    try:
        address = bind_address(host)
    except OSError as exc:
        print(f"pulse: HOST: cannot resolve {host!r}: {exc}", file=sys.stderr)
        return 2
    taken = port_taken(address, port)
    if taken is not None:
        why = (
            "another server (another `pulse serve`?) listens there; stop it or choose another PORT"
            if taken.errno == errno.EADDRINUSE
            else "HOST is not an address of this machine, or the port is not one this"
            " user may bind; choose another HOST or PORT"
        )
        print(
            f"pulse: port {port} on {address} is not available ({taken.strerror}): {why}",
            file=sys.stderr,
        )
        return 2
    # Before anything imports prometheus_client: several workers count in multiprocess
    # mode, and METRICS_PORT is answered by this process for all of them.
    try:
        atexit.register(serve_beside(settings, host=address, port=port, workers=workers))
    except PulseError as exc:
        print(f"pulse: {exc.detail}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_check_backends(settings))
    except PulseError as exc:
        hint = ""
        if isinstance(exc, Unavailable) and settings.persistence == "mongo":
            hint = " (check MONGO_URI and that MongoDB runs; DATABASE_TIMEOUT_SECONDS)"
        print(f"pulse: cannot start: {exc.detail}{hint}", file=sys.stderr)
        return 1
    if not settings.is_production:
        ttl = min(12 * 3600, settings.management_token_max_ttl_seconds)
        token = _mint(settings, "dev-admin", "admin", None, ttl)
        print(
            f"Pulse {__version__} ({settings.environment}) on http://{host}:{port}\n"
            f"  persistence: {settings.persistence}"
            f" ({settings.resolved_sqlite_path if settings.persistence == 'sqlite' else 'mongo'})\n"
            f"  admin token ({ttl // 60} min, development only):\n\n"
            f"    export PULSE_ADMIN_TOKEN={token}\n\n"
            f"  dashboard: http://{host}:{port}/dashboard (sign in as a user of"
            " `pulse create-admin --email you@example.com`)\n",
            flush=True,
        )
    _warn(settings)
    server = build_server(
        "pulse_http.asgi:app", host=address, port=port, workers=workers, settings=settings
    )
    server.serve()
    return 0


def _notes(settings: Settings) -> list[str]:
    """What the settings allow but an operator should know: where the job queue is when
    it is a file of this host while the data is not; a visibility timeout that lets a
    delivery be posted twice."""
    notes = []
    if settings.job_queue == "sqlite" and settings.persistence == "mongo":
        notes.append(
            f"the job queue is the SQLite file {settings.resolved_sqlite_path} of this host:"
            " every `pulse worker` must share this DATA_DIR (set REDIS_URL for workers"
            " elsewhere)"
        )
    visibility = visibility_note(
        settings.webhook_visibility_timeout_seconds, settings.webhook_timeout_seconds
    )
    if visibility is not None:
        notes.append(visibility)
    return notes


def _warn(settings: Settings) -> None:
    for note in _notes(settings):
        print(f"pulse: warning: {note}", file=sys.stderr, flush=True)


def cmd_worker(args: argparse.Namespace) -> int:
    """Deliver webhooks and apply LiveKit's events until SIGTERM or SIGINT: then take no
    new job, finish (or hand back) the ones held, and exit 0."""
    settings = _settings_or_exit()
    if args.concurrency is not None:  # within WEBHOOK_CONCURRENCY's bounds (cli_args)
        settings = msgspec.structs.replace(settings, webhook_concurrency=args.concurrency)
    data_dir = data_dir_problem(settings)
    if data_dir:
        print(f"pulse: {data_dir}", file=sys.stderr)
        return 2
    _warn(settings)
    try:
        run_worker_process(settings)
    except PulseError as exc:
        print(f"pulse: {exc.detail}", file=sys.stderr)
        # METRICS_PORT taken is the configuration's problem, as for `pulse serve`.
        return 2 if isinstance(exc, MetricsPortError) else 1
    return 0


def cmd_admin_token(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    if args.role != "admin" and not args.org_id:
        print("pulse: --org-id is required for owner and member tokens", file=sys.stderr)
        return 2
    try:
        print(_mint(settings, args.subject, args.role, args.org_id, args.ttl))
    except ValueError as exc:
        print(f"pulse: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_check_config(_args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    print(f"environment:  {settings.environment}")
    print(f"persistence:  {settings.persistence}")
    # The same properties the container's selectors read: one decision, said twice.
    print(f"rate limits:  {settings.rate_limits}")
    media = settings.media_engine
    where = f" at {settings.livekit_host}" if media == "livekit" else " (simulated)"
    print(f"media engine: {media}{where}")
    storage = settings.object_storage
    where = f" {settings.s3_bucket}" if storage == "s3" else f" {settings.recordings_dir}"
    print(f"storage:      {storage}{where}")
    metrics = f"port {settings.metrics_port}" if settings.metrics_port else "/metrics on PORT"
    print(f"metrics:      {metrics}")
    queue = settings.job_queue
    where = " (REDIS_URL)" if queue == "redis" else f" ({settings.resolved_sqlite_path})"
    print(f"job queue:    {queue}{where}")
    for note in _notes(settings):
        print(f"  note: {note}")
    tracing = _without_userinfo(settings.otel_exporter_otlp_endpoint)
    print(f"tracing:      {f'OTLP/HTTP to {tracing}' if tracing else 'off'}")
    refused = settings.serve_problems(settings.workers)
    for problem in refused:
        print(f"refused by pulse serve: {problem}")
    problems = settings.production_problems()
    if problems and not settings.is_production:
        print("not ready for production:")
        for problem in problems:
            print(f"  - {problem}")
    return 2 if refused else 0


def _without_userinfo(url: str) -> str:
    """``url`` without a user name or password (an OTLP endpoint may carry them)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


async def _create_indexes(settings: Settings, timeout_seconds: float) -> list[str]:
    database = build_container(settings).gateways.database()
    try:
        created: list[str] = await database.ensure_indexes(timeout_seconds=timeout_seconds)
        return created
    finally:
        await database.close()


def cmd_create_indexes(args: argparse.Namespace) -> int:
    """Create the database's indexes ahead of a deploy (start-up does it too, idempotently)."""
    settings = _settings_or_exit()
    try:
        created = asyncio.run(_create_indexes(settings, args.timeout))
    except PulseError as exc:
        print(f"pulse: {exc.detail}", file=sys.stderr)
        return 1
    for name in created:
        print(name)
    return 0


def _admin_password() -> str:
    """PULSE_ADMIN_PASSWORD for scripts; else a prompt (twice) on a terminal; else one
    line of standard input."""
    password = os.environ.get("PULSE_ADMIN_PASSWORD")
    if password is not None:
        return password
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    # A line ends with LF or CRLF (a file written on Windows, a pipe from PowerShell).
    return sys.stdin.readline().rstrip("\r\n")


async def _create_admin(settings: Settings, email: str, password: str) -> str:
    container = build_container(settings)
    database = container.gateways.database()
    await database.connect()
    try:
        users: UserService = container.services.users()
        user = await users.create_admin(email, password)
        audit_log: AuditRepository = container.adapters.audit()
        await audit_log.settle()
        return user.id
    finally:
        await database.close()


def cmd_create_admin(args: argparse.Namespace) -> int:
    """A platform admin who can sign in (``POST /v1/auth/login``)."""
    settings = _settings_or_exit()
    try:
        user_id = asyncio.run(_create_admin(settings, args.email, _admin_password()))
    except ValueError as exc:
        print(f"pulse: {exc}", file=sys.stderr)
        return 2
    except PulseError as exc:
        field = f" ({exc.field})" if exc.field else ""
        print(f"pulse: {exc.detail}{field}", file=sys.stderr)
        return 2 if isinstance(exc, InvalidInput) else 1  # bad input, as a usage error
    print(user_id)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pulse", description="Pulse control plane")
    parser.add_argument("--version", action="version", version=f"pulse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the REST API")
    serve.add_argument("--host", help="bind address (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PORT or 8080)")
    serve.add_argument(
        "--workers", type=within("workers"), help="worker processes (default WORKERS or 1)"
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run webhook delivery workers (until SIGTERM)")
    worker.add_argument(
        "--concurrency",
        type=within("webhook_concurrency"),
        help="deliveries at once (default WEBHOOK_CONCURRENCY or 50)",
    )
    worker.set_defaults(func=cmd_worker)

    token = sub.add_parser("admin-token", help="mint a management JWT signed with JWT_SECRET")
    token.add_argument("--subject", default="operator", help="the sub claim")
    token.add_argument("--role", choices=["admin", "owner", "member"], default="admin")
    token.add_argument("--org-id", help="organization of an owner or member token")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.set_defaults(func=cmd_admin_token)

    admin = sub.add_parser(
        "create-admin",
        help="create a platform admin who can sign in (password: PULSE_ADMIN_PASSWORD, "
        "a prompt, or standard input)",
    )
    admin.add_argument("--email", required=True)
    admin.set_defaults(func=cmd_create_admin)
    check = sub.add_parser("check-config", help="load the settings and say what is selected")
    check.set_defaults(func=cmd_check_config)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    indexes = db_sub.add_parser(
        "create-indexes", help="create the indexes (MongoDB) or apply the schema (SQLite)"
    )
    indexes.add_argument(
        "--timeout",
        type=seconds_allowed,
        default=600.0,
        help="seconds allowed, up to a day (large collections)",
    )
    indexes.set_defaults(func=cmd_create_indexes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
