"""Reading and writing sharded corpora: the input/output conventions every command shares.

Inputs are Parquet or JSONL files (JSONL optionally ``.gz``/``.zst``), given
as files, directories (searched recursively) or globs. They are taken in the
order given, each directory or glob expanded in sorted path order: that order
defines the default row id (the row's position in the ordered inputs).

Reading streams Arrow record batches (:func:`iter_chunks`), never a whole
corpus. A malformed JSONL line is an :class:`~stemmatic.InvalidInputError`
naming the file and line, or, with ``on_error="skip"``, a :class:`Rejected`
record that commands write to ``OUT/rejected/`` and count in their report.

Outputs mirror the input shards: ``OUT/kept/<shard>`` and ``OUT/removed/<shard>``
have one file per input file, with the same relative name (see
:attr:`InputFile.shard_name`) and the same schema.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.jsonl").write_text('{"text": "x"}\\n{"text": "y"}\\n')
>>> files = resolve_inputs([d])
>>> [c.batch.num_rows for c in iter_chunks(files)]
[2]
"""

from __future__ import annotations

import contextlib
import glob
import io as _io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from stemmatic import _core
from stemmatic.exceptions import InvalidInputError, ParameterError

__all__ = [
    "Chunk",
    "InputFile",
    "MirroredWriter",
    "Rejected",
    "RejectedWriter",
    "StageTimer",
    "check_columns",
    "id_values",
    "iter_chunks",
    "output_dir",
    "parse_size",
    "prefetch",
    "read_table",
    "resolve_inputs",
    "write_report",
]

OnError = Literal["raise", "skip"]
OutputFormat = Literal["parquet", "jsonl"]

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
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
    format: Literal["parquet", "jsonl"]
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


def resolve_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[InputFile]:
    """Expand files, directories and globs into the ordered list of input shards.

    Raises:
        InvalidInputError: an input does not exist, a file has an unknown
            extension, a directory or glob matches no data file, or nothing
            was given.
    """
    paths: list[tuple[Path, Path]] = []  # (file, root)
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _classify(p) is not None)
            if not found:
                raise InvalidInputError(f"{path}: directory contains no .parquet or .jsonl(.gz/.zst) files")
            root = path.resolve()
            paths.extend((p, root) for p in found)
        elif path.is_file():
            if _classify(path) is None:
                raise InvalidInputError(
                    f"{path}: unknown file type; expected .parquet, .jsonl, .ndjson or .json (optionally .gz/.zst)"
                )
            paths.append((path, path.resolve()))
        elif _GLOB_CHARS.search(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if _classify(Path(p)) is not None)
            if not found:
                raise InvalidInputError(f"{text}: glob matches no .parquet or .jsonl files")
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
    return _with_shard_names(unique)


def _with_shard_names(found: list[tuple[Path, Path]]) -> list[InputFile]:
    paths = [p for p, _ in found]

    def stem(p: Path) -> Path:
        name = p.name
        for suffix in reversed(p.suffixes):
            if suffix.lower() in _COMPRESSIONS or suffix.lower() in _FORMATS:
                name = name[: -len(suffix)]
            else:
                break
        return p.with_name(name)

    stems = [stem(p) for p in paths]
    names = [s.name for s in stems]
    if len(set(names)) != len(names):
        root = Path(os.path.commonpath([str(s.parent) for s in stems]))
        names = [s.relative_to(root).as_posix() for s in stems]
    if len(set(names)) != len(names):
        # Same stem in one directory with two formats (a.parquet and a.jsonl).
        names = [f"{n}-{i:05d}" for i, n in enumerate(names)]
    out = []
    for (p, root), name in zip(found, names, strict=True):
        fmt, compression = _classify(p) or ("parquet", None)
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
) -> Iterator[Chunk]:
    """Stream the inputs as Arrow record batches, in order.

    Args:
        files: from :func:`resolve_inputs`.
        columns: read only these columns (Parquet reads no others; JSONL
            drops the rest after parsing). A missing column is an error.
        batch_rows: rows per Parquet batch (JSONL batches follow its blocks).
        on_error: ``"raise"`` on a malformed JSONL line, or ``"skip"`` it,
            handing it to ``on_rejected``.
    """
    global_row = 0
    for index, file in enumerate(files):
        if file.format == "parquet":
            reader = _parquet_batches(file, columns, batch_rows)
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


def id_values(chunk: Chunk, name: str, like: pa.DataType | None = None) -> pa.Array:
    """The id column ``name`` of ``chunk`` as int64 or large string.

    Ids must be integers or strings (floats are refused: NaN is not equal to
    itself and ``1.0`` prints as ``1.0``; lists and structs are not ids), and
    of one kind in every input file: ``like`` is the type the earlier files
    gave. Raises :class:`InvalidInputError` naming the file and column.
    """
    column = chunk.batch.column(name)
    kind = column.type
    if pa.types.is_integer(kind):
        try:
            values = column.cast(pa.int64())
        except pa.ArrowInvalid:
            raise InvalidInputError(
                f"{chunk.file.path}: id column {name!r} holds integers beyond the 64-bit range"
            ) from None
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        values = column.cast(pa.large_string())
    else:
        raise InvalidInputError(
            f"{chunk.file.path}: id column {name!r} has type {kind}; ids must be integers or strings"
        )
    if like is not None and values.type != like:
        raise InvalidInputError(
            f"{chunk.file.path}: id column {name!r} holds {'integers' if pa.types.is_integer(kind) else 'strings'}, "
            "but earlier input files hold "
            f"{'integers' if pa.types.is_integer(like) else 'strings'}; ids must be of one type in every file"
        )
    return values


def _parquet_batches(
    file: InputFile, columns: Sequence[str] | None, batch_rows: int
) -> Iterator[tuple[pa.RecordBatch, None]]:
    try:
        parquet = pq.ParquetFile(file.path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InvalidInputError(f"{file.path}: not a readable Parquet file: {err}") from err
    check_columns(file, parquet.schema_arrow.names, columns)
    batches = parquet.iter_batches(batch_size=batch_rows, columns=list(columns) if columns else None)
    row = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as err:
            raise InvalidInputError(
                f"{file.path}: damaged Parquet file: cannot read the rows after row {row}: {err}"
            ) from None
        row += batch.num_rows
        yield _without_views(batch), None


def _is_view(kind: pa.DataType) -> bool:
    return pa.types.is_string_view(kind) or pa.types.is_binary_view(kind)


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
        schema = pq.read_schema(file.path)
    except (pa.ArrowInvalid, OSError):
        return {}
    return {f.name: f.type for f in schema if _is_view(f.type)}


def _read_blocks(file: InputFile) -> Iterator[tuple[int, bytes]]:
    """Yield (first line number, bytes) blocks of whole lines."""
    with pa.input_stream(str(file.path), compression=file.compression) as stream:
        line = 1
        rest = b""
        while True:
            try:
                data = stream.read(JSONL_BLOCK_BYTES)
            except (pa.ArrowException, OSError) as err:
                what = f"damaged or not {file.compression}-compressed" if file.compression else "unreadable"
                raise InvalidInputError(f"{file.path}: {what} after line {line - 1}: {err}") from None
            if not data:
                if rest:
                    yield line, rest
                return
            data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            block, rest = data[: cut + 1], data[cut + 1 :]
            yield line, block
            line += block.count(b"\n")


def _jsonl_batches(
    file: InputFile,
    columns: Sequence[str] | None,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
    schema: pa.Schema | None = None
    for first_line, block in _read_blocks(file):
        table, lines = _parse_block(file, first_line, block, schema, on_error, on_rejected)
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
    block: bytes,
    schema: pa.Schema | None,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> tuple[pa.Table | None, pa.Array]:
    raw_lines = block.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    # Lines pyarrow must never see (too deep, bad UTF-8, lone surrogates, huge integers).
    bad = [
        (first_line + i, f"malformed JSONL line: {why}", raw_lines[i])
        for i, why in _core.jsonl_screen(block, JSONL_MAX_DEPTH)
    ]
    screened = {number for number, _, _ in bad}
    numbered = [
        (first_line + i, raw)
        for i, raw in enumerate(raw_lines)
        if raw.strip() and first_line + i not in screened
    ]
    table = None
    if numbered:
        whole = len(numbered) == len(raw_lines)
        table = _read_json_block(block if whole else b"\n".join(raw for _, raw in numbered) + b"\n", schema)
    if table is None or table.num_rows != len(numbered):
        table, numbered = _parse_lines(file, numbered, schema, bad)
    if bad:
        bad.sort(key=lambda item: item[0])
        for number, reason, raw in bad:
            _reject(file, number, reason, raw, on_error, on_rejected)
    if table is None:
        return None, pa.array([], pa.int64())
    return table, pa.array([n for n, _ in numbered], pa.int64())


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
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, OverflowError) as err:
        raise InvalidInputError(
            f"{file.path}: lines {kept[0][0]}-{kept[-1][0]}: values of inconsistent types: {err}"
        ) from None
    if schema is not None:
        with contextlib.suppress(pa.ArrowException):
            table = _conform(table, schema)
    return table, kept


def _read_json_block(data: bytes, schema: pa.Schema | None) -> pa.Table | None:
    """Parse whole lines with pyarrow's multi-threaded reader: in ``schema``'s types if they fit, else inferred."""
    for explicit in (schema, None) if schema is not None else (None,):
        options = pajson.ParseOptions(
            explicit_schema=explicit, unexpected_field_behavior="infer", newlines_in_values=False
        )
        try:
            return pajson.read_json(_io.BytesIO(data), parse_options=options)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            continue
    return None


def _reject(
    file: InputFile,
    line: int,
    reason: str,
    raw: bytes,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> None:
    """A line that cannot become a row: raise, or hand it to ``on_rejected`` verbatim."""
    if on_error == "raise":
        raise InvalidInputError(f"{file.path}:{line}: {reason} (use --on-error skip to skip such lines)")
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


def prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Produce ``items`` on a background thread, up to ``depth`` ahead.

    Reading and decoding the next Arrow batch (pyarrow releases the GIL)
    overlaps with the engine's work on the current one (so does the Rust
    engine). Exceptions are re-raised in the consumer, in order; a consumer
    that stops early stops the producer.

    >>> list(prefetch(iter(range(5))))
    [0, 1, 2, 3, 4]
    """
    import queue

    done = object()
    buffer: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((None, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((None, done))
        except BaseException as err:  # handed to the consumer
            buffer.put((err, None))

    thread = threading.Thread(target=produce, name="stemmatic-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            err, item = buffer.get()
            if err is not None:
                raise err
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def read_table(inputs: Iterable[str | os.PathLike[str]], columns: Sequence[str] | None = None) -> pa.Table:
    """Read (small) inputs into one table. Prefer :func:`iter_chunks` for corpora."""
    files = resolve_inputs(inputs)
    batches = [c.batch for c in iter_chunks(files, columns=columns)]
    if not batches:
        return pa.table({c: pa.array([], pa.string()) for c in (columns or [])})
    return (
        pa.Table.from_batches(batches)
        if len({b.schema for b in batches}) == 1
        else pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="permissive")
    )


#: The file in an output directory that a run holds locked while it writes there.
LOCK_NAME = ".stemmatic.lock"


@contextlib.contextmanager
def output_dir(
    out: str | os.PathLike[str],
    *,
    inputs: Iterable[InputFile | str | os.PathLike[str]],
    overwrite: bool = False,
    resume: bool = False,
) -> Iterator[Path]:
    """Create ``out`` and hold it for one run; refuse what could lose data.

    Refused, with a :class:`ParameterError`: an output that is, contains or
    lies inside an input (``--overwrite`` would delete the input; outputs
    inside an input directory would be read as input by the next run), an
    existing non-empty directory unless ``resume`` or ``overwrite``, and a
    directory another run is writing into (it holds ``out/.stemmatic.lock``;
    the lock is released when the run ends, also when it dies).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.jsonl").write_text('{"text": "x"}\\n')
    >>> with output_dir(d / "out", inputs=resolve_inputs([d / "a.jsonl"])) as out:
    ...     out.name
    'out'
    >>> with output_dir(d, inputs=resolve_inputs([d / "a.jsonl"]), overwrite=True):
    ...     pass
    Traceback (most recent call last):
    stemmatic.exceptions.ParameterError: ...: the output directory contains the input ...
    """
    path = Path(out)
    check_output_apart(path, inputs)
    if path.exists() and not path.is_dir():
        raise ParameterError(f"{path}: output path exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    with _DirLock(path):
        existing = [p for p in path.iterdir() if p.name != LOCK_NAME]
        if existing and not (overwrite or resume):
            raise ParameterError(
                f"{path}: output directory exists and is not empty; pass --resume or --overwrite"
            )
        if overwrite and not resume:
            import shutil

            for child in existing:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        yield path


def check_output_apart(out: Path, inputs: Iterable[InputFile | str | os.PathLike[str]]) -> None:
    """Raise :class:`ParameterError` if ``out`` is, contains or lies inside an input.

    Compared by file identity (device and inode) as well as by resolved path,
    so symlinks, ``..`` and case-insensitive file systems cannot hide an overlap.
    """
    out_chain = _identity_chain(out)  # out and its existing ancestors
    out_id = _identity(out)
    parent_chains: dict[Path, frozenset[tuple[int, int]]] = {}  # many shards share a directory
    for item in inputs:
        if isinstance(item, InputFile):
            targets = [item.path] + ([item.root] if item.root is not None else [])
        else:
            text = os.fspath(item)
            targets = [Path(p) for p in glob.glob(text, recursive=True)] if _GLOB_CHARS.search(text) else []
            targets = targets or [Path(text)]
        for target in targets:
            if not target.exists():
                continue
            target_id = _identity(target)
            if target.is_dir() and target_id in out_chain:
                relation = "is" if target_id == out_id else "lies inside"
                raise ParameterError(
                    f"{out}: the output directory {relation} the input directory {target}; "
                    "choose an output outside the inputs"
                )
            if target.parent not in parent_chains:
                parent_chains[target.parent] = _identity_chain(target.parent)
            if out_id is not None and out_id in parent_chains[target.parent]:
                raise ParameterError(
                    f"{out}: the output directory contains the input {target}; choose an output outside the inputs"
                )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _identity_chain(path: Path) -> frozenset[tuple[int, int]]:
    """Identities of ``path`` and of every existing ancestor."""
    resolved = path.resolve()
    return frozenset(i for p in (resolved, *resolved.parents) if (i := _identity(p)) is not None)


class _DirLock:
    """An exclusive, non-blocking lock on ``directory/.stemmatic.lock`` (released on exit or process death)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fh: Any = None

    def __enter__(self) -> _DirLock:
        fh = self.path.open("a+", encoding="ascii")
        try:
            if os.name == "nt":
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise ParameterError(
                f"{self.path.parent}: another stemmatic run (process {holder}) is writing into this "
                "directory; wait for it to end or choose another output"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._fh.close()  # closing the file releases the lock


class MirroredWriter:
    """Write one output shard per input shard under ``directory``.

    Every input file gets its output file, even when no row of it lands here
    (an empty file with the schema), so the shard structure is preserved.
    Columns the input stored as string/binary views (read as large types by
    :func:`iter_chunks`) are written as views again.
    """

    def __init__(self, directory: Path, files: Sequence[InputFile], fmt: OutputFormat = "parquet") -> None:
        if fmt not in ("parquet", "jsonl"):
            raise ParameterError(f"invalid output format {fmt!r}; expected 'parquet' or 'jsonl'")
        self.directory = directory
        self.files = files
        self.fmt = fmt
        self._writers: dict[int, Any] = {}
        self._schemas: dict[int, pa.Schema] = {}
        self._parts: dict[int, list[Path]] = {}
        self.rows_written = 0

    def path_for(self, file_index: int) -> Path:
        return self.directory / self.files[file_index].output_name(self.fmt)

    def write(self, file_index: int, table: pa.Table | pa.RecordBatch) -> None:
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        writer = self._writers.get(file_index)
        if writer is None:
            views = _view_columns(self.files[file_index])
            if views:
                table = table.cast(
                    pa.schema(
                        [f.with_type(views[f.name]) if f.name in views else f for f in table.schema],
                        metadata=table.schema.metadata,
                    )
                )
            writer = self._open(file_index, table.schema)
        elif self.fmt == "parquet" and table.schema != self._schemas[file_index]:
            table = self._fit(file_index, table)
            writer = self._writers[file_index]
        try:
            if isinstance(writer, pq.ParquetWriter):
                writer.write_table(table)
            else:
                _write_jsonl(writer, table, self.files[file_index])
        except BaseException:
            self.abort()
            raise
        self.rows_written += table.num_rows

    def abort(self) -> None:
        """Close every open file after a failure (what was written stays, unfinished)."""
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()
        self._writers.clear()

    def _open(self, file_index: int, schema: pa.Schema) -> Any:
        path = self.path_for(file_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = pq.ParquetWriter(path, schema) if self.fmt == "parquet" else path.open("w", encoding="utf-8")
        self._writers[file_index] = writer
        self._schemas[file_index] = schema
        return writer

    def _fit(self, file_index: int, table: pa.Table) -> pa.Table:
        """``table`` in the file's schema; a field first seen now, or a wider type, starts a new part.

        Parquet fixes a file's schema when it is opened. When later rows bring
        a new field (JSONL blocks are parsed one by one) or need a wider type,
        the rows so far are set aside as a part and :meth:`close` rewrites the
        parts into one file of the unified schema, so no field is dropped.
        """
        schema = self._schemas[file_index]
        if set(table.schema.names) <= set(schema.names):
            with contextlib.suppress(pa.ArrowException):
                return _conform(table, schema).select(schema.names)
        try:
            unified = pa.unify_schemas([schema, table.schema], promote_options="permissive")
        except (pa.ArrowException, TypeError) as err:
            raise InvalidInputError(
                f"{self.files[file_index].path}: a field changes type between rows: {err}"
            ) from None
        self._writers.pop(file_index).close()
        path = self.path_for(file_index)
        parts = self._parts.setdefault(file_index, [])
        part = path.with_name(f".{path.name}.part{len(parts)}")
        os.replace(path, part)
        parts.append(part)
        self._open(file_index, unified)
        return _conform(table, unified).select(unified.names)

    def close(self, empty_schemas: dict[int, pa.Schema] | None = None) -> list[Path]:
        """Close all files; create empty shards (with ``empty_schemas[i]``) for untouched inputs."""
        for index in range(len(self.files)):
            if index not in self._writers:
                schema = (empty_schemas or {}).get(index, pa.schema([]))
                self.write(index, schema.empty_table())
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        for index, parts in self._parts.items():
            self._merge_parts(index, parts)
        self._parts.clear()
        return [self.path_for(i) for i in range(len(self.files))]

    def _merge_parts(self, file_index: int, parts: list[Path]) -> None:
        path = self.path_for(file_index)
        last = path.with_name(f".{path.name}.part{len(parts)}")
        os.replace(path, last)
        schema = self._schemas[file_index]
        with pq.ParquetWriter(path, schema) as writer:
            for part in [*parts, last]:
                for batch in pq.ParquetFile(part).iter_batches():
                    writer.write_table(_conform(pa.Table.from_batches([batch]), schema).select(schema.names))
                part.unlink()


def _write_jsonl(fh: Any, table: pa.Table, file: InputFile) -> None:
    """Rows as JSON lines; binary columns as text (JSON has no bytes: non-UTF-8 bytes are an error)."""
    for index, f in enumerate(table.schema):
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) or pa.types.is_binary_view(f.type):
            try:
                table = table.set_column(index, f.name, pc.cast(table.column(index), pa.large_string()))
            except pa.ArrowInvalid:
                raise InvalidInputError(
                    f"{file.path}: binary column {f.name!r} holds bytes that are not UTF-8 text, "
                    "which JSON cannot carry; write --format parquet"
                ) from None
    for row in table.to_pylist():
        fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


class RejectedWriter:
    """Collects :class:`Rejected` lines into ``OUT/rejected/rejected.jsonl``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "rejected.jsonl"
        self.count = 0
        self._fh: Any = None

    def __call__(self, rejected: Rejected) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8")
        self._fh.write(json.dumps(rejected.__dict__, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Parse a memory size such as ``"4GB"``, ``"512MiB"``, ``"100k"`` into bytes.

    >>> parse_size("4GB"), parse_size("1.5MiB"), parse_size(1024)
    (4000000000, 1572864, 1024)
    """
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise ParameterError(f"invalid size {text!r}; expected e.g. 4GB, 512MiB, 100MB")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    base = 1024 if "i" in unit else 1000
    power = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}[unit[:1] if unit[:1] in "kmgt" else ""]
    return int(number * base**power)


@dataclass
class StageTimer:
    """Wall time and peak memory per stage, for ``report.json``."""

    stages: dict[str, dict[str, float]] = field(default_factory=dict)

    def stage(self, name: str) -> _Stage:
        return _Stage(self, name)


class _Stage:
    """Times a stage and samples its resident memory (every 50 ms) for its own peak."""

    def __init__(self, timer: StageTimer, name: str) -> None:
        self.timer, self.name = timer, name
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, current_rss_bytes())

    def __enter__(self) -> _Stage:
        self.start = time.perf_counter()
        self.peak = current_rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_bytes())
        self.timer.stages[self.name] = {
            "seconds": round(time.perf_counter() - self.start, 4),
            "peak_rss_bytes": self.peak,
        }


def current_rss_bytes() -> int:
    """Resident memory of this process now, in bytes (0 where unknown)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far, in bytes (0 where unknown)."""
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError):
        return 0


def write_report(path: str | os.PathLike[str], report: dict[str, Any]) -> Path:
    """Write ``report`` as indented JSON (atomically: a crash leaves no half file)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
