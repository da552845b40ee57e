"""Name resolution through the operating system (``getaddrinfo``)."""

from pulse_adapters.dns.resolver import SystemHostResolver

__all__ = ["SystemHostResolver"]
