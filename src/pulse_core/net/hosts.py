"""What the host of a tenant's URL denotes: a literal address or a name, in every spelling.

A URL's host is read by more than one parser before anything connects: Chrome (LiveKit's
web egress) and HTTP clients follow the WHATWG URL standard, ffmpeg and the libc resolver
fall back to ``inet_aton``. Between them they accept far more than the dotted quad, and
each spelling below reaches ``127.0.0.1``:

- decimal, hexadecimal or octal parts, alone or mixed: ``2130706433``, ``0x7f000001``,
  ``0x7f.1``, ``0177.0.0.1``, ``0x7f.0.0.01``;
- one to four parts, the last filling the remaining bytes: ``127.1``, ``127.0.1``;
- a trailing dot, upper case, percent-encoding (``%31%32%37.0.0.1``), and Unicode that
  IDNA maps to ASCII (full-width digits, ideographic full stops, soft hyphens);
- IPv6, with or without brackets, including forms that embed an IPv4 address
  (``::ffff:127.0.0.1``, ``::ffff:7f00:1``); what they embed is judged by
  :mod:`pulse_core.net.address_policy`.

:func:`parse_host` reads a host the way the most permissive of those parsers would, so a
spelling that any of them takes for an address is taken for the same address here, and a
spelling that none of them would read consistently is refused rather than guessed at.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import TypeAlias
from urllib.parse import unquote

from pulse_core.errors import InvalidInput

IPAddress: TypeAlias = IPv4Address | IPv6Address
IPNetwork: TypeAlias = IPv4Network | IPv6Network

#: The longest name DNS can carry in text form (RFC 1035, without the trailing dot).
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63

# Lenient on purpose (underscores, leading hyphens): resolvers and browsers accept such
# names, and refusing them would protect nothing, since names are judged by their
# addresses. Anything else (``%``, ``/``, ``\``, spaces, ``@``) is a parser differential
# waiting to happen, so it is refused.
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_HEX = frozenset("0123456789abcdef")
_OCTAL = frozenset("01234567")


def parse_host(host: str, field: str = "host") -> IPAddress | str:
    """The address a literal host denotes, or the normalized name of a named one.

    ``host`` is a URL's host as :func:`urllib.parse.urlsplit` gives it (``hostname``:
    brackets removed, possibly percent-encoded) or as written (``[::1]``), without a port.
    A name comes back in lower case, IDNA-encoded (``xn--…`` labels), without its
    trailing dot: the form a resolver is asked about.

    Raises :class:`InvalidInput` naming ``field`` for a host that is empty, is not valid
    UTF-8 once percent-decoded, holds a character no host may hold, carries an IPv6 zone
    id (``fe80::1%eth0``: it names an interface of the machine that connects, so no
    tenant has a use for it), ends in a number without being a valid IPv4 address
    (``1.2.3.4.5``, ``256.1.1.1``, ``08.1.1.1``), or is a name longer than DNS allows.
    """
    value, bracketed = _decode(host, field)
    if ":" in value:
        try:
            return IPv6Address(value)
        except ValueError:
            raise _invalid(field, "not a valid IPv6 address") from None
    if bracketed:
        raise _invalid(field, "brackets hold IPv6 addresses only")
    if value.endswith("."):
        value = value[:-1]
    if not value:
        raise _invalid(field, "empty")
    labels = value.split(".")
    if _ends_in_number(labels[-1]):
        address = _ipv4(labels)
        if address is None:
            raise _invalid(field, "not a valid IPv4 address")
        return address
    if len(value) > MAX_NAME_LENGTH:
        raise _invalid(field, f"a name is at most {MAX_NAME_LENGTH} characters")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise _invalid(
            field, f"each part of a name is 1 to {MAX_LABEL_LENGTH} letters, digits, '-' or '_'"
        )
    return value


def _decode(host: str, field: str) -> tuple[str, bool]:
    """``host`` without brackets, percent-decoded once, in ASCII lower case (as WHATWG
    does before it looks for an address), and whether it was bracketed."""
    value = host
    bracketed = value.startswith("[") and value.endswith("]")
    if bracketed:
        value = value[1:-1]
    try:
        value = unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise _invalid(field, "not valid UTF-8 once percent-decoded") from None
    if not value.isascii():
        value = _to_ascii(value, field)
    value = value.lower()
    if "%" in value:
        # Decoded once only, like browsers: what is still encoded stays unreadable.
        if ":" in value:
            raise _invalid(field, "an IPv6 zone id is not allowed")
        raise _invalid(field, "'%' is not allowed")
    return value, bracketed


def _invalid(field: str, reason: str) -> InvalidInput:
    subject = "host" if field == "host" else f"{field} host"
    return InvalidInput(f"{subject} is invalid: {reason}", field=field)


def _to_ascii(value: str, field: str) -> str:
    # The stdlib IDNA codec (nameprep: NFKC, case folding, characters mapped to nothing;
    # dots include U+3002, U+FF0E, U+FF61) turns full-width digits and ideographic full
    # stops into ``127.0.0.1`` as browsers and getaddrinfo do, before any check sees them.
    try:
        return value.encode("idna").decode("ascii")
    except UnicodeError:
        raise _invalid(field, "not a valid internationalized name") from None


def _ends_in_number(label: str) -> bool:
    # WHATWG's "ends in a number": a host whose last label is numeric is an IPv4 address
    # or nothing; it is never looked up as a name.
    return (label.isdigit() and label.isascii()) or _number(label) is not None


def _number(part: str) -> int | None:
    """One part of an IPv4 address as ``inet_aton`` and WHATWG read it, or None."""
    if part.startswith("0x"):
        digits, base, allowed = part[2:], 16, _HEX
        if not digits:  # WHATWG reads a bare "0x" as zero
            return 0
    elif len(part) > 1 and part.startswith("0"):
        digits, base, allowed = part[1:], 8, _OCTAL
    else:
        digits, base, allowed = part, 10, frozenset("0123456789")
    if not digits or not set(digits) <= allowed:
        return None
    try:
        return int(digits, base)
    except ValueError:  # more digits than int() converts
        return None


def _ipv4(parts: list[str]) -> IPv4Address | None:
    """The address of 1 to 4 numeric parts, the last one filling the remaining bytes."""
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_number(part) for part in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    total = last
    for i, n in enumerate(head):
        total += n << (8 * (3 - i))
    return IPv4Address(total)
