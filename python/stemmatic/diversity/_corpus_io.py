"""The corpus half of the diversity tools: rows in, vectors out; a keep decision in, kept/removed rows out.

:mod:`stemmatic.diversity.corpus` runs SemDeDup, selection and the metrics
on corpora with these pieces: :func:`load_corpus` streams the inputs once
(ids, scores and the vectors of every row, in input order), and
:func:`write_split` streams them a second time, sending each row to the kept
or the removed side (files mirroring the input shards, or tables in memory).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa

from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io._sinks import ShardCaps, split_sinks

if TYPE_CHECKING:
    from stemmatic._run import Progress, StageTimer
    from stemmatic.diversity.embed import Embedder
    from stemmatic.io import InputFile, Rejected

#: Called as ``progress(stage, done, total)`` by the array-level tools; a run adapts its
#: :class:`~stemmatic._run.Progress` to it (:func:`~stemmatic._run.steps_callback`).
ProgressFn = Callable[[str, int, int], None]

#: Columns the removed rows gain.
REMOVED_COLUMNS = ("duplicate_of", "cluster_id", "similarity", "reason")


@dataclass(frozen=True)
class EmbeddingSource:
    """Where the vectors of a corpus come from (exactly one of three).

    * ``column``: an input column holding each row's embedding (a list or
      fixed-size list of floats);
    * ``vectors``: precomputed embeddings, one row per input row in input
      order: a ``.npy`` path or an array;
    * otherwise ``embedder`` (``"hashing"``, ``"minilm"``, a local
      sentence-transformers directory, or an
      :class:`~stemmatic.diversity.embed.Embedder`) run on ``text_column``
      in batches of ``batch_size``, cached under ``cache_dir`` when given;
      ``dim`` is the hashing embedder's dimension.
    """

    column: str | None = None
    vectors: str | os.PathLike[str] | np.ndarray | None = None
    embedder: str | Embedder = "hashing"
    text_column: str = "text"
    dim: int = 384
    batch_size: int = 1024
    cache_dir: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if self.column is not None and self.vectors is not None:
            raise ParameterError("give either an embedding column or precomputed embeddings, not both")

    @property
    def uses_embedder(self) -> bool:
        return self.column is None and self.vectors is None

    def vectors_path(self) -> str | os.PathLike[str] | None:
        """The ``.npy`` the vectors are read from (an input of the run), if any."""
        return None if self.vectors is None or isinstance(self.vectors, np.ndarray) else self.vectors

    def model(self) -> Embedder:
        from stemmatic.diversity.embed import get_embedder

        extra = {"dim": self.dim} if self.embedder == "hashing" else {}
        return get_embedder(self.embedder, **extra)

    def describe(self) -> dict[str, Any]:
        """For reports."""
        if self.column:
            return {"source": "column", "column": self.column}
        if isinstance(self.vectors, np.ndarray):
            return {"source": "array"}
        if self.vectors is not None:
            return {"source": "npy", "path": str(self.vectors)}
        name = self.embedder if isinstance(self.embedder, str) else repr(self.embedder)
        return {"source": "embedder", "embedder": name, "text_column": self.text_column}


@dataclass
class Loaded:
    """Vectors and per-row metadata of the ordered input rows."""

    files: Sequence[InputFile]
    vectors: np.ndarray
    ids: pa.Array
    scores: np.ndarray | None
    source: dict[str, Any]
    rows_per_file: list[int]
    rejected: int = 0
    chunk_starts: list[int] = field(default_factory=list)
    chunk_files: list[int] = field(default_factory=list)
    chunk_file_rows: list[int] = field(default_factory=list)

    def row_name(self, row: int) -> str:
        """``"<file> row <k>"`` of a row of the ordered inputs, for error messages."""
        k = int(np.searchsorted(np.asarray(self.chunk_starts), row, side="right")) - 1
        if k < 0:
            return f"row {row}"
        file = self.files[self.chunk_files[k]]
        return f"{file.path} row {self.chunk_file_rows[k] + row - self.chunk_starts[k]}"

    def unit_vectors(self) -> np.ndarray:
        """The vectors normalized, with errors that name the file and row."""
        from stemmatic.diversity._vectors import as_unit_vectors

        return as_unit_vectors(self.vectors, name="embeddings", row_namer=self.row_name)


def _scores_of(column: pa.ChunkedArray | pa.Array, name: str, where: str) -> np.ndarray:
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise InvalidInputError(f"score column {name!r} in {where}: row {row} is null")
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        raise InvalidInputError(f"score column {name!r} in {where}: expected numbers, got {column.type}")
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def load_corpus(
    files: Sequence[InputFile],
    source: EmbeddingSource,
    *,
    id_column: str | None,
    score_column: str | None,
    on_error: str,
    on_rejected: Callable[[Rejected], None] | None,
    progress: ProgressFn,
) -> Loaded:
    """Stream the inputs once: ids, scores and vectors of every row, in input order."""
    from stemmatic._run import known_rows
    from stemmatic.diversity.embed import embed_texts, embeddings_from_arrow, load_npy
    from stemmatic.io import iter_chunks

    embedder = source.model() if source.uses_embedder else None
    columns = [c for c in (id_column, score_column) if c]
    if source.column:
        columns.append(source.column)
    elif embedder is not None:
        columns.append(source.text_column)
    ids: list[pa.Array] = []
    scores: list[np.ndarray] = []
    vectors: list[np.ndarray] = []
    loaded = Loaded(
        files, np.empty((0, 0), np.float32), pa.array([]), None, source.describe(), [0] * len(files)
    )

    def rejected(record: Rejected) -> None:
        loaded.rejected += 1
        if on_rejected is not None:
            on_rejected(record)

    total_rows = known_rows(files)
    for chunk in iter_chunks(
        files,
        columns=sorted(set(columns)) or None,
        on_error=on_error,  # type: ignore[arg-type]
        skippable=True,
        on_rejected=rejected,
    ):
        batch = chunk.batch
        loaded.chunk_starts.append(chunk.global_row)
        loaded.chunk_files.append(chunk.file_index)
        loaded.chunk_file_rows.append(chunk.file_row)
        loaded.rows_per_file[chunk.file_index] += batch.num_rows
        where = f"{chunk.file.path} (rows from {chunk.file_row})"
        if id_column:
            ids.append(batch.column(id_column))
        if score_column:
            scores.append(_scores_of(batch.column(score_column), score_column, where))
        if source.column:
            try:
                vectors.append(embeddings_from_arrow(batch.column(source.column)))
            except InvalidInputError as err:
                raise InvalidInputError(f"{where}: {err}") from err
        elif embedder is not None:
            try:
                vectors.append(
                    embed_texts(
                        batch.column(source.text_column),
                        embedder,
                        batch_size=source.batch_size,
                        cache_dir=source.cache_dir,
                    )
                )
            except InvalidInputError as err:
                raise InvalidInputError(f"{where}: text column {source.text_column!r}: {err}") from err
        done = chunk.global_row + batch.num_rows
        progress("read+embed" if embedder is not None else "read", done, total_rows or done)
    n = sum(loaded.rows_per_file)
    if n == 0:
        raise InvalidInputError("the inputs have no rows")
    if isinstance(source.vectors, np.ndarray):
        if source.vectors.ndim != 2 or len(source.vectors) != n:
            raise InvalidInputError(
                f"embeddings: array of shape {source.vectors.shape} but the inputs have {n} rows"
            )
        loaded.vectors = source.vectors
    elif source.vectors is not None:
        loaded.vectors = np.asarray(load_npy(source.vectors, rows=n))
    else:
        dims = {v.shape[1] for v in vectors}
        if len(dims) > 1:
            raise InvalidInputError(
                f"column {source.column!r}: embeddings of different dimensions {sorted(dims)} "
                "in different batches or files"
            )
        loaded.vectors = np.concatenate(vectors) if len(vectors) > 1 else vectors[0]
    if id_column:
        loaded.ids = pa.concat_arrays(
            [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in ids]
        )
    else:
        loaded.ids = pa.array(np.arange(n, dtype=np.int64))
    loaded.scores = np.concatenate(scores) if score_column else None
    return loaded


# ---------------------------------------------------------------- writing


@dataclass
class Decision:
    """Per input row: kept or not, and for removed rows what they duplicate and why."""

    keep: np.ndarray
    duplicate_of: np.ndarray  # row index, -1 for kept rows
    cluster_id: np.ndarray | None
    similarity: np.ndarray
    reason: str


class Sink(Protocol):
    """One side of the split: :class:`~stemmatic.io.MirroredWriter`, or :class:`~stemmatic.io._sinks.TableSink` in memory."""

    rows_written: int

    def write(self, file_index: int, table: pa.Table | pa.RecordBatch) -> None: ...

    def close(self, empty_schemas: dict[int, pa.Schema] | None = None) -> Any: ...


def write_split(
    loaded: Loaded,
    decision: Decision,
    kept_sink: Sink,
    removed_sink: Sink,
    *,
    on_error: str,
    progress: ProgressFn,
) -> dict[str, int]:
    """Second pass over the inputs: each row to the kept or the removed side.

    Removed rows gain :data:`REMOVED_COLUMNS`: the id of the row they
    duplicate (or their nearest selected row), their cluster, the similarity
    and why.
    """
    from stemmatic.io import iter_chunks

    kept_schemas: dict[int, pa.Schema] = {}
    removed_schemas: dict[int, pa.Schema] = {}
    n = len(decision.keep)
    written = 0
    for chunk in iter_chunks(loaded.files, on_error=on_error, skippable=True):  # type: ignore[arg-type]
        batch = chunk.batch
        clash = [c for c in REMOVED_COLUMNS if c in batch.schema.names]
        if clash:
            raise InvalidInputError(
                f"{chunk.file.path}: column {clash[0]!r} exists; removed rows gain the columns "
                f"{', '.join(REMOVED_COLUMNS)}"
            )
        rows = np.arange(chunk.global_row, chunk.global_row + batch.num_rows)
        if rows[-1] >= n:
            raise InvalidInputError("the inputs changed between the two passes (more rows than before)")
        keep = decision.keep[rows]
        kept = batch.filter(pa.array(keep))
        removed_rows = rows[~keep]
        removed = batch.filter(pa.array(~keep))
        dup = decision.duplicate_of[removed_rows]
        has_dup = dup >= 0
        duplicate_of = loaded.ids.take(pa.array(np.where(has_dup, dup, 0), mask=~has_dup))  # null: none
        cluster = (
            pa.array(decision.cluster_id[removed_rows], pa.int64())
            if decision.cluster_id is not None
            else pa.nulls(len(removed_rows), pa.int64())
        )
        similarity = decision.similarity[removed_rows].astype(np.float32)
        removed = pa.RecordBatch.from_arrays(
            [
                *removed.columns,
                duplicate_of,
                cluster,
                pa.array(similarity, pa.float32(), mask=np.isnan(similarity)),
                pa.array([decision.reason] * len(removed_rows), pa.string()),
            ],
            names=[*removed.schema.names, *REMOVED_COLUMNS],
        )
        kept_schemas.setdefault(chunk.file_index, kept.schema)
        removed_schemas.setdefault(chunk.file_index, removed.schema)
        if kept.num_rows:
            kept_sink.write(chunk.file_index, kept)
        if removed.num_rows:
            removed_sink.write(chunk.file_index, removed)
        written += batch.num_rows
        progress("write", written, n)
    if written != n:
        raise InvalidInputError(f"the inputs changed between the two passes ({n} rows, then {written})")
    kept_sink.close(kept_schemas)
    removed_sink.close(removed_schemas)
    return {"kept": kept_sink.rows_written, "removed": removed_sink.rows_written}


# ---------------------------------------------------------------- runs


class RejectedRows:
    """Malformed lines skipped with ``on_error="skip"``, kept in memory (``output=None``)."""

    def __init__(self) -> None:
        self.records: list[Rejected] = []

    def __call__(self, record: Rejected) -> None:
        self.records.append(record)

    def table(self) -> pa.Table:
        return pa.table(
            {
                "path": pa.array([r.path for r in self.records], pa.string()),
                "line": pa.array([r.line for r in self.records], pa.int64()),
                "error": pa.array([r.error for r in self.records], pa.string()),
                "raw": pa.array([r.raw for r in self.records], pa.string()),
            }
        )


@dataclass
class CorpusRun:
    """One run over a corpus: its input shards, its output directory (None: results in memory)."""

    files: Sequence[InputFile]
    target: Path | None
    on_error: str
    progress: Progress
    steps: ProgressFn
    #: The output URL when the outputs are written to ``target`` and uploaded there when the run ends.
    output_url: str | None = None
    rejected_memory: RejectedRows | None = None
    rejected_writer: Any = None

    @property
    def location(self) -> Path | str | None:
        """Where the outputs end up: ``target``, or the URL they are uploaded to (None: in memory)."""
        return self.output_url if self.output_url is not None else self.target

    def on_rejected(self) -> Callable[[Rejected], None] | None:
        if self.on_error != "skip":
            return None
        if self.target is None:
            self.rejected_memory = RejectedRows()
            return self.rejected_memory
        from stemmatic.io import RejectedWriter

        self.rejected_writer = RejectedWriter(self.target / "rejected")
        return self.rejected_writer  # type: ignore[no-any-return]

    def load(self, source: EmbeddingSource, *, id_column: str | None, score_column: str | None) -> Loaded:
        try:
            return load_corpus(
                self.files,
                source,
                id_column=id_column,
                score_column=score_column,
                on_error=self.on_error,
                on_rejected=self.on_rejected(),
                progress=self.steps,
            )
        finally:
            if self.rejected_writer is not None:
                self.rejected_writer.close()

    def split(
        self, loaded: Loaded, decision: Decision, *, fmt: str, compression: str | None, caps: ShardCaps
    ) -> tuple[dict[str, int], pa.Table | None, pa.Table | None]:
        """Write the split; the kept and removed tables when the run has no output directory."""
        kept, removed = split_sinks(self.target, self.files, fmt, compression, caps)
        counts = write_split(loaded, decision, kept, removed, on_error=self.on_error, progress=self.steps)
        if self.target is None:
            return counts, kept.table, removed.table
        return counts, None, None

    def rejected_table(self) -> pa.Table | None:
        return self.rejected_memory.table() if self.rejected_memory is not None else None

    def report(
        self,
        command: str,
        loaded: Loaded,
        *,
        parameters: dict[str, Any],
        timer: StageTimer,
        kept: int | None = None,
        removed: int | None = None,
        outputs: dict[str, str],
        **blocks: Any,
    ) -> dict[str, Any]:
        """The run's ``report.json`` (:func:`stemmatic._run.run_report`), written by :meth:`finish`.

        ``outputs`` name what a run with an output directory writes; a run in
        memory writes nothing and reports none.
        """
        from stemmatic._run import Rows, run_report

        rows = Rows(
            sum(loaded.rows_per_file) + loaded.rejected,
            kept=kept,
            removed=removed,
            rejected=loaded.rejected,
            detail={"per_file": list(loaded.rows_per_file)},
        )
        if self.target is not None and loaded.rejected:
            outputs = {**outputs, "rejected": "rejected/rejected.jsonl"}
        return run_report(
            f"diversity {command}",
            parameters=parameters,
            inputs=self.files,
            rows=rows,
            timer=timer,
            outputs=outputs if self.target is not None else {},
            embeddings={**loaded.source, "dim": int(loaded.vectors.shape[1])},
            **blocks,
        )

    def finish(self, report: dict[str, Any]) -> None:
        """Write ``report.json`` (nothing in memory)."""
        from stemmatic.io import write_report

        if self.target is not None:
            write_report(self.target / "report.json", report)


def describe_source(spec: Any) -> str:
    """A dataset, reference or centroids as reports name it: its path(s), ``array`` or ``input table``."""
    if isinstance(spec, (str, os.PathLike)):
        return str(spec)
    if isinstance(spec, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in spec):
        return ",".join(str(p) for p in spec)
    if isinstance(spec, np.ndarray):
        return "array"
    return "input table"


@contextlib.contextmanager
def corpus_run(
    inputs: Any,
    output: str | os.PathLike[str] | None,
    *,
    overwrite: bool,
    on_error: str,
    progress: Progress | None,
    also_read: Sequence[str | os.PathLike[str] | None] = (),
) -> Iterator[CorpusRun]:
    """Resolve the inputs (paths or a table), hold the output directory, and hand out one :class:`CorpusRun`.

    The output may not overlap an input (``also_read`` names more inputs:
    a ``.npy`` of embeddings, centroids); nothing is written with ``output=None``.
    """
    from stemmatic._run import NoProgress, steps_callback
    from stemmatic.io import output_dir, source_files
    from stemmatic.io._remote import is_url
    from stemmatic.io._sources import check_on_error

    check_on_error(on_error)
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(source_files(inputs))
        target = None
        if output is not None:
            extra = [p for p in also_read if p is not None]
            target = stack.enter_context(output_dir(output, overwrite=overwrite, inputs=[*files, *extra]))
        shown = progress if progress is not None else NoProgress()
        try:
            url = os.fspath(output) if output is not None and is_url(os.fspath(output)) else None
            yield CorpusRun(files, target, on_error, shown, steps_callback(shown), output_url=url)
        finally:
            shown.finish()
