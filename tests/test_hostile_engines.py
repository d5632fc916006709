"""Bad input gets the same outcome on every engine: `stemmatic dedup|contamination scan --engine local|ray|spark`.

The same error class and message (file and line, or file and row) for a
malformed JSONL line, a wrongly typed row, a text column of numbers, null or
repeated ids; the same kept / removed / rejected counts with ``--on-error
skip`` on a directory of many shards; options the engines cannot honour
refused by name; Spark without Java one line, and Spark's Python workers the
driver's interpreter whatever PATH says.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.synthetic import generate_corpus

pytestmark = [
    # Ray's and PySpark's own start-up warnings; ours stay errors.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:ray.*"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

ENGINES = ["local", "ray", "spark"]
SHARDS = 24
ROWS_PER_SHARD = 10


@pytest.fixture(scope="module")
def ray_session(local_ray: Any) -> Any:
    return local_ray


@pytest.fixture(scope="module")
def spark_session(local_spark: Any) -> Any:
    return local_spark


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The engine of the test's parameter, with its session started (once per module)."""
    name: str = request.param
    if name != "local":
        request.getfixturevalue(f"{name}_session")
    return name


def run(*args: str | Path) -> Any:
    # A wide console: rich must not wrap the paths inside error messages.
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "100000"})


def dedup(engine: str, inputs: Path, out: Path, *extra: str | Path) -> Any:
    return run("dedup", inputs, "-o", out, "--engine", engine, "-q", *extra)


def error_line(result: Any) -> str:
    """The one ``error: ...`` line of a refused run (no traceback)."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    text = " ".join(result.output.split())  # rich may wrap long lines
    assert "Traceback" not in text
    assert text.count("error: ") == 1, text
    return text[text.index("error: ") :]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 JSONL shards with near-duplicates across shards and a malformed line in shard 5 (its line 9)."""
    texts = generate_corpus(SHARDS * ROWS_PER_SHARD, seed=3, max_words=120, duplicate_fraction=0.4).texts
    root = tmp_path_factory.mktemp("shards")
    for shard in range(SHARDS):
        rows: list[Any] = []
        for i in range(shard * ROWS_PER_SHARD, (shard + 1) * ROWS_PER_SHARD):
            rows.append({"id": f"d{i:04d}", "text": texts[i]})
            if i == 57:
                rows.append('{"id": "bad", "text": \n')
        write_jsonl(root / f"part-{shard:03d}.jsonl", rows)
    return root


# -- the same error, naming the same file and line ---------------------------------


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_malformed_line_raises_naming_file_and_line(engine: str, shards: Path, tmp_path: Path) -> None:
    line = error_line(dedup(engine, shards, tmp_path / "out"))
    assert f"error: {shards / 'part-005.jsonl'}:9: malformed JSONL line" in line
    assert "--on-error skip" in line


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_wrongly_typed_row_names_its_line(engine: str, tmp_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "in" / "x.jsonl",
        [{"id": 1, "text": "a b c"}, {"id": "q", "text": "d e f"}, {"id": 3, "text": "g h"}],
    )
    line = error_line(dedup(engine, data, tmp_path / "out", "--id-column", "id"))
    assert line.startswith(f"error: {data}:")
    assert "'id'" in line


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_text_column_of_numbers_names_the_file(engine: str, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": "a b c d e f"}])
    bad = write_jsonl(tmp_path / "in" / "b.jsonl", [{"text": 5}, {"text": 6}])
    line = error_line(dedup(engine, tmp_path / "in", tmp_path / "out"))
    assert line == f"error: {bad}: column 'text' has type int64, expected strings"


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_duplicate_ids_across_shards_are_refused_naming_both_rows(engine: str, tmp_path: Path) -> None:
    first = write_jsonl(
        tmp_path / "in" / "a.jsonl", [{"id": i, "text": f"text {i} a b c d e"} for i in range(4)]
    )
    write_jsonl(tmp_path / "in" / "b.jsonl", [{"id": 10 + i, "text": f"other {i} a b c d"} for i in range(3)])
    second = write_jsonl(
        tmp_path / "in" / "c.jsonl", [{"id": 9, "text": "x y z"}, {"id": 2, "text": "u v w"}]
    )
    line = error_line(dedup(engine, tmp_path / "in", tmp_path / "out", "--id-column", "id"))
    assert line == (
        f"error: duplicate id 2 in column 'id': {first} (row 2) and {second} (row 1); ids must be unique"
    )


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_null_id_is_refused_naming_its_row(engine: str, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": "a", "text": "a b c"}, {"id": "b", "text": "d e f"}])
    bad = write_jsonl(tmp_path / "in" / "b.jsonl", [{"id": "c", "text": "g h"}, {"id": None, "text": "i j"}])
    line = error_line(dedup(engine, tmp_path / "in", tmp_path / "out", "--id-column", "id"))
    assert line == f"error: {bad} (row 1): id column 'id' is null"


@pytest.mark.parametrize("engine", ["ray", "spark"], indirect=True)
def test_a_column_typed_differently_across_shards_names_both_files(engine: str, tmp_path: Path) -> None:
    # The engines need one type per column; converting ids (1 -> "1" or 1.0) would change them.
    ints = write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": 1, "text": "a b c"}])
    strings = write_jsonl(tmp_path / "in" / "b.jsonl", [{"id": "z", "text": "d e f"}])
    line = error_line(dedup(engine, tmp_path / "in", tmp_path / "out", "--id-column", "id"))
    assert line == (
        f"error: column 'id' has type int64 in {ints} but string in {strings}; "
        "a column must have one type in all inputs"
    )


# -- the same counts with --on-error skip, on many shards ---------------------------


def _rows(directory: Path, fmt: str) -> pa.Table:
    files = sorted(p for p in directory.rglob(f"*.{'json' if fmt == 'jsonl' else 'parquet'}*") if p.is_file())
    files = [p for p in files if not p.name.startswith((".", "_")) and p.stat().st_size]
    if fmt == "parquet":
        return pa.concat_tables([pq.read_table(p).select(["id", "text"]) for p in files])
    return pa.concat_tables([pajson.read_json(p).select(["id", "text"]) for p in files])


@pytest.mark.parametrize("engine", ["ray", "spark"], indirect=True)
def test_skip_on_many_shards_gives_the_local_counts_rows_and_rejects(
    engine: str, shards: Path, tmp_path: Path
) -> None:
    local = dedup("local", shards, tmp_path / "local", "--on-error", "skip", "--id-column", "id")
    assert local.exit_code == 0, local.output
    result = dedup(
        engine, shards, tmp_path / engine, "--on-error", "skip", "--id-column", "id", "--format", "jsonl"
    )
    assert result.exit_code == 0, result.output
    want = json.loads((tmp_path / "local" / "report.json").read_text())["rows"]
    got = json.loads((tmp_path / engine / "report.json").read_text())["rows"]
    keys = ("in", "kept", "removed", "rejected")
    assert {k: got[k] for k in keys} == {k: want[k] for k in keys}
    assert got["detail"]["removed_near_duplicate"] == want["detail"]["removed_near_duplicate"]
    assert got["in"] == SHARDS * ROWS_PER_SHARD + 1 == got["kept"] + got["removed"] + got["rejected"]
    assert got["rejected"] == 1 and got["removed"] > 10
    assert (tmp_path / engine / "rejected" / "rejected.jsonl").read_text() == (
        tmp_path / "local" / "rejected" / "rejected.jsonl"
    ).read_text()
    for side in ("kept", "removed"):
        local_rows = _rows(tmp_path / "local" / side, "parquet").sort_by("id")
        engine_rows = _rows(tmp_path / engine / side, "jsonl").sort_by("id")
        assert engine_rows.to_pylist() == local_rows.to_pylist(), side


@pytest.mark.parametrize("engine", ["ray", "spark"], indirect=True)
def test_scan_on_error_skip_writes_rejects_and_jsonl(engine: str, shards: Path, tmp_path: Path) -> None:
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"prompt": "zebra quantum lattice over the river bank"}])
    index = tmp_path / "bench.idx"
    assert run("contamination", "index", bench, "-o", index, "--ngram", "3").exit_code == 0
    args = ["contamination", "scan", shards, "--index", index, "--remove", "--on-error", "skip"]
    refused = run(*args[:-2], "-o", tmp_path / "refused", "--engine", engine)
    assert f"{shards / 'part-005.jsonl'}:9: malformed JSONL line" in error_line(refused)
    result = run(*args, "-o", tmp_path / engine, "--engine", engine, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / engine / "report.json").read_text())
    assert report["rows"]["rejected"] == 1
    assert report["rows"]["in"] == SHARDS * ROWS_PER_SHARD + 1
    assert report["rows"]["kept"] + report["rows"]["removed"] == SHARDS * ROWS_PER_SHARD
    assert len(_rows(tmp_path / engine / "clean", "jsonl")) == SHARDS * ROWS_PER_SHARD
    assert (tmp_path / engine / "rejected" / "rejected.jsonl").exists()


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_scan_bad_row_in_a_later_shard_names_its_file_and_row(engine: str, tmp_path: Path) -> None:
    # The scan finds the bad row inside an engine task, by its row number in the whole input.
    (tmp_path / "in").mkdir()
    pq.write_table(
        pa.table({"text": pa.array([b"one two", b"three four", b"five"])}), tmp_path / "in" / "a.parquet"
    )
    bad = tmp_path / "in" / "b.parquet"
    pq.write_table(pa.table({"text": pa.array([b"six seven", b"bad \xff\xfe bytes", b"ok"])}), bad)
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"prompt": "zebra quantum lattice over the river bank"}])
    assert run("contamination", "index", bench, "-o", tmp_path / "b.idx", "--ngram", "3").exit_code == 0
    result = run(
        "contamination", "scan", tmp_path / "in", "--index", tmp_path / "b.idx", "-o", tmp_path / "out",
        "--engine", engine,
    )  # fmt: skip
    assert error_line(result).startswith(f"error: {bad}: row 1: text is not valid UTF-8")


# -- options the engines cannot honour are refused by name ---------------------------


@pytest.mark.parametrize("engine_name", ["ray", "spark"])
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--resume"], "--resume applies to the local engine only"),
        (["--workers", "2"], "--workers applies to the local engine only"),
        (["--memory-limit", "1GB"], "--memory-limit applies to the local engine only"),
        (["--emit-pairs"], "--emit-pairs applies to the local engine only"),
    ],
)
def test_local_only_dedup_options_are_refused(
    engine_name: str, option: list[str], message: str, shards: Path, tmp_path: Path
) -> None:
    line = error_line(dedup(engine_name, shards, tmp_path / "out", *option))
    assert message in line and f"--engine {engine_name}" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", [["--workers", "2"], ["--batch-rows", "100"], ["--gpt3-cut"]])
def test_local_only_scan_options_are_refused(option: list[str], shards: Path, tmp_path: Path) -> None:
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"prompt": "zebra quantum lattice over the river bank"}])
    assert run("contamination", "index", bench, "-o", tmp_path / "b.idx", "--ngram", "3").exit_code == 0
    result = run(
        "contamination", "scan", shards, "--index", tmp_path / "b.idx", "-o", tmp_path / "out",
        "--engine", "ray", *option,
    )  # fmt: skip
    assert f"{option[0]} " in error_line(result) and "local engine only" in error_line(result)


# -- Spark's Java and Python ------------------------------------------------------------


def _cli(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The installed ``stemmatic`` script, called by absolute path, in ``env``."""
    script = Path(sys.executable).parent / "stemmatic"
    return subprocess.run(
        [str(script), *map(str, args)], env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.parametrize("java_home", ["missing", "unset", "old"])
def test_spark_without_java_is_one_line(java_home: str, shards: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {"PATH": str(empty), "HOME": str(tmp_path), "COLUMNS": "100000"}
    if java_home == "missing":
        env["JAVA_HOME"] = str(tmp_path / "no-jdk")
    elif java_home == "old":
        java = tmp_path / "jdk11" / "bin" / "java"
        java.parent.mkdir(parents=True)
        java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
        java.chmod(0o755)
        env["JAVA_HOME"] = str(tmp_path / "jdk11")
    done = _cli(env, "dedup", shards, "-o", tmp_path / "out", "--engine", "spark", "-q")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: --engine spark needs Java 17 or newer"), (
        done.stderr
    )
    assert "JAVA_HOME" in errors[0]


def test_spark_workers_run_the_drivers_python_whatever_path_says(shards: Path, tmp_path: Path) -> None:
    # PATH without the venv (its python3, if any, lacks stemmatic): workers must not start "python3".
    pytest.importorskip("pyspark")
    java = os.environ.get("JAVA_HOME") or str(
        Path(os.path.realpath(shutil.which("java") or "/")).parent.parent
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "JAVA_HOME": java}
    out = tmp_path / "out"
    done = _cli(
        env,
        "dedup", shards, "-o", out, "--engine", "spark", "-q", "--on-error", "skip",
        "--spark-master", "local[2]",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert rows["kept"] + rows["removed"] + rows["rejected"] == rows["in"] == SHARDS * ROWS_PER_SHARD + 1
