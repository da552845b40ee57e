"""Skip or fail when a test server cannot be had.

On a laptop a missing binary skips with the reason; in CI (``PULSE_REQUIRE_SERVICES=1``)
it fails, so a suite can never go green by silently not running.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def services_required() -> bool:
    return os.environ.get("PULSE_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def service_missing(reason: str) -> NoReturn:
    if services_required():
        pytest.fail(f"required test service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """The path of ``name`` on PATH, or skip/fail saying it is missing."""
    path = shutil.which(name)
    if path is None:
        service_missing(f"`{name}` is not installed (see .ci/run for how CI installs it)")
    return path
