"""Near-duplicate detection end to end: quality vs exact ground truth, and speed, vs rensa and datasketch.

Quality: on (a) a generated corpus with planted near-duplicates, (b) real
text found on this machine (Debian copyright files, man pages, the Python
standard library) and (c) real short documents (the docstrings of
``bench_short_docs.py``, ~400 bytes each), (b) and (c) with planted edited
copies of a tenth of their documents, the ground truth is exact:
connected components of all pairs with Jaccard >= threshold over word
5-grams of lowercase ``\\w+`` tokens (computed by an exact all-pairs
prefix-filtering join, Bayardo et al. 2007), keeping the first row of each
component. Each pipeline's removed rows are scored against it (precision,
recall, F1, and removed rows without any true near-duplicate).

Pipelines, all with word 5-grams, num_perm=128, threshold 0.8:
* stemmatic: ``stemmatic.dedup`` (exact verification), Parquet shards in, kept/removed Parquet out;
* rensa: Python tokenization, ``RMinHash.from_token_sets``, ``RMinHashLSH`` (16 bands),
  estimated-Jaccard verification, union-find, kept/removed Parquet out;
* datasketch: Python tokenization, ``MinHash.bulk``, ``MinHashLSH`` (its optimal bands),
  estimated-Jaccard verification, union-find, kept/removed Parquet out.

Run: ``make bench-dedup``.
"""

from __future__ import annotations

import argparse
import gzip
import math
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stemmatic
from _common import DATA_DIR, git_commit, machine, versions, write_results_head
from stemmatic.dedup import dedup
from stemmatic.synthetic import generate_corpus

WORD = re.compile(r"\w+")
NUM_PERM = 128
NGRAM = 5
THRESHOLD = 0.8
SEED = 1
#: The section of results/dedup.md that bench_clustering.py writes (kept when this script rewrites the file).
CLUSTERING_HEADING = "## Clustering: components vs star"


# -- corpora -----------------------------------------------------------------------


def real_texts(limit: int) -> list[str]:
    """Text nobody here wrote: Debian copyright files, man pages, Python's stdlib."""
    texts: list[str] = []
    for path in sorted(Path("/usr/share/doc").glob("*/copyright")):
        texts.append(path.read_text(errors="replace"))
    for path in sorted(Path("/usr/share/man").glob("man[1-8]/*.gz"))[: limit // 2]:
        try:
            texts.append(gzip.decompress(path.read_bytes()).decode(errors="replace"))
        except OSError:
            continue
    for path in sorted(
        Path(sys.base_prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}").glob("*.py")
    ):
        texts.append(path.read_text(errors="replace"))
    texts = [t for t in texts if len(WORD.findall(t)) >= 20]
    return texts[:limit]


def plant_edits(texts: list[str], fraction: float, seed: int) -> list[str]:
    """Append edited copies (word substitutions/insertions/deletions) of a share of the texts."""
    rng = np.random.default_rng(seed)
    out = list(texts)
    picks = rng.choice(len(texts), size=int(len(texts) * fraction), replace=False)
    for i in picks:
        words = texts[i].split(" ")
        rate = float(rng.choice([0.0, 0.005, 0.01, 0.02, 0.04, 0.08]))
        for _ in range(round(rate * len(words))):
            pos = int(rng.integers(0, len(words)))
            kind = int(rng.integers(0, 3))
            if kind == 0:
                words[pos] = f"edit{int(rng.integers(0, 10**6))}"
            elif kind == 1:
                words.insert(pos, f"ins{int(rng.integers(0, 10**6))}")
            elif len(words) > 1:
                del words[pos]
        out.append(" ".join(words))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def short_texts(docs: int) -> list[str]:
    """The real short documents of bench_short_docs.py: its 1× corpus of ``docs`` docstrings (made there if missing)."""
    import json

    from bench_short_docs import corpora

    with corpora(docs)["1×"].open(encoding="utf-8") as file:
        return [json.loads(line)["text"] for line in file]


def short_corpus(docs: int) -> Path:
    """The real short documents with edited copies of 10% of them planted, as Parquet shards (made if missing)."""
    directory = DATA_DIR / f"dedup-short-{docs}"
    if not directory.exists():
        write_corpus(plant_edits(short_texts(docs), 0.1, seed=3), directory)
    return directory


def write_corpus(texts: list[str], directory: Path, shards: int = 4) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    bounds = np.linspace(0, len(texts), shards + 1).astype(int)
    for k in range(shards):
        part = texts[bounds[k] : bounds[k + 1]]
        pq.write_table(
            pa.table({"text": pa.array(part, pa.large_string())}), directory / f"part-{k:05d}.parquet"
        )


def read_corpus(directory: Path) -> list[str]:
    return [
        t for p in sorted(directory.glob("*.parquet")) for t in pq.read_table(p).column("text").to_pylist()
    ]


# -- exact ground truth ---------------------------------------------------------------


def exact_pairs(texts: list[str], threshold: float) -> list[tuple[int, int, float]]:
    """All pairs with Jaccard >= threshold, by the AllPairs prefix-filtering join (exact)."""
    sets = [set(stemmatic.shingle_hashes(t, ngram=NGRAM, seed=SEED).tolist()) for t in texts]
    freq = Counter(h for s in sets for h in s)
    ordered = [sorted(s, key=lambda h: (freq[h], h)) for s in sets]
    index: dict[int, list[int]] = defaultdict(list)
    pairs = []
    for i in sorted(range(len(texts)), key=lambda k: (len(sets[k]), k)):
        x = ordered[i]
        if not x:
            continue
        prefix = len(x) - math.ceil(threshold * len(x)) + 1
        candidates: set[int] = set()
        for h in x[:prefix]:
            candidates.update(index[h])
            index[h].append(i)
        for j in candidates:
            if len(sets[j]) >= threshold * len(x):
                inter = len(sets[i] & sets[j])
                jac = inter / (len(sets[i]) + len(sets[j]) - inter)
                if jac >= threshold:
                    pairs.append((min(i, j), max(i, j), jac))
    return pairs


def removed_by_components(n: int, pairs: list[tuple[int, int]]) -> set[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i for i in range(n) if find(i) != i}


def score(removed: set[int], truth: set[int], true_pairs: list[tuple[int, int, float]]) -> dict[str, float]:
    in_true_cluster = {a for a, _, _ in true_pairs} | {b for _, b, _ in true_pairs}
    tp = len(removed & truth)
    precision = tp / len(removed) if removed else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "removed": len(removed),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "no_true_duplicate": len(removed - in_true_cluster),
    }


# -- pipelines -------------------------------------------------------------------------


def python_shingles(text: str) -> list[str]:
    tokens = WORD.findall(text.lower())
    if len(tokens) < NGRAM:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i : i + NGRAM]) for i in range(len(tokens) - NGRAM + 1)]


def write_split(texts_table: pa.Table, removed: set[int], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    mask = np.zeros(texts_table.num_rows, bool)
    mask[list(removed)] = True
    pq.write_table(texts_table.filter(pa.array(~mask)), out / "kept.parquet")
    pq.write_table(texts_table.filter(pa.array(mask)), out / "removed.parquet")


def run_stemmatic(directory: Path, out: Path, workers: int) -> set[int]:
    dedup(
        directory,
        out,
        threshold=THRESHOLD,
        num_perm=NUM_PERM,
        ngram=NGRAM,
        seed=SEED,
        workers=workers,
        overwrite=True,
    )
    # Row ids are positions in the ordered inputs.
    return {int(i) for p in sorted((out / "removed").glob("*.parquet")) for i in _removed_positions(p, out)}


def _removed_positions(path: Path, out: Path) -> list[int]:
    # removed/ rows carry their cluster info; positions come from clusters.parquet.
    del path
    clusters = pq.read_table(out / "clusters.parquet")
    mask = np.asarray(clusters.column("is_kept")) == False  # noqa: E712
    return np.asarray(clusters.column("id"))[mask].tolist()


def run_rensa(directory: Path, out: Path) -> set[int]:
    from rensa import RMinHash, RMinHashLSH

    table = pa.concat_tables([pq.read_table(p) for p in sorted(directory.glob("*.parquet"))])
    texts = table.column("text").to_pylist()
    minhashes = RMinHash.from_token_sets([python_shingles(t) for t in texts], NUM_PERM, SEED)
    lsh = RMinHashLSH(THRESHOLD, NUM_PERM, 16)
    for i, m in enumerate(minhashes):
        lsh.insert(i, m)
    pairs = []
    for i, candidates in enumerate(lsh.query_all(minhashes)):
        for j in candidates:
            if j > i and minhashes[i].jaccard(minhashes[j]) >= THRESHOLD:
                pairs.append((i, j))
    removed = removed_by_components(len(texts), pairs)
    write_split(table, removed, out)
    return removed


def run_datasketch(directory: Path, out: Path) -> set[int]:
    from datasketch import MinHash, MinHashLSH

    table = pa.concat_tables([pq.read_table(p) for p in sorted(directory.glob("*.parquet"))])
    texts = table.column("text").to_pylist()
    minhashes = MinHash.bulk(
        [[s.encode() for s in python_shingles(t)] for t in texts], num_perm=NUM_PERM, seed=SEED
    )
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    for i, m in enumerate(minhashes):
        lsh.insert(i, m)
    pairs = []
    for i, m in enumerate(minhashes):
        for j in lsh.query(m):
            if j > i and m.jaccard(minhashes[j]) >= THRESHOLD:
                pairs.append((i, j))
    removed = removed_by_components(len(texts), pairs)
    write_split(table, removed, out)
    return removed


def evaluate(
    name: str,
    directory: Path,
    workers: int,
    repeat: int,
    datasketch: bool,
    datasketch_docs: int | None = None,
) -> tuple[list[str], dict]:
    """Score every pipeline on ``directory`` against the exact truth; time them in alternating rounds.

    Each round runs every pipeline once (stemmatic, rensa, datasketch, ...), so a load change on a shared
    machine slows all of them alike; per pipeline the best wall time and the median CPU seconds (all threads
    of this process) are kept, and the ratios to stemmatic are medians of the per-round ratios.
    ``datasketch_docs`` below the corpus size runs datasketch (and stemmatic once more, for its ratio) on
    the first that many documents only.
    """
    texts = read_corpus(directory)
    t0 = time.perf_counter()
    true_pairs = exact_pairs(texts, THRESHOLD)
    t_truth = time.perf_counter() - t0
    truth = removed_by_components(len(texts), [(a, b) for a, b, _ in true_pairs])
    mb = sum(len(t.encode()) for t in texts) / 1e6
    runs = {
        "stemmatic": (lambda o: run_stemmatic(directory, o, workers), directory),
        "rensa": (lambda o: run_rensa(directory, o), directory),
    }
    subset = None
    if datasketch and datasketch_docs is not None and datasketch_docs < len(texts):
        subset = DATA_DIR / f"{directory.name}-first-{datasketch_docs}"
        write_corpus(texts[:datasketch_docs], subset)
        runs[f"stemmatic, first {datasketch_docs:,}"] = (lambda o: run_stemmatic(subset, o, workers), subset)
        runs[f"datasketch, first {datasketch_docs:,}"] = (lambda o: run_datasketch(subset, o), subset)
    elif datasketch:
        runs["datasketch"] = (lambda o: run_datasketch(directory, o), directory)
    wall: dict[str, list[float]] = {label: [] for label in runs}
    cpu: dict[str, list[float]] = {label: [] for label in runs}
    removed_by: dict[str, set[int]] = {}
    for _ in range(repeat):
        for label, (fn, _) in runs.items():
            out = DATA_DIR / f"out-{name}-{label.split(',')[0]}"
            shutil.rmtree(out, ignore_errors=True)
            start, start_cpu = time.perf_counter(), time.process_time()
            removed_by[label] = fn(out)
            wall[label].append(time.perf_counter() - start)
            cpu[label].append(time.process_time() - start_cpu)
    results = {}
    for label, (_, source) in runs.items():
        # A subset's pipelines are scored against the truth restricted to the subset's rows (a truth of their own).
        size = len(texts) if source == directory else int(datasketch_docs or 0)
        sub_pairs = [p for p in true_pairs if p[1] < size]
        sub_truth = removed_by_components(size, [(a, b) for a, b, _ in sub_pairs])
        base = "stemmatic" if source == directory else next(k for k in runs if k.startswith("stemmatic,"))
        source_mb = mb if source == directory else sum(len(t.encode()) for t in texts[:size]) / 1e6
        results[label] = {
            **score(removed_by[label], sub_truth, sub_pairs),
            "seconds": min(wall[label]),
            "cpu_seconds": statistics.median(cpu[label]),
            "mb_per_s": source_mb / min(wall[label]),
            "wall_ratio": statistics.median([w / b for w, b in zip(wall[label], wall[base], strict=True)]),
            "cpu_ratio": statistics.median([c / b for c, b in zip(cpu[label], cpu[base], strict=True)]),
        }
    if subset is not None:
        shutil.rmtree(subset, ignore_errors=True)
    base = results["stemmatic"]["seconds"]
    floor_cpu = io_floor_cpu(directory, removed_by["stemmatic"], repeat=3)
    floor = floor_cpu / workers
    lines = [
        f"### {name}: {len(texts):,} documents, {mb:.1f} MB ({mb * 1e6 / len(texts):,.0f} bytes each on average), "
        f"{len(true_pairs):,} true pairs ≥ {THRESHOLD}, {len(truth):,} rows to remove "
        f"(ground truth by exact all-pairs join in {t_truth:.0f} s)",
        "",
        "| pipeline | removed | precision | recall | F1 | removed without a true duplicate | seconds (best) | MB/s | "
        "CPU s (median) | time ÷ stemmatic | CPU ÷ stemmatic |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in results.items():
        lines.append(
            f"| {label} | {r['removed']:,} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | "
            f"{r['no_true_duplicate']} | {r['seconds']:.2f} | {r['mb_per_s']:.1f} | {r['cpu_seconds']:.2f} | "
            f"{r['wall_ratio']:.1f}× | {r['cpu_ratio']:.1f}× |"
        )
    lines += [
        f"| *pyarrow I/O alone: read the shards, write the kept/removed split (CPU {floor_cpu:.3f} s ÷ {workers} cores; "
        f"a lower bound for any pipeline here)* | | | | | | *{floor:.2f}* | *{mb / floor:.0f}* | *{floor_cpu:.2f}* | "
        f"*{floor / base:.2f}×* | |",
        "",
    ]
    if subset is not None:
        lines += [
            f"datasketch ran on the first {datasketch_docs:,} documents only (`--short-datasketch-docs`, to keep "
            "the rounds short), beside stemmatic on the same rows; both are scored against the exact truth of "
            "those rows, and the ratios in those two rows are to each other.",
            "",
        ]
    elif "datasketch" in results:
        needed = results["datasketch"]["seconds"] / 100
        lines += [
            f"100× datasketch would need {needed:.3f} s end to end; the Parquet read and write alone take "
            f"{floor:.3f} s of both cores{' (so it cannot be reached on this machine)' if needed < floor else ''}.",
            "",
        ]
    return lines, results


def io_floor_cpu(directory: Path, removed: set[int], repeat: int) -> float:
    """CPU seconds pyarrow alone takes to read the shards and write them split into kept and removed."""
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.process_time()
            offset = 0
            for k, path in enumerate(sorted(directory.glob("*.parquet"))):
                table = pq.read_table(path)
                mask = np.zeros(table.num_rows, bool)
                local = [i - offset for i in removed if offset <= i < offset + table.num_rows]
                mask[local] = True
                offset += table.num_rows
                pq.write_table(table.filter(pa.array(~mask)), Path(tmp) / f"kept-{k}.parquet")
                pq.write_table(table.filter(pa.array(mask)), Path(tmp) / f"removed-{k}.parquet")
            best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=20_000, help="generated corpus size")
    parser.add_argument("--real", type=int, default=8_000, help="real documents before planting copies")
    parser.add_argument(
        "--short-docs",
        type=int,
        default=60_000,
        help="real short documents (bench_short_docs.py's docstrings) before planting copies; 0 leaves them out",
    )
    parser.add_argument(
        "--short-datasketch-docs",
        type=int,
        help="run datasketch (and stemmatic beside it) on the first N short documents only (default: all)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--datasketch", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--repeat", type=int, default=5, help="alternating rounds of every pipeline; best wall, median CPU"
    )
    args = parser.parse_args()

    generated = DATA_DIR / f"dedup-generated-{args.docs}"
    if not generated.exists():
        corpus = generate_corpus(args.docs, seed=7, max_words=2000, duplicate_fraction=0.25)
        write_corpus(corpus.texts, generated)
    real = DATA_DIR / f"dedup-real-{args.real}"
    if not real.exists():
        write_corpus(plant_edits(real_texts(args.real), 0.1, seed=3), real)
    cases: list[tuple[str, Path, int | None]] = [("generated", generated, None), ("real text", real, None)]
    if args.short_docs:
        cases.append(("real short documents", short_corpus(args.short_docs), args.short_datasketch_docs))

    sections, summary = [], {}
    for name, directory, datasketch_docs in cases:
        lines, results = evaluate(
            name, directory, args.workers, args.repeat, args.datasketch, datasketch_docs
        )
        sections += lines
        summary[name] = results
    short_flags = f" --short-docs {args.short_docs}"
    if args.short_datasketch_docs:
        short_flags += f" --short-datasketch-docs {args.short_datasketch_docs}"
    head = [
        "# Near-duplicate detection: quality and speed",
        "",
        f"- Machine: {machine()}",
        f"- Versions: {versions('stemmatic', 'rensa', 'datasketch', 'pyarrow')}; commit {git_commit()}",
        f"- Parameters: threshold {THRESHOLD}, num_perm {NUM_PERM}, word {NGRAM}-grams of lowercase `\\w+` tokens, "
        f"stemmatic with {args.workers} workers and exact verification (its banding: "
        f"{stemmatic.dedup.DedupConfig(threshold=THRESHOLD).banding().describe()}); rensa 16 bands; datasketch its "
        "optimal bands; peers verify by estimated Jaccard and cluster by union-find",
        "- Inputs: generated = `generate_corpus(..., seed=7, max_words=2000, duplicate_fraction=0.25)`; real text = "
        "Debian `/usr/share/doc/*/copyright`, man pages, Python stdlib modules; real short documents = the "
        "docstrings of the installed Python packages (`bench_short_docs.py`'s 1× corpus); each real corpus plus "
        "edited copies of 10% of its documents (`plant_edits`: 0-8% of the words substituted, inserted or "
        "deleted); 4 Parquet shards each",
        f"- Timing: end to end, Parquet shards in → kept/removed Parquet out, {args.repeat} rounds in which every "
        "pipeline runs once in turn (a load change slows all alike): best wall seconds, median CPU seconds (every "
        "thread of this process), and the ratios to stemmatic as medians of the per-round ratios",
        f"- Command: `make bench-dedup` (`python benches/bench_dedup.py --docs {args.docs} --real {args.real}"
        f"{short_flags}`)",
        "",
    ]
    # bench_clustering.py's section and the A/B notes stay.
    path = write_results_head("dedup", "\n".join(head + sections))
    print("\n".join(head + sections))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
