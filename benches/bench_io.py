"""Output writers on the same table: stemmatic's JSONL writer vs polars' ``write_ndjson`` and pyarrow's Parquet.

The table is generated text rows as a corpus holds them: an int64 id, a URL,
a text of 20-400 words drawn from a Zipf-weighted vocabulary in paragraphs
(newlines), with quotes, tabs, backslashes and non-ASCII words in a share of
rows, a float score and a timestamp. Each writer writes the whole table to a
local file; the writers take turns within each repeat (so a load change on a
shared machine hits all of them) and the best wall and CPU times per writer are kept.

* ``stemmatic jsonl`` — :class:`stemmatic.io._sinks.JsonlWriter` (what
  ``--format jsonl`` writes: the Rust encoder ``stemmatic._core.JsonlEncoder``),
  on all CPUs and on one thread, plain, zstd and gzip;
* ``polars write_ndjson`` — the peer (``pip install polars``; not a
  dependency of stemmatic), on a frame made from the same Arrow table
  (conversion not timed);
* ``pyarrow parquet (zstd)`` — what ``--format parquet`` writes, as the floor;
* ``python encoder (replaced)`` — the column-by-column pyarrow/numpy
  encoder the Rust one replaced (``tests/jsonl_reference.py``);
* ``pyarrow to_pylist + json.dumps`` — rows as Python objects and the
  standard library's encoder (the writer before that), at the smaller sizes only.

Every JSONL file is checked to parse back to the same rows as polars' file.

Then the JSONL readers on real files (``--read``: the short-document corpora
of ``bench_short_docs.py``, and long documents from the MinHash corpus):
``stemmatic.io.iter_chunks`` beside ``pyarrow.json.read_json`` alone, in CPU
seconds and wall time (``--read-only`` runs only these).
Writes ``benches/results/io.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from _common import DATA_DIR, git_commit, machine, versions, write_results, write_results_section
from stemmatic.io._sinks import JsonlWriter

SPECIAL = ['"quoted"', "tab\there", "back\\slash", "naïve", "café", "日本語", "Ελληνικά", "😀"]


def make_table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i:x}" for i in range(20_000)] + SPECIAL)
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    weights[-len(SPECIAL) :] = weights[100]  # special words are common enough to occur in many rows
    weights /= weights.sum()
    lengths = rng.integers(20, 400, size=rows)
    words = vocabulary[rng.choice(len(vocabulary), size=int(lengths.sum()), p=weights)]
    texts = []
    start = 0
    for n in lengths:
        piece = words[start : start + n].tolist()
        start += n
        for cut in range(60, len(piece), 60):  # paragraphs
            piece[cut] = "\n\n" + piece[cut]
        texts.append(" ".join(piece))
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "url": pa.array([f"https://example.org/{i % 997}/page-{i}.html" for i in range(rows)]),
            "text": pa.array(texts, pa.large_string()),
            "score": pa.array(rng.random(rows)),
            "crawled": pa.array(
                np.datetime64("2024-01-01T00:00:00")
                + rng.integers(0, 10**8, size=rows).astype("timedelta64[s]")
            ),
        }
    )


def stemmatic_jsonl(
    table: pa.Table, path: Path, compression: str = "none", workers: int | None = None
) -> None:
    writer = JsonlWriter(path, compression, workers=workers)
    writer.write_table(table)
    writer.close()


def _reference_encoder() -> Any:
    """The Python encoder the Rust one replaced (kept in the tests as their reference)."""
    spec = importlib.util.spec_from_file_location(
        "jsonl_reference", Path(__file__).resolve().parents[1] / "tests" / "jsonl_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.JsonEncoder


def python_encoder(table: pa.Table, path: Path) -> None:
    encoder = _reference_encoder()()
    with path.open("wb") as fh:
        for buffer in encoder.lines(table):
            fh.write(buffer)


def row_by_row(table: pa.Table, path: Path) -> None:
    """The writer before: Python rows and json.dumps."""
    with path.open("w", encoding="utf-8") as fh:
        for row in table.to_pylist():
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def parsed(path: Path) -> pa.Table:
    return pajson.read_json(path, parse_options=pajson.ParseOptions(newlines_in_values=False))


READ_HEADING = "## Reading JSONL: iter_chunks beside pyarrow read_json"


def long_docs_jsonl(rows: int = 10_000) -> Path | None:
    """A JSONL file of long documents (5.3 KB on average): the first rows of the MinHash corpus.

    Made once under ``benches/data`` from ``minhash-corpus-50000-0.parquet``
    (``bench_minhash.py`` makes that); None if it is missing.
    """
    path = DATA_DIR / f"long-docs-{rows}" / "docs.jsonl"
    source = DATA_DIR / "minhash-corpus-50000-0.parquet"
    if not path.exists() and source.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        stemmatic_jsonl(pq.read_table(source).slice(0, rows), path)
    return path if path.exists() else None


def read_table(path: Path, repeat: int) -> list[str]:
    """Reading a JSONL file: stemmatic's reader beside pyarrow's ``read_json`` alone and polars.

    The readers take turns within each repeat; each is timed in CPU seconds of
    the process (all threads: pyarrow parses on all cores) and in wall time.
    The ratios are the medians over the repeats of this reader's time / that of
    ``read_json`` on the whole file in the same repeat.
    """
    from stemmatic import _core
    from stemmatic.io import iter_chunks, resolve_inputs
    from stemmatic.io._sources import JSONL_BLOCK_BYTES, JSONL_MAX_DEPTH

    data = path.read_bytes()
    blocks = []
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + JSONL_BLOCK_BYTES) + 1 or len(data)
        if end <= start:
            end = len(data)
        blocks.append(data[start:end])
        start = end
    del data

    def stemmatic_all() -> int:
        return sum(c.batch.num_rows for c in iter_chunks(resolve_inputs([path])))

    def stemmatic_text() -> int:
        return sum(c.batch.num_rows for c in iter_chunks(resolve_inputs([path]), columns=["text"]))

    def arrow_file() -> int:
        return pajson.read_json(path).num_rows

    def arrow_blocks() -> int:
        return sum(pajson.read_json(pa.BufferReader(block)).num_rows for block in blocks)

    def screen() -> int:
        return sum(_core.jsonl_screen(block, JSONL_MAX_DEPTH).lines for block in blocks)

    readers: dict[str, Callable[[], int]] = {
        "pyarrow read_json, whole file": arrow_file,
        "stemmatic iter_chunks, all columns": stemmatic_all,
        "pyarrow read_json, 8 MiB blocks in memory": arrow_blocks,
        "stemmatic screen (jsonl_screen), 8 MiB blocks in memory": screen,
        "stemmatic iter_chunks, columns=['text']": stemmatic_text,
    }
    try:
        import polars as pl

        readers["polars read_ndjson"] = lambda: pl.read_ndjson(path).height
    except ImportError:
        pass
    floor = "pyarrow read_json, whole file"
    rows = {name: read() for name, read in readers.items()}  # warm the page cache and the imports
    assert rows["stemmatic iter_chunks, all columns"] == rows[floor], rows
    cpu: dict[str, list[float]] = {name: [] for name in readers}
    wall: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(repeat):
        for name, read in readers.items():
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            read()
            cpu[name].append(time.process_time() - cpu_start)
            wall[name].append(time.perf_counter() - wall_start)

    def ratio(times: dict[str, list[float]], name: str) -> float:
        return float(np.median([t / f for t, f in zip(times[name], times[floor], strict=True)]))

    megabytes = path.stat().st_size / 1e6
    lines = [
        "",
        f"### {path.parent.name}/{path.name} ({megabytes:.0f} MB, {rows[floor]:,} lines)",
        "",
        "| reader | CPU s | vs read_json (CPU) | wall s | MB/s (wall) | vs read_json (wall) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in readers:
        lines.append(
            f"| {name} | {min(cpu[name]):.3f} | {ratio(cpu, name):.2f} | {min(wall[name]):.3f} "
            f"| {megabytes / min(wall[name]):.0f} | {ratio(wall, name):.2f} |"
        )
    print("\n".join(lines), flush=True)
    return lines


def read_section(paths: list[Path], repeat: int) -> str:
    """The body of the reading section of ``io.md``: its command, machine and one table per file."""
    lines = [
        f"Command: `{' '.join(['python', *sys.argv])}`",
        "",
        f"Machine: {machine()}; shared with other work while it ran.",
        f"Versions: {versions('pyarrow', 'polars', 'numpy')}; stemmatic at {git_commit()}.",
        "",
        f"{repeat} repeats, the readers in turn within each. CPU s / wall s: the best repeat (CPU: "
        "`time.process_time`, all threads of the process). vs read_json: the median over the repeats "
        "of this reader's time / `pyarrow.json.read_json` on the whole file in the same repeat (below "
        "1: faster). `iter_chunks` screens each 8 MiB block in Rust (`jsonl_screen`: depth, UTF-8, "
        "lone surrogates, 64-bit integers) and parses it with pyarrow in place; the next block of a "
        "memory-mapped file is screened on a thread while pyarrow parses this one.",
    ]
    for path in paths:
        lines += read_table(path, repeat)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--before-max", type=float, default=1e5, help="largest size for the old row-by-row writer"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--read",
        type=Path,
        nargs="*",
        default=[
            DATA_DIR / "short-docstrings-60000" / "docs.jsonl",
            DATA_DIR / "short-docstrings-60000-x10" / "docs.jsonl",
        ],
        help="JSONL files to time the readers on (those that do not exist are skipped; make them "
        "with benches/bench_short_docs.py); a long-document file made from the MinHash corpus is added",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="time the readers only, replacing the reading section of io.md (the writers' stays)",
    )
    args = parser.parse_args()
    reads = [p for p in [*args.read, long_docs_jsonl()] if p is not None and p.exists()]
    if args.read_only:
        path = write_results_section("io", READ_HEADING, read_section(reads, args.repeat))
        print(f"wrote {path}")
        return
    try:
        import polars as pl
    except ImportError:
        pl = None  # type: ignore[assignment]

    lines = [
        "# Output writers: JSONL and Parquet on the same table",
        "",
        f"Command: `{' '.join(['python', *sys.argv])}`",
        "",
        f"Machine: {machine()}; shared with other work while it ran, so compare ratios within a row, "
        "not absolute times across runs.",
        f"Versions: {versions('pyarrow', 'polars', 'numpy')}; stemmatic at {git_commit()}.",
        "",
        "Best wall time and best CPU time (`time.process_time`: all threads of the process) of the "
        "repeats; the writers take turns within each repeat. "
        "MB/s: bytes of the table in Arrow memory per wall second. "
        "vs polars: polars' time / this writer's time (above 1: faster than polars), in wall and in "
        "CPU seconds (on a shared machine the CPU ratio is the steadier one).",
        "",
        "| rows | table MB | writer | wall s | CPU s | MB/s | vs polars (wall) | vs polars (CPU) | file MB |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-io-") as tmp:
        out = Path(tmp)
        for rows_f in args.rows:
            rows = int(rows_f)
            table = make_table(rows, args.seed)
            megabytes = table.nbytes / 1e6
            writers: dict[str, tuple[Path, Callable[[Path], None]]] = {
                "stemmatic jsonl": (out / "ours.jsonl", lambda p, t=table: stemmatic_jsonl(t, p)),
                "stemmatic jsonl, 1 thread": (
                    out / "ours1.jsonl",
                    lambda p, t=table: stemmatic_jsonl(t, p, workers=1),
                ),
                "stemmatic jsonl.zst": (
                    out / "ours.jsonl.zst",
                    lambda p, t=table: stemmatic_jsonl(t, p, "zstd"),
                ),
                "stemmatic jsonl.gz": (
                    out / "ours.jsonl.gz",
                    lambda p, t=table: stemmatic_jsonl(t, p, "gzip"),
                ),
                "pyarrow parquet (zstd)": (
                    out / "arrow.parquet",
                    lambda p, t=table: pq.write_table(t, p, compression="zstd"),
                ),
            }
            if pl is not None:
                frame = pl.from_arrow(table)
                writers["polars write_ndjson"] = (out / "polars.jsonl", lambda p, f=frame: f.write_ndjson(p))
            writers["python encoder (replaced)"] = (
                out / "python.jsonl",
                lambda p, t=table: python_encoder(t, p),
            )
            if rows <= args.before_max:
                writers["pyarrow to_pylist + json.dumps"] = (
                    out / "before.jsonl",
                    lambda p, t=table: row_by_row(t, p),
                )
            best = dict.fromkeys(writers, float("inf"))
            best_cpu = dict.fromkeys(writers, float("inf"))
            for _ in range(args.repeat):
                for name, (path, write) in writers.items():
                    start, cpu = time.perf_counter(), time.process_time()
                    write(path)
                    best[name] = min(best[name], time.perf_counter() - start)
                    best_cpu[name] = min(best_cpu[name], time.process_time() - cpu)
            reference = parsed(out / "ours.jsonl")
            if pl is not None:
                polars_rows = pl.read_ndjson(out / "polars.jsonl")
                ours_rows = pl.read_ndjson(out / "ours.jsonl")
                assert ours_rows.select("id", "url", "text", "score").equals(
                    polars_rows.select("id", "url", "text", "score")
                ), "stemmatic's JSONL differs from polars'"
            assert parsed(out / "ours.jsonl.gz").equals(reference)
            assert (out / "ours1.jsonl").read_bytes() == (out / "ours.jsonl").read_bytes()
            assert (out / "python.jsonl").read_bytes() == (out / "ours.jsonl").read_bytes()
            assert reference.column("text").to_pylist() == table.column("text").to_pylist()
            for name, (path, _) in writers.items():
                polars = "polars write_ndjson"
                ratio = f"{best[polars] / best[name]:.2f}" if pl is not None else "n/a"
                cpu_ratio = f"{best_cpu[polars] / best_cpu[name]:.2f}" if pl is not None else "n/a"
                lines.append(
                    f"| {rows:,} | {megabytes:.0f} | {name} | {best[name]:.3f} | {best_cpu[name]:.3f} "
                    f"| {megabytes / best[name]:.0f} | {ratio} | {cpu_ratio} | {os.path.getsize(path) / 1e6:.0f} |"
                )
            print("\n".join(lines[-len(writers) :]), flush=True)
    lines += [
        "",
        "stemmatic's JSONL is checked to read back (polars' read_ndjson) to the same id, url, text and "
        "score columns as polars' file; the timestamp column is written as ISO 8601 by both "
        "(stemmatic with a `T`).",
    ]
    write_results("io", "\n".join(lines) + "\n")
    path = write_results_section("io", READ_HEADING, read_section(reads, args.repeat))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
