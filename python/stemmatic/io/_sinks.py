"""Sinks: the kept/removed writer that mirrors the input shards, and the rejected-lines file."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io._sources import InputFile, OutputFormat, Rejected, _conform, _view_columns


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
