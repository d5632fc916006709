"""Sources: input files (and globs, directories) streamed as Arrow record batches, with provenance."""

from __future__ import annotations

import contextlib
import glob
import json
import mmap
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from stemmatic import _core
from stemmatic._arrow import from_numpy
from stemmatic.exceptions import InvalidInputError, ParameterError, StemmaticError
from stemmatic.io._remote import RemotePath, is_url, open_random, open_stream

OnError = Literal["raise", "skip"]
OutputFormat = Literal["parquet", "jsonl"]

_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    # A .json file holds JSON lines or one JSON array of objects (told apart by its first byte).
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}
#: Files a directory scan leaves out: dataset metadata written beside the data
#: (Hugging Face ``save_to_disk``, Spark/Hadoop), never rows.
_METADATA_NAMES = frozenset({"state.json", "dataset_info.json", "dataset_dict.json", "_SUCCESS", "_metadata"})
_GLOB_CHARS = re.compile(r"[*?\[]")
#: Bytes of JSONL parsed per block (blocks end at a newline).
JSONL_BLOCK_BYTES = 8 << 20
#: Deepest nesting of JSON arrays and objects accepted in a JSONL line: a
#: deeper line is malformed (refused, or skipped with ``on_error="skip"``)
#: before pyarrow sees it (its parser recurses per level and infers one Arrow
#: type per level: 100,000 levels crash it, 1,000 take gigabytes to write).
JSONL_MAX_DEPTH = 64


@dataclass(frozen=True)
class InputFile:
    """One input shard."""

    path: Path
    format: Literal["parquet", "jsonl", "csv", "tsv", "arrow"]
    compression: str | None
    #: Name of the mirrored output shard, relative to ``OUT/kept`` (no extension).
    shard_name: str
    #: The directory given as input that this file was found in (the file
    #: itself for a file or glob input): outputs may not overlap it.
    root: Path | None = None

    def output_name(self, fmt: OutputFormat) -> str:
        return f"{self.shard_name}.{fmt}"


def _classify(path: Path) -> tuple[str, str | None] | None:
    suffixes = [s.lower() for s in path.suffixes]
    compression = None
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        compression = _COMPRESSIONS[suffixes[-1]]
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _FORMATS:
        return _FORMATS[suffixes[-1]], compression
    return None


class InputFiles(list[InputFile]):
    """The ordered input shards, and what a directory scan left out (``skipped``: path, reason)."""

    skipped: list[tuple[Path, str]]
    #: The name of the table-like object the one shard was staged from (:func:`source_files`), else None.
    table: str | None = None


_DATA_TYPES = ".parquet, .jsonl/.ndjson/.json, .csv/.tsv or .arrow/.feather (optionally .gz/.zst/.bz2)"


def resolve_inputs(inputs: Iterable[str | os.PathLike[str]]) -> InputFiles:
    """Expand files, directories and globs into the ordered list of input shards.

    A directory is searched recursively; it leaves out dataset metadata
    (``state.json``, ``dataset_info.json`` of a Hugging Face ``save_to_disk``
    folder, Spark's ``_SUCCESS`` and ``.crc`` files, anything under a name
    starting with ``.`` or ``_``) and files of other types, and lists them in
    the result's ``skipped``.

    Raises:
        InvalidInputError: an input does not exist, a file has an unknown
            extension, a directory or glob matches no data file, or nothing
            was given.
    """
    paths: list[tuple[Path, Path]] = []  # (file, root)
    skipped: list[tuple[Path, str]] = []
    for item in inputs:
        text = os.fspath(item)
        if is_url(text):
            _resolve_remote(text, paths, skipped)
            continue
        path = Path(text)
        if path.is_dir():
            found = []
            for p in sorted(path.rglob("*")):
                if not p.is_file():
                    continue
                why = _skip_reason(p.relative_to(path))
                if why is None:
                    found.append(p)
                else:
                    skipped.append((p, why))
            if not found:
                raise InvalidInputError(f"{path}: directory contains no data files ({_DATA_TYPES})")
            root = path.resolve()
            paths.extend((p, root) for p in found)
        elif path.is_file():
            if _classify(path) is None:
                raise InvalidInputError(f"{path}: unknown file type; expected {_DATA_TYPES}")
            paths.append((path, path.resolve()))
        elif _GLOB_CHARS.search(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if _classify(Path(p)) is not None)
            if not found:
                raise InvalidInputError(f"{text}: glob matches no data files ({_DATA_TYPES})")
            paths.extend((p, p.resolve()) for p in found)
        else:
            raise InvalidInputError(f"{text}: no such file or directory")
    if not paths:
        raise InvalidInputError("no input files given")
    seen: set[Path] = set()
    unique = []
    for p, root in paths:
        resolved = p.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append((resolved, root))
    files = InputFiles(_with_shard_names(unique))
    files.skipped = skipped
    return files


def _resolve_remote(url: str, paths: list[tuple[Any, Any]], skipped: list[tuple[Any, str]]) -> None:
    """The files a URL names (a file, a directory searched recursively, or a glob), as :class:`RemotePath`."""
    scheme, rest = url.split("://", 1)
    if _GLOB_CHARS.search(rest):
        base = RemotePath.from_url(f"{scheme}://{rest.split('/', 1)[0]}")
        pattern = RemotePath.from_url(url).pure.as_posix()
        found = [p for p in base.glob(pattern) if _classify(Path(p.name)) is not None]
        if not found:
            raise InvalidInputError(f"{url}: glob matches no data files ({_DATA_TYPES})")
        paths.extend((p, p) for p in found)
        return
    path = RemotePath.from_url(url)
    if path.is_file():
        if _classify(Path(path.name)) is None:
            raise InvalidInputError(f"{url}: unknown file type; expected {_DATA_TYPES}")
        paths.append((path, path))
    elif path.is_dir():
        found = []
        for p in path.files_under():
            why = _skip_reason(Path(*p.relative_to(path).parts))
            if why is None:
                found.append(p)
            else:
                skipped.append((p, why))
        if not found:
            raise InvalidInputError(f"{url}: directory contains no data files ({_DATA_TYPES})")
        paths.extend((p, path) for p in found)
    else:
        raise InvalidInputError(f"{url}: no such file or directory")


def _skip_reason(relative: Path) -> str | None:
    """Why a directory scan leaves out the file at ``relative`` (None: it is data)."""
    if any(part.startswith((".", "_")) for part in relative.parts):
        return "hidden or metadata (name starts with . or _)"
    if relative.name in _METADATA_NAMES or relative.suffix == ".crc":
        return "dataset metadata"
    if _classify(relative) is None:
        return "not a data file"
    return None


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


def _below_root(path: Any, root: Any, stemmed: Any) -> str:
    """The shard name of ``path`` (``stemmed``: without its extensions) found under the input ``root``."""
    if root is None or root == path:
        return str(stemmed.name)
    if isinstance(path, RemotePath):
        parts = path.pure.relative_to(root.pure).parts
    else:
        parts = Path(path).relative_to(root).parts
    return PurePosixPath(*parts[:-1], stemmed.name).as_posix()


def _with_shard_names(found: list[tuple[Path, Path]]) -> list[InputFile]:
    paths = [p for p, _ in found]

    def stem(p: Any) -> Any:
        name = p.name
        for suffix in reversed(p.suffixes):
            if suffix.lower() in _COMPRESSIONS or suffix.lower() in _FORMATS:
                name = name[: -len(suffix)]
            else:
                break
        return p.with_name(name)

    # Names are taken from the path within its file system (a URL's host/bucket included).
    stems = [PurePosixPath(f"{p.scheme}/{p.pure}") if isinstance(p, RemotePath) else stem(p) for p in paths]
    stems = [stem(s) if isinstance(p, RemotePath) else s for p, s in zip(paths, stems, strict=True)]
    # A file found in a directory input keeps its path below that directory
    # (hive layouts such as lang=en/part-0 survive); other files keep their name.
    names = [_below_root(p, root, s) for (p, root), s in zip(found, stems, strict=True)]
    if len(set(names)) != len(names):
        common = PurePosixPath(os.path.commonpath([s.parent.as_posix() for s in stems]))
        names = [PurePosixPath(s.as_posix()).relative_to(common).as_posix() for s in stems]
    if len(set(names)) != len(names):
        # Same stem in one directory with two formats (a.parquet and a.jsonl).
        names = [f"{n}-{i:05d}" for i, n in enumerate(names)]
    out = []
    for (p, root), name in zip(found, names, strict=True):
        fmt, compression = _classify(Path(p.name)) or ("parquet", None)
        out.append(InputFile(p, fmt, compression, name, root))  # type: ignore[arg-type]
    return out


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


@dataclass(frozen=True)
class Rejected:
    """An input line that could not be parsed, kept verbatim."""

    path: str
    line: int
    error: str
    raw: str


def iter_chunks(
    files: Sequence[InputFile],
    *,
    columns: Sequence[str] | None = None,
    batch_rows: int = 16_384,
    on_error: OnError = "raise",
    on_rejected: Callable[[Rejected], None] | None = None,
    skippable: bool = False,
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
    """
    if on_error == "raise" and not skippable:
        on_error = "refuse"  # type: ignore[assignment]  # raise, without a hint at an option the caller lacks
    global_row = 0
    for index, file in enumerate(files):
        if file.format == "parquet":
            reader = _parquet_batches(file, columns, batch_rows)
        elif file.format in ("csv", "tsv"):
            reader = _csv_batches(file, columns, batch_rows, on_error, on_rejected)
        elif file.format == "arrow":
            reader = _arrow_batches(file, columns, batch_rows)
        elif _is_json_array(file):
            reader = _json_array_batches(file, columns, batch_rows, on_error, on_rejected)
        else:
            reader = _jsonl_batches(file, columns, on_error, on_rejected)
        file_row = 0
        for batch, lines in reader:
            if batch.num_rows == 0:
                continue
            yield Chunk(file, index, file_row, global_row, batch, lines)
            file_row += batch.num_rows
            global_row += batch.num_rows


def check_columns(file: InputFile, names: Sequence[str], columns: Sequence[str] | None) -> None:
    """Raise :class:`InvalidInputError` naming ``file`` if a column of ``columns`` is not in ``names``."""
    if columns is None:
        return
    missing = [c for c in columns if c not in names]
    if missing:
        raise InvalidInputError(
            f"{file.path}: column {missing[0]!r} not found; columns are {', '.join(map(repr, names)) or '(none)'}"
        )


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


def _is_json_array(file: InputFile) -> bool:
    """Whether a .json file holds one JSON array (its first non-blank byte is ``[``) rather than JSON lines."""
    if file.path.suffixes[-1 if file.compression is None else -2].lower() != ".json":
        return False
    try:
        with open_stream(file.path, file.compression) as stream:
            head = stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except (pa.ArrowException, OSError):
        return False
    return bool(head.startswith(b"["))


def _json_array_batches(
    file: InputFile,
    columns: Sequence[str] | None,
    batch_rows: int,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> Iterator[tuple[pa.RecordBatch, None]]:
    """A file holding one JSON array of objects (Alpaca-style ``data.json``), read whole.

    Element ``k`` (1-based) stands where a JSONL file's line number would.
    """
    with open_stream(file.path, file.compression) as stream:
        raw = stream.read()
    try:
        values = json.loads(raw)
    except RecursionError:
        raise InvalidInputError(f"{file.path}: JSON nested too deep") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise InvalidInputError(f"{file.path}: malformed JSON array: {err}") from None
    if not isinstance(values, list):
        raise InvalidInputError(f"{file.path}: expected a JSON array of objects, got {type(values).__name__}")

    def reject(number: int, problem: str, value: Any) -> None:
        if on_error != "skip":
            raise InvalidInputError(
                f"{file.path}: element {number}: {problem}{_skip_hint(on_error, 'elements')}"
            )
        if on_rejected is not None:
            raw = json.dumps(value, ensure_ascii=False)[:100_000]
            on_rejected(Rejected(str(file.path), number, f"element {number}: {problem}", raw))

    numbered: list[tuple[int, dict[str, Any]]] = []
    for number, value in enumerate(values, start=1):
        if not isinstance(value, dict):
            reject(number, f"expected a JSON object, got {type(value).__name__}", value)
        elif _depth(value) > JSONL_MAX_DEPTH:
            reject(number, f"arrays/objects nested more than {JSONL_MAX_DEPTH} levels deep", value)
        else:
            numbered.append((number, value))
    del values
    schema = None
    for start in range(0, len(numbered), batch_rows):
        part = numbered[start : start + batch_rows]
        for position, reason in sorted(_mistyped_rows([v for _, v in part], schema).items(), reverse=True):
            number, value = part.pop(position)
            reject(number, reason, value)
        if not part:
            continue
        table = _table_of_rows(file, [v for _, v in part], f"elements {part[0][0]}-{part[-1][0]}", schema)
        schema = table.schema
        if columns is not None:
            check_columns(file, table.column_names, columns)
            table = table.select(list(columns))
        yield from ((b, None) for b in table.to_batches())


def _depth(value: Any, limit: int = JSONL_MAX_DEPTH) -> int:
    """Nesting depth of lists and dicts in ``value`` (stops counting past ``limit``)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


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


def _read_blocks(file: InputFile) -> Iterator[tuple[int, memoryview, _core.ScreenedBlock]]:
    """Yield (first line number, block, its screen) for blocks of whole lines.

    A block ends at the last newline of each read of :data:`JSONL_BLOCK_BYTES`
    (so batches keep their boundaries whatever the path). A local
    uncompressed file is memory-mapped and its blocks are views of the map;
    other files are read into one reused buffer, a block valid until the next
    is read. Nothing is copied but by the read itself, and the screen
    (:func:`_core.jsonl_screen`, reading in place) counts the lines.
    """
    line = 1
    # A regular local file is mapped (a pipe or device cannot be): the others are streamed.
    local = not isinstance(file.path, RemotePath) and file.compression is None and file.path.is_file()
    try:
        for block in _mapped_blocks(file.path) if local else _streamed_blocks(file):
            screened = _core.jsonl_screen(np.frombuffer(block, np.uint8), JSONL_MAX_DEPTH)
            yield line, block, screened
            line += screened.lines
    except (pa.ArrowException, OSError) as err:
        what = f"damaged or not {file.compression}-compressed" if file.compression else "unreadable"
        raise InvalidInputError(f"{file.path}: {what} after line {line - 1}: {err}") from None


def _mapped_blocks(path: Path) -> Iterator[memoryview]:
    """Blocks of a local file, as views of its memory map."""
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size == 0:
            return
        # The map outlives the file object and closes when its last view is released.
        mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    # Pages read are dropped from the process (the page cache keeps them; a view still held reads
    # them back): mapped pages count as its memory, and its peak RSS must not grow with the file.
    can_drop = hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED")
    start = dropped = 0
    for read_end in range(JSONL_BLOCK_BYTES, size + JSONL_BLOCK_BYTES, JSONL_BLOCK_BYTES):
        end = mapped.rfind(b"\n", start, min(read_end, size)) + 1
        if end > start:
            yield memoryview(mapped)[start:end]
            start = end
            if can_drop and start - dropped >= mmap.PAGESIZE:
                upto = start - start % mmap.PAGESIZE
                mapped.madvise(mmap.MADV_DONTNEED, dropped, upto - dropped)
                dropped = upto
    if start < size:
        yield memoryview(mapped)[start:size]


def _streamed_blocks(file: InputFile) -> Iterator[memoryview]:
    """Blocks of a compressed or remote file, read into one reused buffer."""
    # Room for a partial line and the next read.
    buffer = bytearray(2 * JSONL_BLOCK_BYTES)
    filled = 0  # bytes of buffer holding data: a partial line left by the last block, then the new read
    with open_stream(file.path, file.compression) as stream:
        while True:
            if len(buffer) < filled + JSONL_BLOCK_BYTES:  # a line longer than a block: a larger buffer
                grown = bytearray(2 * len(buffer))
                grown[:filled] = buffer[:filled]
                buffer = grown
            read = stream.readinto(memoryview(buffer)[filled : filled + JSONL_BLOCK_BYTES])
            filled += read
            if read == 0:
                if filled:
                    yield memoryview(buffer)[:filled]
                return
            end = buffer.rfind(b"\n", filled - read, filled) + 1
            if end == 0:  # no line ends in this read: read on
                continue
            yield memoryview(buffer)[:end]
            # A same-size slice assignment: allowed while views of the last block are alive.
            buffer[: filled - end] = buffer[end:filled]
            filled -= end


def _jsonl_batches(
    file: InputFile,
    columns: Sequence[str] | None,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
    schema: pa.Schema | None = None
    for first_line, block, screened in _read_blocks(file):
        table, lines = _parse_block(file, first_line, block, screened, schema, on_error, on_rejected)
        if table is None or table.num_rows == 0:
            continue
        if schema is None:
            schema = table.schema
        elif table.schema != schema:
            schema = pa.unify_schemas([schema, table.schema], promote_options="permissive")
        if columns is not None:
            check_columns(file, table.column_names, columns)
            table = table.select(list(columns))
        for batch in table.combine_chunks().to_batches():
            yield batch, lines.slice(0, batch.num_rows)
            lines = lines.slice(batch.num_rows)


def _parse_block(
    file: InputFile,
    first_line: int,
    block: memoryview,
    screened: _core.ScreenedBlock,
    schema: pa.Schema | None,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> tuple[pa.Table | None, pa.Array]:
    # screened.problems: lines pyarrow must never see (too deep, bad UTF-8, lone surrogates, huge integers).
    if not screened.problems:
        # The usual block: parsed whole, in place, never split into Python lines.
        table = _read_json_block(block, schema)
        # No blank line: row i is line first_line + i.
        if table is not None and table.num_rows == screened.lines:
            return table, from_numpy(np.arange(first_line, first_line + screened.lines, dtype=np.int64))
    data = bytes(block)
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    bad = [(first_line + i, f"malformed JSONL line: {why}", raw_lines[i]) for i, why in screened.problems]
    refused = {number for number, _, _ in bad}
    numbered = [
        (first_line + i, raw)
        for i, raw in enumerate(raw_lines)
        if raw.strip() and first_line + i not in refused
    ]
    table = None
    if numbered:
        whole = len(numbered) == len(raw_lines)
        table = _read_json_block(data if whole else b"\n".join(raw for _, raw in numbered) + b"\n", schema)
    if table is None or table.num_rows != len(numbered):
        table, numbered = _parse_lines(file, numbered, schema, bad)
    if bad:
        bad.sort(key=lambda item: item[0])
        for number, reason, raw in bad:
            _reject(file, number, reason, raw, on_error, on_rejected)
    if table is None:
        return None, from_numpy(np.zeros(0, np.int64))
    return table, from_numpy(np.array([n for n, _ in numbered], np.int64))


def _parse_lines(
    file: InputFile,
    numbered: list[tuple[int, bytes]],
    schema: pa.Schema | None,
    bad: list[tuple[int, str, bytes]],
) -> tuple[pa.Table | None, list[tuple[int, bytes]]]:
    """Parse lines one by one, moving malformed and mistyped ones to ``bad``."""
    rows: list[dict[str, Any]] = []
    kept: list[tuple[int, bytes]] = []
    for number, raw in numbered:
        try:
            value = json.loads(raw.decode("utf-8"))
            if not isinstance(value, dict):
                raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            bad.append((number, f"malformed JSONL line: {err}", raw))
            continue
        rows.append(value)
        kept.append((number, raw))
    for position, reason in sorted(_mistyped_rows(rows, schema).items(), reverse=True):
        number, raw = kept.pop(position)
        rows.pop(position)
        bad.append((number, reason, raw))
    if not rows:
        return None, kept
    return _table_of_rows(file, rows, f"lines {kept[0][0]}-{kept[-1][0]}", schema), kept


def _table_of_rows(
    file: InputFile, rows: list[dict[str, Any]], where: str, schema: pa.Schema | None
) -> pa.Table:
    """Parsed rows as a table, in ``schema``'s types where they fit (the types of the file's earlier rows)."""
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, OverflowError) as err:
        raise InvalidInputError(f"{file.path}: {where}: values of inconsistent types: {err}") from None
    if schema is not None:
        with contextlib.suppress(pa.ArrowException):
            table = _conform(table, schema)
    return table


def _read_json_block(data: bytes | memoryview, schema: pa.Schema | None) -> pa.Table | None:
    """Parse whole lines with pyarrow's multi-threaded reader: in ``schema``'s types if they fit, else inferred.

    ``data`` is read in place; the table holds copies (its buffer may be reused after).
    """
    for explicit in (schema, None) if schema is not None else (None,):
        options = pajson.ParseOptions(
            explicit_schema=explicit, unexpected_field_behavior="infer", newlines_in_values=False
        )
        try:
            return pajson.read_json(pa.BufferReader(data), parse_options=options)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            continue
    return None


def _skip_hint(on_error: str, what: str) -> str:
    """The hint to skip bad input, for callers that offer ``--on-error`` (``iter_chunks(skippable=True)``)."""
    return f" (use --on-error skip to skip such {what})" if on_error == "raise" else ""


def _reject(
    file: InputFile,
    line: int,
    reason: str,
    raw: bytes,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> None:
    """A line that cannot become a row: raise, or hand it to ``on_rejected`` verbatim."""
    if on_error != "skip":
        raise InvalidInputError(f"{file.path}:{line}: {reason}{_skip_hint(on_error, 'lines')}")
    if on_rejected is not None:
        on_rejected(Rejected(str(file.path), line, reason, raw.decode("utf-8", "replace")))


def _mistyped_rows(rows: list[dict[str, Any]], schema: pa.Schema | None) -> dict[int, str]:
    """Rows whose value of some field cannot share a type with the rest of its column.

    The column's type is the one the earlier blocks gave it (``schema``), else
    that of most of its rows; a row whose value cannot be promoted to it (a
    number among strings, an object among lists) is named with its field.
    """
    bad: dict[int, str] = {}
    names = dict.fromkeys(name for row in rows for name in row)
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            pa.array(values)
            if schema is None or name not in schema.names:
                continue
        except (pa.ArrowException, OverflowError):
            pass
        types: dict[int, pa.DataType] = {}
        for i, value in enumerate(values):
            if value is None:
                continue
            try:
                types[i] = pa.array([value]).type
            except (pa.ArrowException, OverflowError) as err:
                bad.setdefault(i, f"field {name!r}: value cannot be stored: {err}")
        counts: dict[pa.DataType, int] = {}
        for kind in types.values():
            counts[kind] = counts.get(kind, 0) + 1
        target = schema.field(name).type if schema is not None and name in schema.names else None
        ordered = sorted(counts, key=lambda t: -counts[t])
        if target is None and ordered:
            target = ordered[0]
        refused = set()
        for kind in ordered:
            try:
                target = (
                    pa.unify_schemas(
                        [pa.schema([(name, target)]), pa.schema([(name, kind)])], promote_options="permissive"
                    )
                    .field(name)
                    .type
                )
            except (pa.ArrowException, TypeError):
                refused.add(kind)
        for i, kind in types.items():
            if kind in refused:
                bad.setdefault(i, f"field {name!r}: a value of type {kind} where the column holds {target}")
    return bad


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast ``table`` to ``schema``'s types for shared fields; keep new fields."""
    arrays, fields = [], []
    for f in schema:
        if f.name in table.column_names:
            arrays.append(table.column(f.name).cast(f.type))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
        fields.append(f)
    for name in table.column_names:
        if name not in schema.names:
            arrays.append(table.column(name))
            fields.append(table.schema.field(name))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
