"""docs/media.md, run as written against a real `pulse serve` process (the embedded
default: simulated media engine, local recordings)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.http.test_walkthrough import ROOT, bash_blocks, pulse_serve
from tests.support.require import service_missing

GUIDE = ROOT / "docs" / "media.md"

__all__ = ["pulse_serve"]  # the fixture, shared with the walk-through


def test_media_guide_runs_as_written(pulse_serve: tuple[str, str], tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        service_missing("curl is not installed")
    base_url, token = pulse_serve
    blocks = bash_blocks(GUIDE.read_text())
    assert len(blocks) >= 7
    script = "set -euo pipefail\n" + "\n".join(blocks)
    result = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "PULSE": base_url, "PULSE_ADMIN_TOKEN": token},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "OBS stream key: " in result.stdout
    assert "deleted: 204" in result.stdout
    assert "***mnop" in result.stdout and "abcd-efgh-ijkl-mnop" not in result.stdout
    downloaded = Path("/tmp/pulse-recording.mp4").read_bytes()
    assert downloaded.startswith(b"Pulse simulated recording")
