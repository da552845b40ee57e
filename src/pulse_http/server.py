"""The ASGI server ``pulse serve`` runs (also the benchmarks' raw-ASGI peers')."""

from __future__ import annotations

from typing import Any

from granian.constants import Interfaces
from granian.server import MPServer, MTServer
from granian.server import Server as Granian

from pulse_http.logging import server_logging
from pulse_http.settings import Settings


def build_server(
    target: str, *, host: str, port: int, workers: int = 1, settings: Settings | None = None
) -> MPServer | MTServer:
    """The ASGI server ``pulse serve`` runs, with its settings (also used by the
    benchmark's raw-ASGI floor, so both are served alike). ``Granian`` is the
    multi-process server on GIL builds of CPython, the threaded one otherwise.

    Chosen by measurement (``bench/run.py``, ``bench/README.md``): granian rather than
    uvicorn, and two Rust I/O threads per worker rather than one (+8-18% requests/s on
    token minting, lower p99, even with the worker confined to one core). The event loop
    is granian's ``auto``: uvloop when it is installed (``granian[uvloop]``), which is
    worth ~25% over asyncio's own loop. With ``settings``, granian's own lines follow
    ``LOG_LEVEL`` and ``LOG_FORMAT`` (:func:`~pulse_http.logging.server_logging`)."""
    logs: dict[str, Any] = {}
    if settings is not None:
        logs = {"log_level": settings.log_level, "log_dictconfig": server_logging(settings)}
    return Granian(
        target,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        runtime_threads=2,
        log_access=False,
        **logs,
    )
