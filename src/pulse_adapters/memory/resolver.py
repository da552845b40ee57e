"""A resolver answering from a table: for tests and embedders that must not touch DNS."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import ip_address

from pulse_core.errors import Unavailable
from pulse_core.net.hosts import IPAddress, parse_host
from pulse_core.ports.resolver import HostResolver

AddressLike = IPAddress | str


class InMemoryHostResolver(HostResolver):
    """Names and their addresses in a dict, changed at will.

    A name not in the table does not exist (``()``). :meth:`set` rebinds a name (a test
    of DNS rebinding changes the answer between two lookups), :meth:`fail` simulates an
    outage. ``lookups`` lists the names asked for, normalized, in order (literals are
    never looked up, so never listed).
    """

    def __init__(self, records: Mapping[str, Iterable[AddressLike]] | None = None) -> None:
        self._records: dict[str, tuple[IPAddress, ...]] = {}
        self._failing: set[str] = set()
        self._fail_all = False
        self.lookups: list[str] = []
        for name, addresses in (records or {}).items():
            self.set(name, *addresses)

    def set(self, name: str, *addresses: AddressLike) -> None:
        """``name`` now resolves to ``addresses`` (none: it exists without an address),
        and no longer fails."""
        key = _name(name)
        self._records[key] = tuple(dict.fromkeys(ip_address(a) for a in addresses))
        self._failing.discard(key)

    def remove(self, name: str) -> None:
        """``name`` no longer exists (and no longer fails)."""
        key = _name(name)
        self._records.pop(key, None)
        self._failing.discard(key)

    def fail(self, name: str | None = None) -> None:
        """Lookups of ``name`` (of every name when None) raise ``Unavailable`` until
        :meth:`set` or :meth:`remove` (:meth:`recover` for every name)."""
        if name is None:
            self._fail_all = True
        else:
            self._failing.add(_name(name))

    def recover(self) -> None:
        """End every simulated outage."""
        self._fail_all = False
        self._failing.clear()

    async def resolve(self, host: str) -> tuple[IPAddress, ...]:
        parsed = parse_host(host)
        if not isinstance(parsed, str):
            return (parsed,)
        self.lookups.append(parsed)
        if self._fail_all or parsed in self._failing:
            raise Unavailable("name resolution is unavailable (simulated)")
        return self._records.get(parsed, ())


def _name(name: str) -> str:
    parsed = parse_host(name)
    if not isinstance(parsed, str):
        raise ValueError(f"{name!r} is an address, not a name")
    return parsed
