"""The examples in examples/ are documentation: they must keep running."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.docs import bash_blocks

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


def test_embedding_page_runs_as_written_from_a_fresh_clone(tmp_path: Path) -> None:
    """docs/embedding.md's commands, run as written from the repository's root in a shell
    with no virtualenv activated (the page must not rely on one).

    `make install` is the one line not run for real: it would reinstall the suite's own
    virtualenv under it. A stand-in records the call, and `make -n` in a directory with
    only the Makefile shows that in a fresh clone it creates `.venv/bin/python` with the
    project installed, which is what the next lines use."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    if not venv_python.exists() or Path(sys.executable).parent != venv_python.parent:
        pytest.skip("the suite runs outside the repository's .venv, which the page uses")
    script = "set -euo pipefail\n" + "\n".join(
        bash_blocks((ROOT / "docs/embedding.md").read_text())
    )
    assert "make install" in script

    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    fresh = tmp_path / "fresh-clone"
    fresh.mkdir()
    shutil.copy(ROOT / "Makefile", fresh / "Makefile")
    dry_run = subprocess.run(
        [make, "-n", "install"], cwd=fresh, capture_output=True, text=True, check=False
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert "-m venv .venv" in dry_run.stdout
    assert ".venv/bin/pip install --quiet -e ." in dry_run.stdout

    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "make").write_text('#!/bin/sh\necho "$*" >> "$PULSE_TMP/make.log"\n')
    (stand_in / "make").chmod(0o755)
    # A shell as a new user has it: the system's PATH, no virtualenv.
    path = [str(stand_in)] + [
        entry
        for entry in os.environ.get("PATH", os.defpath).split(os.pathsep)
        if entry and Path(entry).resolve() != venv_python.parent.resolve()
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={**env, "PATH": os.pathsep.join(path), "PULSE_TMP": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert (tmp_path / "make.log").read_text().split() == ["install"]
    assert "old pair refused after the grace period" in result.stdout
