"""Sources: input files (and globs, directories) or in-memory tables streamed as Arrow record batches, with provenance.

:func:`iter_chunks` reads every format in order: Parquet, CSV/TSV and Arrow
IPC here; JSON lines and JSON arrays in :mod:`stemmatic.io._json_reader`.
Listing and format detection are in :mod:`stemmatic.io._listing`; both
modules' public names are importable from here too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic.exceptions import InvalidInputError, ParameterError, StemmaticError
from stemmatic.io._json_reader import (
    JSONL_BLOCK_BYTES,
    JSONL_MAX_DEPTH,
    OnError,
    Rejected,
    _is_json_array,
    _json_array_batches,
    _jsonl_batches,
    _skip_hint,
)
from stemmatic.io._listing import InputFile, InputFiles, OutputFormat, check_columns, resolve_inputs
from stemmatic.io._prefetch import side_by_side
from stemmatic.io._remote import open_random, open_stream

__all__ = [
    "JSONL_BLOCK_BYTES",
    "JSONL_MAX_DEPTH",
    "Chunk",
    "InputFile",
    "InputFiles",
    "OnError",
    "OutputFormat",
    "Rejected",
    "check_columns",
    "iter_chunks",
    "resolve_inputs",
    "source_files",
    "stage_table",
    "table_source",
]


def table_source(source: object) -> pa.RecordBatchReader | None:
    """``source`` as a stream of record batches if it is a table-like object, else None.

    Table-like: a pyarrow Table, RecordBatch or RecordBatchReader, anything
    with ``__arrow_c_stream__`` (polars, DuckDB and pandas >= 2.2 frames), a
    pandas DataFrame, or a Hugging Face ``datasets.Dataset``.
    """
    if isinstance(source, pa.RecordBatchReader):
        return source
    if isinstance(source, pa.Table):
        return source.to_reader()
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source]).to_reader()
    module = type(source).__module__.split(".", 1)[0]
    if module == "datasets" and hasattr(source, "flatten_indices") and hasattr(source, "data"):
        dataset: Any = source
        if getattr(dataset, "_indices", None) is not None:  # a selection or shuffle: materialise it
            dataset = dataset.flatten_indices()
        return pa.table(dataset.data.table).to_reader()
    if hasattr(source, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(source)
    if module == "pandas" and hasattr(source, "columns"):
        return pa.Table.from_pandas(source, preserve_index=False).to_reader()
    return None


def stage_table(reader: pa.RecordBatchReader, directory: Path) -> Path:
    """Stream a table-like input into ``directory/input.parquet``, so the file pipeline can read it."""
    path = directory / "input.parquet"
    with pq.ParquetWriter(path, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
    return path


@contextlib.contextmanager
def source_files(source: object, *, name: str = "input table") -> Iterator[InputFiles]:
    """The input shards of a corpus given as paths or as a table-like object, for one run.

    ``source`` is a path, a sequence of paths (files, directories, globs,
    URLs: :func:`resolve_inputs`), or a table-like object (:func:`table_source`),
    which is streamed into a temporary Parquet file for the run so that it can
    be read twice and mirrored like a file. A :class:`StemmaticError` raised
    inside the block names such a table ``name`` rather than the temporary file.

    >>> import pyarrow as pa
    >>> with source_files(pa.table({"text": ["a", "b"]})) as files:
    ...     [c.batch.num_rows for c in iter_chunks(files)]
    [2]
    """
    import tempfile

    reader = table_source(source)
    if reader is None:
        paths = [source] if isinstance(source, (str, os.PathLike)) else source
        if not isinstance(paths, (list, tuple)) or not all(isinstance(p, (str, os.PathLike)) for p in paths):
            raise ParameterError(
                f"expected a path, a list of paths or a table-like object (pyarrow, polars, pandas, "
                f"datasets), got {type(source).__name__}"
            )
        yield resolve_inputs(paths)
        return
    with tempfile.TemporaryDirectory(prefix="stemmatic-in-") as staging:
        files = resolve_inputs([stage_table(reader, Path(staging))])
        files.table = name
        try:
            yield files
        except StemmaticError as err:
            raise type(err)(str(err).replace(str(files[0].path), name)) from None


@dataclass(frozen=True)
class Chunk:
    """A record batch of one input file, with its provenance."""

    file: InputFile
    file_index: int
    #: Row number of the batch's first row within its file (0-based).
    file_row: int
    #: Row number of the batch's first row within the ordered inputs (0-based).
    global_row: int
    batch: pa.RecordBatch
    #: For JSONL: the 1-based line number of each row (None for Parquet).
    lines: pa.Array | None = None


ON_ERROR = ("raise", "skip")


def check_on_error(on_error: object) -> None:
    """Refuse an ``on_error`` other than ``raise`` or ``skip`` (every reader of malformed lines takes these two)."""
    if on_error not in ON_ERROR:
        raise ParameterError(f"invalid parameter `on_error`: {on_error!r}; expected raise or skip")


def iter_chunks(
    files: Sequence[InputFile],
    *,
    columns: Sequence[str] | None = None,
    batch_rows: int = 16_384,
    on_error: OnError = "raise",
    on_rejected: Callable[[Rejected], None] | None = None,
    skippable: bool = False,
    lanes: int = 1,
) -> Iterator[Chunk]:
    """Stream the inputs as Arrow record batches, in order.

    Args:
        files: from :func:`resolve_inputs`.
        columns: read only these columns (Parquet reads no others; JSONL
            drops the rest after parsing). A missing column is an error.
        batch_rows: rows per Parquet batch (JSONL batches follow its blocks).
        on_error: ``"raise"`` on a malformed JSONL line, or ``"skip"`` it,
            handing it to ``on_rejected``.
        skippable: the caller offers ``--on-error skip``: errors say so.
        lanes: files read side by side, each on its own thread (1: none,
            the caller's thread reads). The chunks, rejected lines and errors
            come in the same order, and the batches are the same, whatever
            the lanes.
    """
    check_on_error(on_error)
    if on_error == "raise" and not skippable:
        on_error = "refuse"  # type: ignore[assignment]  # raise, without a hint at an option the caller lacks

    def batches(file: InputFile) -> Iterator[tuple[pa.RecordBatch | None, pa.Array | None, list[Rejected]]]:
        """The file's batches, each with the lines rejected since the one before; then the rest of them."""
        rejected: list[Rejected] = []
        keep = rejected.append if on_rejected is not None else None
        if file.format == "parquet":
            reader = _parquet_batches(file, columns, batch_rows)
        elif file.format in ("csv", "tsv"):
            reader = _csv_batches(file, columns, batch_rows, on_error, keep)
        elif file.format == "arrow":
            reader = _arrow_batches(file, columns, batch_rows)
        elif _is_json_array(file):
            reader = _json_array_batches(file, columns, batch_rows, on_error, keep)
        else:
            reader = _jsonl_batches(file, columns, on_error, keep)
        try:
            for batch, lines in reader:
                if batch.num_rows:
                    yield batch, lines, rejected[:]
                    rejected.clear()
        except Exception:
            # What was rejected before a failure reaches the caller first, as when read in place.
            if rejected:
                yield None, None, rejected[:]
            raise
        yield None, None, rejected

    global_row = 0
    for index, items in enumerate(side_by_side((batches(f) for f in files), lanes)):
        file = files[index]
        file_row = 0
        for batch, lines, rejected in items:
            if on_rejected is not None:
                for line in rejected:
                    on_rejected(line)
            if batch is None:
                continue
            yield Chunk(file, index, file_row, global_row, batch, lines)
            file_row += batch.num_rows
            global_row += batch.num_rows


def _parquet_batches(
    file: InputFile, columns: Sequence[str] | None, batch_rows: int
) -> Iterator[tuple[pa.RecordBatch, None]]:
    try:
        parquet = pq.ParquetFile(open_random(file.path))
    except (pa.ArrowInvalid, OSError) as err:
        raise InvalidInputError(f"{file.path}: not a readable Parquet file: {err}") from err
    check_columns(file, parquet.schema_arrow.names, columns)
    batches = parquet.iter_batches(batch_size=batch_rows, columns=list(columns) if columns else None)
    for batch in _checked(file, "Parquet", batches):
        yield _without_views(batch), None


def _checked(file: InputFile, kind: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches``, with a read failure half-way (a damaged page) named by file and row."""
    row = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as err:
            raise InvalidInputError(
                f"{file.path}: damaged {kind} file: cannot read the rows after row {row}: {err}"
            ) from None
        row += batch.num_rows
        yield batch


def _csv_batches(
    file: InputFile,
    columns: Sequence[str] | None,
    batch_rows: int,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
    """CSV/TSV with a header row; every column is read as text (CSV has no types to keep)."""
    import pyarrow.csv as pacsv

    delimiter = "\t" if file.format == "tsv" else ","
    pending: list[Rejected] = []

    def bad_row(row: Any) -> str:
        where = f"{file.path}:{row.number}" if row.number else f"{file.path}"
        pending.append(
            Rejected(
                str(file.path),
                row.number or 0,
                f"{where}: malformed {file.format.upper()} row {row.text.strip()[:200]!r}: "
                f"expected {row.expected_columns} fields, got {row.actual_columns}",
                row.text,
            )
        )
        return "skip" if on_error == "skip" else "error"

    def failed(err: Exception, row: int) -> InvalidInputError:
        if pending and on_error != "skip":
            return InvalidInputError(f"{pending[0].error}{_skip_hint(on_error, 'rows')}")
        return InvalidInputError(
            f"{file.path}: not a readable {file.format.upper()} file after row {row}: {err}"
        )

    try:
        with open_stream(file.path, file.compression) as stream:
            header = pacsv.open_csv(
                stream,
                parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=lambda _: "skip"),
            ).schema.names
    except (pa.ArrowException, OSError) as err:
        raise failed(err, 0) from None
    check_columns(file, header, columns)
    row = 0
    with open_stream(file.path, file.compression) as stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=JSONL_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=bad_row),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.large_string()),
                    include_columns=list(columns) if columns else None,
                    strings_can_be_null=False,
                ),
            )
        except (pa.ArrowException, OSError) as err:
            raise failed(err, row) from None
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as err:
                raise failed(err, row) from None
            # Lines of a CSV are not rows (quoted fields span lines): rows carry no line numbers.
            for start in range(0, batch.num_rows, batch_rows):
                yield batch.slice(start, batch_rows), None
            row += batch.num_rows
        for rejected in pending:
            if on_rejected is not None:
                on_rejected(rejected)


def _arrow_batches(
    file: InputFile, columns: Sequence[str] | None, batch_rows: int
) -> Iterator[tuple[pa.RecordBatch, None]]:
    """Arrow IPC files or streams (Feather v2; Hugging Face ``save_to_disk`` shards are streams)."""
    import pyarrow.ipc as ipc

    try:
        source = (
            open_random(file.path) if file.compression is None else open_stream(file.path, file.compression)
        )
        try:
            reader: Any = ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            schema = reader.schema
        except pa.ArrowInvalid:
            source.seek(0)
            reader = ipc.open_stream(source)
            batches = iter(reader)
            schema = reader.schema
    except (pa.ArrowException, OSError) as err:
        raise InvalidInputError(f"{file.path}: not a readable Arrow IPC/Feather file: {err}") from None
    check_columns(file, schema.names, columns)
    for batch in _checked(file, "Arrow", batches):
        if columns:
            batch = batch.select(list(columns))
        for start in range(0, batch.num_rows, batch_rows):
            yield _without_views(batch.slice(start, batch_rows)), None


def _is_view(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string_view(kind) or pa.types.is_binary_view(kind))


def _without_views(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with string/binary view columns as large string/binary.

    pyarrow can neither filter nor take view arrays, nor measure them, so
    every consumer gets the large types; :class:`MirroredWriter` writes the
    views back, so outputs keep their input's schema.
    """
    schema = batch.schema
    if not any(_is_view(f.type) for f in schema):
        return batch
    fields = [
        f.with_type(pa.large_string() if pa.types.is_string_view(f.type) else pa.large_binary())
        if _is_view(f.type)
        else f
        for f in schema
    ]
    return batch.cast(pa.schema(fields, metadata=schema.metadata))


def _view_columns(file: InputFile) -> dict[str, pa.DataType]:
    """The view-typed columns of a Parquet input (read as large types by :func:`iter_chunks`)."""
    if file.format != "parquet":
        return {}
    try:
        schema = pq.read_schema(open_random(file.path))
    except (pa.ArrowInvalid, OSError):
        return {}
    return {f.name: f.type for f in schema if _is_view(f.type)}
