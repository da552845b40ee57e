"""Where log lines go: ``sys.stdout`` as it is when they are written. A test runner
replaces it for each test and closes the old one; logging configured during one test
must not write to that closed stream in the next."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from pulse_http.logging import configure_logging, configured_access_log, get_logger
from pulse_http.settings import Settings


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_lines_go_to_stdout_as_it_is_when_they_are_written(
    log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured_with = io.StringIO()
    monkeypatch.setattr(sys, "stdout", configured_with)
    configure_logging(Settings(log_format=log_format, log_level="info"))  # type: ignore[arg-type]
    configured_with.close()
    now = io.StringIO()
    monkeypatch.setattr(sys, "stdout", now)

    get_logger("pulse.test").info("from structlog")
    logging.getLogger("pulse.test").warning("from the standard library")
    access = configured_access_log()
    access("GET", "/health", 200, 0.1, "req-1")
    access.flush()

    lines = now.getvalue().splitlines()
    assert any("from structlog" in line for line in lines)
    assert any("from the standard library" in line for line in lines)
    assert any("/health" in line for line in lines)
    if log_format == "json":
        assert json.loads(lines[-1])["path"] == "/health"
