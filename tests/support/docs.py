"""Documentation that runs: a page's ``bash`` blocks, in order, against a real
`pulse serve` process on the embedded default (docs/api-walkthrough.md, docs/media.md)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port, wait_for_port
from tests.support.require import service_missing
from tests.support.urls import fake_dns_environment

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"


def bash_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, flags=re.DOTALL)


@contextlib.contextmanager
def running_pulse_serve(
    tmp_path: Path, *, port_flag: bool = False, **extra_env: str
) -> Iterator[tuple[str, str]]:
    """`pulse serve` on the embedded default (plus ``extra_env``); yields (base URL,
    printed admin token) and stops it afterwards. ``port_flag``: the port is given as
    ``--port``, not ``PORT``."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DATA_DIR": str(tmp_path / "data"),
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "warning",
        **fake_dns_environment(),
        **extra_env,
    }
    pulse = Path(sys.executable).parent / "pulse"
    if port_flag:
        del env["PORT"]
    process = subprocess.Popen(
        [str(pulse), "serve", *(["--port", str(port)] if port_flag else [])],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        token = None
        deadline = time.monotonic() + 30
        while token is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            match = re.search(r"export PULSE_ADMIN_TOKEN=(\S+)", line)
            if match:
                token = match.group(1)
        assert token, "pulse serve did not print an admin token"
        assert wait_for_port(port, timeout=30), "pulse serve did not start listening"
        yield f"http://127.0.0.1:{port}", token
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def pulse_serve(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`pulse serve` on the embedded default; yields (base URL, printed admin token)."""
    with running_pulse_serve(tmp_path) as server:
        yield server


def run_page(
    page: Path, server: tuple[str, str], cwd: Path, *, cwd_is_root: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``page``'s bash blocks as one ``set -euo pipefail`` script against ``server``
    (base URL, admin token); fails the test when the page does not run as written.

    The script runs in ``cwd`` (or the repository's root with ``cwd_is_root``, for pages
    that run ``examples/``). ``cwd`` (the test's ``tmp_path``) is always the page's
    ``$PULSE_TMP``: every file the page writes stays in the test's own directory, so two
    runs at once (two clones, two CI jobs on one machine) never share a file."""
    if shutil.which("curl") is None:
        service_missing("curl is not installed")
    base_url, token = server
    blocks = bash_blocks(page.read_text())
    assert blocks, f"{page} has no bash blocks"
    assert not any("/tmp/" in block for block in blocks), f"{page}: use $PULSE_TMP, not /tmp"
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + "\n".join(blocks)],
        env={
            **os.environ,
            # The project's virtualenv first, as after `. .venv/bin/activate`.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULSE": base_url,
            "PULSE_ADMIN_TOKEN": token,
            "PULSE_TMP": str(cwd),
        },
        cwd=ROOT if cwd_is_root else cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result
