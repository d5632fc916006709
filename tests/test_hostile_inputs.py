"""Hostile and broken input to the corpus commands: nothing lost, nothing crashes.

Each case is one an audit found doing damage (deleting inputs, crashing the
process, corrupting outputs silently, or printing a traceback). Every outcome
is either a clear error naming the file (and line, field) with exit code 2,
or a run whose rows are all accounted for: kept + removed + rejected = input.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import stemmatic.io as sio
from stemmatic.cli import app
from stemmatic.dedup import dedup
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io import iter_chunks, output_dir, resolve_inputs

runner = CliRunner()
TEXTS = [f"document number {i} talks about topic {i % 7} in some detail here" for i in range(20)]


def _jsonl(path: Path, rows: list[dict], extra: list[bytes] = ()) -> Path:
    lines = [json.dumps(r).encode() for r in rows]
    path.write_bytes(b"\n".join([*lines[:10], *extra, *lines[10:]]) + b"\n")
    return path


def _corpus(tmp_path: Path) -> Path:
    data = tmp_path / "in"
    data.mkdir()
    _jsonl(data / "a.jsonl", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    return data


def _all_rows(out: Path, sub: str) -> list[dict]:
    files = sorted((out / sub).rglob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def _conserved(out: Path, input_rows: int) -> dict:
    report = json.loads((out / "report.json").read_text())
    rows = report["rows"]
    assert rows["kept"] + rows["removed"] + rows["rejected"] == rows["in"]
    kept, removed = _all_rows(out, "kept"), _all_rows(out, "removed")
    rejected = (
        (out / "rejected" / "rejected.jsonl").read_text().splitlines()
        if (out / "rejected" / "rejected.jsonl").exists()
        else []
    )
    assert (len(kept), len(removed), len(rejected)) == (rows["kept"], rows["removed"], rows["rejected"])
    assert len(kept) + len(removed) + len(rejected) == input_rows
    return report


# -- 1. outputs that overlap inputs ---------------------------------------------------------


@pytest.mark.parametrize("where", ["same", "parent", "inside"])
@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
def test_dedup_refuses_output_overlapping_input(tmp_path: Path, where: str, flag: str) -> None:
    data = _corpus(tmp_path)
    (tmp_path / "unrelated.txt").write_text("keep me")
    out = {"same": data, "parent": tmp_path, "inside": data / "out"}[where]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = runner.invoke(app, ["dedup", str(data), "-o", str(out), flag])
    assert result.exit_code == 2, result.output
    assert "choose an output outside the inputs" in result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_overlap_seen_through_a_symlink(tmp_path: Path) -> None:
    data = _corpus(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(data)
    with (
        pytest.raises(ParameterError, match="outside the inputs"),
        output_dir(link, inputs=resolve_inputs([data]), overwrite=True),
    ):
        pass
    assert (data / "a.jsonl").exists()


def test_contamination_scan_and_diversity_refuse_overlap(tmp_path: Path) -> None:
    data = _corpus(tmp_path)
    bench = tmp_path / "bench.jsonl"
    _jsonl(bench, [{"prompt": TEXTS[0]}])
    index = tmp_path / "bench.idx"
    result = runner.invoke(app, ["contamination", "index", str(bench), "-o", str(index)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["contamination", "scan", str(data), "--index", str(index), "-o", str(tmp_path), "--overwrite"]
    )
    assert result.exit_code == 2, result.output
    result = runner.invoke(app, ["diversity", "embed", str(data), "-o", str(data), "--overwrite"])
    assert result.exit_code == 2, result.output
    assert (data / "a.jsonl").exists() and bench.exists() and index.exists()


def test_second_run_into_a_locked_directory_is_refused(tmp_path: Path) -> None:
    data = _corpus(tmp_path)
    files = resolve_inputs([data])
    with output_dir(tmp_path / "out", inputs=files) as out:
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "from stemmatic.cli import main; main()",
                "dedup",
                str(data),
                "-o",
                str(out),
                "--overwrite",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "400"},
        )
        assert child.returncode == 2, child.stderr
        assert "another stemmatic run" in child.stderr
    # Released: the next run goes ahead.
    assert dedup(data, tmp_path / "out", overwrite=True).input_rows == len(TEXTS)
    assert not (tmp_path / "out" / sio.LOCK_NAME).exists()


# -- 2. hostile nesting ---------------------------------------------------------------------


@pytest.mark.parametrize("depth", [100_000, 1_500])
def test_deep_nesting_is_rejected_before_pyarrow(tmp_path: Path, depth: int) -> None:
    data = tmp_path / "in"
    data.mkdir()
    deep = ("[" * depth + "]" * depth).encode()
    _jsonl(data / "a.jsonl", [{"text": t} for t in TEXTS], extra=[b'{"text": "x", "meta": ' + deep + b"}"])
    with pytest.raises(
        InvalidInputError, match=r"a.jsonl:11: malformed JSONL line: arrays/objects nested more"
    ):
        dedup(data, tmp_path / "out")
    result = dedup(data, tmp_path / "out2", on_error="skip")
    assert (result.input_rows, result.rejected_rows) == (len(TEXTS) + 1, 1)
    _conserved(tmp_path / "out2", len(TEXTS) + 1)


def test_deep_nesting_within_the_limit_is_kept(tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    nested: object = "leaf"
    for _ in range(sio.JSONL_MAX_DEPTH - 1):
        nested = [nested]
    _jsonl(data / "a.jsonl", [{"text": t, "meta": nested} for t in TEXTS])
    result = dedup(data, tmp_path / "out")
    assert result.input_rows == len(TEXTS)


# -- 4. silent corruption -------------------------------------------------------------------


def test_invalid_utf8_and_lone_surrogates_are_rejected_not_stored(tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    bad = [b'{"text": "caf\xe9 au lait"}', b'{"text": "x \\ud800 y"}', b'{"text": "\\udc00"}']
    _jsonl(data / "a.jsonl", [{"text": t} for t in TEXTS], extra=bad)
    with pytest.raises(InvalidInputError, match=r"a.jsonl:11: malformed JSONL line: not valid UTF-8"):
        dedup(data, tmp_path / "o1")
    result = dedup(data, tmp_path / "out", on_error="skip")
    assert result.rejected_rows == 3
    for path in (tmp_path / "out" / "kept").rglob("*.parquet"):
        pq.read_table(path).validate(full=True)
    rejected = [json.loads(x) for x in (tmp_path / "out/rejected/rejected.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejected] == [11, 12, 13]
    assert "surrogate" in rejected[1]["error"]


def test_binary_text_column_writes_text_to_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": pa.array([t.encode() for t in TEXTS], pa.binary())}), path)
    dedup(path, tmp_path / "out", fmt="jsonl")
    rows = [json.loads(x) for x in (tmp_path / "out/kept/a.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == TEXTS


def test_non_utf8_binary_to_jsonl_is_base64(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    raw = b"\xff\xfe abc def ghi jkl mno"
    pq.write_table(pa.table({"text": pa.array([raw], pa.binary())}), path)
    dedup(path, tmp_path / "out", fmt="jsonl", on_error="skip")
    rows = [json.loads(x) for x in (tmp_path / "out/kept/a.jsonl").read_text().splitlines()]
    assert [base64.b64decode(r["text"]) for r in rows] == [raw]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_field_first_seen_in_a_later_block_is_kept(tmp_path: Path, monkeypatch, fmt: str) -> None:
    monkeypatch.setattr(sio._json_reader, "JSONL_BLOCK_BYTES", 256)
    rows = [{"id": i, "text": t} for i, t in enumerate(TEXTS)]
    rows[15]["late"] = "here"
    rows[16]["id"] = 16.5  # a wider type later on
    _jsonl(tmp_path / "a.jsonl", rows)
    dedup(tmp_path / "a.jsonl", tmp_path / "out", fmt=fmt)
    if fmt == "parquet":
        out = pq.read_table(tmp_path / "out/kept/a.parquet").to_pylist()
    else:
        out = [json.loads(x) for x in (tmp_path / "out/kept/a.jsonl").read_text().splitlines()]
    assert [r.get("late") for r in out if r.get("late")] == ["here"]
    assert len(out) == len(TEXTS)
    assert not list((tmp_path / "out/kept").glob(".*part*"))


def test_integer_beyond_int64_is_refused_not_turned_into_float(tmp_path: Path) -> None:
    rows = [{"id": i, "text": t} for i, t in enumerate(TEXTS)]
    _jsonl(tmp_path / "a.jsonl", rows, extra=[b'{"id": 18446744073709551616, "text": "big"}'])
    with pytest.raises(InvalidInputError, match=r"a.jsonl:11: .*outside the 64-bit range"):
        dedup(tmp_path / "a.jsonl", tmp_path / "o1", id_column="id")
    dedup(tmp_path / "a.jsonl", tmp_path / "out", id_column="id", on_error="skip")
    kept = pq.read_table(tmp_path / "out/kept/a.parquet")
    assert kept.schema.field("id").type == pa.int64()


# -- 6. errors naming file / line / field ---------------------------------------------------


def test_wrongly_typed_row_is_named_and_skippable(tmp_path: Path) -> None:
    rows = [{"id": i, "text": t} for i, t in enumerate(TEXTS)]
    _jsonl(tmp_path / "a.jsonl", rows, extra=[b'{"id": 99, "text": 12345}'])
    with pytest.raises(InvalidInputError, match=r"a.jsonl:11: field 'text'"):
        dedup(tmp_path / "a.jsonl", tmp_path / "o1")
    result = dedup(tmp_path / "a.jsonl", tmp_path / "out", on_error="skip")
    assert (result.input_rows, result.rejected_rows) == (len(TEXTS) + 1, 1)
    _conserved(tmp_path / "out", len(TEXTS) + 1)


@pytest.mark.parametrize("damage", ["truncated", "not-gzip"])
def test_damaged_gzip_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    payload = b"".join(json.dumps({"text": t}).encode() + b"\n" for t in TEXTS * 50)
    blob = gzip.compress(payload)
    (tmp_path / "a.jsonl.gz").write_bytes(blob[: len(blob) // 2] if damage == "truncated" else payload)
    with pytest.raises(InvalidInputError, match=r"a.jsonl.gz: damaged or not gzip-compressed"):
        list(iter_chunks(resolve_inputs([tmp_path / "a.jsonl.gz"])))


def test_corrupt_parquet_page_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    rng = np.random.default_rng(0)
    words = [" ".join(rng.choice(["alpha", "beta", "gamma", "delta"], 50)) for _ in range(2000)]
    pq.write_table(pa.table({"text": words}), path, compression="snappy", row_group_size=500)
    blob = bytearray(path.read_bytes())
    middle = len(blob) // 2
    blob[middle : middle + 2000] = bytes(2000)
    path.write_bytes(bytes(blob))
    with pytest.raises(InvalidInputError, match=r"a.parquet: damaged Parquet file"):
        list(iter_chunks(resolve_inputs([path])))


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ({"id": ["x", "y"]}, "ids must be of one type in every file"),
        ({"id": [1.5, float("nan")]}, "has type double; ids must be integers or strings"),
        ({"id": [[1], [2]]}, "ids must be integers or strings"),
        ({"id": [{"a": 1}, {"a": 2}]}, "ids must be integers or strings"),
    ],
)
def test_bad_id_columns_are_named(tmp_path: Path, second: dict, message: str) -> None:
    pq.write_table(pa.table({"id": [1, 2], "text": TEXTS[:2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({**second, "text": TEXTS[2:4]}), tmp_path / "b.parquet")
    with pytest.raises(InvalidInputError, match=message):
        dedup(tmp_path, tmp_path.parent / f"out-{tmp_path.name}", id_column="id")


# -- 7. unbounded work from small inputs ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "-1"], "Invalid value for '--workers'"),
        (["--workers", "100000"], "100000 threads is more than"),
        (["--num-perm", "100000"], "must be between 1 and 8192"),
        (["--memory-limit", "0"], "must be at least 1MiB"),
    ],
)
def test_absurd_parameters_are_refused_at_once(tmp_path: Path, args: list[str], message: str) -> None:
    data = _corpus(tmp_path)
    result = runner.invoke(app, ["dedup", str(data), "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_lock_file_does_not_count_as_content(tmp_path: Path) -> None:
    data = _corpus(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / sio.LOCK_NAME).write_text("12345")  # left by a killed run
    assert dedup(data, out).input_rows == len(TEXTS)
