"""The type stubs of the Rust extension match what it exports (mypy's stubtest)."""

from __future__ import annotations

import subprocess
import sys


def test_core_stub_matches_the_extension() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "stemmatic._core"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
