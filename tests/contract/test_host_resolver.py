"""The HostResolver contract, run against every adapter.

Written against the port only. The machine has no DNS to rely on, so the shared suite
asks only about ``localhost`` (``/etc/hosts`` for the system resolver) and literals; how
each adapter reports a missing name or an outage is driven per adapter below (the system
resolver through a stand-in for the loop's thread pool, where asyncio runs
``getaddrinfo``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import pytest

from pulse_adapters.dns import SystemHostResolver
from pulse_adapters.memory import InMemoryHostResolver
from pulse_core.errors import InvalidInput, Unavailable
from pulse_core.ports.resolver import HostResolver

RESOLVER_BACKENDS = ["memory", "system"]


@pytest.fixture
def memory_resolver() -> HostResolver:
    return InMemoryHostResolver({"localhost": ["127.0.0.1", "::1", "127.0.0.1"]})


@pytest.fixture
def system_resolver() -> HostResolver:
    return SystemHostResolver(timeout_seconds=5.0)


@pytest.fixture(params=RESOLVER_BACKENDS)
def resolver(request: pytest.FixtureRequest) -> HostResolver:
    host_resolver: HostResolver = request.getfixturevalue(f"{request.param}_resolver")
    return host_resolver


async def test_localhost_resolves_to_loopback_addresses_each_once(
    resolver: HostResolver,
) -> None:
    addresses = await resolver.resolve("localhost")
    assert isinstance(addresses, tuple)
    assert addresses
    assert all(isinstance(a, IPv4Address | IPv6Address) for a in addresses)
    assert all(a.is_loopback for a in addresses)
    assert len(set(addresses)) == len(addresses)


@pytest.mark.parametrize("spelling", ["LOCALHOST", "localhost.", "LocalHost.", "%6cocalhost"])
async def test_names_are_normalized_before_lookup(resolver: HostResolver, spelling: str) -> None:
    assert await resolver.resolve(spelling) == await resolver.resolve("localhost")


@pytest.mark.parametrize(
    ("literal", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("93.184.216.34", "93.184.216.34"),
        ("[::1]", "::1"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
        ("2606:4700::1111", "2606:4700::1111"),
    ],
)
async def test_a_literal_resolves_to_the_address_it_denotes(
    resolver: HostResolver, literal: str, address: str
) -> None:
    assert await resolver.resolve(literal) == (ip_address(address),)


@pytest.mark.parametrize("host", ["", "a..b", "exa mple.com", "1.2.3.4.5", "[fe80::1%25eth0]"])
async def test_a_host_that_is_neither_name_nor_address_is_invalid(
    resolver: HostResolver, host: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await resolver.resolve(host)
    assert info.value.field == "host"


# --------------------------------------------------------------------------------------
# InMemoryHostResolver: missing names, rebinding, outages
# --------------------------------------------------------------------------------------


async def test_memory_resolver_answers_from_its_table() -> None:
    resolver = InMemoryHostResolver({"Example.COM.": ["93.184.216.34"], "empty.example": []})
    assert await resolver.resolve("example.com") == (IPv4Address("93.184.216.34"),)
    assert await resolver.resolve("empty.example") == ()
    assert await resolver.resolve("missing.example") == ()
    resolver.set("example.com", "127.0.0.1", "::1")
    assert await resolver.resolve("example.com") == (IPv4Address("127.0.0.1"), IPv6Address("::1"))
    resolver.remove("example.com")
    assert await resolver.resolve("example.com") == ()
    await resolver.resolve("127.0.0.1")  # literals are not lookups
    assert resolver.lookups == [
        "example.com",
        "empty.example",
        "missing.example",
        "example.com",
        "example.com",
    ]


async def test_memory_resolver_simulates_outages() -> None:
    resolver = InMemoryHostResolver({"example.com": ["93.184.216.34"], "other.example": []})
    resolver.fail("example.com")
    with pytest.raises(Unavailable):
        await resolver.resolve("example.com")
    assert await resolver.resolve("other.example") == ()
    resolver.fail()
    with pytest.raises(Unavailable):
        await resolver.resolve("other.example")
    resolver.recover()
    assert await resolver.resolve("example.com") == (IPv4Address("93.184.216.34"),)


def test_memory_resolver_table_holds_names_only() -> None:
    with pytest.raises(ValueError, match="not a name"):
        InMemoryHostResolver({"127.0.0.1": ["10.0.0.1"]})


# --------------------------------------------------------------------------------------
# SystemHostResolver: getaddrinfo's failures, translated
# --------------------------------------------------------------------------------------


class _StandInPool(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor, answering every job (getaddrinfo) with ``outcome``:
    an exception to raise, or None to never answer."""

    def __init__(self, outcome: BaseException | None) -> None:
        super().__init__(max_workers=1)
        self.outcome = outcome
        self.jobs = 0

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        self.jobs += 1
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self.outcome is not None:
            future.set_exception(self.outcome)
        return future


def _install(outcome: BaseException | None) -> _StandInPool:
    pool = _StandInPool(outcome)
    asyncio.get_running_loop().set_default_executor(pool)
    return pool


@pytest.mark.parametrize(
    "code",
    [socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)],
)
async def test_system_resolver_reads_no_such_name_as_empty(code: int) -> None:
    _install(socket.gaierror(code, "Name or service not known"))
    assert await SystemHostResolver().resolve("missing.example") == ()


@pytest.mark.parametrize(
    "error",
    [
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
        socket.gaierror(socket.EAI_FAIL, "Non-recoverable failure in name resolution"),
        OSError("resolver socket closed"),
    ],
)
async def test_system_resolver_reads_failures_as_unavailable(error: OSError) -> None:
    _install(error)
    with pytest.raises(Unavailable):
        await SystemHostResolver().resolve("example.com")


async def test_system_resolver_gives_up_after_its_timeout() -> None:
    _install(None)
    resolver = SystemHostResolver(timeout_seconds=0.05)
    started = asyncio.get_running_loop().time()
    with pytest.raises(Unavailable, match="did not answer"):
        await resolver.resolve("slow.example")
    assert asyncio.get_running_loop().time() - started < 2


async def test_system_resolver_looks_up_neither_literals_nor_invalid_hosts() -> None:
    pool = _install(None)
    resolver = SystemHostResolver(timeout_seconds=0.05)
    assert await resolver.resolve("0x7f000001") == (IPv4Address("127.0.0.1"),)
    with pytest.raises(InvalidInput):
        await resolver.resolve("bad host")
    assert pool.jobs == 0


def test_system_resolver_needs_a_positive_timeout() -> None:
    with pytest.raises(ValueError, match="positive"):
        SystemHostResolver(timeout_seconds=0)
