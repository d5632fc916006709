"""``stemmatic contamination scan``: stream a corpus through the Rust scanner and write the evidence."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stemmatic._arrow import from_numpy, strings, to_numpy
from stemmatic.contamination._batch import scan_batch
from stemmatic.contamination._build import check_workers
from stemmatic.contamination._clean import write_clean_benchmarks
from stemmatic.contamination._cut import gpt3_cut
from stemmatic.contamination._evidence import (
    LLAMA2_MIN_SPAN,
    TokenOverlap,
)
from stemmatic.contamination._index import ContaminationIndex, _check_thresholds, _RawHits
from stemmatic.contamination._results import (
    _found_items,
    _HitArrays,
    _items_table,
    _report,
    _semantic_report,
    _Totals,
    _write_hits,
)
from stemmatic.contamination._semantic import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_SEMANTIC_THRESHOLD,
    SemanticMatcher,
)
from stemmatic.contamination._short import ShortStatements
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io import (
    Chunk,
    MirroredWriter,
    RejectedWriter,
    StageTimer,
    iter_chunks,
    output_dir,
    prefetch,
    resolve_inputs,
    write_report,
)
from stemmatic.io._sinks import check_output, split_sinks, write_parquet

__all__ = ["DEFAULT_MAX_ENTRY_DOCS", "DEFAULT_MIN_SPECIFIC_TOKENS", "DEFAULT_SHORT_MIN_NGRAMS", "scan_corpus"]

#: Entries with fewer tokens are ``short`` (Llama 2's shortest counted match is 10 tokens).
DEFAULT_MIN_SPECIFIC_TOKENS = 10
#: Entries found in more documents are ``common`` (for hits covering under half their n-grams).
DEFAULT_MAX_ENTRY_DOCS = 10
#: Distinct short n-grams a short-statement hit needs (chosen on the planted cases of benches/).
DEFAULT_SHORT_MIN_NGRAMS = 3

OutputFormat = Literal["parquet", "jsonl"]
#: ``progress(rows_done, text_bytes_done)`` after each batch.
Progress = Callable[[int, int], None]

_TEXT_TYPES = (pa.string(), pa.large_string(), pa.string_view(), pa.binary(), pa.large_binary())
#: Where the outputs are written until the scan has succeeded.
_STAGING = ".partial"


def scan_corpus(
    inputs: Sequence[str | os.PathLike[str]],
    index: ContaminationIndex | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    text_column: str = "text",
    id_column: str | None = None,
    min_ngrams: int = 1,
    min_coverage: float = 0.0,
    remove: bool = False,
    gpt3_cut_mode: bool = False,
    tokenizer: str | None = None,
    output_format: OutputFormat = "parquet",
    compression: str | None = None,
    max_shard_size: int | str | None = None,
    max_shard_rows: int | None = None,
    on_error: Literal["raise", "skip"] = "raise",
    workers: int | None = None,
    batch_rows: int = 4_096,
    overwrite: bool = False,
    progress: Progress | None = None,
    clean_benchmarks: bool = False,
    benchmark_sources: Mapping[str, str | os.PathLike[str]] | None = None,
    min_specific_tokens: int = DEFAULT_MIN_SPECIFIC_TOKENS,
    max_entry_docs: int | None = DEFAULT_MAX_ENTRY_DOCS,
    count_weak: bool = False,
    short_ngram: int | None = None,
    short_fields: Sequence[str] | None = None,
    short_min_ngrams: int = DEFAULT_SHORT_MIN_NGRAMS,
    token_overlap: bool = False,
    coverage_min_span: int = LLAMA2_MIN_SPAN,
    semantic: bool = False,
    embedder: Any = "minilm",
    semantic_threshold: float = DEFAULT_SEMANTIC_THRESHOLD,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    semantic_fields: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Scan a corpus for the entries of ``index``; write ``OUT/hits.parquet``, ``OUT/items.parquet``, ``OUT/report.json``.

    Args:
        inputs: Parquet/JSONL(.gz/.zst) files, directories or globs.
        index: a :class:`ContaminationIndex` or the path of a saved one.
        out: output directory; an existing non-empty one is refused unless ``overwrite``.
        text_column: column holding the document text.
        id_column: column of document ids; by default the row's position in the ordered inputs.
        min_ngrams, min_coverage: when a (document, entry) pair counts as a hit.
        remove: also write ``OUT/clean/`` (documents without hits) and
            ``OUT/removed/`` (the others, with ``contamination_reason`` and
            ``contamination_hits``), one shard per input shard.
        gpt3_cut_mode: like ``remove``, but cut each match out with 200
            characters on both sides instead of dropping the document (see
            :func:`~stemmatic.contamination.gpt3_cut`); cut documents stay in
            ``clean/``.
        tokenizer: if given, must equal the index's tokenizer (else refused).
        output_format, compression: of the ``clean``/``removed`` shards:
            ``parquet`` (default codec zstd) or ``jsonl`` (default: each input
            file's compression).
        max_shard_size, max_shard_rows: caps on each ``clean``/``removed``
            file (bytes written, e.g. ``"512MB"``, approximate; rows, exact):
            an input's rows then go to ``NAME-00000.EXT``, ``NAME-00001.EXT``, ...
        on_error: ``"skip"`` malformed JSONL lines into ``OUT/rejected/``.
        workers: scanner threads; the outputs do not depend on it.
        progress: called with (rows, text bytes) done after each batch.
        clean_benchmarks: also write ``OUT/clean_benchmarks/<benchmark>/``:
            the benchmark items that were not found, re-read from the files the
            index was built from, in their format (see
            :func:`~stemmatic.contamination.write_clean_benchmarks`).
        benchmark_sources: ``{benchmark: path}`` to read instead of the
            recorded files (for ``clean_benchmarks``).
        min_specific_tokens, max_entry_docs: a hit on an entry with fewer
            tokens is ``short``; one on an entry found in more documents,
            covering less than half its n-grams, is ``common``; only the
            other hits (``strong``) count as contamination (see
            :mod:`stemmatic.contamination._evidence`). ``None``: no entry is common.
        count_weak: count ``short`` and ``common`` hits as contamination too.
        short_ngram: also match the entries of ``short_fields`` (default: all
            fields) by ``short_ngram``-grams, needing ``short_min_ngrams``
            distinct ones; such hits have ``match = "short"``.
        token_overlap: measure, per hit, the longest span of entry tokens in
            the document and, per entry, Llama 2's token coverage and bucket.
        coverage_min_span: the shortest matched span that makes tokens
            contaminated for ``token_overlap`` (Llama 2's L: 10, and 20 to 50
            in its analysis against fragmented matches).
        semantic: also find entries (of ``semantic_fields``, default all)
            whose nearest chunks of ``chunk_tokens`` words, embedded by
            ``embedder``, have cosine similarity >= ``semantic_threshold``;
            written apart to ``OUT/semantic.parquet`` (see
            :mod:`stemmatic.contamination._semantic`). Items found only this
            way count as found for ``clean_benchmarks``.

    Returns:
        The report, also written to ``OUT/report.json``.
    """
    _check_thresholds(min_ngrams, min_coverage)
    check_workers(workers)
    if not 1 <= min_specific_tokens <= 2**32 - 1:
        raise ParameterError(
            f"invalid parameter `min_specific_tokens`: {min_specific_tokens}; must be between 1 and 2**32 - 1"
        )
    if max_entry_docs is not None and not 1 <= max_entry_docs < 2**63:
        raise ParameterError(f"invalid parameter `max_entry_docs`: {max_entry_docs}; must be at least 1")
    caps = check_output(output_format, compression, max_shard_size, max_shard_rows)
    if not 1 <= batch_rows <= 2**31 - 1:
        raise ParameterError(f"invalid parameter `batch_rows`: {batch_rows}; must be between 1 and 2**31 - 1")
    timer = StageTimer()
    with timer.stage("load_index"):
        if not isinstance(index, ContaminationIndex):
            index_path: str | None = str(index)
            index = ContaminationIndex.load(index)
        else:
            index_path = None
    if tokenizer is not None and tokenizer != index.tokenizer:
        raise ParameterError(
            f"the index was built with tokenizer={index.tokenizer}, not {tokenizer}; "
            "scan with the index's tokenizer or rebuild the index"
        )
    entry_tokens = to_numpy(index.entries()["item_tokens"]).astype(np.int64, copy=False)
    short = (
        ShortStatements.build(
            index, ngram=short_ngram, fields=short_fields, min_ngrams=short_min_ngrams, workers=workers
        )
        if short_ngram
        else None
    )
    overlap = (
        TokenOverlap.for_texts(index.entry_texts(), index.tokenizer, min_span=coverage_min_span)
        if token_overlap
        else None
    )
    semantic_matcher = (
        SemanticMatcher.build(
            index, embedder=embedder, threshold=semantic_threshold, chunk_tokens=chunk_tokens,
            fields=semantic_fields,
        )
        if semantic
        else None
    )  # fmt: skip
    files = resolve_inputs(inputs)
    with output_dir(out, overwrite=overwrite, inputs=files) as out_dir:
        # Every output is written under OUT/.partial/ and moved into OUT when
        # the scan has succeeded: a failed or killed scan leaves nothing that
        # looks like a result.
        staging = out_dir / _STAGING
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        write_outputs = remove or gpt3_cut_mode
        rejected = RejectedWriter(staging / "rejected")
        clean, removed = (
            split_sinks(staging, files, output_format, compression, caps, sides=("clean", "removed"))
            if write_outputs
            else (None, None)
        )
        ids = _DocIds(id_column)
        clean_schemas: dict[int, pa.Schema] = {}
        removed_schemas: dict[int, pa.Schema] = {}

        acc = _HitArrays()
        hits_writer: pq.ParquetWriter | None = None
        hits_schema: pa.Schema | None = None
        totals = _Totals()
        columns = None if write_outputs else [text_column, *([id_column] if id_column else [])]

        semantic_hits: pa.Table | None = None
        succeeded = False
        try:
            with timer.stage("scan"):
                # Read ahead on a background thread: the next batch is decoded
                # while the engine scans this one.
                for chunk in prefetch(
                    iter_chunks(
                        files,
                        columns=columns,
                        batch_rows=batch_rows,
                        on_error=on_error,
                        on_rejected=rejected,
                        skippable=True,
                    )
                ):
                    batch = chunk.batch
                    texts = _text_column(chunk, text_column)
                    batch_ids = ids.of(chunk)
                    hits = scan_batch(
                        index, texts, min_ngrams=min_ngrams, min_coverage=min_coverage, workers=workers,
                        short=short, overlap=overlap, guard=partial(_scan_chunk, chunk),
                    )  # fmt: skip
                    raw = hits.raw
                    totals.rows += batch.num_rows
                    totals.text_bytes += int(pc.sum(pc.binary_length(texts)).as_py() or 0)
                    totals.null_rows += raw.null_rows
                    totals.hits += len(raw)
                    rows, entries = hits.rows, hits.entries
                    if len(raw):
                        doc_ids = (
                            batch_ids.take(from_numpy(rows))
                            if batch_ids is not None
                            else from_numpy(rows + chunk.global_row, pa.int64())
                        )
                        if overlap is not None:
                            overlap.accumulate(entries, hits.overlaps)
                        table = hits.table(index, doc_ids, short)
                        if hits_writer is None:
                            hits_schema = table.schema
                            hits_writer = pq.ParquetWriter(staging / "hits.raw.parquet", hits_schema)
                        assert hits_schema is not None
                        hits_writer.write_table(table.cast(hits_schema))
                        acc.add(
                            entries,
                            raw.coverage,
                            rows + chunk.global_row,
                            doc_ids,
                            hits.match,
                            hits.letterless,
                        )
                    if semantic_matcher is not None:
                        with timer.stage("semantic"):
                            semantic_matcher.scan(
                                _as_str_list(texts),
                                batch_ids
                                if batch_ids is not None
                                else pa.array(np.arange(batch.num_rows) + chunk.global_row, pa.int64()),
                            )
                    if clean is not None and removed is not None:
                        # Whether an entry is common is known at the end of the scan only:
                        # the split leaves out hits on short entries and letterless partial
                        # matches (unless they count).
                        counted = raw.select(
                            np.flatnonzero(hits.counted_now(entry_tokens, min_specific_tokens, count_weak))
                        )
                        _split_chunk(
                            chunk, texts, counted, np.unique(counted.rows.astype(np.int64)), gpt3_cut_mode,
                            clean, removed, totals, clean_schemas, removed_schemas, text_column,
                        )  # fmt: skip
                    if progress is not None:
                        progress(totals.rows, totals.text_bytes)
            with timer.stage("write"):
                if hits_writer is not None:
                    hits_writer.close()
                    hits_writer = None
                found = acc.finish(index, entry_tokens, min_specific_tokens, max_entry_docs, count_weak)
                _write_hits(
                    staging, found, ids.type if hits_schema is None else hits_schema.field("doc_id").type,
                    overlap is not None,
                )  # fmt: skip
                totals.contaminated_rows = found.contaminated_docs
                items = _items_table(index, found, overlap)
                write_parquet(items, staging / "items.parquet")
                if semantic_matcher is not None:
                    semantic_hits = semantic_matcher.table(
                        ids.type if hits_schema is None else hits_schema.field("doc_id").type
                    )
                    write_parquet(semantic_hits, staging / "semantic.parquet")
                clean_summary = (
                    write_clean_benchmarks(
                        index,
                        _found_items(index, items, semantic_hits),
                        staging / "clean_benchmarks",
                        sources=benchmark_sources,
                    )
                    if clean_benchmarks
                    else None
                )
                if clean is not None and removed is not None:
                    clean.close(clean_schemas)
                    removed.close(removed_schemas)
                rejected.close()
                for name in (
                    "hits.parquet",
                    "items.parquet",
                    "clean",
                    "removed",
                    "rejected",
                    "clean_benchmarks",
                    "semantic.parquet",
                ):
                    if (staging / name).exists():
                        os.replace(staging / name, out_dir / name)
                shutil.rmtree(staging)
            succeeded = True
        finally:
            if hits_writer is not None:
                hits_writer.close()
            rejected.close()
            if not succeeded:
                shutil.rmtree(staging, ignore_errors=True)

        report = _report(
            index, index_path, files, totals, items, found, timer, rejected.count,
            dict(
                inputs=[str(p) for p in inputs], text_column=text_column, id_column=id_column,
                min_ngrams=min_ngrams, min_coverage=min_coverage, remove=remove, gpt3_cut=gpt3_cut_mode,
                output_format=output_format, compression=compression, max_shard_size=max_shard_size,
                max_shard_rows=max_shard_rows, on_error=on_error, workers=workers,
                clean_benchmarks=clean_benchmarks, min_specific_tokens=min_specific_tokens,
                max_entry_docs=max_entry_docs, count_weak=count_weak, short_ngram=short_ngram,
                short_fields=short.fields if short is not None else None,
                short_min_ngrams=short_min_ngrams if short is not None else None,
                token_overlap=token_overlap,
                coverage_min_span=coverage_min_span if token_overlap else None, semantic=semantic,
                **(
                    {
                        "embedder": str(embedder), "semantic_threshold": semantic_threshold,
                        "chunk_tokens": chunk_tokens, "semantic_fields": semantic_fields,
                    }
                    if semantic
                    else {}
                ),
            ),
        )  # fmt: skip
        if semantic_hits is not None:
            report["semantic"] = _semantic_report(index, items, semantic_hits)
            report["outputs"]["semantic"] = "semantic.parquet"
        if clean_summary is not None:
            for name, counts in clean_summary.items():
                counts["files"] = [os.path.relpath(f, staging).replace(os.sep, "/") for f in counts["files"]]
                report["benchmarks"][name]["clean_benchmark"] = counts
            report["outputs"]["clean_benchmarks"] = "clean_benchmarks/"
        write_report(out_dir / "report.json", report)
        return report


def _text_column(chunk: Chunk, name: str) -> pa.Array:
    names = chunk.batch.schema.names
    if name not in names:
        raise InvalidInputError(
            f"{chunk.file.path}: text column {name!r} not found; columns are {', '.join(map(repr, names))}"
        )
    column = chunk.batch.column(name)
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.string())
    if column.type not in _TEXT_TYPES:
        raise InvalidInputError(f"{chunk.file.path}: column {name!r} has type {column.type}, not text")
    return column


def _scan_chunk(chunk: Chunk, scan: Callable[[], _RawHits]) -> _RawHits:
    """Run ``scan`` on the texts of ``chunk``; a bad row is named by file and line (JSONL) or row."""
    try:
        return scan()
    except InvalidInputError as err:
        if err.row is None:
            raise InvalidInputError(f"{chunk.file.path}: {err}") from None
        row = chunk.file_row + err.row
        where = f"line {chunk.lines[err.row].as_py()}" if chunk.lines is not None else f"row {row}"
        raise InvalidInputError(f"{chunk.file.path}: {where}: {err.reason}") from None


def _split_chunk(
    chunk: Chunk,
    texts: pa.Array,
    raw: Any,
    contaminated: np.ndarray,
    cut: bool,
    clean: MirroredWriter,
    removed: MirroredWriter,
    totals: _Totals,
    clean_schemas: dict[int, pa.Schema],
    removed_schemas: dict[int, pa.Schema],
    text_column: str,
) -> None:
    batch = chunk.batch
    index = chunk.file_index
    mask = np.zeros(batch.num_rows, bool)
    mask[contaminated] = True
    hits_per_row = np.bincount(raw.rows.astype(np.int64), minlength=batch.num_rows)
    reasons = np.full(batch.num_rows, "contaminated", dtype=object)
    if cut:
        # Cut the contaminated documents; those that keep a piece go back to clean/.
        new_texts: dict[int, str] = {}
        spans_by_row: dict[int, list[tuple[int, int]]] = {}
        for hit in range(len(raw)):
            spans_by_row.setdefault(int(raw.rows[hit]), []).extend(raw.spans_of(hit))
        for row, spans in spans_by_row.items():
            text = texts[row].as_py()
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            result = gpt3_cut(text, spans)
            if result.text is None:
                reasons[row] = result.reason
            else:
                new_texts[row] = result.text
                mask[row] = False
                totals.cut_rows += 1
                totals.cut_chars += result.removed_chars
        if new_texts:
            values = texts.to_pylist()
            for row, text in new_texts.items():
                values[row] = text if not isinstance(values[row], bytes) else text.encode("utf-8")
            position = batch.schema.get_field_index(text_column)
            batch = batch.set_column(position, batch.schema.field(position), pa.array(values, texts.type))
    keep = from_numpy(~mask)
    kept = batch.filter(keep)
    clean.write(index, kept)
    clean_schemas.setdefault(index, kept.schema)
    totals.clean_rows += kept.num_rows
    gone = from_numpy(mask)
    dropped = batch.filter(gone)
    dropped_reasons = reasons[mask]
    dropped = dropped.append_column("contamination_reason", strings(dropped_reasons.tolist())).append_column(
        "contamination_hits", from_numpy(hits_per_row[mask], pa.int64())
    )
    removed.write(index, dropped)
    removed_schemas.setdefault(index, dropped.schema)
    totals.removed_rows += dropped.num_rows
    for reason in dropped_reasons.tolist():
        totals.removed_reasons[reason] = totals.removed_reasons.get(reason, 0) + 1


class _DocIds:
    """The ``--id-column`` of each batch, checked: one type across all inputs, no null, NaN or nested id.

    Integers are read as int64, texts as string, binary as binary, floats as
    float64, so shards that store one kind of id with different widths agree.
    """

    def __init__(self, column: str | None) -> None:
        self.column = column
        #: The id type of the first batch, and where it came from.
        self.type: pa.DataType = pa.int64()
        self.first: str | None = None

    def of(self, chunk: Chunk) -> pa.Array | None:
        """The checked ids of ``chunk`` (None without an id column)."""
        if self.column is None:
            return None
        name = self.column
        if name not in chunk.batch.schema.names:
            raise InvalidInputError(f"{chunk.file.path}: id column {name!r} not found")
        values = chunk.batch.column(name)
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        kind = values.type
        target: pa.DataType | None = None
        if pa.types.is_integer(kind):
            target = pa.int64()
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            target = pa.string()
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
            target = pa.binary()
        elif pa.types.is_floating(kind):
            target = pa.float64()
        elif pa.types.is_null(kind):
            target = None
        else:
            raise InvalidInputError(
                f"{_row_name(chunk, 0)}: id column {name!r} has type {kind}; "
                "ids must be integers, numbers or strings"
            )
        if values.null_count:
            row = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
            raise InvalidInputError(f"{_row_name(chunk, row)}: id column {name!r} is null")
        assert target is not None  # a null-typed column is all null
        try:
            values = values.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            bad = _first_uncastable(values, target)
            raise InvalidInputError(
                f"{_row_name(chunk, bad)}: id column {name!r}: {values[bad].as_py()!r} does not fit {target}"
            ) from err
        if pa.types.is_floating(target):
            nan = np.isnan(values.to_numpy(zero_copy_only=False))
            if nan.any():
                raise InvalidInputError(
                    f"{_row_name(chunk, int(np.flatnonzero(nan)[0]))}: id column {name!r} is NaN"
                )
        if self.first is None:
            self.type, self.first = target, str(chunk.file.path)
        elif target != self.type:
            raise InvalidInputError(
                f"{_row_name(chunk, 0)}: id column {name!r} holds {target} ids here but {self.type} ids "
                f"in {self.first}; ids must have one type across the inputs"
            )
        return values


def _row_name(chunk: Chunk, row: int) -> str:
    """``file: line N`` (JSONL) or ``file: row N`` (Parquet) of a row of ``chunk``."""
    if chunk.lines is not None:
        return f"{chunk.file.path}: line {chunk.lines[row].as_py()}"
    return f"{chunk.file.path}: row {chunk.file_row + row}"


def _first_uncastable(values: pa.Array, target: pa.DataType) -> int:
    for row in range(len(values)):
        try:
            values.slice(row, 1).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return row
    return 0


def _as_str_list(texts: pa.Array) -> list[str | None]:
    return [t.decode("utf-8", "replace") if isinstance(t, bytes) else t for t in texts.to_pylist()]
