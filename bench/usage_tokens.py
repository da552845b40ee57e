"""``POST /v1/tokens/create`` in-process with usage metering on and off, side by side.

Issue 12's target: metering costs the token path at most 5 %. Metering on that path is
``TokenAllowance.check`` (a dict look-up: is the organization over its monthly minutes?)
and ``UsageCounter.count`` of ``tokens_created`` in ``TokenService.mint``, plus the
``api_requests`` count in ``Authenticators.admit_project``; the counts are written by the
lifecycle's flush every ``USAGE_FLUSH_SECONDS``, off the request.

Three applications are built in this one process, as ``bench/in_process.py`` builds one
(``create_app`` on the embedded default, each its own temporary ``DATA_DIR``, a project
created through the API, real key + secret authentication, the ``tokens`` bucket
charged, the request-id middleware and the fast path):

- ``on``: as ``pulse serve`` builds it (every count, the allowance check, the flush);
- ``no-token-count``: ``services.tokens`` overridden by a ``TokenService`` built without
  ``usage`` and ``allowance`` (the request is still counted as an API request);
- ``off``: that, and ``Authenticators`` built without ``usage``: no metering at all.

Before timing, one request to each must be a 201 that added 2, 1 and 0 counts to its
application's ``UsageCounter``. Then ``--repeat`` rounds; in each, ``--number`` requests
to every application, in an order that rotates from round to round. The figure per
application is its best round (noise only ever adds time), per request, and the ratio
is ``on`` over ``off``. The same comparison is made on ``TokenService.mint`` alone.

    .venv/bin/python bench/usage_tokens.py                 # ~40 s
    .venv/bin/python bench/usage_tokens.py --number 2000 --repeat 5 --cpu
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import platform
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import in_process
import token_signing
from dependency_injector import providers

from pulse_adapters.clock import SystemClock
from pulse_adapters.local import LocalUsageJournal
from pulse_adapters.memory import InMemoryUsageRepository
from pulse_core.models.token import TokenRequest
from pulse_core.services.quotas import TokenAllowance
from pulse_core.services.tokens import TokenService
from pulse_core.services.usage_counter import UsageCounter
from pulse_http.app import create_app
from pulse_http.auth import Authenticators
from pulse_http.container import Container, build_container
from pulse_http.settings import Settings

VARIANTS = ("on", "no-token-count", "off")
#: How many counts one token request adds to its application's UsageCounter.
COUNTS = {"on": 2, "no-token-count": 1, "off": 0}
TARGET = 1.05


class _Unmetered(Authenticators):
    """``Authenticators`` that count no API request (built as ``create_app`` builds it)."""

    def __init__(self, *args: Any, usage: UsageCounter | None = None, **kwargs: Any) -> None:
        del usage
        super().__init__(*args, usage=None, **kwargs)


def _unmetered_tokens(container: Container) -> TokenService:
    settings = container.settings()
    return TokenService(
        container.adapters.clock(),
        livekit_api_key=settings.livekit_api_key,
        livekit_api_secret=settings.livekit_api_secret,
        livekit_url=settings.livekit_client_url,
    )


def _build(variant: str, data_dir: str) -> tuple[Any, Container]:
    variant = variant.split("#", maxsplit=1)[0]
    container = build_container(Settings(data_dir=data_dir, log_level="warning", log_format="json"))
    if variant == "on":
        return create_app(container), container
    container.services.tokens.override(providers.Object(_unmetered_tokens(container)))
    if variant == "no-token-count":
        return create_app(container), container
    # While create_app runs, the Authenticators it builds count nothing.
    with mock.patch("pulse_http.app.Authenticators", _Unmetered):
        return create_app(container), container


async def _measure(
    variants: list[str], number: int, repeat: int, timer: Callable[[], float]
) -> dict[str, list[float]]:
    body = json.dumps(in_process.BASIC).encode()
    with contextlib.ExitStack() as dirs:
        apps = {v: _build(v, dirs.enter_context(tempfile.TemporaryDirectory())) for v in variants}
        async with contextlib.AsyncExitStack() as running:
            headers = {}
            for variant, (app, container) in apps.items():
                await running.enter_async_context(app.lifespan())
                admin = container.services.management_auth().mint("bench", role="admin")
                headers[variant] = await in_process._project_headers(app, admin)
                counter: UsageCounter = container.services.usage_counter()
                before = counter.pending
                status, payload = await in_process._call(
                    app, in_process.PATH, headers[variant], body
                )
                if status != 201:
                    raise RuntimeError(f"{variant}: {status} {payload!r}")
                expected = COUNTS[variant.split("#", maxsplit=1)[0]]
                if counter.pending - before != expected:
                    raise RuntimeError(
                        f"{variant}: one request counted {counter.pending - before}, "
                        f"expected {expected}"
                    )
            gc.freeze()  # as pulse_http.asgi does once the app is built
            rounds: dict[str, list[float]] = {v: [] for v in variants}
            for i in range(repeat):
                shift = i % len(variants)
                order = variants[shift:] + variants[:shift]
                for variant in order:
                    app = apps[variant][0]
                    started = timer()
                    for _ in range(number):
                        await in_process._call(app, in_process.PATH, headers[variant], body)
                    rounds[variant].append((timer() - started) / number * 1e6)
            return rounds


def _mint_alone(number: int, repeat: int, timer: Callable[[], float]) -> dict[str, float]:
    """``TokenService.mint`` with and without the counter and the allowance."""
    clock = SystemClock()
    # As `pulse serve` counts (into pages mapped from files); never flushed here.
    journal = LocalUsageJournal(Path(tempfile.mkdtemp()))
    counter = UsageCounter(InMemoryUsageRepository(), clock, journal)

    def service(*, metered: bool) -> TokenService:
        return TokenService(
            clock,
            livekit_api_key="APIbench",
            livekit_api_secret="s" * 40,
            livekit_url="wss://livekit.example.com",
            usage=counter if metered else None,
            allowance=TokenAllowance() if metered else None,
        )

    services = {"on": service(metered=True), "off": service(metered=False)}
    project = token_signing._bench_project()
    request = TokenRequest(identity="user-42", room="demo", name="Ada", ttl_seconds=600)
    best = {}
    for label, tokens in services.items():
        mint = functools.partial(tokens.mint, project, request)
        times = timeit.Timer(mint, timer=timer).repeat(repeat=repeat, number=number)
        best[label] = min(times) / number * 1e6
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--number", type=int, default=500, help="requests per round")
    parser.add_argument("--repeat", type=int, default=60, help="rounds (each application)")
    parser.add_argument("--cpu", action="store_true", help="time in CPU time, not wall-clock")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="applications, comma-separated (a '#2' suffix builds another of the same kind: "
        "'off,off#2' is an A/A check of the method)",
    )
    args = parser.parse_args()
    variants = args.variants.split(",")
    timer = time.process_time if args.cpu else time.perf_counter
    rounds = asyncio.run(_measure(variants, args.number, args.repeat, timer))
    mint = _mint_alone(20_000, 15, timer)
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {args.repeat} rounds of "
        f"{args.number} requests per application, alternating"
        f"{' (CPU time)' if args.cpu else ''}; per request:"
    )
    best = {v: min(r) for v, r in rounds.items()}
    median = {v: statistics.median(r) for v, r in rounds.items()}
    print(f"{'':<15} {'best':>8} {'median':>8}")
    for variant in variants:
        print(f"{variant:<15} {best[variant]:>6.2f}µs {median[variant]:>6.2f}µs")
    base = "off" if "off" in variants else variants[-1]
    for variant in variants:
        if variant != base:
            print(
                f"{variant} / {base}: best {best[variant] / best[base]:.3f}, "
                f"median {median[variant] / median[base]:.3f}"
            )
    print(
        f"TokenService.mint alone: {mint['on']:.2f} µs metered, {mint['off']:.2f} µs not "
        f"({mint['on'] / mint['off']:.3f}x, +{mint['on'] - mint['off']:.2f} µs)"
    )
    if "on" not in variants or "off" not in variants:
        return 0
    ratio = best["on"] / best["off"]
    print(f"target: on / off <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'} ({ratio:.3f})")
    return 0 if ratio <= TARGET else 2


if __name__ == "__main__":
    raise SystemExit(main())
