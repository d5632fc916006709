"""Helpers shared by the end-to-end benchmarks: machine description, timing, result files."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
# `make bench-smoke` points both at a temporary folder, so a smoke run never
# replaces the recorded results or reuses full-size cached inputs.
DATA_DIR = Path(os.environ.get("STEMMATIC_BENCH_DATA") or BENCH_DIR / "data")
RESULTS_DIR = Path(os.environ.get("STEMMATIC_BENCH_RESULTS") or BENCH_DIR / "results")


def machine() -> str:
    """One line naming the machine: CPU model, cores, memory, OS, Python."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = f", load average {os.getloadavg()[0]:.1f} when the run ended" if hasattr(os, "getloadavg") else ""
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}{load}"
    )


def versions(*packages: str) -> str:
    out = []
    for name in packages:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def git_commit() -> str:
    """The checkout's short commit; ``BENCH_COMMIT`` where the tree was copied without ``.git`` (a GPU machine)."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=BENCH_DIR
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def write_results(name: str, body: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    path.write_text(body, encoding="utf-8")
    return path


def results_section(name: str, heading: str) -> str:
    """The section of ``RESULTS_DIR/name.md`` that starts at the line ``heading`` (to the next ``## ``), or ``""``."""
    path = RESULTS_DIR / f"{name}.md"
    if not path.exists():
        return ""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if heading + "\n" not in lines:
        return ""
    start = lines.index(heading + "\n")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "".join(lines[start:end])


def write_results_section(name: str, heading: str, body: str) -> Path:
    """Replace (or append) the section ``heading`` of ``RESULTS_DIR/name.md``; the rest of the file stays."""
    path = RESULTS_DIR / f"{name}.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    old = results_section(name, heading)
    section = heading + "\n\n" + body.strip("\n") + "\n"
    if old:
        start = text.index(old)
        after = text[start + len(old) :]
        text = text[:start] + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    return write_results(name, text)
