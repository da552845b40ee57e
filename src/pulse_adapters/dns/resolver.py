"""The operating system's resolver (``getaddrinfo``: ``/etc/hosts``, DNS, whatever
``nsswitch.conf`` says), the resolver of ``pulse serve`` and ``pulse worker``."""

from __future__ import annotations

import asyncio
import functools
import socket
from ipaddress import ip_address

from pulse_core.errors import InvalidInput, Unavailable
from pulse_core.net.hosts import IPAddress, parse_host
from pulse_core.ports.resolver import HostResolver

# getaddrinfo's answers meaning "no such host" (the name does not exist, or has no
# address of any family); every other failure is an outage.
_NO_SUCH_HOST = frozenset(
    code
    for code in (
        socket.EAI_NONAME,
        getattr(socket, "EAI_NODATA", None),  # glibc, not every platform
        getattr(socket, "EAI_ADDRFAMILY", None),
    )
    if code is not None
)
DEFAULT_TIMEOUT_SECONDS = 2.0


class SystemHostResolver(HostResolver):
    """``socket.getaddrinfo`` in the loop's default thread pool, bounded by
    ``timeout_seconds``.

    Called through ``run_in_executor`` rather than ``loop.getaddrinfo``: uvloop (what
    ``pulse serve`` runs on) answers the latter from libuv, past Python's resolver, so
    the two loops would not resolve alike. A thread cannot be
    stopped: on a timeout the caller gets ``Unavailable`` at once while the lookup ends on
    its own in the background. If lookups keep hanging they occupy the pool and later
    ones time out too, which fails closed (``Unavailable``), never open.
    """

    __slots__ = ("_timeout",)

    def __init__(self, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        if not timeout_seconds > 0:
            raise ValueError("timeout_seconds must be positive")
        self._timeout = timeout_seconds

    async def resolve(self, host: str) -> tuple[IPAddress, ...]:
        parsed = parse_host(host)
        if not isinstance(parsed, str):
            return (parsed,)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                # No AI_ADDRCONFIG: the families this host lacks are still addresses a
                # fetcher elsewhere might use, so they are checked too.
                infos = await loop.run_in_executor(
                    None,
                    functools.partial(socket.getaddrinfo, parsed, None, type=socket.SOCK_STREAM),
                )
        except TimeoutError as exc:
            raise Unavailable(f"name resolution did not answer within {self._timeout:g} s") from exc
        except socket.gaierror as exc:
            if exc.errno in _NO_SUCH_HOST:
                return ()
            raise Unavailable(f"name resolution failed: {exc.strerror or exc}") from exc
        except UnicodeError as exc:  # the IDNA codec refused the name
            raise InvalidInput("host is not a valid name", field="host") from exc
        except OSError as exc:
            raise Unavailable(f"name resolution failed: {exc}") from exc
        addresses: dict[IPAddress, None] = {}
        for family, _, _, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                addresses[ip_address(sockaddr[0])] = None
            except ValueError as exc:
                raise Unavailable(f"name resolution returned {sockaddr[0]!r}") from exc
        return tuple(addresses)
