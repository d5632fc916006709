"""Helpers shared by the end-to-end benchmarks: machine description, timing, result files."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
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


def byte_compile(*packages: str) -> None:
    """Byte-compile ``packages`` in place, as pip does when it installs a wheel.

    A timed new process then loads them as an installed copy would. An editable install run with
    ``PYTHONDONTWRITEBYTECODE`` set (as on these machines) would otherwise compile every changed
    module again in every timed process: 0.03-0.05 s of a 0.5 s ``stemmatic dedup``.
    """
    import compileall
    import importlib.util

    for name in packages:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(location, quiet=2)


def run_process(command: Sequence[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, its children included) of one new process; exits with its stderr if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4 before reading stderr: the rusage is the process's own; a chatty stderr is small for these commands.
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{error}")
    return wall, usage.ru_utime + usage.ru_stime


def alternate(
    commands: Sequence[Sequence[str]], repeat: int, clear: Sequence[Path | None] = ()
) -> list[tuple[list[float], list[float]]]:
    """Run ``commands`` in turn (A B A B ...) ``repeat`` times, each a new process: per command, its wall and
    CPU seconds of every round. ``clear[i]`` (a directory) is removed before each run of command ``i``, untimed.

    Taking turns means a load change on a shared machine slows every command alike; compare them per round.
    """
    times: list[tuple[list[float], list[float]]] = [([], []) for _ in commands]
    for _ in range(repeat):
        for i, command in enumerate(commands):
            if i < len(clear) and clear[i] is not None:
                shutil.rmtree(clear[i], ignore_errors=True)  # type: ignore[arg-type]
            wall, cpu = run_process(command)
            times[i][0].append(wall)
            times[i][1].append(cpu)
    return times


def pair_medians(
    a: tuple[list[float], list[float]], b: tuple[list[float], list[float]]
) -> tuple[float, float, float, float, float, float]:
    """Medians of :func:`alternate`'s rounds for A and B: wall A, CPU A, wall B, CPU B, and the medians of the
    per-round ratios B ÷ A (wall, CPU)."""
    med = statistics.median
    return (
        med(a[0]),
        med(a[1]),
        med(b[0]),
        med(b[1]),
        med([wb / wa for wa, wb in zip(a[0], b[0], strict=True)]),
        med([cb / ca for ca, cb in zip(a[1], b[1], strict=True)]),
    )


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


def write_results_head(name: str, head: str) -> Path:
    """Replace the part of ``RESULTS_DIR/name.md`` before its first ``## `` section; the sections stay (other
    scripts' and other modes' sections, notes added by hand)."""
    path = RESULTS_DIR / f"{name}.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    at = text.find("\n## ")
    sections = text[at + 1 :] if at >= 0 else ""
    return write_results(name, head.rstrip("\n") + "\n" + ("\n" + sections if sections else ""))
