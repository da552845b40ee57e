"""The one rule for every URL a tenant gives that LiveKit or Pulse will fetch.

Web egress pages, pulled ingress streams, RTMP outputs and webhook endpoints are fetched
from inside the operator's network. Left unchecked, a tenant could point them at the
cloud metadata service (``169.254.169.254``), the databases next to Pulse, or LiveKit's
own Redis (``rtmp://localhost:6379``). This module refuses such URLs, in every spelling
(:mod:`pulse_core.net.hosts`), after :func:`pulse_core.services.validation.url` has
checked the URL's shape.

What is refused
    Addresses that are not public unicast: unspecified, loopback, private (RFC 1918,
    fc00::/7), link-local, carrier-grade NAT (100.64.0.0/10), multicast, broadcast,
    documentation, benchmarking, and reserved ranges (see :func:`classify`). IPv6 forms
    that embed an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are judged by
    what they embed. Names that only mean something inside a network (``localhost`` and
    ``*.localhost``, ``*.local``, ``*.internal``, ``*.home.arpa``, ``*.localdomain``, and
    single-label names, which resolvers complete with local search domains) are refused
    without being resolved. Any other name is resolved and refused if *any* of its
    addresses is refused: a client may connect to whichever it likes.

The operator's exception
    ``allowed_networks`` (CIDRs) exempts the addresses inside it, for private
    deployments and tests on loopback. With an allow-list, a local-only name is resolved
    too and accepted when every one of its addresses is inside the allow-list.

Why not ``ipaddress``'s ``is_global`` alone
    Its tables differ between Python releases (3.12.4 reclassified several ranges) and
    miss ranges a fetcher must not reach: multicast and site-local (fec0::/10) count as
    global on 3.11. The ranges are therefore listed here from the IANA special-purpose
    registries, so every release refuses the same addresses for the same reason, and
    ``is_global`` only adds refusals (as "reserved") for a range this list would miss.

Limits
    A name is checked against Pulse's resolver; LiveKit resolves it again on its own host
    when it fetches, possibly to another address (DNS rebinding, split horizon). Refusing
    local-only names narrows that gap; closing it for egress and ingress needs an egress
    firewall on the media hosts. Webhook delivery closes it by connecting to the
    addresses :meth:`AddressPolicy.check` returns.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec

from pulse_core.errors import InvalidInput, Unavailable
from pulse_core.net.hosts import IPAddress, IPNetwork, parse_host

if TYPE_CHECKING:
    # Only an annotation here; importing it for real would be circular (the port's
    # module imports pulse_core.net.hosts for its address types).
    from pulse_core.ports.resolver import HostResolver

#: ``code`` of the :class:`InvalidInput` raised for a refused address or name, so a
#: client can tell "not allowed here" from a malformed URL.
ADDRESS_NOT_ALLOWED = "address_not_allowed"

# Why an address is refused; the words end up in "url must not point to a … address".
UNSPECIFIED = "unspecified"
LOOPBACK = "loopback"
PRIVATE = "private"
LINK_LOCAL = "link-local"
SITE_LOCAL = "site-local"
CARRIER_GRADE_NAT = "carrier-grade NAT"
MULTICAST = "multicast"
BROADCAST = "broadcast"
DOCUMENTATION = "documentation"
BENCHMARKING = "benchmarking"
RESERVED = "reserved"

# First match wins, so a narrow range comes before the wide one holding it.
_IPV4_RANGES: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/32", UNSPECIFIED),
        ("0.0.0.0/8", RESERVED),  # "this network": Linux connects 0.0.0.0 to itself
        ("10.0.0.0/8", PRIVATE),
        ("100.64.0.0/10", CARRIER_GRADE_NAT),
        ("127.0.0.0/8", LOOPBACK),
        ("169.254.0.0/16", LINK_LOCAL),  # cloud metadata services live here
        ("172.16.0.0/12", PRIVATE),
        # IETF protocol assignments: a few are anycast services (PCP, TURN), none is
        # something a tenant's URL has a reason to name.
        ("192.0.0.0/24", RESERVED),
        ("192.0.2.0/24", DOCUMENTATION),
        ("192.88.99.0/24", RESERVED),  # 6to4 relay anycast, deprecated (RFC 7526)
        ("192.168.0.0/16", PRIVATE),
        ("198.18.0.0/15", BENCHMARKING),
        ("198.51.100.0/24", DOCUMENTATION),
        ("203.0.113.0/24", DOCUMENTATION),
        ("224.0.0.0/4", MULTICAST),
        ("255.255.255.255/32", BROADCAST),
        ("240.0.0.0/4", RESERVED),
    )
)

_IPV4_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")
_TEREDO = IPv6Network("2001::/32")
_SIX_TO_FOUR = IPv6Network("2002::/16")
_GLOBAL_UNICAST = IPv6Network("2000::/3")

# Checked after the forms that embed IPv4; first match wins.
_IPV6_RANGES: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(cidr), reason)
    for cidr, reason in (
        ("64:ff9b:1::/48", PRIVATE),  # NAT64 for local use (RFC 8215)
        ("100::/64", RESERVED),  # discard-only
        ("2001:2::/48", BENCHMARKING),
        ("2001::/23", RESERVED),  # IETF protocol assignments
        ("2001:db8::/32", DOCUMENTATION),
        ("3fff::/20", DOCUMENTATION),  # RFC 9637
        ("fc00::/7", PRIVATE),  # unique local
        ("fe80::/10", LINK_LOCAL),
        ("fec0::/10", SITE_LOCAL),  # deprecated, still routed by some stacks
        ("ff00::/8", MULTICAST),
    )
)

# Names that resolve only inside a network, by standard (RFC 6761 localhost, RFC 6762
# .local, RFC 8375 .home.arpa, ICANN's .internal) or by habit (.localdomain).
_LOCAL_SUFFIXES = ("localhost", "local", "internal", "home.arpa", "localdomain")


def classify(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address (``"loopback"``, ``"private"``, …),
    or None when it is one. Pure: no allow-list, no I/O."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        # ``::ffff:a.b.c.d`` is a.b.c.d on a dual-stack socket, so it is judged as that
        # address, public ones included.
        address = address.ipv4_mapped
    reason = _classify_v4(address) if isinstance(address, IPv4Address) else _classify_v6(address)
    if reason is None and not address.is_global:
        # Only reached if the interpreter knows a range the tables above do not.
        return RESERVED
    return reason


def _classify_v4(address: IPv4Address) -> str | None:
    return next((reason for net, reason in _IPV4_RANGES if address in net), None)


def _classify_v6(address: IPv6Address) -> str | None:
    # Forms that carry an IPv4 address reach that address (compatible ones through
    # old stacks, NAT64 through the operator's translator, 6to4 and Teredo through
    # relays), so they are judged by it first.
    if address in _IPV4_COMPATIBLE:
        if int(address) == 0:
            return UNSPECIFIED
        if int(address) == 1:
            return LOOPBACK
        # Deprecated (RFC 4291): refused even when what it embeds is public.
        return _classify_v4(IPv4Address(int(address) & 0xFFFFFFFF)) or RESERVED
    if address in _NAT64:
        # The one embedding form allowed with a public address: IPv6-only networks
        # reach every IPv4 site this way (DNS64 answers with these addresses).
        return _classify_v4(IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _TEREDO and address.teredo is not None:
        server, client = address.teredo
        return _classify_v4(client) or _classify_v4(server) or RESERVED
    if address in _SIX_TO_FOUR and address.sixtofour is not None:
        # 6to4 is deprecated; a public service has a native address.
        return _classify_v4(address.sixtofour) or RESERVED
    reason = next((reason for net, reason in _IPV6_RANGES if address in net), None)
    if reason is None and address not in _GLOBAL_UNICAST:
        return RESERVED  # unassigned by IANA: nothing public lives there
    return reason


def local_name(name: str) -> bool:
    """Whether the normalized ``name`` only means something inside a network."""
    if "." not in name:
        return True
    return any(name == suffix or name.endswith("." + suffix) for suffix in _LOCAL_SUFFIXES)


def parse_networks(
    value: str | Iterable[str], field: str = "allowed_networks"
) -> tuple[IPNetwork, ...]:
    """Networks in CIDR notation (``10.0.0.0/8``, ``::1/128``; a bare address is one
    host), from an iterable or one string separated by commas or spaces (the form of an
    environment variable). Raises :class:`InvalidInput` naming ``field`` and the entry
    for one that is not a network, or has bits set beyond its prefix (``10.0.0.1/8``):
    an ambiguous exception to a security rule is refused rather than widened."""
    entries = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            networks.append(ip_network(entry.strip(), strict=True))
        except ValueError as exc:
            raise InvalidInput(
                f"{field}: {entry!r} is not a network in CIDR notation ({exc})", field=field
            ) from None
    return tuple(networks)


class CheckedHost(msgspec.Struct, frozen=True, kw_only=True):
    """A host the policy accepted.

    ``name`` is the normalized name (None for a literal address); ``addresses`` are every
    address it was checked against, in the resolver's order. A caller that connects
    itself (webhook delivery) connects to one of these, never to the name resolved
    again, so no second lookup can swap in an address that was not checked.
    """

    name: str | None
    addresses: tuple[IPAddress, ...]


class AddressPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The address rule, built once from settings (see :func:`parse_networks`).

    ``allowed_networks``: the operator's exceptions, inside which any address is
    allowed (``0.0.0.0/0`` and ``::/0`` turn the address rule off; zone ids and
    malformed hosts are refused regardless).
    """

    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_cidrs(
        cls, cidrs: str | Iterable[str], *, field: str = "allowed_networks"
    ) -> AddressPolicy:
        return cls(allowed_networks=parse_networks(cidrs, field))

    def allow_listed(self, address: IPAddress) -> bool:
        """Whether ``address`` is inside the allow-list (an IPv4-mapped IPv6 address
        counts as the IPv4 address it is on a dual-stack socket)."""
        candidates: list[IPAddress] = [address]
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(a in net for a in candidates for net in self.allowed_networks)

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` is refused, or None when it is allowed."""
        if self.allow_listed(address):
            return None
        return classify(address)

    def check_address(self, address: IPAddress, field: str) -> IPAddress:
        """``address`` if allowed; raises :class:`InvalidInput` naming ``field`` otherwise.

        For a caller that learns the address only when it connects (the peer of a
        socket), so that the address actually reached is the one judged."""
        reason = self.refusal(address)
        if reason is not None:
            raise InvalidInput(
                f"{field} must not point to {_article(reason)} {reason} address",
                field=field,
                code=ADDRESS_NOT_ALLOWED,
            )
        return address

    def check_literal(self, url_or_host: str, field: str) -> IPAddress | str:
        """The synchronous part: everything that can be decided without a resolver.

        ``url_or_host`` is an absolute URL (what :func:`~pulse_core.services.validation.url`
        accepted) or a bare host without a port. Returns the checked address of a literal
        host, or the normalized name of a named one, which still needs :meth:`check`
        before anything connects to it. Raises :class:`InvalidInput` naming ``field`` for
        a malformed host, a refused address, or a local-only name while there is no
        allow-list (``code`` :data:`ADDRESS_NOT_ALLOWED` for the last two).
        """
        host = _parsed_host(url_or_host, field)
        if not isinstance(host, str):
            return self.check_address(host, field)
        if local_name(host) and not self.allowed_networks:
            raise InvalidInput(
                f"{field} must not point to a local-only name",
                field=field,
                code=ADDRESS_NOT_ALLOWED,
            )
        return host

    async def check(self, url_or_host: str, field: str, resolver: HostResolver) -> CheckedHost:
        """The whole rule: :meth:`check_literal`, then every address a name resolves to.

        A literal is never looked up. A name is resolved once through ``resolver``; each
        of its addresses must be allowed (a local-only name's must all be inside the
        allow-list). Raises :class:`InvalidInput` naming ``field`` when the host is
        refused or does not resolve, and :class:`~pulse_core.errors.Unavailable` naming
        ``field`` when the resolver cannot answer (the caller may try again later).
        """
        host = self.check_literal(url_or_host, field)
        if not isinstance(host, str):
            return CheckedHost(name=None, addresses=(host,))
        try:
            addresses = await resolver.resolve(host)
        except Unavailable as exc:
            raise Unavailable(
                f"{_host(field)} could not be resolved now: {exc.detail}", field=field
            ) from exc
        if not addresses:
            raise InvalidInput(f"{_host(field)} does not resolve", field=field)
        local = local_name(host)
        for address in addresses:
            if local and not self.allow_listed(address):
                # The allow-list let the name through check_literal; only its networks
                # may answer for it.
                raise InvalidInput(
                    f"{_host(field)} is a local-only name that resolves outside the"
                    " allowed networks",
                    field=field,
                    code=ADDRESS_NOT_ALLOWED,
                )
            reason = self.refusal(address)
            if reason is not None:
                # The address itself stays out of the message: echoing what an internal
                # name resolves to would map the operator's network for the tenant.
                raise InvalidInput(
                    f"{_host(field)} resolves to {_article(reason)} {reason} address",
                    field=field,
                    code=ADDRESS_NOT_ALLOWED,
                )
        return CheckedHost(name=host, addresses=tuple(addresses))


@functools.lru_cache(maxsize=4096)
def _parsed_host(url_or_host: str, field: str) -> IPAddress | str:
    # Every delivery checks its endpoint's URL again, and a worker sees the same few
    # URLs over and over: splitting and IDNA-encoding them is a pure function of the
    # text, worth doing once. What they resolve to, and whether that is allowed, is
    # still decided on every call. Refusals are not cached (they raise).
    return parse_host(_host_of(url_or_host, field), field)


def _host_of(url_or_host: str, field: str) -> str:
    if "://" not in url_or_host:
        return url_or_host
    try:
        parts = urlsplit(url_or_host)
        host = parts.hostname
    except ValueError:
        raise InvalidInput(f"{field} is not a valid URL", field=field) from None
    if "\\" in parts.netloc:
        # Browsers end the authority at a backslash, urlsplit does not: in
        # ``http://127.0.0.1\@example.com/`` Chrome connects to 127.0.0.1 while urlsplit
        # reads example.com. Refused rather than resolved one way or the other.
        raise InvalidInput(f"{field} must not contain '\\' before its path", field=field)
    if not host:
        raise InvalidInput(f"{field} has no host", field=field)
    return host


def _host(field: str) -> str:
    return "host" if field == "host" else f"{field} host"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"
