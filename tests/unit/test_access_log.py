"""The access-log line written without structlog's chain, and the clock in microseconds."""

from __future__ import annotations

import asyncio
import io
import json
import time
from datetime import UTC, datetime, timedelta

from pulse_adapters.clock import ManualClock, SystemClock
from pulse_http.logging import REDACTED, AccessLog, _UtcTimestamp


def test_a_line_is_json_with_the_request_fields() -> None:
    out = io.StringIO()
    AccessLog(out, use_json=True, enabled=True)("GET", "/health", 200, 0.12, "abc")
    line = json.loads(out.getvalue())
    assert line["event"] == "request" and line["level"] == "info"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/health", 200)
    assert line["duration_ms"] == 0.12 and line["request_id"] == "abc"
    stamp = datetime.fromisoformat(line["timestamp"])
    assert abs(stamp - datetime.now(UTC)) < timedelta(seconds=5)


def test_secrets_in_a_path_are_masked() -> None:
    out = io.StringIO()
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    AccessLog(out, use_json=True, enabled=True)("GET", f"/x/{jwt}", 404, 0.1, "abc")
    assert jwt not in out.getvalue() and REDACTED in out.getvalue()


def test_disabled_above_info() -> None:
    out = io.StringIO()
    AccessLog(out, use_json=True, enabled=False)("GET", "/health", 200, 0.1, "abc")
    assert out.getvalue() == ""


async def test_lines_of_one_loop_iteration_are_written_together() -> None:
    out = io.StringIO()
    log = AccessLog(out, use_json=True, enabled=True)
    for n in range(3):
        log("GET", f"/{n}", 200, 0.1, str(n))
    assert out.getvalue() == ""  # written at the end of this iteration, not per line
    await asyncio.sleep(0)
    assert [json.loads(line)["path"] for line in out.getvalue().splitlines()] == ["/0", "/1", "/2"]


def test_timestamps_are_iso_utc_with_microseconds() -> None:
    stamp = _UtcTimestamp()
    before = datetime.now(UTC)
    first, second = stamp(), stamp()
    after = datetime.now(UTC)
    for text in (first, second):
        assert text.endswith("Z") and len(text) == len("2026-11-25T20:46:32.613079Z")
        parsed = datetime.fromisoformat(text)
        assert before - timedelta(microseconds=1) <= parsed <= after
    assert first <= second


def test_clock_micros_is_now_in_microseconds() -> None:
    manual = ManualClock(datetime(2030, 1, 1, 0, 0, 0, 123456, tzinfo=UTC))
    assert manual.micros() == 1_893_456_000_123_456
    system = SystemClock().micros()
    assert abs(system - time.time() * 1_000_000) < 1_000_000
