"""Test-only DNS for a `pulse serve` child process (see ``tests/support/urls.py``).

Loaded at interpreter start through ``PYTHONPATH``; answers the names in
``PULSE_TEST_DNS`` (JSON: name -> addresses) and leaves every other lookup alone.
"""

from __future__ import annotations

import json
import os
import socket

_TABLE: dict[str, list[str]] = json.loads(os.environ.get("PULSE_TEST_DNS", "{}"))
_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]
    name = host.decode() if isinstance(host, bytes) else host
    answers = _TABLE.get((name or "").lower().rstrip("."))
    if answers is None:
        return _real_getaddrinfo(host, port, family, type, proto, flags)
    results = []
    for address in answers:
        af = socket.AF_INET6 if ":" in address else socket.AF_INET
        if family not in (0, af):
            continue
        sockaddr = (address, port or 0, 0, 0) if af == socket.AF_INET6 else (address, port or 0)
        results.append((af, type or socket.SOCK_STREAM, proto, "", sockaddr))
    if not results:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return results


if _TABLE:
    socket.getaddrinfo = _getaddrinfo
