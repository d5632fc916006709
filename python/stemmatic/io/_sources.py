"""Sources: input files (and globs, directories) streamed as Arrow record batches, with provenance."""

from __future__ import annotations

import contextlib
import glob
import io as _io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from stemmatic import _core
from stemmatic.exceptions import InvalidInputError

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
