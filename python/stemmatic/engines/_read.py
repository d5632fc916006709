"""The CLI's input files read on Ray and Spark by the local engine's reader.

``stemmatic dedup|contamination scan --engine ray|spark`` do not hand the
files to ``ray.data.read_json`` / ``spark.read.json``: those readers have
their own rules (Spark keeps a malformed line as a row of nulls with a
``_corrupt_record`` column; Ray lists files through fsspec and fails without
naming a line). Instead each engine task reads one input file with
:func:`stemmatic.io.iter_chunks`, the reader of the local engine, so every
rule is written once: JSONL parsing and its limits, ``on_error`` (a
malformed line is an :class:`~stemmatic.InvalidInputError` naming
``file:line``, or a :class:`~stemmatic.io.Rejected` record the driver writes
to ``OUT/rejected/``), the required columns and their types (named by file).

A task never raises for bad input: it returns a :class:`ShardInfo` with the
error's class and message, and the driver raises the error of the first file
in input order, the one the local engine, which reads the files in order,
would have raised. The driver also unifies the files' schemas (a column that
is all null in one shard takes the type it has in the others; text columns
of the string family meet as ``large_string``) and refuses columns whose
types differ, naming both files.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stemmatic import exceptions
from stemmatic.dedup.steps import check_text_type
from stemmatic.engines._shipped import Shipped
from stemmatic.exceptions import InvalidInputError, StemmaticError
from stemmatic.io import InputFile, Rejected, check_columns, iter_chunks

__all__ = [
    "ColumnRules",
    "InputLayout",
    "ReadShard",
    "ShardInfo",
    "clean_engine_errors",
    "conform",
    "unify_schemas",
]

_STRINGS = (pa.string(), pa.large_string(), pa.string_view())
_BINARIES = (pa.binary(), pa.large_binary(), pa.binary_view())


@dataclass(frozen=True)
class ColumnRules:
    """What every input file must have: columns, and the types the command reads them as."""

    required: tuple[str, ...]
    #: Column of text (strings or bytes; null allowed when ``null_text``).
    text_column: str
    #: Column of numeric keep scores (``--keep column:NAME``).
    keep_column: str | None = None
    null_text: bool = False

    def check(self, file: InputFile, batch: pa.RecordBatch) -> None:
        check_columns(file, batch.schema.names, self.required)
        text = batch.schema.field(self.text_column).type
        if not (self.null_text and pa.types.is_null(text)):
            check_text_type(self.text_column, text, f"{file.path}: ")
        if self.keep_column:
            column = batch.column(self.keep_column)
            try:
                pc.cast(column, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise InvalidInputError(
                    f"{file.path}: --keep column {self.keep_column!r} has type {column.type}, expected numbers"
                ) from err


@dataclass
class ShardInfo:
    """What reading one file found: rows, schema, rejected lines, or the error to raise."""

    rows: int = 0
    schema: pa.Schema | None = None
    rejected: list[Rejected] = field(default_factory=list)
    #: (class name in :mod:`stemmatic.exceptions`, message)
    error: tuple[str, str] | None = None

    def raise_error(self) -> None:
        if self.error is None:
            return
        name, message = self.error
        cls = getattr(exceptions, name, StemmaticError)
        if (
            not (isinstance(cls, type) and issubclass(cls, StemmaticError))
            or cls is exceptions.MissingExtraError
        ):
            cls = StemmaticError
        raise cls(message)


@dataclass(frozen=True)
class ReadShard(Shipped):
    """Read input file ``index`` with the local reader: its batches and a :class:`ShardInfo`."""

    files: tuple[InputFile, ...]
    rules: ColumnRules
    on_error: str = "raise"

    def read(self, index: int) -> tuple[list[pa.RecordBatch], ShardInfo]:
        file = self.files[index]
        info = ShardInfo()
        batches: list[pa.RecordBatch] = []
        try:
            for chunk in iter_chunks(
                [file],
                on_error=self.on_error,  # type: ignore[arg-type]
                skippable=True,
                on_rejected=info.rejected.append,
            ):
                self.rules.check(file, chunk.batch)
                batches.append(chunk.batch)
        except StemmaticError as err:
            info.error = (type(err).__name__, str(err))
            return [], info
        except (pa.ArrowException, OSError, EOFError, UnicodeError, RecursionError) as err:
            # What the reader does not name itself (a corrupt page, a truncated .gz).
            info.error = ("InvalidInputError", f"{file.path}: cannot read the file: {err}")
            return [], info
        info.rows = sum(b.num_rows for b in batches)
        if batches:
            schemas = [b.schema for b in batches]
            info.schema = unify_schemas(schemas, [str(file.path)] * len(schemas))
        return batches, info

    def table(self, index: int) -> tuple[pa.Table | None, ShardInfo]:
        """The file as one table (in its own unified schema)."""
        batches, info = self.read(index)
        if not batches or info.schema is None:
            return None, info
        schema = info.schema
        return pa.Table.from_batches([conform(b, schema) for b in batches], schema=schema), info


def _family(kind: pa.DataType) -> pa.DataType | None:
    if kind in _STRINGS:
        return pa.large_string()
    if kind in _BINARIES:
        return pa.large_binary()
    return None


def unify_schemas(schemas: Sequence[pa.Schema], sources: Sequence[str]) -> pa.Schema:
    """One schema for tables of ``schemas`` (from ``sources``, for the error message).

    Columns keep the order they first appear in; a null column takes the
    type the others have; string (or binary) columns of different widths
    meet as ``large_string`` (``large_binary``). Any other difference is an
    :class:`InvalidInputError` naming the column and two files: engines
    need one type per column, and converting (``1`` to ``1.0``) would change
    the data.
    """
    types: dict[str, pa.DataType] = {}
    where: dict[str, str] = {}
    for schema, source in zip(schemas, sources, strict=True):
        for f in schema:
            have = types.get(f.name)
            if have is None or pa.types.is_null(have):
                if have is None or not pa.types.is_null(f.type):
                    types[f.name], where[f.name] = f.type, source
                continue
            if f.type == have or pa.types.is_null(f.type):
                continue
            family = _family(have)
            if family is not None and family == _family(f.type):
                types[f.name] = family
                continue
            raise InvalidInputError(
                f"column {f.name!r} has type {have} in {where[f.name]} but {f.type} in {source}; "
                "a column must have one type in all inputs"
            )
    return pa.schema([pa.field(name, kind) for name, kind in types.items()])


def conform(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> Any:
    """``batch`` with exactly ``schema``'s columns (missing ones null), cast to its types."""
    columns = []
    for f in schema:
        if f.name in batch.schema.names:
            column = batch.column(f.name)
            columns.append(column if column.type == f.type else column.cast(f.type))
        else:
            columns.append(pa.nulls(batch.num_rows, f.type))
    if isinstance(batch, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(columns, schema=schema)
    return pa.Table.from_arrays(columns, schema=schema)


@dataclass(frozen=True)
class InputLayout:
    """The files read, their row counts and schema: what the driver knows after reading."""

    files: tuple[InputFile, ...]
    rows: tuple[int, ...]
    schema: pa.Schema
    rejected: int

    @classmethod
    def combine(
        cls, files: Sequence[InputFile], infos: Sequence[ShardInfo], rules: ColumnRules
    ) -> InputLayout:
        """Raise the first file's error (input order), else unify the schemas."""
        for info in infos:
            info.raise_error()
        with_rows = [
            (str(f.path), i.schema) for f, i in zip(files, infos, strict=True) if i.schema is not None
        ]
        if with_rows:
            schema = unify_schemas([s for _, s in with_rows], [p for p, _ in with_rows])
        else:
            schema = pa.schema([pa.field(name, pa.large_string()) for name in rules.required])
        return cls(tuple(files), tuple(i.rows for i in infos), schema, sum(len(i.rejected) for i in infos))

    def where(self, row: int) -> tuple[str, int]:
        """The file and the row within it of a row number in the ordered inputs."""
        ends = np.cumsum(np.asarray(self.rows, dtype=np.int64))
        index = min(int(np.searchsorted(ends, row, side="right")), len(self.files) - 1)
        first = int(ends[index - 1]) if index else 0
        return str(self.files[index].path), row - first

    def locate(self, row: int) -> str:
        """``file (row k)`` of a row number in the ordered inputs, as the local dedup names rows."""
        path, within = self.where(row)
        return f"{path} (row {within})"


_LEADING_ROW = re.compile(r"^row (\d+)\b")
_SPARK_ERROR = re.compile(r"stemmatic\.exceptions\.(\w+): (.*)")


def _stemmatic_cause(err: BaseException) -> StemmaticError | None:
    """The stemmatic error an engine wrapped (Ray's task errors keep it as ``cause``)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, StemmaticError) and type(item).__module__ == "stemmatic.exceptions":
            return item
        todo += [getattr(item, "cause", None), item.__cause__, item.__context__]
    return None


def _from_engine_message(text: str) -> StemmaticError | None:
    """A stemmatic error from the text of a Spark Python worker's traceback."""
    found = _SPARK_ERROR.findall(text)
    if not found:
        return None
    name, message = found[-1]
    info = ShardInfo(error=(name, message.strip()))
    try:
        info.raise_error()
    except StemmaticError as err:
        return err
    return None


@contextlib.contextmanager
def clean_engine_errors(layout: InputLayout | None = None) -> Iterator[None]:
    """Re-raise a stemmatic error raised inside an engine task as itself, without the engine's wrapping.

    A message that starts with a row number of the whole input (``row 12:
    ...``, as the scan names a bad row) names ``file: row k`` instead, as
    the local scan does, when the ``layout`` of the inputs is known.
    """
    try:
        yield
    except Exception as err:
        if isinstance(err, StemmaticError) and type(err).__module__ == "stemmatic.exceptions":
            cause: StemmaticError | None = err
        else:
            cause = _stemmatic_cause(err) or _from_engine_message(str(err))
        if cause is None:
            raise
        located = _located(cause, layout)
        if located is err:
            raise
        raise located from None


def _located(err: StemmaticError, layout: InputLayout | None) -> StemmaticError:
    message = str(err)
    match = _LEADING_ROW.match(message)
    if layout is not None and match is not None:
        path, row = layout.where(int(match.group(1)))
        message = f"{path}: row {row}{message[match.end() :]}"
    elif type(err).__module__ == "stemmatic.exceptions" and type(err) is not exceptions.MissingExtraError:
        return err
    cls = type(err) if type(err) is not exceptions.MissingExtraError else StemmaticError
    return cls(message)


def write_rejected(out: Any, infos: Sequence[ShardInfo]) -> int:
    """Write the rejected lines of all files, in input order, to ``out/rejected/`` as the local engine does."""
    from pathlib import Path

    from stemmatic.io import RejectedWriter

    writer = RejectedWriter(Path(out) / "rejected")
    try:
        for info in infos:
            for rejected in info.rejected:
                writer(rejected)
    finally:
        writer.close()
    return writer.count
