"""The JSON-lines encoder and writer of the sinks (:mod:`stemmatic.io._sinks`).

JSON lines that are always valid JSON (RFC 8259), whatever the columns
hold: NaN and infinities are written as ``null``; timestamps, dates and
times as ISO 8601 strings (``2024-01-02T03:04:05.000006``, with ``Z`` or
``+01:00`` when the column has a time zone); decimals as strings holding
every digit; durations as ISO 8601 durations (``PT1.5S``); a binary column
as its text when its bytes are UTF-8 (a text column stored as bytes), else
as base64 (RFC 4648, padded; from the first such value on, for the rest of
that file); maps with string keys as objects, other maps as arrays of
``[key, value]`` pairs; lists and structs as arrays and objects of the
same. Floats use the shortest form that reads back to the same value,
with ``.0`` on integral ones so they read back as floats.
"""

from __future__ import annotations

import base64
import bz2
import datetime as dt
import decimal
import gzip
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa


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
        from stemmatic.io._sinks import GZIP_LEVEL, ZSTD_LEVEL, check_compression

        check_compression("jsonl", compression)
        self.path = Path(path)
        self.encoder = JsonEncoder(workers)
        # A plain file is written by the encoder through its descriptor (unbuffered: nothing held back here).
        self._raw = open(self.path, "wb", buffering=0 if compression == "none" else -1)  # noqa: SIM115 - closed in close()
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
        plain = self._fh is self._raw and os.name == "posix"
        self.encoder.write(table, self._raw.fileno() if plain else self._fh)

    def size(self) -> int:
        """Bytes in the file so far: what gzip and zstd hold back is flushed first (bz2 writes whole blocks)."""
        if self._fh is not self._raw and not isinstance(self._fh, bz2.BZ2File):
            self._fh.flush()  # gzip: Z_SYNC_FLUSH; zstd: the end of a block (the stream goes on)
        self._raw.flush()
        return int(self._raw.tell())

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

#: Bytes of Arrow memory encoded per call, the unit of the base64 switch (the encoder
#: writes its output in reused parts of about half a MiB of input each).
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

    def write(self, table: pa.Table | pa.RecordBatch, sink: int | _Sink) -> None:
        """Write the rows of ``table`` as UTF-8 JSON lines to ``sink``.

        ``sink`` is the descriptor of a file open for writing (POSIX; written
        from Rust with the GIL released) or an object with ``write(bytes)``
        (a compressor's stream). Slices of about :data:`JSONL_ENCODE_BYTES`
        of input are encoded per call: the base64 switch of a binary column
        is decided per slice.
        """
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if table.num_rows == 0:
            return
        if table.num_columns == 0:  # (the Arrow C stream of a table without columns loses its length)
            data = b"{}\n" * table.num_rows
            if isinstance(sink, int):
                _write_all(sink, data)
            else:
                sink.write(data)
            return
        table = _raw_json_columns(table)
        step = max(1, table.num_rows * JSONL_ENCODE_BYTES // max(1, table.nbytes))
        for start in range(0, table.num_rows, step):
            self._encoder.write(table.slice(start, step), sink, workers=self.workers)

    def lines(self, table: pa.Table | pa.RecordBatch) -> Iterator[bytes]:
        """The rows of ``table`` as UTF-8 JSON lines, in buffers (what :meth:`write` writes, in memory)."""
        parts = _Parts()
        self.write(table, parts)
        return iter(parts)


class _Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


class _Parts(list[bytes]):
    """A sink that keeps what is written to it."""

    def write(self, data: bytes, /) -> None:
        self.append(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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
