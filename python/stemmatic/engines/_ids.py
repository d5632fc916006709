"""The engines' id column check: every id present and unique, found with a shuffle by id hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stemmatic.engines._backend import PART, ROW, Backend, D, Locate, _select
from stemmatic.engines._batch import _as_u64, _i64, _schema, part_of
from stemmatic.engines._shipped import Shipped
from stemmatic.exceptions import InvalidInputError

_ID_SCALARS = (
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_binary,
    pa.types.is_large_binary,
    pa.types.is_fixed_size_binary,
    pa.types.is_temporal,
    pa.types.is_decimal,
)


def id_hash(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A uint64 per id value, equal for equal values (nulls: 0): the id check's partition key."""
    array = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    n = len(array)
    if pa.types.is_integer(array.type) or pa.types.is_boolean(array.type) or pa.types.is_temporal(array.type):
        try:
            return _as_u64(np.asarray(pc.cast(array, pa.int64(), safe=False).fill_null(0), dtype=np.int64))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    if pa.types.is_floating(array.type):
        values = (
            np.asarray(pc.cast(array, pa.float64()).fill_null(0.0), dtype=np.float64) + 0.0
        )  # -0.0 == 0.0
        return values.view(np.uint64)
    try:
        binary = pc.cast(array, pa.large_binary())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.zeros(n, np.uint64)
    binary = binary.fill_null(b"")
    offsets = np.frombuffer(binary.buffers()[1], dtype=np.int64)[binary.offset : binary.offset + n + 1]
    data = binary.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    raw = raw[offsets[0] : offsets[-1]].astype(np.uint64)
    starts = offsets[:-1] - offsets[0]
    lengths = np.diff(offsets)
    if not len(raw):
        return lengths.astype(np.uint64)
    # Polynomial hash: sum of byte[k] * P**k within each value (mod 2**64).
    powers = np.cumprod(np.full(int(lengths.max()), 0x100000001B3, dtype=np.uint64))
    position = np.arange(len(raw), dtype=np.int64) - np.repeat(starts, lengths)
    terms = raw * powers[position]
    sums = np.add.reduceat(terms, np.minimum(starts, len(raw) - 1)) if n else np.zeros(0, np.uint64)
    return np.where(lengths > 0, sums, np.uint64(0)) ^ lengths.astype(np.uint64)


@dataclass(frozen=True)
class IdKeys(Shipped):
    """(part of the id's hash, row, id) of every row, so equal ids meet in one group."""

    id_column: str
    partitions: int

    def schema(self, id_type: pa.DataType) -> pa.Schema:
        return _schema((PART, pa.int64()), (ROW, pa.int64()), ("id", id_type))

    def __call__(self, table: pa.Table) -> pa.Table:
        ids = table.column(self.id_column)
        part = part_of(id_hash(ids), self.partitions)
        return pa.table({PART: part, ROW: table.column(ROW), "id": ids})


@dataclass(frozen=True)
class IdProblems(Shipped):
    """Per group: the first null id (``second`` = -1) and the first repeated id (its first two rows)."""

    id_type: pa.DataType

    def schema(self) -> pa.Schema:
        return _schema(("first", pa.int64()), ("second", pa.int64()), ("id", self.id_type))

    def __call__(self, table: pa.Table) -> pa.Table:
        rows = _i64(table, ROW)
        ids = table.column("id").combine_chunks()
        null = np.asarray(pc.is_null(ids).fill_null(True), dtype=bool) if len(ids) else np.zeros(0, bool)
        first: list[int] = []
        second: list[int] = []
        values: list[Any] = []
        if null.any():
            first.append(int(rows[null].min()))
            second.append(-1)
            values.append(None)
        valid = table.filter(pa.array(~null)) if null.any() else table
        if len(valid) > 1:
            order = pc.sort_indices(valid, [("id", "ascending"), (ROW, "ascending")])
            ids_sorted = valid.column("id").take(order).combine_chunks()
            rows_sorted = _i64(valid, ROW)[np.asarray(order)]
            same = np.asarray(pc.equal(ids_sorted[1:], ids_sorted[:-1]).fill_null(False), dtype=bool)
            if same.any():
                # A run's first pair is (first, second occurrence); the smallest first row wins,
                # as the local engine names the repeated id that appears first.
                starts = np.flatnonzero(same & ~np.r_[False, same[:-1]])
                best = int(starts[np.argmin(rows_sorted[starts])])
                first.append(int(rows_sorted[best]))
                second.append(int(rows_sorted[best + 1]))
                values.append(ids_sorted[best].as_py())
        return pa.table(
            {"first": pa.array(first, pa.int64()), "second": pa.array(second, pa.int64()), "id": values},
            schema=self.schema(),
        )


def check_ids(
    backend: Backend[D], indexed: D, id_column: str, id_type: pa.DataType, partitions: int, locate: Locate
) -> None:
    """The local engine's id rules on the engine: no null id, no id twice (raised naming the rows)."""
    if not any(test(id_type) for test in _ID_SCALARS):
        raise InvalidInputError(
            f"id column {id_column!r} has type {id_type}; ids must be strings, numbers, booleans or dates"
        )
    keys = IdKeys(id_column, partitions)
    keyed = backend.map_arrow(_select(backend, indexed, [ROW, id_column]), keys, keys.schema(id_type))
    problems = backend.collect(
        backend.group_arrow(keyed, IdProblems(id_type), IdProblems(id_type).schema(), partitions)
    )
    first, second = _i64(problems, "first"), _i64(problems, "second")
    nulls = first[second < 0]
    if len(nulls):
        raise InvalidInputError(f"{locate(int(nulls.min()))}: id column {id_column!r} is null")
    if len(first):
        best = int(np.argmin(first))
        value = problems.column("id")[best].as_py()
        raise InvalidInputError(
            f"duplicate id {value!r} in column {id_column!r}: {locate(int(first[best]))} "
            f"and {locate(int(second[best]))}; ids must be unique"
        )


def _row_name(row: int) -> str:
    return f"row {row}"
