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
import functools
import gzip
import json
import math
import os
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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

    def __init__(self, path: str | os.PathLike[str], compression: str = "none") -> None:
        check_compression("jsonl", compression)
        self.path = Path(path)
        self.encoder = JsonEncoder()
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
# JSON lines, encoded column by column with Arrow compute kernels.
#
# Each column becomes a large-string array of one JSON value per row; the rows
# are joined element-wise (`{"a":` + a + `,"b":` + b + `}\n`) and the data
# buffer of the result is written as it is. All but the rare types that go
# through `_encode_in_python` run in Arrow's C++ kernels, without the GIL, so
# shards written on threads encode in parallel.

_LARGE = pa.large_string()
#: Rows (and bytes) encoded at a time: bounds the encoder's copies of the text.
JSONL_ENCODE_ROWS = 65_536
JSONL_ENCODE_BYTES = 32 << 20
#: Threads that encode the slices of one table.
JSONL_ENCODE_THREADS = 4
#: How JSON strings write the characters they must escape (RFC 8259, section 7).
_ESCAPED = {
    0x5C: "\\\\",
    0x22: '\\"',
    **{code: f"\\u{code:04x}" for code in range(0x20)},
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
}


@functools.cache
def _null() -> pa.Scalar:
    # Built on first use: pyarrow imports pandas (0.2 s) the first time it converts Python values.
    return pa.scalar(None, _LARGE)


_NO_BYTES = np.zeros(0, dtype=np.uint8)
#: The literals of `_json_strings`: a quote, then the escape of each byte below 0x20, '"' and '\\'.


@functools.cache
def _literals() -> pa.Array:
    return pa.array([b'"', *(_ESCAPED[code].encode() for code in sorted(_ESCAPED))], pa.large_binary())


_QUOTE_SLOT = 0
_ESCAPE_SLOT = np.zeros(256, dtype=np.int64)
_ESCAPE_SLOT[sorted(_ESCAPED)] = np.arange(1, len(_ESCAPED) + 1)


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, _LARGE)


def _join(*pieces: pa.Array | pa.Scalar) -> pa.Array:
    """String arrays and literals concatenated row by row (null where a piece is null)."""
    return pc.binary_join_element_wise(*pieces, _lit(""))


def _or_null(encoded: pa.Array) -> pa.Array:
    return encoded.fill_null(_lit("null")) if encoded.null_count else encoded


def _quote(text: pa.Array) -> pa.Array:
    """Text that needs no escaping (digits, dates, base64) as JSON strings."""
    return _or_null(_join(_lit('"'), text.cast(_LARGE), _lit('"')))


def _json_strings(values: pa.Array) -> pa.Array:
    """UTF-8 strings as JSON strings (non-ASCII kept as it is, like ``ensure_ascii=False``).

    One copy of the text: the strings are cut before and after every byte
    that needs escaping and at every row boundary, and one ``take`` over the
    pieces and the literals (quotes, escape sequences) lays out the result.
    """
    values = values.cast(_LARGE)
    rows = len(values)
    data = values.buffers()[2]
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset : values.offset + rows + 1]
    start = int(offsets[0])
    bounds = offsets - start  # row boundaries within the text
    view = np.frombuffer(data, dtype=np.uint8)[start : int(offsets[-1])] if data is not None else _NO_BYTES
    needs_escape = view < 0x20
    needs_escape |= view == 0x22
    needs_escape |= view == 0x5C
    special = np.flatnonzero(needs_escape)
    around = np.empty(2 * len(special), dtype=np.int64)
    around[0::2], around[1::2] = special, special + 1
    cuts = np.sort(np.concatenate([bounds, around]), kind="stable")  # two sorted runs: a merge
    cuts = cuts[np.flatnonzero(np.diff(cuts, prepend=-1))]
    pieces = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(cuts) - 1, [None, pa.py_buffer(cuts + start), data or pa.py_buffer(b"")]
    )
    # Piece i of the text lands after the opening quotes of rows 0..row(i)
    # and the closing quotes of rows before it; a row's quotes go around its pieces.
    first_piece = np.searchsorted(cuts, bounds)  # of each row, and the end
    row_of_piece = np.searchsorted(bounds, cuts[:-1], side="right") - 1
    order = np.empty(len(cuts) - 1 + 2 * rows, dtype=np.int64)
    piece_slot = np.arange(len(cuts) - 1) + 2 * row_of_piece + 1
    take = np.arange(len(cuts) - 1, dtype=np.int64)
    escaped = np.searchsorted(cuts, special)  # the one-byte pieces that are escaped
    take[escaped] = len(cuts) - 1 + _ESCAPE_SLOT[view[special]]
    order[piece_slot] = take
    opening = first_piece[:-1] + 2 * np.arange(rows)
    order[opening] = len(cuts) - 1 + _QUOTE_SLOT
    order[first_piece[1:] + 2 * np.arange(rows) + 1] = len(cuts) - 1 + _QUOTE_SLOT
    laid_out = pc.take(pa.concat_arrays([pieces, _literals()]), pa.array(order))
    laid_offsets = np.frombuffer(laid_out.buffers()[1], dtype=np.int64)[: len(order) + 1]
    row_offsets = np.append(laid_offsets[opening], laid_offsets[-1])
    quoted = pa.LargeStringArray.from_buffers(rows, pa.py_buffer(row_offsets), laid_out.buffers()[2])
    return _or_null(pc.if_else(values.is_null(), _null(), quoted)) if values.null_count else quoted


def _json_floats(values: pa.Array) -> pa.Array:
    """Floats in their shortest round-trip form; NaN and infinities as null (JSON has neither)."""
    if pa.types.is_float16(values.type):
        values = values.cast(pa.float32())
    text = values.cast(_LARGE)
    # "1" would read back as an integer: integral floats keep a ".0" ("1e+20" is a float already).
    integral = pc.invert(pc.or_(pc.match_substring(text, "."), pc.match_substring(text, "e")))
    text = pc.if_else(integral, _join(text, _lit(".0")), text)
    return _or_null(pc.if_else(pc.is_finite(values), text, _null()))


def _json_timestamps(values: pa.Array) -> pa.Array:
    """ISO 8601: ``2024-01-02T03:04:05.000006``, with ``Z`` or ``+01:00`` when the type has a time zone."""
    text = pc.replace_substring(values.cast(_LARGE), " ", "T", max_replacements=1)
    if values.type.tz is not None:
        text = pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2")
    return _quote(text)


def _is_binary(kind: pa.DataType) -> bool:
    return (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
        or pa.types.is_fixed_size_binary(kind)
    )


def _is_string(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


class JsonEncoder:
    """Encodes Arrow rows as JSON lines; remembers which binary columns it writes as base64.

    One encoder per output file: a binary column whose values are UTF-8 is
    written as text; from the first batch with other bytes on, it is written
    as base64 for the rest of the file.

    >>> encoder = JsonEncoder()
    >>> b"".join(encoder.lines(pa.table({"t": ["a\\"b\\n"], "f": [float("inf")]}))).decode()
    '{"t":"a\\\\"b\\\\n","f":null}\\n'
    """

    def __init__(self) -> None:
        self.base64_columns: set[str] = set()

    def lines(self, table: pa.Table | pa.RecordBatch) -> Iterator[pa.Buffer]:
        """The rows of ``table`` as UTF-8 JSON lines, one buffer per slice of rows."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if table.num_rows == 0:
            return
        # Slices of at most JSONL_ENCODE_ROWS rows and about JSONL_ENCODE_BYTES.
        step = max(1, min(JSONL_ENCODE_ROWS, table.num_rows * JSONL_ENCODE_BYTES // max(1, table.nbytes)))
        batches = [b for b in table.to_batches(max_chunksize=step) if b.num_rows]

        def encode(batch: pa.RecordBatch) -> pa.Buffer:
            return _data_buffer(self._rows(batch.schema, batch.columns, batch.num_rows, "", "\n"))

        workers = min(JSONL_ENCODE_THREADS, os.cpu_count() or 1, len(batches))
        if workers <= 1 or _has_binary(table.schema):
            # One at a time where a binary column may turn base64 (in order, so reruns agree).
            yield from map(encode, batches)
            return
        # Slices encode on threads (the kernels release the GIL), at most `workers` ahead of the writer.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stemmatic-jsonl") as pool:
            ahead = deque(pool.submit(encode, b) for b in batches[:workers])
            for following in batches[workers:]:
                buffer = ahead.popleft().result()
                ahead.append(pool.submit(encode, following))
                yield buffer
            while ahead:
                yield ahead.popleft().result()

    def _rows(self, fields: Any, columns: Sequence[pa.Array], rows: int, path: str, end: str) -> pa.Array:
        """Objects ``{"name": value, ...}`` of the given fields, row by row, each followed by ``end``."""
        if not columns:
            return pa.array(["{}" + end] * rows, _LARGE)
        pieces: list[pa.Array | pa.Scalar] = []
        for index, (f, column) in enumerate(zip(fields, columns, strict=True)):
            key = json.dumps(f.name, ensure_ascii=False)
            pieces.append(_lit(("{" if index == 0 else ",") + key + ":"))
            pieces.append(self.encode(column, f"{path}.{f.name}" if path else f.name))
        pieces.append(_lit("}" + end))
        return _join(*pieces)

    def encode(self, values: pa.Array, path: str) -> pa.Array:
        """One JSON value per element of ``values`` (``null`` for null)."""
        kind = values.type
        if len(values) == 0:
            return pa.array([], _LARGE)
        if pa.types.is_null(kind):
            return pa.nulls(len(values), _LARGE).fill_null(_lit("null"))
        if pa.types.is_dictionary(kind):
            return self.encode(values.dictionary_decode(), path)
        if isinstance(kind, pa.ExtensionType):
            return self.encode(values.storage, path)
        if _is_string(kind):
            return _json_strings(values)
        if _is_binary(kind):
            if path not in self.base64_columns:
                try:
                    return _json_strings(values.cast(pa.large_binary()).cast(_LARGE))
                except pa.ArrowInvalid:  # not UTF-8
                    self.base64_columns.add(path)
            return _quote(
                pa.array(
                    [None if v is None else base64.b64encode(v).decode("ascii") for v in values.to_pylist()]
                )
            )
        if pa.types.is_boolean(kind) or pa.types.is_integer(kind):
            return _or_null(values.cast(_LARGE))
        if pa.types.is_floating(kind):
            return _json_floats(values)
        if pa.types.is_decimal(kind):
            # As strings: every digit survives readers that parse numbers as doubles.
            return _quote(values.cast(_LARGE))
        if pa.types.is_timestamp(kind):
            return _json_timestamps(values)
        if pa.types.is_date(kind) or pa.types.is_time(kind):
            return _quote(values.cast(_LARGE))
        if pa.types.is_struct(kind):
            encoded = self._rows(kind, values.flatten(), len(values), path, "")
            return _or_null(pc.if_else(values.is_null(), _null(), encoded) if values.null_count else encoded)
        if pa.types.is_map(kind):
            return self._encode_map(values, path)
        if _is_list(kind):
            values = values.cast(pa.large_list(kind.value_field))
            items = self.encode(values.flatten(), path + "[]")
            return _or_null(_join(_lit("["), _join_lists(values, items), _lit("]")))
        return _encode_in_python(values)

    def _encode_map(self, values: pa.Array, path: str) -> pa.Array:
        """A map with string keys as a JSON object; other maps as arrays of ``[key, value]`` pairs."""
        kind = values.type
        entries = pa.ListArray.from_arrays(
            values.offsets, values.values, mask=values.is_null() if values.null_count else None
        )
        map_keys, map_items = entries.flatten().flatten()
        keys = self.encode(map_keys, path + "{key}")
        items = self.encode(map_items, path + "{}")
        if _is_string(kind.key_type):
            pairs, opening, closing = _join(keys, _lit(":"), items), "{", "}"
        else:
            pairs, opening, closing = _join(_lit("["), keys, _lit(","), items, _lit("]")), "[", "]"
        return _or_null(_join(_lit(opening), _join_lists(entries, pairs), _lit(closing)))


def _has_binary(schema: pa.Schema) -> bool:
    def walk(kind: pa.DataType) -> bool:
        if isinstance(kind, pa.ExtensionType):
            kind = kind.storage_type
        if pa.types.is_dictionary(kind):
            return walk(kind.value_type)
        return _is_binary(kind) or any(walk(kind.field(i).type) for i in range(kind.num_fields))

    return any(walk(f.type) for f in schema)


def _list_offsets(lists: pa.Array) -> np.ndarray:
    """Offsets of the (non-null) lists' items in ``lists.flatten()`` order."""
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def _join_lists(lists: pa.Array, encoded_items: pa.Array) -> pa.Array:
    """Each list's encoded items joined with commas (null for a null list)."""
    grouped = pa.LargeListArray.from_arrays(
        pa.array(_list_offsets(lists)), encoded_items, mask=lists.is_null() if lists.null_count else None
    )
    return pc.binary_join(grouped, _lit(","))


def _data_buffer(rows: pa.Array) -> pa.Buffer:
    """The bytes of a large-string array's values, end to end."""
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset : rows.offset + len(rows) + 1]
    return rows.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _encode_in_python(values: pa.Array) -> pa.Array:
    """The rare types (durations, unions, intervals, list views...) one value at a time."""
    if pa.types.is_duration(values.type):
        digits = {"s": 0, "ms": 3, "us": 6, "ns": 9}[values.type.unit]
        counts = values.cast(pa.int64()).to_pylist()
        return _quote(pa.array([None if c is None else _iso_duration(c, digits) for c in counts], _LARGE))
    return pa.array(
        [json.dumps(_plain(v), ensure_ascii=False, allow_nan=False) for v in values.to_pylist()], _LARGE
    )


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
