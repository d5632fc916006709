"""Sinks: the kept/removed writer that mirrors the input shards, and the rejected-lines file.

Output formats:

* **Parquet**, compressed with zstd unless another codec is asked for.
* **JSON lines** that are always valid JSON (RFC 8259), whatever the columns
  hold: NaN and infinities are written as ``null``; timestamps, dates and
  times as ISO 8601 strings (``2024-01-02T03:04:05.000006``, with ``Z`` or
  ``+01:00`` when the column has a time zone); decimals as strings holding
  every digit; durations as ISO 8601 durations (``PT1.5S``); a binary column
  as its text when its bytes are UTF-8 (a text column stored as bytes), else
  as base64 (RFC 4648, padded; from the first such value on, for the rest of
  that file); maps with string keys as objects, other maps as arrays of
  ``[key, value]`` pairs; lists and structs as arrays and objects of the
  same. Floats use the shortest form that reads back to the same value,
  with ``.0`` on integral ones so they read back as floats. A JSONL output
  keeps its input's compression (``a.jsonl.gz`` in, ``a.jsonl.gz`` out)
  unless a ``compression`` is given.
"""

from __future__ import annotations

import base64
import bz2
import contextlib
import datetime as dt
import decimal
import gzip
import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io._sources import InputFile, OutputFormat, Rejected, _conform, _view_columns

#: File suffix of each JSONL compression.
JSONL_COMPRESSIONS = {"none": "", "gzip": ".gz", "zstd": ".zst", "bz2": ".bz2"}
#: Parquet codecs (``none``: uncompressed).
PARQUET_CODECS = ("zstd", "snappy", "gzip", "lz4", "brotli", "none")
#: Level of gzip output: the fastest (zlib level 6 wrote 5-20 MB/s here, a bottleneck; for
#: smaller files choose zstd, which is smaller than gzip -6 and faster than gzip -1).
GZIP_LEVEL = 1
ZSTD_LEVEL = 3


def check_compression(fmt: OutputFormat, compression: str | None) -> None:
    """Raise :class:`ParameterError` unless ``compression`` is valid for ``fmt`` (None: the default)."""
    if compression is None:
        return
    choices = tuple(JSONL_COMPRESSIONS) if fmt == "jsonl" else PARQUET_CODECS
    if compression not in choices:
        raise ParameterError(
            f"invalid compression {compression!r} for {fmt} output; expected one of {', '.join(choices)}"
        )


def find_outputs(directory: Path, fmt: OutputFormat) -> list[Path]:
    """The output shards under ``directory`` (any compression), sorted."""
    endings = (
        tuple(f".{fmt}{suffix}" for suffix in JSONL_COMPRESSIONS.values()) if fmt == "jsonl" else (f".{fmt}",)
    )
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.rglob("*")
        if p.name.endswith(endings) and not p.name.startswith(".") and p.is_file()
    )


#: Output shards one :class:`MirroredWriter` holds open at once. With more input shards the
#: least recently written is closed and, if rows for it come again, continued in a part file
#: that :meth:`MirroredWriter.close` joins in (the usual limit of open files is 1,024 on
#: Linux and 256 on macOS; a writer per shard died there from a few hundred shards).
MAX_OPEN_SHARDS = 64


class MirroredWriter:
    """Write one output shard per input shard under ``directory``.

    Every input file gets its output file, even when no row of it lands here
    (an empty file with the schema), so the shard structure is preserved.
    Columns the input stored as string/binary views (read as large types by
    :func:`iter_chunks`) are written as views again.

    ``compression``: for Parquet a codec of :data:`PARQUET_CODECS` (default
    zstd); for JSONL one of :data:`JSONL_COMPRESSIONS` (default: the input
    file's own, so ``a.jsonl.gz`` gives ``a.jsonl.gz``).
    """

    def __init__(
        self,
        directory: Path,
        files: Sequence[InputFile],
        fmt: OutputFormat = "parquet",
        *,
        compression: str | None = None,
        max_open: int = MAX_OPEN_SHARDS,
    ) -> None:
        if fmt not in ("parquet", "jsonl"):
            raise ParameterError(f"invalid output format {fmt!r}; expected 'parquet' or 'jsonl'")
        check_compression(fmt, compression)
        self.directory = directory
        self.files = files
        self.fmt = fmt
        self.compression = compression
        self._writers: dict[int, Any] = {}  # open, least recently written first
        self._schemas: dict[int, pa.Schema] = {}
        self._parts: dict[int, list[Path]] = {}
        self.max_open = max(1, max_open)
        self._paused: set[int] = set()  # closed to bound the open files; continued as a part
        self.rows_written = 0

    def compression_for(self, file_index: int) -> str:
        """The compression of output shard ``file_index`` (``none`` for none)."""
        if self.compression is not None:
            return self.compression
        if self.fmt == "parquet":
            return "zstd"
        source = self.files[file_index].compression
        return source if source in JSONL_COMPRESSIONS else "none"

    def path_for(self, file_index: int) -> Path:
        name = self.files[file_index].output_name(self.fmt)
        if self.fmt == "jsonl":
            name += JSONL_COMPRESSIONS[self.compression_for(file_index)]
        return self.directory / name

    def write(self, file_index: int, table: pa.Table | pa.RecordBatch) -> None:
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        writer = self._writers.get(file_index)
        if writer is None and file_index in self._paused:
            writer = self._resume(file_index)
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
        else:
            self._writers[file_index] = self._writers.pop(file_index)  # now the most recent
            if self.fmt == "parquet" and table.schema != self._schemas[file_index]:
                table = self._fit(file_index, table)
                writer = self._writers[file_index]
        try:
            writer.write_table(table)
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
        while len(self._writers) >= self.max_open:
            oldest = next(iter(self._writers))
            self._writers.pop(oldest).close()
            self._paused.add(oldest)
        path = self.path_for(file_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer: Any
        if self.fmt == "parquet":
            writer = pq.ParquetWriter(path, schema, compression=self.compression_for(file_index))
        else:
            writer = JsonlWriter(path, self.compression_for(file_index))
        self._writers[file_index] = writer
        self._schemas[file_index] = schema
        return writer

    def _resume(self, file_index: int) -> Any:
        """Continue a shard closed to bound the open files: what it holds becomes a part."""
        path = self.path_for(file_index)
        parts = self._parts.setdefault(file_index, [])
        part = path.with_name(f".{path.name}.part{len(parts)}")
        os.replace(path, part)
        parts.append(part)
        self._paused.discard(file_index)
        return self._open(file_index, self._schemas[file_index])

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
            if index not in self._writers and index not in self._paused:
                schema = (empty_schemas or {}).get(index, pa.schema([]))
                self.write(index, schema.empty_table())
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        self._paused.clear()
        for index, parts in self._parts.items():
            self._merge_parts(index, parts)
        self._parts.clear()
        return [self.path_for(i) for i in range(len(self.files))]

    def _merge_parts(self, file_index: int, parts: list[Path]) -> None:
        path = self.path_for(file_index)
        last = path.with_name(f".{path.name}.part{len(parts)}")
        os.replace(path, last)
        if self.fmt == "jsonl":
            _join_streams([*parts, last], path, self.compression_for(file_index))
            return
        schema = self._schemas[file_index]
        with pq.ParquetWriter(path, schema, compression=self.compression_for(file_index)) as writer:
            for part in [*parts, last]:
                for batch in pq.ParquetFile(part).iter_batches():
                    writer.write_table(_conform(pa.Table.from_batches([batch]), schema).select(schema.names))
                part.unlink()


def _join_streams(parts: list[Path], path: Path, compression: str) -> None:
    """Write the (decompressed) bytes of ``parts`` one after another into ``path``, as one stream."""
    import shutil

    def opened(target: Path, mode: str) -> Any:
        if compression == "gzip":
            return (
                gzip.open(target, mode, compresslevel=GZIP_LEVEL) if mode == "wb" else gzip.open(target, mode)
            )
        if compression == "bz2":
            return bz2.open(target, mode)
        if compression == "zstd":
            import zstandard

            if mode == "wb":
                return zstandard.open(target, mode, cctx=zstandard.ZstdCompressor(level=ZSTD_LEVEL))
            return zstandard.open(target, mode)
        return open(target, mode)

    with opened(path, "wb") as out:
        for part in parts:
            with opened(part, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
            part.unlink()


class JsonlWriter:
    """A JSON-lines file (optionally gzip/zstd/bz2-compressed) that :meth:`write_table` appends rows to.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> writer = JsonlWriter(path)
    >>> writer.write_table(pa.table({"x": [1.5, float("nan")], "b": [b"hi", b"\\xff"]}))
    >>> writer.close()
    >>> print(path.read_text(), end="")
    {"x":1.5,"b":"aGk="}
    {"x":null,"b":"/w=="}
    """

    def __init__(
        self, path: str | os.PathLike[str], compression: str = "none", *, workers: int | None = None
    ) -> None:
        check_compression("jsonl", compression)
        self.path = Path(path)
        self.encoder = JsonEncoder(workers)
        self._raw = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._fh: Any
        if compression == "gzip":
            # mtime 0 and no name: the same rows give the same bytes (a resumed run's output is identical).
            self._fh = gzip.GzipFile(
                filename="", mode="wb", fileobj=self._raw, compresslevel=GZIP_LEVEL, mtime=0
            )
        elif compression == "zstd":
            import zstandard

            self._fh = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(self._raw, closefd=False)
        elif compression == "bz2":
            self._fh = bz2.BZ2File(self._raw, "wb")
        else:
            self._fh = self._raw

    def write_table(self, table: pa.Table | pa.RecordBatch) -> None:
        for buffer in self.encoder.lines(table):
            self._fh.write(buffer)

    def close(self) -> None:
        try:
            if self._fh is not self._raw:
                self._fh.close()
        finally:
            self._raw.close()


# ---------------------------------------------------------------------------
# JSON lines: the Rust encoder (stemmatic._core.JsonlEncoder) writes every
# type but the rare ones below, with the GIL released and on all workers for
# big slices; those rare columns are encoded here, row by row, and handed to
# it as raw JSON (a string column marked with RAW_JSON_METADATA).

#: Bytes of Arrow memory encoded per call: bounds the output buffer held at once.
JSONL_ENCODE_BYTES = 32 << 20
#: Field metadata that marks a string column as JSON values to write as they are.
RAW_JSON_METADATA = {b"stemmatic.jsonl.raw": b"1"}


def _encoded_in_python(kind: pa.DataType) -> bool:
    """Whether a column of ``kind`` holds a type the Rust encoder has no JSON form for."""
    if isinstance(kind, pa.ExtensionType):
        kind = kind.storage_type
    if pa.types.is_dictionary(kind):
        return _encoded_in_python(kind.value_type)
    if (
        pa.types.is_union(kind)
        or pa.types.is_interval(kind)
        or pa.types.is_run_end_encoded(kind)
        or pa.types.is_list_view(kind)
        or pa.types.is_large_list_view(kind)
    ):
        return True
    return any(_encoded_in_python(kind.field(i).type) for i in range(kind.num_fields))


class JsonEncoder:
    """Encodes Arrow rows as JSON lines; remembers which binary columns it writes as base64.

    One encoder per output file: a binary column whose values are UTF-8 is
    written as text; from the first slice of rows with other bytes on, it is
    written as base64 for the rest of the file.

    >>> encoder = JsonEncoder()
    >>> b"".join(encoder.lines(pa.table({"t": ["a\\"b\\n"], "f": [float("inf")]}))).decode()
    '{"t":"a\\\\"b\\\\n","f":null}\\n'
    """

    def __init__(self, workers: int | None = None) -> None:
        from stemmatic import _core

        self._encoder = _core.JsonlEncoder()
        self.workers = workers

    @property
    def base64_columns(self) -> set[str]:
        """Paths (``a``, ``a.b``, ``a[]``) of the binary columns written as base64 so far."""
        return set(self._encoder.base64_columns)

    def lines(self, table: pa.Table | pa.RecordBatch) -> Iterator[Any]:
        """The rows of ``table`` as UTF-8 JSON lines, in buffers (slices of about :data:`JSONL_ENCODE_BYTES` input)."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if table.num_rows == 0:
            return
        if table.num_columns == 0:  # (the Arrow C stream of a table without columns loses its length)
            yield b"{}\n" * table.num_rows
            return
        table = _raw_json_columns(table)
        step = max(1, table.num_rows * JSONL_ENCODE_BYTES // max(1, table.nbytes))
        for start in range(0, table.num_rows, step):
            yield from self._encoder.encode(table.slice(start, step), workers=self.workers)


def _raw_json_columns(table: pa.Table) -> pa.Table:
    """``table`` with each column of a type the Rust encoder lacks replaced by its JSON text."""
    for index, f in enumerate(table.schema):
        if _encoded_in_python(f.type):
            texts = [
                json.dumps(_plain(v), ensure_ascii=False, allow_nan=False)
                for v in table.column(index).to_pylist()
            ]
            raw = pa.field(f.name, pa.large_string(), metadata=RAW_JSON_METADATA)
            table = table.set_column(index, raw, pa.array(texts, pa.large_string()))
    return table


def _iso_duration(count: int, digits: int) -> str:
    """``count`` units of ``10**-digits`` seconds as an ISO 8601 duration (``PT1.5S``, ``-PT3S``)."""
    sign, count = ("-" if count < 0 else ""), abs(count)
    seconds, fraction = divmod(count, 10**digits)
    tail = f".{fraction:0{digits}d}".rstrip("0") if fraction else ""
    return f"{sign}PT{seconds}{tail}S"


def _plain(value: Any) -> Any:
    """``value`` (from ``to_pylist``) as what :func:`json.dumps` writes validly."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.timedelta):
        return _iso_duration(value // dt.timedelta(microseconds=1), 6)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


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


class TableSink:
    """Collects one side of the split in memory: the rows the mirrored files would hold, in input order."""

    def __init__(self) -> None:
        self.parts: list[pa.Table] = []
        self.rows_written = 0
        self.table: pa.Table | None = None

    def write(self, file_index: int, table: pa.Table | pa.RecordBatch) -> None:
        self.parts.append(pa.Table.from_batches([table]) if isinstance(table, pa.RecordBatch) else table)
        self.rows_written += table.num_rows

    def close(self, empty_schemas: dict[int, pa.Schema] | None = None) -> pa.Table:
        if not self.parts:
            schemas = list((empty_schemas or {}).values())
            self.table = (schemas[0] if schemas else pa.schema([])).empty_table()
        elif len({p.schema for p in self.parts}) == 1:
            self.table = pa.concat_tables(self.parts)
        else:  # JSONL blocks or files that differ in fields or types
            self.table = pa.concat_tables(self.parts, promote_options="permissive")
        self.parts = []
        return self.table
