"""The check every URL a tenant gives goes through: the address policy, with names
resolved through the :class:`~pulse_core.ports.resolver.HostResolver` port."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pulse_core.net.address_policy import AddressPolicy, CheckedHost

if TYPE_CHECKING:  # the port imports pulse_core.net's host types: no cycle at run time
    from pulse_core.ports.resolver import HostResolver


class UrlGuard:
    """An :class:`AddressPolicy` bound to the resolver that looks its names up.

    Services take one of these rather than the two parts, so that no call site can check
    a URL's spelling and forget its name (or the other way round). Whoever fetches the
    URL afterwards should connect to the returned ``addresses``, not resolve again.
    """

    __slots__ = ("_policy", "_resolver")

    def __init__(self, policy: AddressPolicy, resolver: HostResolver) -> None:
        self._policy = policy
        self._resolver = resolver

    @property
    def policy(self) -> AddressPolicy:
        return self._policy

    async def check(self, url: str, field: str) -> CheckedHost:
        """``url``'s host, checked (``InvalidInput`` naming ``field`` when refused or
        unresolvable, ``Unavailable`` when the resolver cannot answer)."""
        return await self._policy.check(url, field, self._resolver)
