"""Shared fixtures. Real-server fixtures live in tests/support/ and are registered here."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, settings

from pulse_adapters.clock import ManualClock

# CI runs more examples than a laptop; neither has a deadline (CI machines are shared).
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

pytest_plugins: list[str] = [
    "tests.support.repositories",
    "tests.support.redis_server",
    "tests.support.moto_server",
    "tests.support.mongo",
    "tests.support.docs",
    "tests.support.webhook_receiver",
]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
