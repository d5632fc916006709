"""Dedup at scale: a generated corpus of ~1 billion tokens on this 2-core machine, peak RSS per stage.

The benchmark streams the corpus to disk itself (Parquet shards of 8,192-row
row groups): Zipf-distributed words over a 50,000-word vocabulary, log-uniform
document lengths (50–2,000 words), 5% of documents planted as copies of an
earlier document with 0–2% of their words replaced. The text is built as Arrow
buffers with numpy (no Python string per word), so generation is not the
bottleneck. Then ``stemmatic.dedup`` runs with a memory limit and the report's
per-stage time, rows/s, MB/s and peak RSS are recorded.

Run: ``make bench-dedup-scale`` (``python benches/bench_dedup_scale.py --tokens 1e9``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA_DIR, git_commit, machine, versions, write_results_head
from stemmatic.dedup import dedup, pipeline
from stemmatic.io import current_rss_bytes

SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]


def vocabulary(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    found: set[str] = set()
    while len(found) < size:
        found.add("".join(rng.choice(SYLLABLES, size=int(rng.integers(1, 5)))))
    words = sorted(found)
    encoded = [w.encode() + b" " for w in words]
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), starts, lengths


def build_texts(
    ids: np.ndarray, doc_words: np.ndarray, vocab: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> pa.Array:
    """Arrow large_string array of documents whose words are ``vocab[ids]``, split by ``doc_words``."""
    data, starts, lengths = vocab
    word_len = lengths[ids]
    total = int(word_len.sum())
    word_end = np.cumsum(word_len)
    # Position of every output byte within the vocabulary buffer.
    src = np.repeat(starts[ids] - (word_end - word_len), word_len) + np.arange(total)
    text = data[src]
    doc_end_word = np.cumsum(doc_words)
    doc_end_byte = word_end[doc_end_word - 1]
    # Each document ends with a space; keep it (tokenizers ignore it).
    offsets = np.concatenate([[0], doc_end_byte]).astype(np.int64)
    return pa.Array.from_buffers(
        pa.large_string(), len(doc_words), [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )


def generate(directory: Path, tokens: float, seed: int, docs_per_shard: int) -> tuple[int, int, float]:
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng, 50_000)
    ranks = np.arange(1, 50_001, dtype=np.float64)
    cdf = np.cumsum(1 / ranks**1.07)
    cdf /= cdf[-1]
    directory.mkdir(parents=True, exist_ok=True)
    written_tokens = written_docs = 0
    written_bytes = 0
    shard = 0
    previous: list[np.ndarray] = []
    while written_tokens < tokens:
        lengths = np.exp(rng.uniform(np.log(50), np.log(2000), docs_per_shard)).astype(np.int64)
        dups = np.flatnonzero(rng.random(docs_per_shard) < 0.05) if previous else np.zeros(0, np.int64)
        sources = [previous[int(rng.integers(0, len(previous)))] for _ in dups]
        for i, source in zip(dups, sources, strict=True):
            lengths[i] = len(source)
        ends = np.cumsum(lengths)
        ids = np.searchsorted(cdf, rng.random(int(ends[-1]))).astype(np.int64)
        for i, source in zip(dups, sources, strict=True):
            copy = source.copy()
            edits = int(len(copy) * rng.choice([0.0, 0.005, 0.01, 0.02]))
            copy[rng.integers(0, len(copy), edits)] = rng.integers(0, len(cdf), edits)
            ids[ends[i] - len(copy) : ends[i]] = copy
        starts = ends - lengths
        previous = [
            ids[starts[k] : ends[k]].copy() for k in range(0, docs_per_shard, max(1, docs_per_shard // 500))
        ]
        texts = build_texts(ids, lengths, vocab)
        row_ids = pa.array(np.arange(written_docs, written_docs + docs_per_shard, dtype=np.int64))
        pq.write_table(
            pa.table({"id": row_ids, "text": texts}),
            directory / f"part-{shard:05d}.parquet",
            row_group_size=8192,
        )
        written_tokens += int(lengths.sum())
        written_docs += docs_per_shard
        written_bytes += texts.buffers()[2].size
        shard += 1
    return written_docs, written_tokens, written_bytes / 1e6


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def stage_cpu_seconds() -> Iterator[dict[str, float]]:
    """CPU seconds (user + system, all threads) of each dedup stage, by wrapping the stages.

    The machine is shared: wall seconds swing with the load, CPU seconds much less.
    """
    seconds: dict[str, float] = {}
    originals = {name: getattr(pipeline._Run, f"stage_{name}") for name in pipeline._STAGES}

    def timed(name: str, stage: Callable[..., object]) -> Callable[..., object]:
        def run(self: object) -> object:
            start = _cpu_seconds()
            try:
                return stage(self)
            finally:
                seconds[name] = _cpu_seconds() - start

        return run

    for name, stage in originals.items():
        setattr(pipeline._Run, f"stage_{name}", timed(name, stage))
    try:
        yield seconds
    finally:
        for name, stage in originals.items():
            setattr(pipeline._Run, f"stage_{name}", stage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=float, default=1e9)
    parser.add_argument("--docs-per-shard", type=int, default=20_000)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-data", action="store_true")
    args = parser.parse_args()

    directory = DATA_DIR / f"scale-{int(args.tokens):d}"
    out = DATA_DIR / f"scale-out-{int(args.tokens):d}"
    start = time.perf_counter()
    if not (directory / "DONE").exists():
        shutil.rmtree(directory, ignore_errors=True)
        docs, tokens, mb = generate(directory, args.tokens, 0, args.docs_per_shard)
        (directory / "DONE").write_text(json.dumps({"docs": docs, "tokens": tokens, "mb": mb}))
    meta = json.loads((directory / "DONE").read_text())
    generated_s = time.perf_counter() - start
    rss_before = current_rss_bytes()

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    with stage_cpu_seconds() as stage_cpu:
        result = dedup(
            directory,
            out,
            memory_limit=args.memory_limit,
            workers=args.workers,
            overwrite=True,
            id_column="id",
        )
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    report = result.report
    lines = [
        "# Dedup at scale",
        "",
        f"- Machine: {machine()} ({load_before:.1f} when it started)",
        f"- Versions: {versions('stemmatic', 'pyarrow', 'numpy')}; commit {git_commit()}",
        f"- Input: {meta['docs']:,} generated documents, {meta['tokens']:,} tokens (words), {meta['mb']:,.0f} MB of text, "
        f"{len(list(directory.glob('*.parquet')))} Parquet shards (generated in {generated_s:.0f} s, not timed below)",
        f"- Parameters: threshold 0.8, num_perm 128, word 5-grams, exact verification, `--memory-limit {args.memory_limit}`, "
        f"{args.workers} workers, {report['parameters']['banding']}",
        f"- Command: `make bench-dedup-scale` (`python benches/bench_dedup_scale.py --tokens {args.tokens:g}`)",
        "",
        f"**{seconds:.0f} s end to end: {meta['docs'] / seconds:,.0f} rows/s, {meta['mb'] / seconds:.1f} MB/s; "
        f"peak RSS {report['peak_rss_bytes'] / 2**30:.2f} GiB** "
        f"(process RSS before the run: {rss_before / 2**30:.2f} GiB); {cpu:.0f} CPU seconds. "
        f"Removed {result.removed_rows:,} of {result.input_rows:,} rows in {result.clusters:,} clusters; "
        f"{report['pairs']['candidates']:,} candidate pairs, {report['pairs']['verified']:,} verified.",
        "",
        "| stage | seconds | CPU seconds | rows/s | MB/s | peak RSS (GiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, seconds_of_stage in report["stages"].items():
        lines.append(
            f"| {name} | {seconds_of_stage:.1f} | {stage_cpu.get(name, 0.0):.1f} | "
            f"{meta['docs'] / max(seconds_of_stage, 1e-9):,.0f} | "
            f"{meta['mb'] / max(seconds_of_stage, 1e-9):.1f} | {report['stage_peak_rss_bytes'][name] / 2**30:.2f} |"
        )
    lines += [
        "",
        "rows/s and MB/s of each stage are over the whole corpus (all rows, all text bytes); CPU seconds are",
        "user + system of all the process's threads (on this shared machine they swing less than wall seconds).",
        "",
    ]
    path = write_results_head("dedup-scale", "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")
    if not args.keep_data:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
