"""Engine overhead: the same dedup and contamination scan on the local engine, on Ray Data and on PySpark.

Inputs, one Parquet file each: a generated corpus
(``stemmatic.synthetic.generate_corpus``) with planted near-duplicates, at
each ``--docs`` size, and real short documents: the 1× docstrings corpus of
``bench_short_docs.py`` (``--short-docs``, ~400 bytes each; ids ``d0``,
``d1``, ... in file order). Each engine runs the same
parameters (threshold 0.8, 128 permutations, 5-word shingles, exact
verification) in this one process; Ray and Spark run locally on all cores
(``ray.init(num_cpus=cores)``, ``local[cores]``), with their start-up timed
apart from the job. The kept rows of every engine are checked to be equal to
the local engine's before any time is written.

The contamination scan uses an index of ``--items`` generated benchmark items
(13-grams), a tenth of them planted whole into documents of the same corpus;
the local side is ``scan_corpus`` on the same Parquet file (hits written to
``hits.parquet``), the engines collect their hits to the driver, and every
engine's hits are checked equal to the local ones.

Several ``--docs`` sizes give the overhead against data size. Run
``python benches/bench_engines.py --docs 5000 20000 80000 --short-docs 60000``
(``make bench-engines`` runs one size and the docstrings).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_commit, machine, timed, versions, write_results
from bench_dedup import short_texts
from stemmatic.contamination import ContaminationIndex, scan_corpus
from stemmatic.dedup import dedup
from stemmatic.engines import EngineOptions
from stemmatic.synthetic import generate_corpus

PARAMS = {"threshold": 0.8, "num_perm": 128, "ngram": 5}
SCAN_NGRAM = 13


def planted_scan_input(
    table: pa.Table, num_items: int, seed: int
) -> tuple[pa.Table, ContaminationIndex, int]:
    """An index of generated items, and ``table`` with a tenth of them planted whole (one per document)."""
    items = generate_corpus(num_items, seed=seed, min_words=40, max_words=300, duplicate_fraction=0.0).texts
    index = ContaminationIndex.from_records(
        [{"task_id": f"item{i}", "prompt": text} for i, text in enumerate(items)],
        fields=["prompt"],
        benchmark="generated",
        id_field="task_id",
        ngram=SCAN_NGRAM,
    )
    texts = table.column("text").to_pylist()
    planted = max(1, num_items // 10)
    step = max(1, len(texts) // planted)
    for k in range(planted):
        row = (k * step) % len(texts)
        cut = len(texts[row]) // 2
        texts[row] = f"{texts[row][:cut]} {items[k]} {texts[row][cut:]}"
    return table.set_column(1, "text", pa.array(texts, pa.string())), index, planted


@dataclass
class Size:
    """One input: its corpus, size and files, and each engine's seconds (dedup, scan) and answer counts."""

    corpus: str
    docs: int
    data: Path
    scan_data: Path
    text_mb: float
    index: ContaminationIndex
    planted: int
    expected: pa.Table
    expected_hits: pa.Table
    dedup_s: dict[str, float] = field(default_factory=dict)
    scan_s: dict[str, float] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)


def generated_table(docs: int, max_words: int) -> pa.Table:
    return generate_corpus(docs, seed=7, max_words=max_words).table.select(["id", "text"])


def short_table(docs: int) -> pa.Table:
    """bench_short_docs.py's 1× docstrings corpus, with string ids ``d0``, ``d1``, ... like the generated one's."""
    texts = short_texts(docs)
    return pa.table(
        {"id": pa.array([f"d{i}" for i in range(len(texts))]), "text": pa.array(texts, pa.large_string())}
    )


def prepare(corpus: str, table: pa.Table, items: int, work: Path, repeat: int) -> Size:
    """Write ``table`` (id, text) to Parquet and run the local engine on it (dedup and scan; best of ``repeat``)."""
    docs = len(table)
    name = f"{corpus}-{docs}"
    data = work / f"corpus-{name}.parquet"
    pq.write_table(table, data)
    text_mb = sum(len(t.encode()) for t in table.column("text").to_pylist()) / 1e6
    scan_table, index, planted = planted_scan_input(table, items, seed=8)
    scan_data = work / f"scan-{name}.parquet"
    pq.write_table(scan_table, scan_data)

    local_s, result = timed(lambda: dedup(data, work / f"local-{name}", overwrite=True, **PARAMS), repeat)
    scan_local_s, _ = timed(
        lambda: scan_corpus([scan_data], index, work / f"scan-local-{name}", overwrite=True), repeat
    )
    # The engines write every column of the local hits (HITS_SCHEMA, match, entry_docs, evidence).
    expected_hits = pq.read_table(work / f"scan-local-{name}" / "hits.parquet")
    assert len(expected_hits) >= planted, "planted items not found"
    size = Size(
        corpus,
        docs,
        data,
        scan_data,
        text_mb,
        index,
        planted,
        pq.read_table(work / f"local-{name}" / "kept"),
        expected_hits,
    )
    size.dedup_s["local"], size.scan_s["local"] = local_s, scan_local_s
    size.kept["local"], size.hits["local"] = result.kept_rows, len(expected_hits)
    return size


def run_engine(
    name: str,
    size: Size,
    dedup_kept: Callable[[Path], pa.Table],
    scan_hits: Callable[[Path, Any], pa.Table],
    repeat: int,
) -> None:
    """Time one engine's dedup and scan on ``size`` (best of ``repeat``), checking both answers against the
    local engine's."""
    size.dedup_s[name], kept = timed(lambda: dedup_kept(size.data), repeat)
    expected = size.expected
    assert kept.select(expected.column_names).cast(expected.schema).equals(expected), (
        f"{name} differs from local on {size.corpus}"
    )
    size.kept[name] = len(kept)
    size.scan_s[name], hits = timed(lambda: scan_hits(size.scan_data, size.index), repeat)
    hits = hits.select(size.expected_hits.column_names).cast(size.expected_hits.schema)
    assert hits.equals(size.expected_hits), f"{name} scan differs from local on {size.corpus}"
    size.hits[name] = len(hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, nargs="+", default=[20000], help="corpus sizes (documents)")
    parser.add_argument("--max-words", type=int, default=1000)
    parser.add_argument("--items", type=int, default=2000, help="benchmark items in the scan's index")
    parser.add_argument(
        "--short-docs",
        type=int,
        default=60_000,
        help="real short documents (bench_short_docs.py's 1× docstrings corpus); 0 leaves them out",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each job per engine; the best time is kept"
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="stemmatic-bench-engines-"))
    sizes = [
        prepare("generated", generated_table(d, args.max_words), args.items, work, args.repeat)
        for d in args.docs
    ]
    if args.short_docs:
        sizes.append(prepare("docstrings", short_table(args.short_docs), args.items, work, args.repeat))
    startup: dict[str, float] = {"local": 0.0}

    # Ray
    import ray
    from ray.data.context import ShuffleStrategy

    import stemmatic.engines.ray as sray

    start = time.perf_counter()
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    startup["ray"] = time.perf_counter() - start

    def ray_kept(path: Path) -> pa.Table:
        split = sray.dedup_split(ray.data.read_parquet(str(path)), options=EngineOptions(), **PARAMS)
        return pa.concat_tables(ray.get(split.kept.to_arrow_refs()))

    def ray_hits(path: Path, index: ContaminationIndex) -> pa.Table:
        return pa.concat_tables(ray.get(sray.scan(ray.data.read_parquet(str(path)), index).to_arrow_refs()))

    for size in sizes:
        run_engine("ray", size, ray_kept, ray_hits, args.repeat)
    ray.shutdown()

    # Spark
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if "JAVA_HOME" not in os.environ:
        import shutil

        java = shutil.which("java")
        if java:
            os.environ["JAVA_HOME"] = str(Path(os.path.realpath(java)).parent.parent)
    from pyspark.sql import SparkSession

    import stemmatic.engines.spark as sspark

    start = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(2 * cores))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    startup["spark"] = time.perf_counter() - start

    def spark_kept(path: Path) -> pa.Table:
        return sspark.dedup_split(
            spark.read.parquet(str(path)), options=EngineOptions(), **PARAMS
        ).kept.toArrow()

    def spark_hits(path: Path, index: ContaminationIndex) -> pa.Table:
        return sspark.scan(spark.read.parquet(str(path)), index).toArrow()

    for size in sizes:
        run_engine("spark", size, spark_kept, spark_hits, args.repeat)
    spark.stop()

    engines = ["local", "ray", "spark"]
    docs_text = " ".join(str(d) for d in args.docs)
    lines = [
        "# Engines: local vs Ray Data vs PySpark (same dedup, same answer)",
        "",
        f"- machine: {machine()}",
        f"- versions: {versions('stemmatic', 'ray', 'pyspark', 'pyarrow')}; commit {git_commit()}",
        f"- data: generated = generate_corpus(DOCS, seed=7, max_words={args.max_words}) for DOCS in {docs_text}"
        + (
            f"; docstrings = the {args.short_docs:,} real short documents of bench_short_docs.py (its 1× corpus)"
            if args.short_docs
            else ""
        )
        + "; one Parquet file each",
        f"- parameters: {PARAMS}, verify=exact, keep=first; engines with default EngineOptions "
        f"(partitions from the row count, graph decided on the driver below 2e6 edges)",
        f"- command: `python benches/bench_engines.py --docs {docs_text} --max-words {args.max_words} "
        f"--short-docs {args.short_docs} --repeat {args.repeat}`",
        "- every engine's kept rows were checked equal to the local engine's before timing was written",
        f"- times: best of {args.repeat} runs of each job (so an engine's first-job warm-up is left out), one "
        "process, each engine started once",
        "- start-up (once per engine, not in the job times): "
        + ", ".join(f"{name} {startup[name]:.1f} s" for name in ("ray", "spark")),
        "",
        "## Dedup: engine overhead against data size",
        "",
        "| corpus | documents | MB of text | kept rows | local (s) | ray (s) | ray / local | spark (s) | spark / local |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        local_s = size.dedup_s["local"]
        assert len({size.kept[e] for e in engines}) == 1
        lines.append(
            f"| {size.corpus} | {size.docs:,} | {size.text_mb:.1f} | {size.kept['local']:,} | {local_s:.2f} | "
            f"{size.dedup_s['ray']:.2f} | {size.dedup_s['ray'] / local_s:.1f}x | "
            f"{size.dedup_s['spark']:.2f} | {size.dedup_s['spark'] / local_s:.1f}x |"
        )
    stats = sizes[0].index.stats
    lines += [
        "",
        "## Contamination scan",
        "",
        f"- index: {args.items} generated items (`generate_corpus({args.items}, seed=8, min_words=40, "
        f"max_words=300)`), {SCAN_NGRAM}-grams, {stats['ngrams']:,} distinct n-grams; "
        f"a tenth of the items planted whole into documents of each corpus above",
        "- local: `scan_corpus` on the Parquet file (reads it, writes `hits.parquet`); engines: "
        "`scan(...)` on the same file, hits collected to the driver; all hits checked equal to the local ones",
        "- the engines ship the index once (Ray `ray.put`, Spark broadcast) and scan each Arrow batch "
        "with the same Rust scanner; one map, no shuffle, plus the row numbering and the final sort",
        "",
        "| corpus | documents | hits | local (s) | ray (s) | ray / local | spark (s) | spark / local |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        local_s = size.scan_s["local"]
        lines.append(
            f"| {size.corpus} | {size.docs:,} | {size.hits['local']:,} | {local_s:.2f} | {size.scan_s['ray']:.2f} | "
            f"{size.scan_s['ray'] / local_s:.1f}x | {size.scan_s['spark']:.2f} | "
            f"{size.scan_s['spark'] / local_s:.1f}x |"
        )
    lines += [
        "",
        "On one machine the engines only add overhead (task scheduling, Arrow",
        "serialization through the object store or the JVM, and about a dozen",
        "shuffles); they exist for corpora that do not fit one machine. The",
        "Rust kernels are the same in all three.",
        "",
    ]
    path = write_results("engines", "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
