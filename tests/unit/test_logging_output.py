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


class _Writes(io.StringIO):
    """A stdout that remembers each write: what reaches the file descriptor at once
    when output is unbuffered (PYTHONUNBUFFERED), each a chance for another process
    sharing the descriptor to write in between."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_each_line_is_written_whole_in_one_write(
    log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several server processes share stdout: a line written in two parts (print()
    writes the newline apart) let another process's line land between them."""
    out = _Writes()
    monkeypatch.setattr(sys, "stdout", out)
    configure_logging(Settings(log_format=log_format, log_level="info"))  # type: ignore[arg-type]
    get_logger("pulse.test").warning("backend_unavailable", detail="redis")
    logging.getLogger("pulse.test").warning("from the standard library")
    written = [w for w in out.writes if w]
    assert len(written) == 2, written
    assert all(w.endswith("\n") and w.count("\n") == 1 for w in written), written


def test_the_servers_own_lines_are_json_when_pulse_writes_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """granian printed `[INFO] Starting granian` into a JSON log stream."""
    from granian.log import LogLevels
    from granian.log import configure_logging as configure_granian

    from pulse_http.logging import server_logging

    json_settings = Settings(environment="production", log_format="json")  # type: ignore[arg-type]
    configure_granian(LogLevels.info, server_logging(json_settings))
    try:
        logging.getLogger("_granian").info("Listening at: http://0.0.0.0:8080 whsec_QUJD")
        [line] = capsys.readouterr().out.splitlines()
        parsed = json.loads(line)
        assert parsed["event"] == "Listening at: http://0.0.0.0:8080 [redacted]"
        assert (parsed["level"], parsed["logger"]) == ("info", "granian")
        assert parsed["timestamp"].endswith("Z")
        # The console format keeps granian's own lines as they were.
        assert server_logging(Settings(environment="development", log_format="console")) == {}  # type: ignore[arg-type]
    finally:
        configure_granian(LogLevels.info)
