"""The examples in examples/ are documentation: they must keep running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_embedded_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embedded.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "old pair refused after the grace period" in result.stdout
    assert "new pair works" in result.stdout
