"""One large input file: its output shard written by lanes side by side, against one writer.

A generated corpus (the one of ``bench_dedup_scale.py``: Zipf words, 5% planted
near-copies) is written as a single Parquet file, and ``stemmatic.dedup`` runs
on it in alternating pairs: as it is (the file's shards are written by one lane
per worker, at most one per 64 MiB of text, ``_LANE_BYTES``, and stitched) and with one
writer per shard (``_LANE_BYTES`` set past the file's size: how every input was
written before). Each run records the write stage's wall and CPU seconds and
the whole run's; both runs' kept and removed shards must hold the same rows.

Run: ``make bench-write-lanes`` (``python benches/bench_write_lanes.py --tokens 1e8``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA_DIR, git_commit, machine, versions, write_results
from bench_dedup_scale import generate, stage_cpu_seconds
from stemmatic.dedup import dedup, pipeline


def one_run(corpus: Path, out: Path, workers: int, lanes: bool) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    saved = pipeline._LANE_BYTES
    if not lanes:
        pipeline._LANE_BYTES = 1 << 62
    try:
        with stage_cpu_seconds() as cpu:
            start = time.perf_counter()
            result = dedup(corpus, out, workers=workers, memory_limit="4GB")
            wall = time.perf_counter() - start
    finally:
        pipeline._LANE_BYTES = saved
    return {
        "wall": wall,
        "write": result.report["stages"]["write"],
        "write_cpu": cpu["write"],
        "cpu": sum(cpu.values()),
        "removed": result.removed_rows,
        "rss": result.report["stage_peak_rss_bytes"]["write"] / 2**30,
        "text_bytes": result.report["text_bytes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=float, default=1e8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="alternating pairs")
    args = parser.parse_args()

    directory = DATA_DIR / f"one-file-{int(args.tokens)}"
    corpus = directory / "corpus.parquet"
    if not (directory / "DONE").exists():
        shutil.rmtree(directory, ignore_errors=True)
        shards = directory / "shards"
        generate(shards, args.tokens, seed=7, docs_per_shard=max(100, min(20_000, int(args.tokens / 2000))))
        with pq.ParquetWriter(corpus, pq.read_schema(next(shards.glob("*.parquet")))) as writer:
            for shard in sorted(shards.glob("*.parquet")):  # one file, 8,192-row row groups as generated
                for group in range(pq.ParquetFile(shard).num_row_groups):
                    writer.write_table(pq.ParquetFile(shard).read_row_group(group))
        shutil.rmtree(shards)
        (directory / "DONE").touch()
    meta = pq.ParquetFile(corpus).metadata
    decoded = sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))

    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    outs = {flag: DATA_DIR / f"out-write-lanes-{flag}" for flag in (True, False)}
    for pair in range(args.repeat):
        for flag in (True, False) if pair % 2 == 0 else (False, True):
            runs[flag].append(one_run(corpus, outs[flag], args.workers, flag))
    for side in ("kept", "removed"):
        laned, single = (pq.read_table(outs[flag] / side / corpus.name) for flag in (True, False))
        if not laned.equals(single):
            raise SystemExit(f"{side}: the laned shard differs from one writer's")
    for out in outs.values():
        shutil.rmtree(out, ignore_errors=True)
    lanes = pipeline._lanes_for(int(runs[True][0]["text_bytes"]), args.workers) or 1

    def med(flag: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs[flag])

    def span(flag: bool, key: str) -> str:
        values = sorted(r[key] for r in runs[flag])
        return f"{values[0]:.2f}-{values[-1]:.2f}" if len(values) > 1 else f"{values[0]:.2f}"

    lines = [
        "# One large input: its shard written by lanes, against one writer",
        "",
        f"- Machine: {machine()}",
        f"- Versions: {versions('stemmatic', 'pyarrow')}; commit {git_commit()}",
        f"- Input: one Parquet file, {meta.num_rows:,} rows, {meta.num_row_groups} row groups, "
        f"{decoded / 1e6:,.0f} MB once read (bench_dedup_scale.py's generator, {args.tokens:.0e} tokens, its shards joined)",
        f"- Parameters: `--workers {args.workers}`, `--memory-limit 4GB`, defaults otherwise "
        f"(zstd output); lanes: {lanes} (one per worker, at most one per {pipeline._LANE_BYTES >> 20} MiB of text)",
        f"- Command: `python benches/bench_write_lanes.py --tokens {args.tokens:.0e} --repeat {args.repeat}`",
        "",
        f"{args.repeat} alternating pairs in one process; medians, ranges in brackets. Both runs' kept and "
        "removed shards hold the same rows (checked).",
        "",
        "| writers per shard | write stage s | write CPU s | write peak RSS GiB | whole run s | whole run CPU s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for flag, label in ((False, "one (before)"), (True, f"{lanes} lanes, stitched")):
        lines.append(
            f"| {label} | {med(flag, 'write'):.2f} [{span(flag, 'write')}] | "
            f"{med(flag, 'write_cpu'):.2f} [{span(flag, 'write_cpu')}] | {med(flag, 'rss'):.2f} | "
            f"{med(flag, 'wall'):.2f} [{span(flag, 'wall')}] | {med(flag, 'cpu'):.1f} |"
        )
    ratios = [one["write"] / laned["write"] for laned, one in zip(runs[True], runs[False], strict=True)]
    lines += [
        "",
        f"**Write stage: {statistics.median(ratios):.2f}x faster with lanes** (median of the "
        f"pairs' ratios; {', '.join(f'{r:.2f}' for r in ratios)}). Cores busy in the write stage (CPU "
        f"over wall seconds): {med(False, 'write_cpu') / med(False, 'write'):.2f} with one writer (it "
        f"reads the next chunk and writes the removed rows beside it), "
        f"{med(True, 'write_cpu') / med(True, 'write'):.2f} with lanes, of {args.workers} workers.",
        "",
    ]
    path = write_results("write-lanes", "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
