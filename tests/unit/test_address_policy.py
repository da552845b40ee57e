"""The address policy: which hosts a tenant's URL may name, in every spelling.

The corpus below is the list of issue 10 plus the spellings browsers, HTTP clients and
libc accept; the hypothesis properties cover what a corpus cannot enumerate (every
private address in every base and number of parts).
"""

from __future__ import annotations

from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse_adapters.memory import InMemoryHostResolver
from pulse_core.errors import InvalidInput, Unavailable
from pulse_core.net import (
    ADDRESS_NOT_ALLOWED,
    AddressPolicy,
    CheckedHost,
    IPAddress,
    IPNetwork,
    classify,
    local_name,
    parse_host,
    parse_networks,
)

OPEN = AddressPolicy()
EXAMPLE = IPv4Address("93.184.216.34")

# --------------------------------------------------------------------------------------
# The corpus: (host as a tenant writes it, the address it denotes, why it is refused)
# --------------------------------------------------------------------------------------

REFUSED_LITERALS: list[tuple[str, str, str]] = [
    # Loopback, in every spelling of 127.0.0.1
    ("127.0.0.1", "127.0.0.1", "loopback"),
    ("127.0.0.1.", "127.0.0.1", "loopback"),
    ("2130706433", "127.0.0.1", "loopback"),
    ("0x7f000001", "127.0.0.1", "loopback"),
    ("0X7F000001", "127.0.0.1", "loopback"),
    ("0x7f.1", "127.0.0.1", "loopback"),
    ("0x7f.0.0.1", "127.0.0.1", "loopback"),
    ("0x7f.0x0.0x0.0x1", "127.0.0.1", "loopback"),
    ("0177.0.0.1", "127.0.0.1", "loopback"),
    ("0177.1", "127.0.0.1", "loopback"),
    ("017700000001", "127.0.0.1", "loopback"),
    ("0x7f.0.0.01", "127.0.0.1", "loopback"),
    ("127.1", "127.0.0.1", "loopback"),
    ("127.0.1", "127.0.0.1", "loopback"),
    ("127.000.000.001", "127.0.0.1", "loopback"),
    ("127.255.255.254", "127.255.255.254", "loopback"),
    ("%31%32%37.0.0.1", "127.0.0.1", "loopback"),
    ("%31%32%37%2e%30%2e%30%2e%31", "127.0.0.1", "loopback"),
    ("\uff11\uff12\uff17.\uff10.\uff10.\uff11", "127.0.0.1", "loopback"),  # full-width
    ("\uff11\uff12\uff17\u3002\uff10\u3002\uff10\u3002\uff11", "127.0.0.1", "loopback"),
    ("1\u00ad27.0.0.1", "127.0.0.1", "loopback"),  # a soft hyphen IDNA maps to nothing
    ("[::1]", "::1", "loopback"),
    ("::1", "::1", "loopback"),
    ("[0:0:0:0:0:0:0:1]", "::1", "loopback"),
    ("[%3A%3A1]", "::1", "loopback"),
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("[::ffff:7f00:1]", "::ffff:127.0.0.1", "loopback"),
    ("[::FFFF:7F00:1]", "::ffff:127.0.0.1", "loopback"),
    ("[::127.0.0.1]", "::127.0.0.1", "loopback"),  # IPv4-compatible
    ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1", "loopback"),  # NAT64
    ("[2002:7f00:1::]", "2002:7f00:1::", "loopback"),  # 6to4
    # Teredo, client 127.0.0.1 (stored inverted), server 65.54.227.120
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),
    # Link-local: the cloud metadata service
    ("169.254.169.254", "169.254.169.254", "link-local"),
    ("2852039166", "169.254.169.254", "link-local"),
    ("0xa9fea9fe", "169.254.169.254", "link-local"),
    ("0251.0376.0251.0376", "169.254.169.254", "link-local"),
    ("169.254.43518", "169.254.169.254", "link-local"),
    ("[::ffff:169.254.169.254]", "::ffff:169.254.169.254", "link-local"),
    ("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe", "link-local"),
    ("[fe80::1]", "fe80::1", "link-local"),
    ("[febf:ffff::1]", "febf:ffff::1", "link-local"),
    # Private
    ("10.0.0.1", "10.0.0.1", "private"),
    ("10.1", "10.0.0.1", "private"),
    ("012.1", "10.0.0.1", "private"),
    ("167772161", "10.0.0.1", "private"),
    ("172.16.0.1", "172.16.0.1", "private"),
    ("172.31.255.255", "172.31.255.255", "private"),
    ("192.168.1.1", "192.168.1.1", "private"),
    ("0xc0a80101", "192.168.1.1", "private"),
    ("3232235777", "192.168.1.1", "private"),
    ("0xc0.0xa8.0x1.0x1", "192.168.1.1", "private"),
    ("[::ffff:10.0.0.1]", "::ffff:10.0.0.1", "private"),
    ("[2002:c0a8:101::1]", "2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
    ("[fc00::1]", "fc00::1", "private"),
    ("[fd12:3456:789a::1]", "fd12:3456:789a::1", "private"),
    ("[64:ff9b:1::1]", "64:ff9b:1::1", "private"),  # local-use NAT64
    # Carrier-grade NAT
    ("100.64.0.1", "100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.255", "100.127.255.255", "carrier-grade NAT"),
    # Unspecified and "this network"
    ("0.0.0.0", "0.0.0.0", "unspecified"),
    ("0", "0.0.0.0", "unspecified"),
    ("0x0", "0.0.0.0", "unspecified"),
    ("0x", "0.0.0.0", "unspecified"),  # WHATWG reads a bare 0x as zero
    ("00", "0.0.0.0", "unspecified"),
    ("[::]", "::", "unspecified"),
    ("0.1.2.3", "0.1.2.3", "reserved"),
    # Multicast, broadcast, reserved
    ("224.0.0.1", "224.0.0.1", "multicast"),
    ("239.255.255.250", "239.255.255.250", "multicast"),
    ("[ff02::1]", "ff02::1", "multicast"),
    ("255.255.255.255", "255.255.255.255", "broadcast"),
    ("4294967295", "255.255.255.255", "broadcast"),
    ("0xffffffff", "255.255.255.255", "broadcast"),
    ("240.0.0.1", "240.0.0.1", "reserved"),
    ("192.0.0.8", "192.0.0.8", "reserved"),
    ("192.0.0.170", "192.0.0.170", "reserved"),
    ("192.88.99.1", "192.88.99.1", "reserved"),
    ("[::8.8.8.8]", "::8.8.8.8", "reserved"),  # IPv4-compatible is deprecated
    ("[2002:5db8:d822::1]", "2002:5db8:d822::1", "reserved"),  # 6to4, even of a public one
    ("[2001:0:4136:e378:8000:63bf:a247:2bdd]", "2001:0:4136:e378:8000:63bf:a247:2bdd", "reserved"),
    ("[100::1]", "100::1", "reserved"),
    ("[4000::1]", "4000::1", "reserved"),
    ("[5f00::1]", "5f00::1", "reserved"),
    ("[fec0::1]", "fec0::1", "site-local"),
    # Documentation and benchmarking
    ("192.0.2.1", "192.0.2.1", "documentation"),
    ("198.51.100.7", "198.51.100.7", "documentation"),
    ("203.0.113.9", "203.0.113.9", "documentation"),
    ("[2001:db8::1]", "2001:db8::1", "documentation"),
    ("[3fff::1]", "3fff::1", "documentation"),
    (
        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "documentation",
    ),
    ("198.18.0.1", "198.18.0.1", "benchmarking"),
    ("198.19.255.255", "198.19.255.255", "benchmarking"),
    ("[2001:2::1]", "2001:2::1", "benchmarking"),
]

ALLOWED_LITERALS: list[tuple[str, str]] = [
    ("93.184.216.34", "93.184.216.34"),
    ("93.184.216.34.", "93.184.216.34"),
    ("0x5db8d822", "93.184.216.34"),
    (str(int(EXAMPLE)), "93.184.216.34"),
    ("93.0xb8.0330.34", "93.184.216.34"),
    ("1.1.1.1", "1.1.1.1"),
    ("8.8.8.8", "8.8.8.8"),
    ("[2606:4700::1111]", "2606:4700::1111"),
    ("2606:4700:4700::1111", "2606:4700:4700::1111"),
    ("[2A00:1450:4001:80B::200E]", "2a00:1450:4001:80b::200e"),
    ("[::ffff:93.184.216.34]", "::ffff:93.184.216.34"),  # mapped: it is 93.184.216.34
    ("[64:ff9b::5db8:d822]", "64:ff9b::5db8:d822"),  # NAT64 of a public address (DNS64)
    # Right next to refused ranges
    ("9.255.255.255", "9.255.255.255"),
    ("11.0.0.0", "11.0.0.0"),
    ("100.63.255.255", "100.63.255.255"),
    ("100.128.0.0", "100.128.0.0"),
    ("126.255.255.255", "126.255.255.255"),
    ("128.0.0.0", "128.0.0.0"),
    ("169.253.255.255", "169.253.255.255"),
    ("169.255.0.0", "169.255.0.0"),
    ("172.15.255.255", "172.15.255.255"),
    ("172.32.0.0", "172.32.0.0"),
    ("192.167.255.255", "192.167.255.255"),
    ("192.169.0.0", "192.169.0.0"),
    ("198.17.255.255", "198.17.255.255"),
    ("198.20.0.0", "198.20.0.0"),
    ("223.255.255.255", "223.255.255.255"),
    ("[2001:200::1]", "2001:200::1"),  # just past 2001::/23
    ("[3ffe:ffff::1]", "3ffe:ffff::1"),
]

REFUSED_NAMES = [
    "localhost",
    "LOCALHOST",
    "localhost.",
    "LocalHost.",
    "foo.localhost",
    "a.b.localhost.",
    "printer.local",
    "metadata.google.internal",
    "router.home.arpa",
    "localhost.localdomain",
    "redis",  # single-label: completed by the resolver's local search domains
    "metadata",
    "%6c%6f%63%61%6c%68%6f%73%74",
    "\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3",  # circled letters
]

INVALID_HOSTS = [
    ("", "empty"),
    (".", "empty"),
    ("1.2.3.4.5", "not a valid IPv4 address"),
    ("256.0.0.1", "not a valid IPv4 address"),
    ("1.2.3.256", "not a valid IPv4 address"),
    ("1.2.65536", "not a valid IPv4 address"),
    ("1.16777216", "not a valid IPv4 address"),
    ("4294967296", "not a valid IPv4 address"),
    ("08.0.0.1", "not a valid IPv4 address"),
    ("0x7g.1", "not a valid IPv4 address"),
    ("example.123", "not a valid IPv4 address"),
    ("1.2.3.4..", "each part of a name"),
    ("9" * 5000, "not a valid IPv4 address"),
    ("[fe80::1%eth0]", "zone id"),
    ("fe80::1%25eth0", "zone id"),
    ("[::1%25lo]", "zone id"),
    ("[127.0.0.1]", "brackets hold IPv6 addresses only"),
    ("[::ffff:127.1]", "not a valid IPv6 address"),
    ("[1:2:3:4:5:6:7:8:9]", "not a valid IPv6 address"),
    ("%2531%2532%2537.0.0.1", "'%' is not allowed"),  # decoded once, like browsers
    ("%ff.example", "not valid UTF-8"),
    ("a..b", "each part of a name"),
    ("exa mple.com", "each part of a name"),
    ("example.com/", "each part of a name"),
    ("user@example.com", "each part of a name"),
    ("a\\b.example", "each part of a name"),
    ("a" * 64 + ".com", "each part of a name"),
    (".".join(["a" * 63] * 4), "at most 253 characters"),
]


@pytest.mark.parametrize(("host", "address", "reason"), REFUSED_LITERALS)
def test_refused_literal_in_every_spelling(host: str, address: str, reason: str) -> None:
    assert parse_host(host) == ip_address(address)
    assert classify(ip_address(address)) == reason
    with pytest.raises(InvalidInput) as info:
        OPEN.check_literal(host, "url")
    assert info.value.field == "url"
    assert info.value.code == ADDRESS_NOT_ALLOWED
    assert reason in info.value.detail


@pytest.mark.parametrize(("host", "address"), ALLOWED_LITERALS)
def test_public_literal_is_allowed(host: str, address: str) -> None:
    assert classify(ip_address(address)) is None
    assert OPEN.check_literal(host, "url") == ip_address(address)
    assert OPEN.check_literal(f"https://{_bracketed(host)}:8443/hook", "url") == ip_address(address)


@pytest.mark.parametrize("host", REFUSED_NAMES)
def test_local_only_names_are_refused_without_a_lookup(host: str) -> None:
    assert local_name(str(parse_host(host)))
    with pytest.raises(InvalidInput) as info:
        OPEN.check_literal(host, "webhook_url")
    assert (info.value.field, info.value.code) == ("webhook_url", ADDRESS_NOT_ALLOWED)
    assert "local-only name" in info.value.detail


@pytest.mark.parametrize(("host", "reason"), INVALID_HOSTS)
def test_malformed_hosts_are_refused_not_guessed(host: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_host(host, "url")
    assert info.value.field == "url"
    assert info.value.code == "invalid_input"
    assert reason in info.value.detail


def test_names_are_normalized_for_the_resolver() -> None:
    assert parse_host("Example.COM.") == "example.com"
    assert parse_host("%65xample.com") == "example.com"
    assert parse_host("b\u00fccher.example") == "xn--bcher-kva.example"
    assert parse_host("0x7f.example.com") == "0x7f.example.com"  # a name: ends in a word
    assert parse_host("127.0.0.1.nip.io") == "127.0.0.1.nip.io"  # judged by its addresses
    assert parse_host("_dmarc.example.com") == "_dmarc.example.com"
    assert not local_name("example.com")
    assert not local_name("localhost.example.com")
    assert local_name("intranet")  # single label


# --------------------------------------------------------------------------------------
# URLs: the host as the fetcher will read it
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://127.0.0.1", "loopback"),
        ("http://[::1]:8080/x", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("HTTP://0X7F.1:80/", "loopback"),
        ("rtmp://localhost:6379/live/key", "local-only name"),
        ("rtmps://LOCALHOST./live", "local-only name"),
        ("srt://[fd00::5]:9000", "private"),
        ("https://user:pass@127.0.0.1/", "loopback"),
        ("http://example.com@127.0.0.1/", "loopback"),  # the host follows the last '@'
        ("http://%31%32%37.0.0.1/", "loopback"),
        ("http://metadata.google.internal/computeMetadata/v1/", "local-only name"),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        OPEN.check_literal(url, "url")
    assert (info.value.field, info.value.code) == ("url", ADDRESS_NOT_ALLOWED)
    assert reason in info.value.detail


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # Browsers end the authority at '\': they would connect to 127.0.0.1.
        ("http://127.0.0.1\\@example.com/", "'\\'"),
        ("http://[fe80::1%25eth0]/", "zone id"),
        ("http:///path-only", "has no host"),
        ("http://[::1/", "not a valid URL"),
    ],
)
def test_urls_parsers_disagree_on_are_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        OPEN.check_literal(url, "url")
    assert info.value.field == "url"
    assert reason in info.value.detail


def test_a_url_with_a_name_is_left_for_the_resolver() -> None:
    assert OPEN.check_literal("https://Hooks.Example.COM./pulse?x=1", "url") == (
        "hooks.example.com"
    )


# --------------------------------------------------------------------------------------
# With a resolver: every address of a name
# --------------------------------------------------------------------------------------


@pytest.fixture
def resolver() -> InMemoryHostResolver:
    return InMemoryHostResolver(
        {
            "example.com": ["93.184.216.34", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
            "rebind.example": ["93.184.216.34", "127.0.0.1"],
            "rebind-first.example": ["10.0.0.7", "93.184.216.34"],
            "mapped.example": ["::ffff:169.254.169.254"],
            "nat64.example": ["64:ff9b::a9fe:a9fe"],
            "empty.example": [],
            "hooks.internal": ["10.1.2.3"],
            "public.internal": ["93.184.216.34"],
            "localhost": ["127.0.0.1", "::1"],
        }
    )


async def test_a_public_name_returns_every_checked_address(
    resolver: InMemoryHostResolver,
) -> None:
    checked = await OPEN.check("https://EXAMPLE.com./hook", "webhook_url", resolver)
    assert checked == CheckedHost(
        name="example.com",
        addresses=(EXAMPLE, IPv6Address("2606:2800:21f:cb07:6820:80da:af6b:8b2c")),
    )
    assert resolver.lookups == ["example.com"]


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("rebind.example", "loopback"),  # refused even though the first address is public
        ("rebind-first.example", "private"),
        ("mapped.example", "link-local"),
        ("nat64.example", "link-local"),
    ],
)
async def test_a_name_is_refused_if_any_address_is(
    resolver: InMemoryHostResolver, host: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await OPEN.check(f"http://{host}/", "url", resolver)
    assert (info.value.field, info.value.code) == ("url", ADDRESS_NOT_ALLOWED)
    assert info.value.detail == f"url host resolves to a {reason} address"


async def test_the_refusal_does_not_echo_the_internal_address(
    resolver: InMemoryHostResolver,
) -> None:
    with pytest.raises(InvalidInput) as info:
        await OPEN.check("rebind-first.example", "url", resolver)
    assert "10.0.0.7" not in info.value.detail


@pytest.mark.parametrize("host", ["missing.example", "empty.example"])
async def test_a_name_that_does_not_resolve_is_invalid(
    resolver: InMemoryHostResolver, host: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await OPEN.check(f"rtmp://{host}/live", "output.urls[0]", resolver)
    assert info.value.field == "output.urls[0]"
    assert info.value.detail == "output.urls[0] host does not resolve"


async def test_a_resolver_outage_is_unavailable_not_invalid(
    resolver: InMemoryHostResolver,
) -> None:
    resolver.fail("example.com")
    with pytest.raises(Unavailable) as info:
        await OPEN.check("https://example.com/", "webhook_url", resolver)
    assert info.value.field == "webhook_url"
    resolver.recover()
    assert (await OPEN.check("https://example.com/", "webhook_url", resolver)).addresses


async def test_literals_and_local_names_are_never_looked_up(
    resolver: InMemoryHostResolver,
) -> None:
    assert await OPEN.check("http://93.184.216.34/", "url", resolver) == CheckedHost(
        name=None, addresses=(EXAMPLE,)
    )
    for host in ["http://127.0.0.1/", "http://localhost/", "http://hooks.internal/"]:
        with pytest.raises(InvalidInput):
            await OPEN.check(host, "url", resolver)
    assert resolver.lookups == []


async def test_checked_addresses_do_not_follow_a_later_rebinding(
    resolver: InMemoryHostResolver,
) -> None:
    checked = await OPEN.check("https://example.com/", "webhook_url", resolver)
    resolver.set("example.com", "127.0.0.1")
    assert EXAMPLE in checked.addresses
    with pytest.raises(InvalidInput):
        await OPEN.check("https://example.com/", "webhook_url", resolver)


# --------------------------------------------------------------------------------------
# The operator's allow-list
# --------------------------------------------------------------------------------------

LOOPBACK_ALLOWED = AddressPolicy.from_cidrs("127.0.0.0/8, ::1/128")
PRIVATE_ALLOWED = AddressPolicy.from_cidrs(["10.0.0.0/8"])


@pytest.mark.parametrize(
    "host",
    ["http://127.0.0.1:8080/hook", "2130706433", "127.1", "[::1]", "[::ffff:127.0.0.1]"],
)
def test_the_allow_list_exempts_its_addresses(host: str) -> None:
    assert isinstance(LOOPBACK_ALLOWED.check_literal(host, "url"), IPv4Address | IPv6Address)


@pytest.mark.parametrize(
    ("host", "reason"),
    [("10.0.0.1", "private"), ("169.254.169.254", "link-local"), ("[fe80::1]", "link-local")],
)
def test_the_allow_list_exempts_nothing_else(host: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        LOOPBACK_ALLOWED.check_literal(host, "url")
    assert reason in info.value.detail


def test_the_allow_list_does_not_admit_zone_ids() -> None:
    policy = AddressPolicy.from_cidrs("fe80::/10")
    assert policy.check_literal("[fe80::1]", "url") == IPv6Address("fe80::1")
    with pytest.raises(InvalidInput, match="zone id"):
        policy.check_literal("[fe80::1%25eth0]", "url")


async def test_with_an_allow_list_a_local_name_must_resolve_into_it(
    resolver: InMemoryHostResolver,
) -> None:
    checked = await PRIVATE_ALLOWED.check("http://hooks.internal/", "url", resolver)
    assert checked.addresses == (IPv4Address("10.1.2.3"),)
    with pytest.raises(InvalidInput) as info:
        # Public, yet a local-only name answered outside the operator's networks.
        await PRIVATE_ALLOWED.check("http://public.internal/", "url", resolver)
    assert "local-only name" in info.value.detail
    checked = await LOOPBACK_ALLOWED.check("http://localhost:9000/", "url", resolver)
    assert checked.addresses == (IPv4Address("127.0.0.1"), IPv6Address("::1"))


async def test_with_an_allow_list_other_names_still_need_public_or_listed_addresses(
    resolver: InMemoryHostResolver,
) -> None:
    assert (await PRIVATE_ALLOWED.check("example.com", "url", resolver)).name == "example.com"
    with pytest.raises(InvalidInput, match="loopback"):
        await PRIVATE_ALLOWED.check("rebind.example", "url", resolver)


def test_parse_networks_reads_settings_values() -> None:
    assert parse_networks("") == ()
    assert parse_networks(" 10.0.0.0/8 ,fd00::/8  127.0.0.1") == (
        IPv4Network("10.0.0.0/8"),
        IPv6Network("fd00::/8"),
        IPv4Network("127.0.0.1/32"),
    )
    assert AddressPolicy.from_cidrs(()).allowed_networks == ()


@pytest.mark.parametrize("value", ["10.0.0.1/8", "10.0.0.0/33", "localhost", "10.0.0.0/8,x"])
def test_parse_networks_refuses_ambiguous_or_malformed_entries(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_networks(value, "WEBHOOK_ALLOWED_NETWORKS")
    assert info.value.field == "WEBHOOK_ALLOWED_NETWORKS"
    assert "CIDR" in info.value.detail


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

REFUSED_V4_NETWORKS = [
    IPv4Network(cidr)
    for cidr in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]


@st.composite
def addresses_in(draw: st.DrawFn, networks: list[IPv4Network]) -> IPv4Address:
    network = draw(st.sampled_from(networks))
    low, high = int(network.network_address), int(network.broadcast_address)
    return IPv4Address(draw(st.integers(low, high)))


@st.composite
def spellings(draw: st.DrawFn, address: IPv4Address) -> str:
    """``address`` as inet_aton or a browser reads it: 1 to 4 parts, each decimal, octal
    or hex, maybe a trailing dot, maybe upper case, maybe partly percent-encoded."""
    value = int(address)
    count = draw(st.integers(1, 4))
    octets = value.to_bytes(4, "big")
    numbers = [*octets[: count - 1], int.from_bytes(octets[count - 1 :], "big")]
    parts = []
    for number in numbers:
        base = draw(st.sampled_from(["dec", "oct", "hex"]))
        if base == "dec":
            parts.append(str(number))
        elif base == "oct":
            parts.append("0" * draw(st.integers(1, 3)) + format(number, "o"))
        else:
            parts.append("0x" + "0" * draw(st.integers(0, 3)) + format(number, "x"))
    text = ".".join(parts) + draw(st.sampled_from(["", "."]))
    if draw(st.booleans()):
        text = text.upper()
    # Percent-encode some characters, dots included: hosts are decoded before being read.
    flags = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(f"%{ord(ch):02x}" if enc else ch for ch, enc in zip(text, flags, strict=True))


@given(st.data())
def test_any_private_address_in_any_spelling_is_refused(data: st.DataObject) -> None:
    address = data.draw(addresses_in(REFUSED_V4_NETWORKS))
    host = data.draw(spellings(address))
    assert parse_host(host) == address
    reason = classify(address)
    assert reason is not None
    with pytest.raises(InvalidInput) as info:
        OPEN.check_literal(f"http://{host}/", "url")
    assert reason in info.value.detail


@given(st.data())
def test_every_spelling_denotes_the_same_address(data: st.DataObject) -> None:
    address = data.draw(st.ip_addresses(v=4))
    assert isinstance(address, IPv4Address)
    assert parse_host(data.draw(spellings(address))) == address


@given(st.ip_addresses(v=4))
def test_ipv6_forms_of_an_ipv4_address_are_judged_by_it(address: IPv4Address) -> None:
    reason = classify(address)
    assert classify(IPv6Address(f"::ffff:{address}")) == reason
    nat64 = IPv6Address(int(IPv6Address("64:ff9b::")) | int(address))
    assert classify(nat64) == reason
    if reason is not None:
        assert classify(IPv6Address(f"::{address}")) == reason
        assert classify(IPv6Address((0x2002 << 112) | (int(address) << 80))) == reason


@given(st.ip_addresses())
def test_nothing_the_interpreter_deems_non_global_is_allowed(address: IPAddress) -> None:
    mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
    effective = address if mapped is None else mapped
    if not effective.is_global or address.is_multicast:
        assert classify(address) is not None


RESERVED_V4_NETWORKS = [
    IPv4Network(cidr) for cidr in ("0.0.0.0/8", "192.0.0.0/24", "192.88.99.0/24", "240.0.0.0/4")
]


@given(st.ip_addresses(v=4))
def test_the_tables_name_a_reason_for_every_non_global_ipv4_address(
    address: IPv4Address,
) -> None:
    # The is_global backstop answers "reserved"; "reserved" outside the reserved ranges
    # would mean the tables missed a range and the refusal names the wrong reason.
    reason = classify(address)
    if not address.is_global:
        assert reason is not None
    if reason == "reserved":
        assert any(address in net for net in RESERVED_V4_NETWORKS)


@st.composite
def network_and_member(draw: st.DrawFn) -> tuple[IPNetwork, IPAddress]:
    base = draw(st.ip_addresses())
    prefix = draw(st.integers(0, base.max_prefixlen))
    network = ip_network(f"{base}/{prefix}", strict=False)
    low, high = int(network.network_address), int(network.broadcast_address)
    member: IPAddress = type(network.network_address)(draw(st.integers(low, high)))
    return network, member


@given(network_and_member())
def test_any_address_in_the_allow_list_is_allowed(case: tuple[IPNetwork, IPAddress]) -> None:
    network, address = case
    policy = AddressPolicy(allowed_networks=(network,))
    assert policy.refusal(address) is None
    assert policy.check_literal(_bracketed(str(address)), "url") == address


def _bracketed(host: str) -> str:
    return f"[{host.strip('[]')}]" if ":" in host else host
