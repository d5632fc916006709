"""Clustering of verified pairs: ``components`` vs ``star``, against exact ground truth.

For each corpus the exact pairs with Jaccard >= threshold are found by the
all-pairs join of ``bench_dedup.py`` (word 5-grams, exact). The ideal
decision of each clustering is that clustering applied to all exact pairs
with the same keep rule: connected components keeping the best row of each
(``components``), greedy centers in keep order (``star``: a row is removed
iff an exact pair joins it to a center before it). Each ``stemmatic.dedup``
run (LSH + exact verification) is scored against the ideal of its own
clustering (precision, recall, F1 of the removed rows), and every removed row
is checked against its ``duplicate_of``: the share of removed rows whose exact
Jaccard to their kept row is below the threshold (chaining), and the lowest.

Corpora: real code = ``.py`` files of the installed packages of this
interpreter (site-packages: vendored copies, versions, generated modules);
real text = the real-text corpus of ``bench_dedup.py`` (Debian copyright
files, man pages, Python's stdlib, plus edited copies of 10% of them);
real short documents = the short-document corpus of ``bench_dedup.py``
(docstrings of the installed packages, ~400 bytes, plus edited copies of
10% of them).

Run: ``make bench-clustering`` (writes the section "Clustering: components
vs star" of ``benches/results/dedup.md``; ``bench_dedup.py`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stemmatic
from _common import DATA_DIR, git_commit, machine, versions, write_results_section
from bench_dedup import (
    CLUSTERING_HEADING,
    NGRAM,
    SEED,
    THRESHOLD,
    exact_pairs,
    plant_edits,
    read_corpus,
    real_texts,
    short_corpus,
    write_corpus,
)
from stemmatic.dedup import decide_clusters, dedup


def code_files(limit: int, seed: int) -> list[str]:
    """``.py`` files of the installed packages (at most 256 KB each), ``limit`` of them picked by ``seed``."""
    root = Path(sysconfig.get_paths()["purelib"])
    paths = [p for p in sorted(root.rglob("*.py")) if 200 <= p.stat().st_size <= 256_000]
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(paths), size=min(limit, len(paths)), replace=False))
    return [paths[i].read_text(errors="replace") for i in picks]


def keep_order(texts: list[str], keep: str) -> list[int]:
    """Rows in keep priority: ``first`` = input order; ``longest`` = most UTF-8 bytes, then input order."""
    if keep == "first":
        return list(range(len(texts)))
    return sorted(range(len(texts)), key=lambda i: (-len(texts[i].encode()), i))


def ideal(texts: list[str], pairs: list[tuple[int, int, float]], keep: str, clustering: str) -> set[int]:
    """The rows the clustering removes when every exact pair >= threshold is known."""
    n = len(texts)
    adjacent: list[list[int]] = [[] for _ in range(n)]
    for a, b, _ in pairs:
        adjacent[a].append(b)
        adjacent[b].append(a)
    order = keep_order(texts, keep)
    if clustering == "star":
        center = [False] * n
        removed = set()
        for v in order:
            if any(center[u] for u in adjacent[v]):
                removed.add(v)
            else:
                center[v] = True
        return removed
    seen = [False] * n
    removed = set()
    for v in order:  # the first row of a component in keep order is its kept row
        if seen[v]:
            continue
        seen[v] = True
        stack = [v]
        while stack:
            x = stack.pop()
            for u in adjacent[x]:
                if not seen[u]:
                    seen[u] = True
                    removed.add(u)
                    stack.append(u)
    return removed


def jaccard(sets: list[set[int]], a: int, b: int) -> float:
    inter = len(sets[a] & sets[b])
    union = len(sets[a]) + len(sets[b]) - inter
    return inter / union if union else 0.0


def run(directory: Path, out: Path, keep: str, clustering: str, workers: int) -> tuple[float, dict, dict]:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = dedup(
        directory,
        out,
        threshold=THRESHOLD,
        ngram=NGRAM,
        seed=SEED,
        keep=keep,
        clustering=clustering,
        workers=workers,
        emit_pairs=True,
    )
    seconds = time.perf_counter() - start
    removed = pq.read_table(out / "removed", columns=["duplicate_of"])
    clusters = pq.read_table(out / "clusters.parquet")
    rows = np.asarray(clusters.column("id"))[~np.asarray(clusters.column("is_kept"))]
    # clusters.parquet and removed/ list the removed rows in the same (input) order.
    dup = dict(zip(rows.tolist(), removed.column("duplicate_of").to_pylist(), strict=True))
    return seconds, dup, result.report


def chaining(sets: list[set[int]], dup: dict[int, int]) -> tuple[str, str]:
    """Removed rows whose exact Jaccard to their kept row is below the threshold (count and share), and the lowest."""
    sims = np.array([jaccard(sets, row, kept) for row, kept in dup.items()])
    below = int((sims < THRESHOLD).sum())
    return f"{below:,} ({below / max(1, len(sims)):.1%})", f"{sims.min():.2f}" if len(sims) else "—"


def star_without_rounds(texts: list[str], out: Path, keep: str) -> dict[int, int]:
    """Star over the verified LSH pairs of a components run (``out``) alone, without its extra verification.

    Removed row -> kept row.
    """
    pairs = pq.read_table(out / "pairs.parquet")
    edges = np.stack([np.asarray(pairs.column("id_a")), np.asarray(pairs.column("id_b"))], axis=1)
    score = None if keep == "first" else np.array([len(t.encode()) for t in texts], np.float64)
    d = decide_clusters(
        len(texts), edges, np.asarray(pairs.column("jaccard")), keep_score=score, clustering="star"
    )
    rows = np.flatnonzero(d.removed)
    return dict(zip(rows.tolist(), d.duplicate_of[rows].tolist(), strict=True))


def scores(removed: set[int], truth: set[int]) -> tuple[float, float, float]:
    tp = len(removed & truth)
    precision = tp / len(removed) if removed else 1.0
    recall = tp / len(truth) if truth else 1.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def evaluate(name: str, directory: Path, workers: int, repeat: int) -> list[str]:
    texts = read_corpus(directory)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    t0 = time.perf_counter()
    pairs = exact_pairs(texts, THRESHOLD)
    t_truth = time.perf_counter() - t0
    sets = [set(stemmatic.shingle_hashes(t, ngram=NGRAM, seed=SEED).tolist()) for t in texts]
    lines = [
        f"### {name}: {len(texts):,} documents, {mb:.1f} MB, {len(pairs):,} exact pairs ≥ {THRESHOLD} "
        f"(all-pairs join in {t_truth:.0f} s)",
        "",
        "| keep | clustering | removed | ideal removed | precision | recall | F1 | removed below threshold "
        "to their kept row | lowest Jaccard to the kept row | star: rounds / pairs verified / edges added | "
        "seconds | ÷ components |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for keep in ("first", "longest"):
        base = None
        for clustering in ("components", "star"):
            truth = ideal(texts, pairs, keep, clustering)
            seconds = float("inf")
            for _ in range(repeat):
                took, dup, report = run(
                    directory, DATA_DIR / f"out-clustering-{clustering}", keep, clustering, workers
                )
                seconds = min(seconds, took)
            removed = set(dup)
            precision, recall, f1 = scores(removed, truth)
            below, lowest = chaining(sets, dup)
            star = report["clusters"].get("star")
            star_cell = (
                f"{star['rounds']} / {star['pairs_verified']:,} / {star['edges_added']:,}" if star else "—"
            )
            base = base or seconds
            lines.append(
                f"| {keep} | {clustering} | {len(removed):,} | {len(truth):,} | {precision:.4f} | {recall:.4f} | "
                f"{f1:.4f} | {below} | {lowest} | {star_cell} | {seconds:.2f} | "
                f"{seconds / base:.2f}× |"
            )
            print(lines[-1], flush=True)
            print(json.dumps(report["pairs"]), flush=True)
            if clustering == "components":
                # The same LSH pairs, clustered by star without the pairs star verifies on top.
                plain = star_without_rounds(texts, DATA_DIR / "out-clustering-components", keep)
                precision, recall, f1 = scores(set(plain), ideal(texts, pairs, keep, "star"))
                below, lowest = chaining(sets, plain)
                lines.append(
                    f"| {keep} | *star over the LSH pairs only (no extra verification)* | {len(plain):,} | "
                    f"{len(ideal(texts, pairs, keep, 'star')):,} | {precision:.4f} | {recall:.4f} | {f1:.4f} | "
                    f"{below} | {lowest} | | | |"
                )
                print(lines[-1], flush=True)
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--code", type=int, default=6000, help="real code files")
    parser.add_argument("--real", type=int, default=8000, help="real text documents before planting copies")
    parser.add_argument(
        "--short-docs",
        type=int,
        default=60_000,
        help="real short documents (bench_dedup.py's docstrings) before planting copies; 0 leaves them out",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per clustering; the best time is kept")
    args = parser.parse_args()
    code = DATA_DIR / f"clustering-code-{args.code}"
    if not code.exists():
        write_corpus(code_files(args.code, seed=11), code)
    real = DATA_DIR / f"dedup-real-{args.real}"
    if not real.exists():
        write_corpus(plant_edits(real_texts(args.real), 0.1, seed=3), real)
    cases = [("real code", code), ("real text", real)]
    if args.short_docs:
        cases.append(("real short documents", short_corpus(args.short_docs)))
    sections = []
    for name, directory in cases:
        sections += evaluate(name, directory, args.workers, args.repeat)
    body = [
        "Every removed row's exact Jaccard to the row kept in its place, and removals scored against the ideal "
        "decision of each clustering (the same clustering over all exact pairs ≥ threshold, by an all-pairs join).",
        "",
        f"- Machine: {machine()}",
        f"- Versions: {versions('stemmatic', 'pyarrow')}; commit {git_commit()}",
        f"- Parameters: threshold {THRESHOLD}, word {NGRAM}-grams, exact verification, default banding, "
        f"{args.workers} workers; best of {args.repeat} runs",
        "- Inputs: real code = `.py` files of this interpreter's site-packages (200 B – 256 KB, "
        f"{args.code} picked with seed 11); real text = `bench_dedup.py`'s real-text corpus; real short "
        "documents = `bench_dedup.py`'s short-document corpus (docstrings)",
        f"- Command: `python benches/bench_clustering.py --code {args.code} --real {args.real} "
        f"--short-docs {args.short_docs}`",
        "",
        "Components chain: a share of their removed rows is below the threshold to the row kept in their place. "
        "Star never is (every removal is a verified pair); it removes fewer rows, since a chain keeps every other "
        "row. Its ideal is sensitive to order: one exact pair LSH misses can make a row a center and change the "
        "rows after it, so precision against the ideal can be below 1 although every star removal is a verified "
        "duplicate of its kept row. The row *star over the LSH pairs only* clusters the verified LSH pairs of the "
        "components run by star without the pairs star verifies on top: what that verification buys.",
        "",
        *sections,
    ]
    path = write_results_section("dedup", CLUSTERING_HEADING, "\n".join(body))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
