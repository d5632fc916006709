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

With ``remove=True`` the input rows are split into ``clean`` and ``removed``
(``contamination_reason``, ``contamination_hits``), as ``scan_corpus(...,
remove=True)`` writes them. Each split side scans its batches again rather
than joining with the hits: a scan costs less than shuffling the corpus, and
nothing is collected on the driver.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np
import pyarrow as pa

from stemmatic.contamination._index import HITS_SCHEMA, ContaminationIndex, _check_thresholds
from stemmatic.engines._common import ROW, Backend, EngineOptions, Shipped, _select
from stemmatic.exceptions import InvalidInputError, ParameterError

if TYPE_CHECKING:
    from stemmatic._run import StageTimer

__all__ = [
    "ENTRY",
    "EngineScanResult",
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

D = TypeVar("D")

_TEXT_TYPES = (pa.string(), pa.large_string(), pa.string_view(), pa.binary(), pa.large_binary())
_ROW_ERROR = re.compile(r"^row (\d+): (.*)$", re.DOTALL)


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

    def validate(self, index: ContaminationIndex) -> None:
        _check_thresholds(self.min_ngrams, self.min_coverage)
        if self.tokenizer is not None and self.tokenizer != index.tokenizer:
            raise ParameterError(
                f"the index was built with tokenizer={index.tokenizer}, not {self.tokenizer}; "
                "scan with the index's tokenizer or rebuild the index"
            )


def _texts(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name).combine_chunks()
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.string())
    if column.type not in _TEXT_TYPES:
        raise InvalidInputError(f"column {name!r} has type {column.type}, not text")
    return column


def _scan_raw(scan: ScanBatch | ScanSplit, table: pa.Table) -> Any:
    """``scan_raw`` of a batch; a bad row is named by its row number in the whole input."""
    index = worker_index(scan.index)
    try:
        return index.scan_raw(
            _texts(table, scan.text_column),
            min_ngrams=scan.min_ngrams,
            min_coverage=scan.min_coverage,
            workers=scan.threads,
        )
    except InvalidInputError as err:
        match = _ROW_ERROR.match(str(err))
        if match is None:
            raise
        row = table.column(ROW)[int(match.group(1))].as_py()
        raise InvalidInputError(f"row {row}: {match.group(2)}") from None


@dataclass(frozen=True)
class ScanBatch(Shipped):
    """Per batch (with ``ROW``): the hits table, plus the row and entry number of each hit."""

    index: Any  # an IndexHandle
    text_column: str
    id_column: str | None
    id_type: pa.DataType
    min_ngrams: int
    min_coverage: float
    threads: int = 1

    def schema(self) -> pa.Schema:
        hits = HITS_SCHEMA.set(0, pa.field("doc_id", self.id_type))
        return pa.schema([pa.field(ROW, pa.int64()), pa.field(ENTRY, pa.int64()), *hits])

    def __call__(self, table: pa.Table) -> pa.Table:
        raw = _scan_raw(self, table)
        take = pa.array(raw.rows.astype(np.int64), pa.int64())
        rows = table.column(ROW).take(take)
        doc_ids = table.column(self.id_column).take(take) if self.id_column else rows
        hits = worker_index(self.index).tabulate(raw, doc_ids)
        hits = hits.add_column(0, ROW, rows).add_column(1, ENTRY, pa.array(raw.entries.astype(np.int64)))
        return hits.cast(self.schema())


@dataclass(frozen=True)
class ScanSplit(Shipped):
    """Per batch: the rows without hits (``removed=False``) or with them, as ``scan_corpus --remove``."""

    index: Any  # an IndexHandle
    text_column: str
    min_ngrams: int
    min_coverage: float
    removed: bool
    threads: int = 1

    def __call__(self, table: pa.Table) -> pa.Table:
        raw = _scan_raw(self, table)
        hits_per_row = np.bincount(raw.rows.astype(np.int64), minlength=len(table))
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
    scan = ScanBatch(
        handle,
        params.text_column,
        params.id_column,
        id_type,
        params.min_ngrams,
        params.min_coverage,
        options.task_threads,
    )
    columns = [ROW, params.text_column, *([params.id_column] if params.id_column else [])]
    hits = backend.materialize(backend.map_arrow(_select(backend, indexed, columns), scan, scan.schema()))
    rows = np.asarray(backend.collect(_select(backend, hits, [ROW])).column(ROW), dtype=np.int64)
    contaminated = len(np.unique(rows))
    input_rows = backend.count(indexed)
    stats: dict[str, Any] = {
        "input_rows": input_rows,
        "hits": len(rows),
        "contaminated_rows": contaminated,
        "not_contaminated_rows": input_rows - contaminated,
    }
    result = EngineScanResult(hits=hits, stats=stats)
    if params.remove:
        with_row = backend.schema(indexed)
        split = [
            ScanSplit(
                handle,
                params.text_column,
                params.min_ngrams,
                params.min_coverage,
                side,
                options.task_threads,
            )
            for side in (False, True)
        ]
        result.clean = backend.map_arrow(indexed, split[0], with_row)
        result.removed = backend.map_arrow(indexed, split[1], removed_schema(with_row))
        stats["clean_rows"] = input_rows - contaminated
        stats["removed_rows"] = contaminated
    return result


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
    )
