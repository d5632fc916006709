"""What a local contamination scan reports: ``hits.parquet``, ``items.parquet`` and ``report.json``.

:func:`~stemmatic.contamination.scan_corpus` (``_scan.py``) streams the corpus
through the scanner and writes the split; the hits it collects on the way
(:class:`_HitArrays`) get their evidence here once every document is seen
(how many documents contain an entry decides whether its hits are common),
and become the hits file, the per-entry items table and the report's counts
per benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stemmatic._arrow import empty_array, empty_table, from_numpy, strings, to_numpy
from stemmatic._run import Rows, run_report
from stemmatic.contamination._batch import EVIDENCE_NAMES, evidence_columns
from stemmatic.contamination._cut import GPT3_MAX_SPLITS, GPT3_MIN_PIECE, GPT3_WINDOW
from stemmatic.contamination._evidence import EVIDENCE, LLAMA2_CLEAN, LLAMA2_DIRTY, STRONG, TokenOverlap
from stemmatic.contamination._evidence import SHORT as SHORT_ENTRY
from stemmatic.contamination._index import HITS_SCHEMA, ContaminationIndex
from stemmatic.contamination._short import MATCHES
from stemmatic.io import StageTimer
from stemmatic.io._sinks import PARQUET_CODEC


@dataclass
class _Totals:
    rows: int = 0
    text_bytes: int = 0
    null_rows: int = 0
    contaminated_rows: int = 0
    hits: int = 0
    clean_rows: int = 0
    removed_rows: int = 0
    cut_rows: int = 0
    cut_chars: int = 0
    removed_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class _Found:
    """Every hit of the scan, in the order of the hits file, with its evidence."""

    entries: np.ndarray
    coverage: np.ndarray
    rows: np.ndarray
    doc_ids: pa.Array
    match: np.ndarray
    entry_docs: np.ndarray
    evidence: np.ndarray
    counted: np.ndarray
    contaminated_docs: int
    weak_only_docs: int


@dataclass
class _HitArrays:
    entries: list[np.ndarray] = field(default_factory=list)
    coverage: list[np.ndarray] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    doc_ids: list[pa.Array] = field(default_factory=list)
    match: list[np.ndarray] = field(default_factory=list)
    letterless: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        entries: np.ndarray,
        coverage: np.ndarray,
        rows: np.ndarray,
        doc_ids: pa.Array,
        match: np.ndarray,
        letterless: np.ndarray,
    ) -> None:
        self.letterless.append(letterless)
        self.entries.append(entries)
        self.coverage.append(coverage)
        self.rows.append(rows)
        self.doc_ids.append(doc_ids)
        self.match.append(match)

    def finish(
        self,
        index: ContaminationIndex,
        entry_tokens: np.ndarray,
        min_specific_tokens: int,
        max_entry_docs: int | None,
        count_weak: bool,
    ) -> _Found:
        entries = np.concatenate(self.entries or [np.zeros(0, np.int64)])
        coverage = np.concatenate(self.coverage or [np.zeros(0)])
        rows = np.concatenate(self.rows or [np.zeros(0, np.int64)])
        match = np.concatenate(self.match or [np.zeros(0, np.int8)])
        id_type = self.doc_ids[0].type if self.doc_ids else pa.int64()
        doc_ids = (
            pa.concat_arrays([a.cast(id_type) for a in self.doc_ids])
            if self.doc_ids
            else empty_array(id_type)
        )
        # Each (document, entry) pair is one hit, so an entry's hits count its documents.
        entry_docs, evidence = evidence_columns(
            entries,
            coverage,
            np.concatenate(self.letterless or [np.zeros(0, bool)]),
            np.bincount(entries, minlength=index.num_entries),
            entry_tokens,
            min_specific_tokens=min_specific_tokens,
            max_entry_docs=max_entry_docs,
        )
        counted = np.ones(len(entries), bool) if count_weak else evidence == STRONG
        contaminated = len(np.unique(rows[counted]))
        return _Found(
            entries, coverage, rows, doc_ids, match, entry_docs, evidence, counted,
            contaminated, len(np.unique(rows)) - contaminated,
        )  # fmt: skip


def _write_hits(staging: Any, found: _Found, id_type: pa.DataType, overlap: bool) -> None:
    """``hits.parquet``: the hits written during the scan, with their entry's document count and evidence."""
    schema = HITS_SCHEMA.set(0, pa.field("doc_id", id_type))
    schema = schema.append(pa.field("match", pa.string()))
    if overlap:
        schema = schema.append(pa.field("longest_span", pa.int64()))
    schema = schema.append(pa.field("entry_docs", pa.int64())).append(pa.field("evidence", pa.string()))
    raw_path = staging / "hits.raw.parquet"
    evidence = EVIDENCE_NAMES[found.evidence]
    with pq.ParquetWriter(staging / "hits.parquet", schema, compression=PARQUET_CODEC) as writer:
        if not raw_path.exists():
            writer.write_table(empty_table(schema))
            return
        start = 0
        for batch in pq.ParquetFile(raw_path).iter_batches(batch_size=65_536):
            end = start + batch.num_rows
            table = (
                pa.Table.from_batches([batch])
                .append_column("entry_docs", from_numpy(found.entry_docs[start:end], pa.int64()))
                .append_column("evidence", strings(evidence[start:end].tolist()))
            )
            writer.write_table(table.cast(schema))
            start = end
    raw_path.unlink()


def _found_items(
    index: ContaminationIndex, items: pa.Table, semantic: pa.Table | None = None
) -> dict[str, list[str]]:
    """The item ids found, per benchmark: those with an entry that has a counted hit, or a semantic hit."""
    found: dict[str, list[str]] = {name: [] for name in index.benchmarks}
    hit = items.filter(pc.greater(items["counted_docs"], 0))
    for table in (hit, semantic) if semantic is not None else (hit,):
        for bench, item in zip(table["benchmark"].to_pylist(), table["item_id"].to_pylist(), strict=True):
            found[bench].append(item)
    return found


def _semantic_report(index: ContaminationIndex, items: pa.Table, semantic: pa.Table) -> dict[str, Any]:
    """Per benchmark: items with a semantic hit, and how many of them no counted n-gram hit found."""
    counted = {
        (b, i)
        for b, i, c in zip(
            items["benchmark"].to_pylist(), items["item_id"].to_pylist(), items["counted_docs"].to_pylist(),
            strict=True,
        )
        if c
    }  # fmt: skip
    out: dict[str, Any] = {}
    for name in index.benchmarks:
        mine = semantic.filter(pc.equal(semantic["benchmark"], name))
        found = set(mine["item_id"].to_pylist())
        out[name] = {
            "items": len(found),
            "items_without_ngram_hit": len({i for i in found if (name, i) not in counted}),
            "docs": len(set(mine["doc_id"].to_pylist())),
            "hits": mine.num_rows,
        }
    return out


def _items_table(index: ContaminationIndex, found: _Found, overlap: TokenOverlap | None) -> pa.Table:
    """One row per entry of the index: the documents that contain it, its best coverage and evidence."""
    entries = index.entries()
    n = index.num_entries
    entry = found.entries
    order = np.argsort(entry, kind="stable")
    counts = np.bincount(entry, minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    max_coverage = np.zeros(n)
    np.maximum.at(max_coverage, entry, found.coverage)
    counted = np.bincount(entry[found.counted], minlength=n)
    # The best evidence of an entry: strong before common before short ("none" without a hit).
    rank = np.array([3, 1, 2], np.int8)[found.evidence]
    best = np.zeros(n, np.int8)
    np.maximum.at(best, entry, rank)
    names = np.array(["none", "short", "common", "strong"], object)
    id_type = found.doc_ids.type
    docs = pa.LargeListArray.from_arrays(
        from_numpy(np.asarray(offsets), pa.int64()), found.doc_ids.take(from_numpy(order))
    )
    table = (
        entries.append_column("num_docs", from_numpy(np.asarray(counts), pa.int64()))
        .append_column("counted_docs", from_numpy(np.asarray(counted), pa.int64()))
        .append_column("evidence", strings(names[best].tolist()))
        .append_column("max_coverage", from_numpy(np.asarray(max_coverage), pa.float64()))
        .append_column("doc_ids", docs.cast(pa.list_(id_type)))
    )
    if overlap is not None:
        share = overlap.coverage()
        bucket = np.where(
            share < LLAMA2_CLEAN, "clean", np.where(share >= LLAMA2_DIRTY, "dirty", "not_clean")
        )
        table = (
            table.append_column("longest_span", from_numpy(np.asarray(overlap.longest), pa.int64()))
            .append_column("token_coverage", from_numpy(np.asarray(share), pa.float64()))
            .append_column("llama2_bucket", strings(bucket.tolist()))
        )
    return table


def _report(
    index: ContaminationIndex,
    index_path: str | None,
    files: Sequence[Any],
    totals: _Totals,
    items: pa.Table,
    found: _Found,
    timer: StageTimer,
    rejected: int,
    parameters: dict[str, Any],
) -> dict[str, Any]:
    # Counted per benchmark in one pass over the entries (an index may hold many benchmarks).
    num_benchmarks = len(index.benchmarks)
    entry_bench = index.benchmark_of_entries()
    contaminated_entry = to_numpy(items["counted_docs"]) > 0
    weak_entry = (to_numpy(items["num_docs"]) > 0) & ~contaminated_entry
    item_codes = np.asarray(
        to_numpy(pc.dictionary_encode(items["item_id"]).combine_chunks().indices),
        np.int64,
    )
    stride = int(item_codes.max()) + 1 if len(item_codes) else 1
    item_keys = entry_bench * stride + item_codes

    def per_benchmark(mask: np.ndarray | None, distinct_items: bool) -> np.ndarray:
        benches = entry_bench if mask is None else entry_bench[mask]
        if distinct_items:
            keys = item_keys if mask is None else item_keys[mask]
            benches = np.unique(keys) // stride
        return np.bincount(benches, minlength=num_benchmarks)

    entries_of = per_benchmark(None, False)
    items_of = per_benchmark(None, True)
    entries_hit = per_benchmark(contaminated_entry, False)
    items_hit = per_benchmark(contaminated_entry, True)
    items_any = per_benchmark(contaminated_entry | weak_entry, True)
    counted_bench = entry_bench[found.entries[found.counted]]
    pairs = np.unique(found.rows[found.counted] * num_benchmarks + counted_bench)
    bench_docs = np.bincount(pairs % num_benchmarks, minlength=num_benchmarks)
    bench_hits = np.bincount(counted_bench, minlength=num_benchmarks)
    hit_bench = entry_bench[found.entries]
    by_evidence = {
        name: np.bincount(hit_bench[found.evidence == code], minlength=num_benchmarks)
        for code, name in enumerate(EVIDENCE)
    }
    by_match = {
        name: np.bincount(hit_bench[found.match == code], minlength=num_benchmarks)
        for code, name in enumerate(MATCHES)
    }
    coverage_buckets = None
    if "token_coverage" in items.column_names:
        share = to_numpy(items["token_coverage"])
        coverage_buckets = {
            "clean": per_benchmark(share < LLAMA2_CLEAN, True),
            "not_clean": per_benchmark(share >= LLAMA2_CLEAN, True),
            "not_dirty": per_benchmark(share < LLAMA2_DIRTY, True),
            "dirty": per_benchmark(share >= LLAMA2_DIRTY, True),
        }
    benchmarks = {}
    for number, name in enumerate(index.benchmarks):
        benchmarks[name] = {
            "entries": int(entries_of[number]),
            "items": int(items_of[number]),
            "entries_contaminated": int(entries_hit[number]),
            "items_contaminated": int(items_hit[number]),
            "docs_contaminated": int(bench_docs[number]),
            "docs_contaminated_pct": round(100.0 * int(bench_docs[number]) / totals.rows, 4)
            if totals.rows
            else 0.0,
            "hits": int(bench_hits[number]),
            "items_weak_only": int(items_any[number] - items_hit[number]),
            "hits_by_evidence": {name: int(counts[number]) for name, counts in by_evidence.items()},
            "hits_by_match": {name: int(counts[number]) for name, counts in by_match.items()},
        }
        if coverage_buckets is not None:
            # Llama 2's buckets (they overlap: clean is part of not dirty, dirty of not clean).
            benchmarks[name]["llama2_items"] = {k: int(v[number]) for k, v in coverage_buckets.items()}
    stats = index.stats
    detail: dict[str, Any] = {
        "null_text": totals.null_rows,
        "contaminated": totals.contaminated_rows,
        "with_weak_hits_only": found.weak_only_docs,
        "not_contaminated": totals.rows - totals.contaminated_rows,
    }
    splits = bool(parameters["remove"] or parameters["gpt3_cut"])
    if splits:
        detail["removed_by_reason"] = dict(sorted(totals.removed_reasons.items()))
        if parameters["gpt3_cut"]:
            detail.update(cut=totals.cut_rows, cut_chars=totals.cut_chars)
        if not parameters["count_weak"]:
            # The split is made batch by batch, before an entry is known to be common.
            split = np.unique(found.rows[found.evidence != SHORT_ENTRY])
            detail["removed_with_common_hits_only"] = len(
                np.setdiff1d(split, found.rows[found.evidence == STRONG])
            )
    scan_seconds = timer.stages.get("scan", {}).get("seconds", 0.0)
    return run_report(
        "contamination scan",
        parameters={
            **parameters,
            "engine": "local",
            "index": index_path,
            **(
                {
                    "gpt3_window": GPT3_WINDOW,
                    "gpt3_min_piece": GPT3_MIN_PIECE,
                    "gpt3_max_splits": GPT3_MAX_SPLITS,
                }
                if parameters["gpt3_cut"]
                else {}
            ),
        },
        inputs=files,
        rows=Rows(
            totals.rows + rejected,
            kept=totals.clean_rows if splits else None,
            removed=totals.removed_rows if splits else None,
            rejected=rejected,
            detail=detail,
        ),
        timer=timer,
        outputs={
            "hits": "hits.parquet",
            "items": "items.parquet",
            **({"clean": "clean/", "removed": "removed/"} if splits else {}),
            **({"rejected": "rejected/rejected.jsonl"} if rejected else {}),
        },
        index={
            "tokenizer": index.tokenizer,
            "ngram": index.ngram,
            "seed": index.seed,
            "min_tokens": index.min_tokens,
            "benchmarks": index.benchmarks,
            "entries": stats["entries"],
            "items": stats["items"],
            "ngrams": stats["ngrams"],
            "excluded_ngrams": {
                "by_frequency": stats["excluded_by_frequency"],
                "by_allowlist": stats["excluded_by_allowlist"],
                "max_item_frequency": stats["max_item_frequency"],
            },
            "entries_without_ngrams": stats["entries_without_ngrams"],
            "build": index.build_info.get("benchmarks", []),
        },
        hits=totals.hits,
        text_bytes=totals.text_bytes,
        scan_mb_per_s=round(totals.text_bytes / 1e6 / scan_seconds, 2) if scan_seconds else None,
        benchmarks=benchmarks,
    )
