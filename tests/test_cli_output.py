"""What the CLI prints: text as given (no rich markup eaten), errors on stderr, one line, never a traceback."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import stemmatic
import stemmatic.synthetic
from stemmatic.cli import app, main
from stemmatic.exceptions import MissingExtraError

runner = CliRunner()
VERSION_LINE = f"stemmatic {stemmatic.__version__} (Unicode {stemmatic.UNICODE_VERSION})"


def test_version_option_and_command() -> None:
    for args in (["--version"], ["version"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == VERSION_LINE


def test_help_prints_brackets() -> None:
    result = runner.invoke(app, ["dedup", "--help"])
    assert result.exit_code == 0
    assert "local[8]" in result.stdout


@pytest.mark.parametrize(
    ("args", "literal"),
    [
        (["dedup", "nope[abc].jsonl", "-o", "{out}"], "nope[abc].jsonl"),
        (["contamination", "index", "nope[abc].jsonl", "-o", "{out}"], "nope[abc].jsonl"),
        (["contamination", "scan", "x.jsonl", "--index", "nope[i]", "-o", "{out}"], "nope[i]"),
        (["diversity", "measure", "nope[abc].parquet"], "nope[abc].parquet"),
        (["diversity", "semdedup", "nope[abc].parquet", "-o", "{out}"], "nope[abc].parquet"),
        (["lineage", "show", "nope[abc].json"], "nope[abc].json"),
        (["lineage", "build", "{out}", "--edges", "nope[abc].csv"], "nope[abc].csv"),
        (["sample-data", "{out}", "--format", "x[y]"], "'x[y]'"),
    ],
)
def test_errors_print_literally_on_stderr(tmp_path: Path, args: list[str], literal: str) -> None:
    args = [a.replace("{out}", str(tmp_path / "out")) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    # dedup first prints its LSH line (information, on stderr); the error is one line, the last.
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("LSH ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert literal in lines[0]


def test_missing_extra_names_the_extra_literally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"directed": True, "nodes": [], "links": []}), encoding="utf-8")

    def missing(*_args: object, **_kwargs: object) -> None:
        raise MissingExtraError("rustworkx", "lineage", "lineage graphs")

    monkeypatch.setattr("stemmatic.lineage.export.read_node_link", missing)
    result = runner.invoke(app, ["lineage", "show", str(graph)])
    assert result.exit_code == 2
    assert "pip install 'stemmatic[lineage]'" in result.stderr and result.stdout == ""


def test_sample_data_refuses_bad_format_before_writing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sample-data", str(tmp_path / "out"), "--format", "csv"])
    assert result.exit_code == 2 and "unknown format 'csv'" in result.stderr
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ main(): nothing escapes as a traceback
def _run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: BaseException):
    """Run ``stemmatic sample-data`` through main() with the generator raising ``error``."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(stemmatic.synthetic, "generate_corpus", broken)
    monkeypatch.setattr(sys, "argv", ["stemmatic", "sample-data", "unused-dir"])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


@pytest.mark.parametrize(
    ("error", "code", "expected"),
    [
        (MemoryError(), 1, "error: out of memory; free memory"),
        (
            OSError(errno.ENOSPC, "No space left on device", "out/kept/part-0.parquet"),
            1,
            "error: out/kept/part-0.parquet: No space left on device (free some space",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/root/x[1].parquet"),
            1,
            "error: /root/x[1].parquet: Permission denied (check the permissions of the path)",
        ),
        (KeyboardInterrupt(), 130, "interrupted"),
        (
            RuntimeError("boom [x]"),
            70,
            "internal error: RuntimeError: boom [x] (set STEMMATIC_DEBUG=1 for the traceback; please report it)",
        ),
    ],
)
def test_main_prints_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: BaseException,
    code: int,
    expected: str,
) -> None:
    monkeypatch.delenv("STEMMATIC_DEBUG", raising=False)
    exit_code, out, err = _run_main(monkeypatch, capsys, error)
    assert exit_code == code
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(expected), err
    assert "Traceback" not in err


def test_main_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEMMATIC_DEBUG", "1")
    monkeypatch.setattr(stemmatic.synthetic, "generate_corpus", lambda *a, **k: 1 / 0)
    monkeypatch.setattr(sys, "argv", ["stemmatic", "sample-data", "unused-dir"])
    with pytest.raises(ZeroDivisionError):
        main()


def test_script_end_to_end(tmp_path: Path) -> None:
    """The installed entry point: literal error on stderr, exit 2, no traceback; --version."""
    script = [sys.executable, "-c", "from stemmatic.cli import main; main()"]
    done = subprocess.run(
        [*script, "dedup", str(tmp_path / "nope[abc].jsonl"), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "nope[abc].jsonl" in done.stderr and "Traceback" not in done.stderr
    assert "error:" not in done.stdout
    done = subprocess.run([*script, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == VERSION_LINE
