"""Name resolution: which addresses a host name stands for (DNS, ``/etc/hosts``, …).

The address policy (:mod:`pulse_core.net.address_policy`) judges a named host by every
address this port returns for it, so a resolver must return all of them: a client may
connect to any.
"""

from __future__ import annotations

import abc

from pulse_core.net.hosts import IPAddress


class HostResolver(abc.ABC):
    """Resolves host names to addresses, IPv4 and IPv6 alike."""

    @abc.abstractmethod
    async def resolve(self, host: str) -> tuple[IPAddress, ...]:
        """Every address ``host`` resolves to, each once, in the resolver's order.

        ``host`` is a name or a literal address in any spelling
        :func:`~pulse_core.net.hosts.parse_host` accepts, normalized the same way first:
        ``LOCALHOST.`` is ``localhost``. A literal (``127.1``, ``[::1]``) resolves to the
        address it denotes, without any lookup.

        Returns ``()`` when the name does not exist or has no address; nothing else is
        missing-data, so an empty answer always means "no such host".

        Raises ``InvalidInput`` (``field="host"``) before any I/O for a string that is
        neither a name nor a literal address, and ``Unavailable`` when the resolver cannot
        answer within the adapter's timeout (no answer, temporary failure, server
        failure): never hangs, and never turns an outage into "no such host".
        """
