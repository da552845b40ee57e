"""The hexagon's import rules hold on ``src/``, and the checker catches each breach."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.layering import breach, imported, violations

SRC = Path(__file__).resolve().parents[2] / "src"


def test_src_keeps_every_layering_rule() -> None:
    assert violations(SRC) == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("pulse_core.services.media", "import litestar"),
        ("pulse_core.services.media", "from pymongo import errors"),
        ("pulse_core.models", "def f():\n    import redis\n"),
        ("pulse_core.ports", "if TYPE_CHECKING:\n    import boto3\n"),
        ("pulse_core.x", "from pulse_adapters.memory import InMemoryRateLimiter"),
        ("pulse_core.x", "from pulse_http.settings import Settings"),
        ("pulse_adapters.mongo.repositories", "from pulse_adapters.sqlite import SqliteDatabase"),
        ("pulse_adapters.mongo.repositories", "from pulse_http.settings import Settings"),
        ("pulse_adapters.mongo.repositories", "import boto3"),
        ("pulse_adapters.memory.storage", "import redis"),
        ("pulse_adapters.redis.client", "from ..s3 import storage"),
        ("pulse_http.routes.media", "from pulse_adapters.local import LocalObjectStorage"),
        ("pulse_http.cli", "from pulse_adapters.sqlite import SqliteDatabase"),
        ("pulse_http.app", "import pymongo"),
        ("pulse_http.routes.rooms", "from livekit import api"),
    ],
)
def test_each_forbidden_import_is_reported(module: str, source: str) -> None:
    reasons = [breach(module, target) for _, target in imported(module, source)]
    assert any(reasons), f"{module}: {source!r} was allowed"


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("pulse_core.services.media", "import msgspec\nfrom datetime import UTC"),
        (
            "pulse_core.services",
            "from . import media",
        ),
        ("pulse_adapters.mongo.repositories", "from pymongo import errors\nfrom . import errors"),
        ("pulse_adapters.s3.storage", "import boto3\nfrom pulse_core.ports import storage"),
        ("pulse_http.container", "from pulse_adapters.sqlite import SqliteDatabase"),
        ("pulse_http.routes.media", "from litestar import get\nfrom ..auth import PROJECT"),
    ],
)
def test_what_the_rules_allow_is_not_reported(module: str, source: str) -> None:
    is_package = module in {"pulse_core.services"}
    for _, target in imported(module, source, is_package=is_package):
        assert breach(module, target) is None, target


def test_relative_imports_resolve_against_the_package() -> None:
    found = dict(imported("pulse_adapters.redis.client", "from ..s3 import storage"))
    assert set(found.values()) == {"pulse_adapters.s3"}
    found = dict(imported("pulse_core.services", "from .media import X", is_package=True))
    assert set(found.values()) == {"pulse_core.services.media"}
