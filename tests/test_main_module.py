"""``python -m stemmatic`` is the ``stemmatic`` command line: same help, same outputs, same errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import stemmatic


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stemmatic", *args], capture_output=True, text=True, timeout=300
    )


def test_help_lists_the_commands() -> None:
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: python -m stemmatic [OPTIONS] COMMAND [ARGS]...")
    assert "dedup" in result.stdout and "contamination" in result.stdout


def test_version() -> None:
    result = _run("version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"stemmatic {stemmatic.__version__} (Unicode {stemmatic.UNICODE_VERSION})\n"


def test_dedup_writes_its_outputs(tmp_path: Path) -> None:
    corpus = tmp_path / "in.jsonl"
    texts = [f"document {i} about the topic number {i % 7} with a few more words" for i in range(50)]
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts + texts[:5]))
    result = _run("dedup", str(corpus), "-o", str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "out" / "report.json").read_text())["rows"]
    assert (rows["in"], rows["kept"], rows["removed"]) == (55, 50, 5)


def test_an_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _run("dedup", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
