"""Sinks: the kept/removed writer that mirrors the input shards, and the rejected-lines file.

(``JsonEncoder`` and ``JsonlWriter`` live in :mod:`stemmatic.io._jsonl` and are imported here.)

Output formats:

* **Parquet**, compressed with zstd unless another codec is asked for.
* **JSON lines** that are always valid JSON (RFC 8259) whatever the columns
  hold (:mod:`stemmatic.io._jsonl`). A JSONL output keeps its input's
  compression (``a.jsonl.gz`` in, ``a.jsonl.gz`` out) unless a
  ``compression`` is given.

Shards: by default one output file per input file, with the input's relative
name (``sub/a.jsonl.gz`` in, ``kept/sub/a.parquet`` out). With a cap
(``max_shard_size``, ``max_shard_rows``) every output file is numbered
from ``-00000`` (``kept/sub/a-00000.parquet``, ``a-00001.parquet``, ...),
whether or not the cap is reached, so names sort in row order and the
layout does not depend on the data; the shards of one input, concatenated in
name order, hold exactly the rows and values of the uncapped file. The row
cap is exact. The size cap is on the bytes written to disk (compressed), and
approximate: it is checked between slices of rows, each sized from the bytes
per row written so far, so a shard can pass it by about one slice (and a
Parquet footer). gzip and zstd output is flushed at each check (a sync
point, no new stream); bz2 output counts once a block (900 kB of text) is
compressed, so a bz2 shard can pass the cap by up to a block.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic._arrow import empty_table
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io._json_reader import Rejected, _conform
from stemmatic.io._jsonl import JsonEncoder, JsonlWriter  # noqa: F401 - JsonEncoder imported from here too
from stemmatic.io._laned import LanedShard, join_parquet
from stemmatic.io._listing import InputFile, OutputFormat
from stemmatic.io._sources import _view_columns

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


#: The codec of every Parquet file a command writes (shards, and the small tables beside them).
PARQUET_CODEC = "zstd"


def write_parquet(table: pa.Table, where: Any, compression: str | None = None) -> None:
    """Write one small output table (clusters, hits, items, scores, a selection) as Parquet.

    ``where`` is a path or an open binary file. Compressed as the output
    shards are (``compression``, default zstd; ``none`` for none), so a
    command's files share one codec.
    """
    codec = compression or PARQUET_CODEC
    pq.write_table(table, where, compression=None if codec == "none" else codec)


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
#: that :meth:`MirroredWriter.close` joins in (Parquet parts of one schema by copying their row
#: groups, :func:`~stemmatic.io._laned.join_parquet`; the usual limit of open files is 1,024 on
#: Linux and 256 on macOS; a writer per shard died there from a few hundred shards).
MAX_OPEN_SHARDS = 64
#: Digits of the number of a capped output shard (``a-00001.parquet``).
SHARD_DIGITS = 5


@dataclass(frozen=True)
class ShardCaps:
    """Caps on one output shard: ``bytes`` written (compressed, approximate) and ``rows`` (exact); None: no cap."""

    bytes: int | None = None
    rows: int | None = None

    def __bool__(self) -> bool:
        return self.bytes is not None or self.rows is not None


def shard_caps(max_shard_size: int | str | None = None, max_shard_rows: int | None = None) -> ShardCaps:
    """The caps of ``max_shard_size`` (bytes, or a size such as ``512MB``) and ``max_shard_rows``, checked.

    >>> shard_caps("512MB", 100_000)
    ShardCaps(bytes=512000000, rows=100000)
    """
    from stemmatic.io import parse_size

    size = None if max_shard_size is None else parse_size(max_shard_size)
    if size is not None and size < 1:
        raise ParameterError(
            f"invalid parameter `max_shard_size`: {max_shard_size!r}; must be at least 1 byte"
        )
    if max_shard_rows is not None and (
        isinstance(max_shard_rows, bool) or not isinstance(max_shard_rows, int) or max_shard_rows < 1
    ):
        raise ParameterError(f"invalid parameter `max_shard_rows`: {max_shard_rows!r}; must be at least 1")
    return ShardCaps(size, max_shard_rows)


def check_output(
    fmt: str,
    compression: str | None,
    max_shard_size: int | str | None = None,
    max_shard_rows: int | None = None,
) -> ShardCaps:
    """Check the output options of a command that writes shards; the caps they give.

    >>> check_output("jsonl", "zstd", max_shard_rows=1000)
    ShardCaps(bytes=None, rows=1000)
    """
    if fmt not in ("parquet", "jsonl"):
        raise ParameterError(f"invalid output format {fmt!r}; expected 'parquet' or 'jsonl'")
    check_compression(fmt, compression)  # type: ignore[arg-type]
    return shard_caps(max_shard_size, max_shard_rows)


class MirroredWriter:
    """Write one output shard per input shard under ``directory`` (several with a cap).

    Every input file gets its output file, even when no row of it lands here
    (an empty file with the schema), so the shard structure is preserved.
    Columns the input stored as string/binary views (read as large types by
    :func:`iter_chunks`) are written as views again.

    ``compression``: for Parquet a codec of :data:`PARQUET_CODECS` (default
    zstd); for JSONL one of :data:`JSONL_COMPRESSIONS` (default: the input
    file's own, so ``a.jsonl.gz`` gives ``a.jsonl.gz``).
    ``max_shard_size``, ``max_shard_rows``: caps on each output file; with
    either, an input's rows go to ``NAME-00000.EXT``, ``NAME-00001.EXT``, ...
    (see the module docstring).
    """

    def __init__(
        self,
        directory: Path,
        files: Sequence[InputFile],
        fmt: OutputFormat = "parquet",
        *,
        compression: str | None = None,
        max_open: int = MAX_OPEN_SHARDS,
        max_shard_size: int | str | None = None,
        max_shard_rows: int | None = None,
    ) -> None:
        self.caps = check_output(fmt, compression, max_shard_size, max_shard_rows)
        self.directory = directory
        self.files = files
        self.fmt = fmt
        self.compression = compression
        self._writers: dict[int, Any] = {}  # open, least recently written first
        self._schemas: dict[int, pa.Schema] = {}
        self._parts: dict[int, list[Path]] = {}  # of each input's current shard
        self.max_open = max(1, max_open)
        self._paused: set[int] = set()  # closed to bound the open files; continued as a part
        self._shard: dict[int, int] = {}  # the number of each input's current shard (with a cap)
        self._shard_rows: dict[int, int] = {}
        self._laned: dict[int, LanedShard] = {}  # inputs whose shard several threads write
        self._views: dict[int, dict[str, pa.DataType]] = {}
        self._lock = threading.Lock()
        self.rows_written = 0

    @property
    def can_split(self) -> bool:
        """Whether one input's rows may go to several writers side by side (``lanes`` of :meth:`write`).

        Parquet output without a cap: a capped shard's rows are written in
        order, its size counted as they are; a JSON lines file is one stream.
        """
        return self.fmt == "parquet" and not self.caps

    def compression_for(self, file_index: int) -> str:
        """The compression of output shard ``file_index`` (``none`` for none)."""
        if self.compression is not None:
            return self.compression
        if self.fmt == "parquet":
            return PARQUET_CODEC
        source = self.files[file_index].compression
        return source if source in JSONL_COMPRESSIONS else "none"

    def path_for(self, file_index: int, shard: int | None = None) -> Path:
        """The output file of input ``file_index``: its current shard, or shard number ``shard``."""
        name = self.files[file_index].output_name(self.fmt)
        if self.caps:
            number = self._shard.get(file_index, 0) if shard is None else shard
            name = f"{name[: -len(self.fmt) - 1]}-{number:0{SHARD_DIGITS}d}.{self.fmt}"
        if self.fmt == "jsonl":
            name += JSONL_COMPRESSIONS[self.compression_for(file_index)]
        return self.directory / name

    def write(
        self, file_index: int, table: pa.Table | pa.RecordBatch, *, seq: int = 0, lanes: int | None = None
    ) -> None:
        """Write rows of input ``file_index``: ``table``, from its chunk number ``seq`` (0, 1, ...).

        ``lanes`` (where :attr:`can_split`): the input's chunks go to that many
        writers, chunk ``seq`` to writer ``seq % lanes``, and calls for
        different lanes may run at once on different threads; each lane's
        chunks come in order, with the same ``lanes`` for the whole input, and
        :meth:`finish` joins them into the shard (see
        :mod:`stemmatic.io._laned`). The shard is the same bytes for any
        number of lanes, one included; None (the default): one writer writes
        the shard itself.
        """
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if lanes is not None and self.can_split:
            if file_index in self._laned or file_index not in self._paused:
                if table.num_rows:
                    self._laned_shard(file_index, lanes).write(seq, self._viewed(file_index, table))
                    with self._lock:
                        self.rows_written += table.num_rows
                return
            with self._lock:  # rows after the shard was finished: continued in a part, one lane at a time
                self._write(file_index, table)
            return
        if not self.caps or table.num_rows == 0:
            self._write(file_index, table)
            return
        start = 0
        while start < table.num_rows:
            if self._shard_full(file_index):
                self._next_shard(file_index)
            rest = table.slice(start)
            take = self._room(file_index, rest)
            self._write(file_index, rest.slice(0, take))
            self._shard_rows[file_index] = self._shard_rows.get(file_index, 0) + take
            start += take

    def _shard_bytes(self, file_index: int) -> int:
        """Bytes on disk of the current shard of ``file_index`` (its parts included)."""
        parts = sum(p.stat().st_size for p in self._parts.get(file_index, []))
        writer = self._writers.get(file_index)
        if isinstance(writer, JsonlWriter):
            return parts + writer.size()
        path = self.path_for(file_index)
        return parts + (path.stat().st_size if path.exists() else 0)

    def _shard_full(self, file_index: int) -> bool:
        rows = self._shard_rows.get(file_index, 0)
        if rows == 0:  # a shard holds at least one row, however large
            return False
        if self.caps.rows is not None and rows >= self.caps.rows:
            return True
        return self.caps.bytes is not None and self._shard_bytes(file_index) >= self.caps.bytes

    def _room(self, file_index: int, rest: pa.Table) -> int:
        """How many rows of ``rest`` to write next into the current shard (at least one)."""
        take: int = rest.num_rows
        rows = self._shard_rows.get(file_index, 0)
        if self.caps.rows is not None:
            take = min(take, self.caps.rows - rows)
        if self.caps.bytes is not None:
            written = self._shard_bytes(file_index) if rows else 0
            # Bytes per row as written so far in this shard; before that, as held in memory
            # (more than compressed: the first slice is small, never too large).
            per_row = written / rows if rows and written else max(1, rest.nbytes) / rest.num_rows
            take = min(take, max(1, math.ceil((self.caps.bytes - written) / per_row)))
        return max(1, take)

    def _next_shard(self, file_index: int) -> None:
        """Finish the current shard of ``file_index`` (its parts joined); its next rows start the next."""
        writer = self._writers.pop(file_index, None)
        if writer is not None:
            writer.close()
        self._paused.discard(file_index)
        parts = self._parts.pop(file_index, None)
        if parts:
            self._merge_parts(file_index, parts)
        self._shard[file_index] = self._shard.get(file_index, 0) + 1
        self._shard_rows[file_index] = 0

    def _write(self, file_index: int, table: pa.Table) -> None:
        writer = self._writers.get(file_index)
        if writer is None and file_index in self._paused:
            writer = self._resume(file_index)
        elif writer is None and file_index in self._schemas:  # the next shard of a capped output
            writer = self._open(file_index, self._schemas[file_index])
        if writer is None:
            table = self._viewed(file_index, table)
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

    def _viewed(self, file_index: int, table: pa.Table) -> pa.Table:
        """``table`` with the columns that input ``file_index`` stores as views cast to views again."""
        views = self._views.get(file_index)
        if views is None:
            views = self._views[file_index] = _view_columns(self.files[file_index])
        if not views or not any(f.name in views and f.type != views[f.name] for f in table.schema):
            return table
        return table.cast(
            pa.schema(
                [f.with_type(views[f.name]) if f.name in views else f for f in table.schema],
                metadata=table.schema.metadata,
            )
        )

    def _laned_shard(self, file_index: int, lanes: int) -> LanedShard:
        with self._lock:
            shard = self._laned.get(file_index)
            if shard is None:
                shard = self._laned[file_index] = LanedShard(
                    self.path_for(file_index),
                    lanes,
                    self.compression_for(file_index),
                    str(self.files[file_index].path),
                )
            return shard

    def finish(self, file_index: int) -> None:
        """Close the output of input ``file_index`` now: its rows have all been written.

        An open Parquet writer holds its last row group's encoders (about 7 MB
        for 8,192 rows of 3.6 kB texts): a writer that streams many inputs
        closes each one as its input ends, or the open files (up to
        :data:`MAX_OPEN_SHARDS` per side) hold their memory to the end. The
        file is complete once this returns; rows that came later would be
        continued in a part, as after a pause, and joined in by :meth:`close`.
        """
        laned = self._laned.pop(file_index, None)
        if laned is not None:
            try:
                if laned.finish():
                    self._paused.add(file_index)
            except BaseException:
                self.abort()
                raise
            return
        writer = self._writers.pop(file_index, None)
        if writer is None:
            return
        self._paused.add(file_index)
        try:
            writer.close()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Close every open file after a failure (what was written stays, unfinished)."""
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()
        self._writers.clear()
        for laned in self._laned.values():
            laned.abort()
        self._laned.clear()

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

    def _set_aside(self, file_index: int) -> None:
        """Move what the (closed) current shard holds so far to its next part file."""
        path = self.path_for(file_index)
        parts = self._parts.setdefault(file_index, [])
        part = path.with_name(f".{path.name}.part{len(parts)}")
        os.replace(path, part)
        parts.append(part)

    def _resume(self, file_index: int) -> Any:
        """Continue a shard closed to bound the open files: what it holds becomes a part."""
        self._set_aside(file_index)
        self._paused.discard(file_index)
        return self._open(file_index, self._schemas[file_index])

    def _fit(self, file_index: int, table: pa.Table) -> pa.Table:
        """``table`` in the file's schema; a field first seen now, or a wider type, starts a new part.

        Parquet fixes a file's schema when it is opened. When later rows bring
        a new field (JSONL blocks are parsed one by one) or need a wider type,
        the rows so far are set aside as a part and :meth:`close` rewrites the
        parts into one file of the unified schema, so no field is dropped.
        (With a cap, the shards finished before keep the schema they had.)
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
        self._set_aside(file_index)
        self._open(file_index, unified)
        return _conform(table, unified).select(unified.names)

    def close(self, empty_schemas: dict[int, pa.Schema] | None = None) -> list[Path]:
        """Close all files; create empty shards (with ``empty_schemas[i]``) for untouched inputs.

        Returns the output files, by input and, with a cap, by shard number.
        """
        for index in list(self._laned):
            self.finish(index)
        for index in range(len(self.files)):
            if index not in self._writers and index not in self._paused:
                schema = (empty_schemas or {}).get(index, pa.schema([]))
                self.write(index, empty_table(schema))
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        self._paused.clear()
        for index, parts in self._parts.items():
            self._merge_parts(index, parts)
        self._parts.clear()
        return [
            self.path_for(index, shard)
            for index in range(len(self.files))
            for shard in range(self._shard.get(index, 0) + 1)
        ]

    def _merge_parts(self, file_index: int, parts: list[Path]) -> None:
        path = self.path_for(file_index)
        last = path.with_name(f".{path.name}.part{len(parts)}")
        os.replace(path, last)
        if self.fmt == "jsonl":
            _join_streams([*parts, last], path, self.compression_for(file_index))
            return
        if join_parquet([*parts, last], path):  # one schema: the row groups copied as they are
            for part in [*parts, last]:
                part.unlink()
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

    #: Rows are held in the order they come: one writer per side.
    can_split = False

    def write(
        self, file_index: int, table: pa.Table | pa.RecordBatch, *, seq: int = 0, lanes: int = 1
    ) -> None:
        self.parts.append(pa.Table.from_batches([table]) if isinstance(table, pa.RecordBatch) else table)
        self.rows_written += table.num_rows

    def abort(self) -> None:
        """Drop the rows held (after a failure)."""
        self.parts = []

    def close(self, empty_schemas: dict[int, pa.Schema] | None = None) -> pa.Table:
        if not self.parts:
            schemas = list((empty_schemas or {}).values())
            self.table = empty_table(schemas[0] if schemas else pa.schema([]))
        elif len({p.schema for p in self.parts}) == 1:
            self.table = pa.concat_tables(self.parts)
        else:  # JSONL blocks or files that differ in fields or types
            self.table = pa.concat_tables(self.parts, promote_options="permissive")
        self.parts = []
        return self.table


def split_sinks(
    directory: Path | None,
    files: Sequence[InputFile],
    fmt: str,
    compression: str | None,
    caps: ShardCaps,
    sides: tuple[str, str] = ("kept", "removed"),
) -> tuple[Any, Any]:
    """The two sides of a split: a :class:`MirroredWriter` under ``directory/SIDE`` each, or (``directory``
    None) a :class:`TableSink` each, which holds its rows in memory."""
    if directory is None:
        return TableSink(), TableSink()
    first, second = (
        MirroredWriter(
            directory / side,
            files,
            fmt,  # type: ignore[arg-type]
            compression=compression,
            max_shard_size=caps.bytes,
            max_shard_rows=caps.rows,
        )
        for side in sides
    )
    return first, second
