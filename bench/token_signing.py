"""Token signing micro-benchmark: Pulse's TokenService / HS256Signer vs livekit-api.

Measures, in one run and for the same claims, the cost per token of

- ``TokenService.mint``: the whole hot path (input checks, room namespacing, claims
  building, signing, the ``MintedToken``), with the system clock;
- ``HS256Signer.sign``: the bare signer on the claims as a dict;
- livekit-api's ``AccessToken(...).with_identity(...).with_grants(...).to_jwt()``, the
  reference (PyJWT underneath).

Before timing, it checks that both sides really produce the same claims (bar the times),
so the comparison is like for like. Timings are ``timeit``'s best of ``--repeat`` rounds of
``--number`` calls, in wall-clock time, or with ``--cpu`` in this process's CPU time (steadier
on a machine busy with other work). ``--profile`` adds a cProfile of ``mint``.

    .venv/bin/python bench/token_signing.py
    .venv/bin/python bench/token_signing.py --number 20000 --repeat 9 --profile
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import functools
import json
import platform
import pstats
import sys
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from livekit import api

from pulse_adapters.clock import SystemClock
from pulse_core import ids
from pulse_core.crypto.jwt import HS256Signer
from pulse_core.models.project import Project
from pulse_core.models.token import TokenRequest, VideoGrants
from pulse_core.services.tokens import TokenService

KEY = "APIbenchKey"
SECRET = "bench-livekit-secret-" + "0123456789abcdef" * 3
TTL = 600


def _payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return claims


def _scenarios(project: Project) -> dict[str, tuple[TokenRequest, Callable[[], str]]]:
    """Each scenario: a Pulse request and the livekit-api call making the same token."""
    room = f"{project.id}_demo"

    def livekit_basic() -> str:
        return (
            api.AccessToken(KEY, SECRET)
            .with_identity("alice")
            .with_name("Alice")
            .with_ttl(timedelta(seconds=TTL))
            .with_grants(
                api.VideoGrants(
                    room_join=True,
                    room=room,
                    can_publish=True,
                    can_subscribe=True,
                    can_publish_data=True,
                )
            )
            .to_jwt()
        )

    metadata = json.dumps({"user_id": 1234, "avatar": "https://cdn.example.com/a/1234.png"})
    attributes = {"role": "host", "team": "blue", "locale": "fr-FR"}

    def livekit_rich() -> str:
        return (
            api.AccessToken(KEY, SECRET)
            .with_identity("alice")
            .with_name("Alice")
            .with_metadata(metadata)
            .with_attributes(attributes)
            .with_ttl(timedelta(seconds=TTL))
            .with_grants(
                api.VideoGrants(
                    room_join=True,
                    room=room,
                    can_publish=True,
                    can_subscribe=True,
                    can_publish_data=False,
                    can_publish_sources=["camera", "microphone"],
                    can_update_own_metadata=True,
                    room_admin=True,
                )
            )
            .to_jwt()
        )

    basic = TokenRequest(identity="alice", room="demo", name="Alice", ttl_seconds=TTL)
    rich = TokenRequest(
        identity="alice",
        room="demo",
        name="Alice",
        metadata=metadata,
        attributes=attributes,
        ttl_seconds=TTL,
        grants=VideoGrants(
            can_publish_data=False,
            can_publish_sources=("camera", "microphone"),
            can_update_own_metadata=True,
            room_admin=True,
        ),
    )
    return {"basic": (basic, livekit_basic), "rich": (rich, livekit_rich)}


def _best_ns(
    func: Callable[[], object], number: int, repeat: int, timer: Callable[[], float]
) -> float:
    return min(timeit.repeat(func, number=number, repeat=repeat, timer=timer)) / number * 1e9


def _bench_project() -> Project:
    now = datetime.now(UTC)
    return Project(
        id=ids.new_id(ids.PROJECT, now_ms=ids.ms_of(now)),
        org_id=ids.new_id(ids.ORGANIZATION, now_ms=ids.ms_of(now)),
        name="bench",
        api_key="pulse_key_bench",
        secret_hash="00" * 32,
        created_at=now,
        updated_at=now,
    )


class ClaimsDiffer(Exception):
    """Pulse and livekit-api did not make the same token: the timings would mean nothing."""


def measure(
    scenario: str = "basic",
    *,
    number: int = 20_000,
    repeat: int = 7,
    timer: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Best-of-``repeat`` cost in ns per token of ``TokenService.mint``, the bare
    ``HS256Signer.sign`` and livekit-api's ``to_jwt()`` for one scenario, after checking
    that both sides make the same claims and that LiveKit accepts Pulse's token.
    ``bench/run.py`` reports the same numbers."""
    project = _bench_project()
    service = TokenService(
        SystemClock(), livekit_api_key=KEY, livekit_api_secret=SECRET, livekit_url="wss://lk"
    )
    request, livekit_call = _scenarios(project)[scenario]
    ours, theirs = service.mint(project, request).token, livekit_call()
    claims, reference = _payload(ours), _payload(theirs)
    for timed in ("nbf", "exp"):
        claims.pop(timed), reference.pop(timed)
    if claims != reference:
        raise ClaimsDiffer(f"{scenario}: pulse {claims} != livekit {reference}")
    api.TokenVerifier(KEY, SECRET).verify(ours)
    signer, bare_claims = HS256Signer(SECRET), _payload(ours)
    mint_ns = _best_ns(functools.partial(service.mint, project, request), number, repeat, timer)
    sign_ns = _best_ns(functools.partial(signer.sign, bare_claims), number, repeat, timer)
    livekit_ns = _best_ns(livekit_call, max(number // 10, 100), repeat, timer)
    return {"mint_ns": mint_ns, "sign_ns": sign_ns, "livekit_ns": livekit_ns}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--number", type=int, default=20_000, help="calls per round")
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best one counts")
    parser.add_argument("--profile", action="store_true", help="cProfile TokenService.mint")
    parser.add_argument("--cpu", action="store_true", help="time in CPU time, not wall-clock")
    args = parser.parse_args()
    timer = time.process_time if args.cpu else time.perf_counter

    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"best of {args.repeat} x {args.number} calls{' (CPU time)' if args.cpu else ''}"
    )
    header = (
        f"{'scenario':<8} {'mint':>10} {'sign':>10} {'livekit':>10} {'mint x':>8} {'sign x':>8}"
    )
    print(header)
    print("-" * len(header))
    for label in ("basic", "rich"):
        try:
            cost = measure(label, number=args.number, repeat=args.repeat, timer=timer)
        except ClaimsDiffer as exc:
            print(exc)
            return 1
        mint_ns, sign_ns, livekit_ns = cost["mint_ns"], cost["sign_ns"], cost["livekit_ns"]
        print(
            f"{label:<8} {mint_ns:>8.0f}ns {sign_ns:>8.0f}ns {livekit_ns:>8.0f}ns "
            f"{livekit_ns / mint_ns:>7.1f}x {livekit_ns / sign_ns:>7.1f}x"
        )

    if args.profile:
        project = _bench_project()
        service = TokenService(
            SystemClock(), livekit_api_key=KEY, livekit_api_secret=SECRET, livekit_url="wss://lk"
        )
        request = _scenarios(project)["basic"][0]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.number):
            service.mint(project, request)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
