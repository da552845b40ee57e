"""Network addresses in tenants' URLs: how hosts are spelled, and which may be fetched."""

from pulse_core.net.address_policy import (
    ADDRESS_NOT_ALLOWED,
    AddressPolicy,
    CheckedHost,
    classify,
    local_name,
    parse_networks,
)
from pulse_core.net.hosts import IPAddress, IPNetwork, parse_host
from pulse_core.net.url_guard import UrlGuard

__all__ = [
    "ADDRESS_NOT_ALLOWED",
    "AddressPolicy",
    "CheckedHost",
    "IPAddress",
    "IPNetwork",
    "UrlGuard",
    "classify",
    "local_name",
    "parse_host",
    "parse_networks",
]
