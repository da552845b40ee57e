"""Names tests give as tenants' URLs, and what they resolve to.

The machines tests run on have no DNS for public names. In-process tests answer through
an :class:`InMemoryHostResolver`; a `pulse serve` started by a test answers through
``tests/support/fake_dns`` (a ``sitecustomize`` that answers these names in the child
process). Each name maps to a public address, so the address policy lets it through;
``hooks.internal.test`` maps to a private one, so it is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pulse_adapters.memory import InMemoryHostResolver
from pulse_core.net import AddressPolicy, UrlGuard

PUBLIC = "93.184.216.34"
PUBLIC_TEST_HOSTS: dict[str, list[str]] = {
    name: [PUBLIC]
    for name in (
        "example.com",
        "hooks.example.com",
        "cdn.example.com",
        "live.example.com",
        "x.example.com",
        "ok.example.com",
        "acme.example",
        "acme.test",
        "evil.test",
        "dashboard.acme.test",
        "a.rtmp.youtube.com",
        "stream.example.com",
    )
}
PUBLIC_TEST_HOSTS["hooks.internal.test"] = ["10.0.0.7"]

FAKE_DNS = Path(__file__).parent / "fake_dns"


def resolver_for_tests() -> InMemoryHostResolver:
    return InMemoryHostResolver(PUBLIC_TEST_HOSTS)


def url_guard_for_tests(*allowed_networks: str) -> UrlGuard:
    return UrlGuard(AddressPolicy.from_cidrs(allowed_networks), resolver_for_tests())


def fake_dns_environment() -> dict[str, str]:
    """What a child `pulse serve` needs in its environment to resolve the test names."""
    path = os.environ.get("PYTHONPATH", "")
    return {
        "PYTHONPATH": f"{FAKE_DNS}{os.pathsep}{path}" if path else str(FAKE_DNS),
        "PULSE_TEST_DNS": json.dumps(PUBLIC_TEST_HOSTS),
    }
