"""Open files stay bounded whatever the number of shards: the kept/removed writers and dedup end to end.

``MirroredWriter`` held one open file per input shard until it closed, so
``dedup`` of a few hundred shards died with "Too many open files" under the
usual limit (1,024 on Linux, 256 on macOS). The band spill stage is tested
in test_sinks.py.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
import zstandard

from stemmatic.io import MirroredWriter, resolve_inputs


def _shards(directory: Path, count: int, rows: int = 3) -> list[Path]:
    directory.mkdir()
    paths = []
    for shard in range(count):
        path = directory / f"s{shard:04d}.jsonl"
        path.write_text(
            "".join(json.dumps({"text": f"shard {shard} row {i}", "n": i}) + "\n" for i in range(rows))
        )
        paths.append(path)
    return paths


def _read_jsonl(path: Path) -> list[dict]:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    elif path.suffix == ".zst":
        raw = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    elif path.suffix == ".bz2":
        import bz2

        raw = bz2.decompress(raw)
    return [json.loads(line) for line in raw.decode().splitlines()]


@pytest.mark.parametrize(
    ("fmt", "compression"),
    [("parquet", None), ("jsonl", "none"), ("jsonl", "gzip"), ("jsonl", "zstd"), ("jsonl", "bz2")],
)
def test_a_writer_holds_at_most_max_open_files_and_loses_no_row(
    tmp_path: Path, fmt: str, compression: str | None
) -> None:
    files = resolve_inputs(_shards(tmp_path / "in", 5))
    writer = MirroredWriter(tmp_path / "out", files, fmt, compression=compression, max_open=2)  # type: ignore[arg-type]
    expected: dict[int, list[dict]] = {i: [] for i in range(5)}
    # Interleaved: every shard is closed and continued several times.
    for step in range(4):
        for shard in (0, 3, 1, 4, 2):
            rows = [{"text": f"shard {shard} step {step} row {r}", "n": r} for r in range(2)]
            writer.write(shard, pa.Table.from_pylist(rows))
            expected[shard] += rows
            assert len(writer._writers) <= 2
    paths = writer.close()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in paths
    )  # no part left
    for shard, path in enumerate(paths):
        got = pq.read_table(path).to_pylist() if fmt == "parquet" else _read_jsonl(path)
        assert got == expected[shard], path
    if compression == "zstd":
        assert pajson.read_json(paths[0]).num_rows == 8  # one stream, readable by pyarrow too


def test_untouched_shards_get_empty_files_without_holding_them_open(tmp_path: Path) -> None:
    files = resolve_inputs(_shards(tmp_path / "in", 6))
    writer = MirroredWriter(tmp_path / "out", files, "parquet", max_open=2)
    writer.write(4, pa.table({"text": ["x"], "n": [1]}))
    paths = writer.close({i: pa.schema([("text", pa.string()), ("n", pa.int64())]) for i in range(6)})
    assert [pq.read_metadata(p).num_rows for p in paths] == [0, 0, 0, 0, 1, 0]


_RUN = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[3]), int(sys.argv[3])))
from stemmatic.dedup import dedup
caps = {"max_shard_rows": int(sys.argv[5])} if len(sys.argv) > 5 else {}
r = dedup(sys.argv[1], sys.argv[2], threshold=0.7, workers=1, fmt=sys.argv[4], **caps)
print(r.input_rows, r.kept_rows, r.removed_rows)
"""


def _dedup_of_300_shards_under_128_open_files(tmp_path: Path, fmt: str, *max_shard_rows: str) -> list[Path]:
    """dedup of 300 shards of 3 rows under RLIMIT_NOFILE 128 (in a subprocess): its kept files, sorted."""
    _shards(tmp_path / "in", 300)
    limited = subprocess.run(
        [
            sys.executable,
            "-c",
            _RUN,
            str(tmp_path / "in"),
            str(tmp_path / "limited"),
            "128",
            fmt,
            *max_shard_rows,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert limited.returncode == 0, limited.stderr[-2000:]
    assert limited.stdout.split() == ["900", "900", "0"]
    return sorted((tmp_path / "limited" / "kept").iterdir())


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_dedup_of_many_shards_under_a_small_open_file_limit(tmp_path: Path, fmt: str) -> None:
    """300 shards (600 kept and removed files) under a limit of 128 open files: the rows of a run without it."""
    kept = _dedup_of_300_shards_under_128_open_files(tmp_path, fmt)
    assert len(kept) == 300
    read = pq.read_table if fmt == "parquet" else pajson.read_json
    assert read(kept[123]).column("text").to_pylist() == [f"shard 123 row {i}" for i in range(3)]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_capped_shards_under_a_small_open_file_limit(tmp_path: Path) -> None:
    """--max-shard-rows 1 on 300 shards: 900 kept files, never more than the limit of 128 open at once."""
    kept = _dedup_of_300_shards_under_128_open_files(tmp_path, "jsonl", "1")
    assert len(kept) == 900 and kept[370].name == "s0123-00001.jsonl"
    assert _read_jsonl(kept[370]) == [{"text": "shard 123 row 1", "n": 1}]


def test_a_capped_writer_holds_at_most_max_open_files(tmp_path: Path) -> None:
    files = resolve_inputs(_shards(tmp_path / "in", 5))
    writer = MirroredWriter(
        tmp_path / "out", files, "jsonl", compression="gzip", max_open=2, max_shard_rows=3
    )
    for step in range(4):
        for shard in (0, 3, 1, 4, 2):
            writer.write(
                shard, pa.Table.from_pylist([{"text": f"{shard} {step} {r}", "n": r} for r in range(2)])
            )
            assert len(writer._writers) <= 2
    paths = writer.close()
    assert len(paths) == 5 * 3  # 8 rows an input: shards of 3, 3, 2
    assert [len(_read_jsonl(p)) for p in paths[:3]] == [3, 3, 2]
