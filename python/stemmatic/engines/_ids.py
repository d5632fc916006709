"""The engines' id column check: every id present and unique, found with a shuffle by id hash.

The rules and their errors are the local pipeline's (:mod:`stemmatic.dedup.steps`);
here is only how equal ids meet: in one partition group, by a hash of the id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stemmatic.dedup.steps import IdProblem, check_id_type, id_problem, refuse_id_problem
from stemmatic.engines._backend import PART, ROW, Backend, D, Locate, _select
from stemmatic.engines._batch import _as_u64, _i64, _schema, part_of
from stemmatic.engines._shipped import Shipped


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
    """Per group, its :func:`~stemmatic.dedup.steps.id_problem`: the first null id (``second`` = -1) or repeated id."""

    id_type: pa.DataType

    def schema(self) -> pa.Schema:
        return _schema(("first", pa.int64()), ("second", pa.int64()), ("id", self.id_type))

    def __call__(self, table: pa.Table) -> pa.Table:
        problem = id_problem(table.column("id"), _i64(table, ROW))
        found = [problem] if problem is not None else []
        return pa.table(
            {
                "first": pa.array([p.first for p in found], pa.int64()),
                "second": pa.array([p.second for p in found], pa.int64()),
                "id": pa.array([p.value for p in found], self.id_type),
            },
            schema=self.schema(),
        )


def check_ids(
    backend: Backend[D], indexed: D, id_column: str, id_type: pa.DataType, partitions: int, locate: Locate
) -> None:
    """The local engine's id rules on the engine: no null id, no id twice (raised naming the rows)."""
    check_id_type(id_column, id_type)
    keys = IdKeys(id_column, partitions)
    keyed = backend.map_arrow(_select(backend, indexed, [ROW, id_column]), keys, keys.schema(id_type))
    problems = backend.collect(
        backend.group_arrow(keyed, IdProblems(id_type), IdProblems(id_type).schema(), partitions)
    )
    first, second = _i64(problems, "first"), _i64(problems, "second")
    if not len(first):
        return
    # A null id anywhere comes first (as locally), then the repeat that starts earliest.
    nulls = second < 0
    best = int(np.flatnonzero(nulls)[np.argmin(first[nulls])] if nulls.any() else np.argmin(first))
    problem = IdProblem(int(first[best]), int(second[best]), problems.column("id")[best].as_py())
    refuse_id_problem(problem, id_column, locate)


def _row_name(row: int) -> str:
    return f"row {row}"
