"""The contamination scan on Ray and Spark, with the local engine's hits.

One map over Arrow batches, no shuffle: every batch is scanned by the same
Rust scanner as :meth:`stemmatic.contamination.ContaminationIndex.scan`
(``scan_raw`` + ``tabulate``). The index travels once per worker: the
function shipped to workers holds a small :class:`IndexHandle` (a Ray object
reference, a Spark broadcast variable), and a worker process loads the index
from it on its first batch and keeps it for the next ones (the index pickles
as the bytes of its file, and loading rebuilds its lookups, so this matters
for large indexes).

Documents are numbered as the dedup engines number rows (position in input
order, :meth:`Backend.with_row_index`); ``doc_id`` is that number, or the
value of ``id_column`` — as in :func:`stemmatic.contamination.scan_corpus`.
The hits carry the row number and the entry number, so the engines return
them ordered by document then entry, like the local scan.

Each batch goes through the local scan's own step
(:func:`stemmatic.contamination._batch.scan_batch`: the n-gram scan, the
short-statement pass, letterless matches, token overlap), so the hits carry
the local columns: ``match``, ``longest_span`` (with ``token_overlap``),
``entry_docs`` and ``evidence``. The documents per entry, which the evidence
needs, are counted on the driver from the hits' entry numbers (one int per
hit is collected, as for the row numbers) and sent back with a second map.

With ``remove=True`` the input rows are split into ``clean`` and ``removed``
(``contamination_reason``, ``contamination_hits``), as ``scan_corpus(...,
remove=True)`` writes them. Each split side scans its batches again rather
than joining with the hits: a scan costs less than shuffling the corpus, and
nothing is collected on the driver.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np
import pyarrow as pa

from stemmatic.contamination._batch import EVIDENCE_NAMES, BatchHits, evidence_columns, scan_batch
from stemmatic.contamination._evidence import (
    EVIDENCE,
    LLAMA2_CLEAN,
    LLAMA2_DIRTY,
    LLAMA2_MIN_SPAN,
    STRONG,
    TokenOverlap,
)
from stemmatic.contamination._index import HITS_SCHEMA, ContaminationIndex, _check_thresholds
from stemmatic.contamination._short import ShortStatements
from stemmatic.engines._backend import ROW, Backend, _select
from stemmatic.engines._options import EngineOptions
from stemmatic.engines._shipped import Shipped
from stemmatic.exceptions import InvalidInputError, ParameterError

if TYPE_CHECKING:
    from stemmatic._run import StageTimer

__all__ = [
    "ENTRY",
    "EngineScanResult",
    "HitEvidence",
    "IndexHandle",
    "InlineIndex",
    "ScanBatch",
    "ScanParams",
    "ScanSplit",
    "run_scan",
    "scan_report",
]

#: Column holding a hit's entry number (into the index) while the engines work.
ENTRY = "_stemmatic_entry"
#: Whether a hit is a partial match without letters (until its evidence is known).
LETTERLESS = "_stemmatic_letterless"
#: A hit's Llama 2 spans (entry token ranges), collected for the per-entry token coverage.
LLAMA2_SPANS = "_stemmatic_llama2_spans"
_TOKEN_SPAN = pa.struct([("start", pa.int64()), ("end", pa.int64())])

D = TypeVar("D")

_TEXT_TYPES = (pa.string(), pa.large_string(), pa.string_view(), pa.binary(), pa.large_binary())


class IndexHandle(Protocol):
    """How a worker gets the index: ``key`` names it in the worker's cache, ``load()`` fetches it."""

    @property
    def key(self) -> str: ...

    def load(self) -> ContaminationIndex: ...


@dataclass(frozen=True)
class InlineIndex(Shipped):
    """The index pickled inside the shipped function itself (no engine needed; used in tests)."""

    index: ContaminationIndex
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def load(self) -> ContaminationIndex:
        return self.index


# Indexes a worker process has loaded, by handle key (the last few scans).
_LOADED: OrderedDict[str, ContaminationIndex] = OrderedDict()
_LOADED_LOCK = threading.Lock()
_LOADED_MAX = 4


def load_index(index: ContaminationIndex | str | os.PathLike[str]) -> ContaminationIndex:
    """``index`` itself, or the saved index at that path."""
    return index if isinstance(index, ContaminationIndex) else ContaminationIndex.load(index)


def worker_index(handle: IndexHandle) -> ContaminationIndex:
    """The index behind ``handle``, loaded once per worker process."""
    with _LOADED_LOCK:
        index = _LOADED.get(handle.key)
        if index is not None:
            _LOADED.move_to_end(handle.key)
            return index
    index = handle.load()
    with _LOADED_LOCK:
        _LOADED[handle.key] = index
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
    return index


@dataclass(frozen=True)
class ScanParams:
    """The scan parameters of :meth:`ContaminationIndex.scan` and :func:`scan_corpus`."""

    text_column: str = "text"
    id_column: str | None = None
    min_ngrams: int = 1
    min_coverage: float = 0.0
    remove: bool = False
    tokenizer: str | None = None
    min_specific_tokens: int = 10
    max_entry_docs: int | None = 10
    count_weak: bool = False
    short_ngram: int | None = None
    short_fields: tuple[str, ...] | None = None
    short_min_ngrams: int = 3
    token_overlap: bool = False
    coverage_min_span: int = LLAMA2_MIN_SPAN

    def validate(self, index: ContaminationIndex) -> None:
        _check_thresholds(self.min_ngrams, self.min_coverage)
        if self.tokenizer is not None and self.tokenizer != index.tokenizer:
            raise ParameterError(
                f"the index was built with tokenizer={index.tokenizer}, not {self.tokenizer}; "
                "scan with the index's tokenizer or rebuild the index"
            )
        if not 1 <= self.min_specific_tokens <= 2**32 - 1:
            raise ParameterError(
                f"invalid parameter `min_specific_tokens`: {self.min_specific_tokens}; "
                "must be between 1 and 2**32 - 1"
            )
        if self.max_entry_docs is not None and not 1 <= self.max_entry_docs < 2**63:
            raise ParameterError(
                f"invalid parameter `max_entry_docs`: {self.max_entry_docs}; must be at least 1"
            )
        # Built once here so that bad short-statement or overlap parameters fail on the driver.
        _measures(index, self)

    @classmethod
    def build(cls, params: ScanParams | None, overrides: dict[str, Any]) -> ScanParams:
        """``params`` (or the defaults) with the engines' ``scan_split`` keyword ``overrides``."""
        params = params or cls()
        unknown = set(overrides) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"scan_split() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        if "short_fields" in overrides:
            fields = overrides["short_fields"]
            overrides = {**overrides, "short_fields": tuple(fields) if fields else None}
        return replace(params, **overrides)


@dataclass(frozen=True)
class _Measures:
    """What a worker builds from the index for the optional measures (once per process)."""

    short: ShortStatements | None
    overlap: TokenOverlap | None


_MEASURES: OrderedDict[tuple[str, Any], _Measures] = OrderedDict()


def _measures(index: ContaminationIndex, params: ScanParams, key: str | None = None) -> _Measures:
    """The short-statement index and entry tokens ``params`` ask for (cached per worker under ``key``)."""
    spec = (params.short_ngram, params.short_fields, params.short_min_ngrams, params.token_overlap,
            params.coverage_min_span)  # fmt: skip
    with _LOADED_LOCK:
        cached = _MEASURES.get((key, spec)) if key is not None else None
    if cached is not None:
        return cached
    short = (
        ShortStatements.build(
            index, ngram=params.short_ngram, fields=params.short_fields, min_ngrams=params.short_min_ngrams,
            workers=1,
        )
        if params.short_ngram
        else None
    )  # fmt: skip
    overlap = (
        TokenOverlap.for_texts(index.entry_texts(), index.tokenizer, min_span=params.coverage_min_span)
        if params.token_overlap
        else None
    )
    built = _Measures(short, overlap)
    if key is not None:
        with _LOADED_LOCK:
            _MEASURES[(key, spec)] = built
            while len(_MEASURES) > _LOADED_MAX:
                _MEASURES.popitem(last=False)
    return built


def _texts(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name).combine_chunks()
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.string())
    if column.type not in _TEXT_TYPES:
        raise InvalidInputError(f"column {name!r} has type {column.type}, not text")
    return column


def _scan(scan: ScanBatch | ScanSplit, table: pa.Table, overlap: bool) -> BatchHits:
    """The local scan's batch step on ``table``; a bad row is named by its row number in the whole input."""
    index = worker_index(scan.index)
    measures = _measures(index, scan.params, scan.index.key)

    def guard(run: Any) -> Any:
        try:
            return run()
        except InvalidInputError as err:
            if err.row is None:
                raise
            row = table.column(ROW)[err.row].as_py()
            located = InvalidInputError(f"row {row}: {err.reason}")
            located.row, located.byte, located.reason = row, err.byte, err.reason
            raise located from None

    return scan_batch(
        index,
        _texts(table, scan.params.text_column),
        min_ngrams=scan.params.min_ngrams,
        min_coverage=scan.params.min_coverage,
        workers=scan.threads,
        short=measures.short,
        overlap=measures.overlap if overlap else None,
        guard=guard,
    )


@dataclass(frozen=True)
class ScanBatch(Shipped):
    """Per batch (with ``ROW``): the hits table, plus the row and entry number of each hit.

    Besides the local hits' columns (but ``entry_docs`` and ``evidence``, added
    by :class:`HitEvidence`), each hit says whether it is letterless and, with
    token overlap, its Llama 2 spans.
    """

    VERSION = 2

    index: Any  # an IndexHandle
    params: ScanParams
    id_type: pa.DataType
    threads: int = 1

    def schema(self) -> pa.Schema:
        hits = HITS_SCHEMA.set(0, pa.field("doc_id", self.id_type))
        fields = [
            pa.field(ROW, pa.int64()),
            pa.field(ENTRY, pa.int64()),
            *hits,
            pa.field("match", pa.string()),
        ]
        if self.params.token_overlap:
            fields.append(pa.field("longest_span", pa.int64()))
        fields.append(pa.field(LETTERLESS, pa.bool_()))
        if self.params.token_overlap:
            fields.append(pa.field(LLAMA2_SPANS, pa.list_(_TOKEN_SPAN)))
        return pa.schema(fields)

    def __call__(self, table: pa.Table) -> pa.Table:
        hits = _scan(self, table, overlap=self.params.token_overlap)
        take = pa.array(hits.rows, pa.int64())
        rows = table.column(ROW).take(take)
        doc_ids = table.column(self.params.id_column).take(take) if self.params.id_column else rows
        short = _measures(worker_index(self.index), self.params, self.index.key).short
        out = hits.table(worker_index(self.index), doc_ids, short)
        out = out.add_column(0, ROW, rows).add_column(1, ENTRY, pa.array(hits.entries))
        out = out.append_column(LETTERLESS, pa.array(hits.letterless, pa.bool_()))
        if self.params.token_overlap:
            found = hits.overlaps
            offsets = np.asarray(found.span_offsets, np.int64) if found is not None else np.zeros(1, np.int64)
            spans = pa.StructArray.from_arrays(
                [
                    pa.array(
                        np.asarray(found.span_starts, np.int64) if found is not None else [], pa.int64()
                    ),
                    pa.array(np.asarray(found.span_ends, np.int64) if found is not None else [], pa.int64()),
                ],
                fields=list(_TOKEN_SPAN),
            )
            out = out.append_column(
                LLAMA2_SPANS, pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), spans)
            )
        return out.cast(self.schema())


@dataclass(frozen=True)
class HitEvidence(Shipped):
    """Per batch of hits: ``entry_docs`` and ``evidence`` from the corpus-wide documents per entry.

    Drops the working columns, so the hits have the local hits' columns (plus ``ROW``/``ENTRY``).
    """

    docs_per_entry: np.ndarray
    entry_tokens: np.ndarray
    min_specific_tokens: int
    max_entry_docs: int | None

    def schema(self, hits: pa.Schema) -> pa.Schema:
        kept = [f for f in hits if f.name not in (LETTERLESS, LLAMA2_SPANS)]
        return pa.schema([*kept, pa.field("entry_docs", pa.int64()), pa.field("evidence", pa.string())])

    def __call__(self, table: pa.Table) -> pa.Table:
        entry_docs, evidence = evidence_columns(
            np.asarray(table.column(ENTRY), np.int64),
            np.asarray(table.column("coverage"), np.float64),
            np.asarray(table.column(LETTERLESS), bool),
            self.docs_per_entry,
            self.entry_tokens,
            min_specific_tokens=self.min_specific_tokens,
            max_entry_docs=self.max_entry_docs,
        )
        out = table.drop_columns([c for c in (LETTERLESS, LLAMA2_SPANS) if c in table.column_names])
        out = out.append_column("entry_docs", pa.array(entry_docs, pa.int64()))
        return out.append_column("evidence", pa.array(EVIDENCE_NAMES[evidence].tolist(), pa.string()))


@dataclass(frozen=True)
class ScanSplit(Shipped):
    """Per batch: the rows without counted hits (``removed=False``) or with them, as ``scan_corpus --remove``.

    A batch alone cannot tell common entries: as the local scan does, it
    leaves out hits on short entries and letterless partial matches only.
    """

    VERSION = 2

    index: Any  # an IndexHandle
    params: ScanParams
    removed: bool
    threads: int = 1

    def __call__(self, table: pa.Table) -> pa.Table:
        hits = _scan(self, table, overlap=False)
        entry_tokens = np.asarray(worker_index(self.index).entries()["item_tokens"], np.int64)
        counted = hits.counted_now(entry_tokens, self.params.min_specific_tokens, self.params.count_weak)
        hits_per_row = np.bincount(hits.rows[counted], minlength=len(table))
        contaminated = hits_per_row > 0
        if not self.removed:
            return table.filter(pa.array(~contaminated))
        out = table.filter(pa.array(contaminated))
        return out.append_column(
            "contamination_reason", pa.array(["contaminated"] * len(out), pa.string())
        ).append_column("contamination_hits", pa.array(hits_per_row[contaminated], pa.int64()))


@dataclass
class EngineScanResult(Generic[D]):
    """Hits (the columns of ``HITS_SCHEMA``), and with ``remove=True`` clean and removed rows."""

    hits: D
    clean: D | None = None
    removed: D | None = None
    stats: dict[str, Any] = field(default_factory=dict)


def removed_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [*schema, pa.field("contamination_reason", pa.string()), pa.field("contamination_hits", pa.int64())]
    )


def run_scan(
    backend: Backend[D],
    data: D,
    index: ContaminationIndex,
    handle: IndexHandle,
    params: ScanParams,
    options: EngineOptions,
) -> EngineScanResult[D]:
    """The scan on an engine; outputs keep ``ROW`` (and hits ``ENTRY``) for the caller to order by."""
    params.validate(index)
    options.validate()
    schema = backend.schema(data)
    for name in [params.text_column, params.id_column]:
        if name and name not in schema.names:
            raise InvalidInputError(
                f"column {name!r} is not in the input (columns: {', '.join(schema.names)})"
            )
    if ROW in schema.names:
        raise InvalidInputError(f"the input has a column named {ROW!r}, which stemmatic uses internally")
    text_type = schema.field(params.text_column).type
    if text_type not in _TEXT_TYPES and not pa.types.is_null(text_type):
        raise InvalidInputError(f"column {params.text_column!r} has type {text_type}, not text")
    id_type = schema.field(params.id_column).type if params.id_column else pa.int64()
    indexed = backend.materialize(backend.with_row_index(data))
    scan = ScanBatch(handle, params, id_type, options.task_threads)
    columns = [ROW, params.text_column, *([params.id_column] if params.id_column else [])]
    raw_hits = backend.materialize(backend.map_arrow(_select(backend, indexed, columns), scan, scan.schema()))
    # One row per hit comes back to the driver: what the evidence and the counts need.
    wanted = [ROW, ENTRY, "coverage", LETTERLESS]
    if params.token_overlap:
        wanted += ["longest_span", LLAMA2_SPANS]
    collected = backend.collect(_select(backend, raw_hits, wanted))
    rows = np.asarray(collected.column(ROW), dtype=np.int64)
    entries = np.asarray(collected.column(ENTRY), dtype=np.int64)
    entry_tokens = np.asarray(index.entries()["item_tokens"], np.int64)
    docs_per_entry = np.bincount(entries, minlength=index.num_entries)
    _, evidence = evidence_columns(
        entries,
        np.asarray(collected.column("coverage"), np.float64),
        np.asarray(collected.column(LETTERLESS), bool),
        docs_per_entry,
        entry_tokens,
        min_specific_tokens=params.min_specific_tokens,
        max_entry_docs=params.max_entry_docs,
    )
    counted = np.ones(len(rows), bool) if params.count_weak else evidence == STRONG
    contaminated = len(np.unique(rows[counted]))
    input_rows = backend.count(indexed)
    stats: dict[str, Any] = {
        "input_rows": input_rows,
        "hits": len(rows),
        "hits_by_evidence": {name: int((evidence == code).sum()) for code, name in enumerate(EVIDENCE)},
        "contaminated_rows": contaminated,
        "not_contaminated_rows": input_rows - contaminated,
        "with_weak_hits_only": len(np.unique(rows)) - contaminated,
        "benchmarks": _per_benchmark(index, entries, rows, counted, collected, params),
    }
    attach = HitEvidence(docs_per_entry, entry_tokens, params.min_specific_tokens, params.max_entry_docs)
    hits = backend.map_arrow(raw_hits, attach, attach.schema(scan.schema()))
    result = EngineScanResult(hits=hits, stats=stats)
    if params.remove:
        with_row = backend.schema(indexed)
        split = [ScanSplit(handle, params, side, options.task_threads) for side in (False, True)]
        result.clean = backend.map_arrow(indexed, split[0], with_row)
        result.removed = backend.map_arrow(indexed, split[1], removed_schema(with_row))
        # What the split counts, known from the collected hits (ScanSplit decides the same per batch).
        letterless = np.asarray(collected.column(LETTERLESS), bool)
        split_counted = (
            np.ones(len(rows), bool)
            if params.count_weak
            else (entry_tokens[entries] >= params.min_specific_tokens) & ~letterless
        )
        stats["removed_rows"] = len(np.unique(rows[split_counted]))
        stats["clean_rows"] = input_rows - stats["removed_rows"]
    return result


def _per_benchmark(
    index: ContaminationIndex,
    entries: np.ndarray,
    rows: np.ndarray,
    counted: np.ndarray,
    collected: pa.Table,
    params: ScanParams,
) -> dict[str, dict[str, Any]]:
    """Per benchmark: counted hits, contaminated items and documents, and Llama 2's buckets if measured."""
    bench_of_entry = index.benchmark_of_entries()
    item_ids = np.asarray(index.entries()["item_id"].to_pylist(), object)
    out: dict[str, dict[str, Any]] = {}
    share = None
    if params.token_overlap:
        overlap = TokenOverlap.for_texts(
            index.entry_texts(), index.tokenizer, min_span=params.coverage_min_span
        )
        spans = collected.column(LLAMA2_SPANS).combine_chunks()
        flat = spans.flatten()
        overlap.accumulate(
            entries,
            _Found(
                np.asarray(collected.column("longest_span"), np.int64),
                np.asarray(spans.offsets, np.int64),
                np.asarray(flat.field("start"), np.int64),
                np.asarray(flat.field("end"), np.int64),
            ),
        )
        share = overlap.coverage()
    for number, name in enumerate(index.benchmarks):
        mine = bench_of_entry[entries] == number
        hit = mine & counted
        bench: dict[str, Any] = {
            "hits": int(hit.sum()),
            "items_contaminated": len(set(item_ids[entries[hit]].tolist())),
            "docs_contaminated": len(np.unique(rows[hit])),
        }
        if share is not None:
            of_bench = bench_of_entry == number
            # An item's coverage is that of its most covered entry (field).
            best: dict[str, float] = {}
            for item, value in zip(item_ids[of_bench].tolist(), share[of_bench].tolist(), strict=True):
                best[item] = max(best.get(item, 0.0), value)
            values = np.asarray(list(best.values()), np.float64)
            bench["llama2_items"] = {
                "clean": int((values < LLAMA2_CLEAN).sum()),
                "not_clean": int((values >= LLAMA2_CLEAN).sum()),
                "not_dirty": int((values < LLAMA2_DIRTY).sum()),
                "dirty": int((values >= LLAMA2_DIRTY).sum()),
            }
        out[name] = bench
    return out


@dataclass(frozen=True)
class _Found:
    """Collected Llama 2 spans in the shape of ``_core.Overlaps`` (for :meth:`TokenOverlap.accumulate`)."""

    longest: np.ndarray
    span_offsets: np.ndarray
    span_starts: np.ndarray
    span_ends: np.ndarray


def scan_report(
    engine: str,
    files: Sequence[Any],
    index_path: str | None,
    params: ScanParams,
    stats: dict[str, Any],
    rejected: int = 0,
    timer: StageTimer | None = None,
) -> dict[str, Any]:
    """``report.json`` of an engine scan run: the local report's schema and row and hit counts."""
    from stemmatic._run import Rows, run_report

    detail = {
        "contaminated": stats["contaminated_rows"],
        "not_contaminated": stats["not_contaminated_rows"],
        "with_weak_hits_only": stats["with_weak_hits_only"],
    }
    return run_report(
        "contamination scan",
        parameters={**asdict(params), "engine": engine, "index": index_path},
        inputs=files,
        rows=Rows(
            stats["input_rows"] + rejected,
            kept=stats["clean_rows"] if params.remove else None,
            removed=stats["removed_rows"] if params.remove else None,
            rejected=rejected,
            detail=detail,
        ),
        timer=timer,
        outputs={
            "hits": "hits/",
            **({"clean": "clean/", "removed": "removed/"} if params.remove else {}),
            **({"rejected": "rejected/rejected.jsonl"} if rejected else {}),
        },
        hits=stats["hits"],
        hits_by_evidence=stats["hits_by_evidence"],
        benchmarks=stats["benchmarks"],
    )
