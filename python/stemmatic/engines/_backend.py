"""What the engines' algorithm needs of Ray or Spark (:class:`Backend`), and the column names it adds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import pyarrow as pa

#: Column holding the stable row number while the engines work.
ROW = "_stemmatic_row"
#: Column holding a row's partition group.
PART = "_stemmatic_part"
#: Extra columns of removed rows, as in the local engine's ``removed/``.
REMOVED_COLUMNS = ("duplicate_of", "cluster_id", "similarity", "reason")

D = TypeVar("D")
TableFn = Callable[[pa.Table], pa.Table]
CoFn = Callable[[pa.Table, pa.Table], pa.Table]
#: Names a row number of the ordered inputs for an error message (``file (row k)``).
Locate = Callable[[int], str]


class Backend(Protocol[D]):
    """The primitives an engine gives the algorithm; ``D`` is its dataset type."""

    def map_arrow(self, data: D, fn: TableFn, schema: pa.Schema) -> D:
        """Apply ``fn`` to each Arrow batch; the result has ``schema``."""
        ...

    def group_arrow(self, data: D, fn: TableFn, schema: pa.Schema, partitions: int) -> D:
        """Apply ``fn`` once per value of column ``part``, to the table of all its rows."""
        ...

    def cogroup_arrow(self, left: D, right: D, fn: CoFn, schema: pa.Schema, partitions: int) -> D:
        """Apply ``fn(left_rows, right_rows)`` per value of column ``part`` (either side may be empty)."""
        ...

    def materialize(self, data: D) -> D: ...
    def union(self, first: D, second: D) -> D: ...
    def select(self, data: D, columns: list[str]) -> D: ...
    def count(self, data: D) -> int: ...
    def collect(self, data: D) -> pa.Table: ...
    def from_arrow(self, table: pa.Table) -> D: ...
    def schema(self, data: D) -> pa.Schema: ...
    def with_row_index(self, data: D) -> D:
        """Add column ``ROW`` (int64): the row's position in input order."""
        ...


def _select(backend: Backend[D], data: D, columns: Sequence[str]) -> D:
    return backend.select(data, list(dict.fromkeys(columns)))


def _union(backend: Backend[D], a: D, b: D) -> D:
    return backend.union(a, b)
