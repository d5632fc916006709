"""The id column as one shared step (dedup.steps): the same rule and the same words locally, in an index, on the engines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stemmatic.dedup import dedup, steps
from stemmatic.engines._backend import ROW
from stemmatic.engines._ids import IdProblems
from stemmatic.exceptions import InvalidInputError


def reference(values: list[Any], rows: list[int]) -> steps.IdProblem | None:
    """By hand: the smallest row of a null id, else the equal (==) ids whose first row is smallest."""
    nulls = [r for v, r in zip(values, rows, strict=True) if v is None]
    if nulls:
        return steps.IdProblem(min(nulls), -1, None)
    best: steps.IdProblem | None = None
    for value in values:
        same = sorted(r for v, r in zip(values, rows, strict=True) if v == value)
        if len(same) > 1 and (best is None or same[0] < best.first):
            first = rows.index(same[0])
            best = steps.IdProblem(same[0], same[1], values[first])
    return best


ids = st.one_of(
    st.lists(st.one_of(st.none(), st.integers(-3, 3)), max_size=12),
    st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "é"])), max_size=12),
    st.lists(st.sampled_from([0.0, -0.0, 1.5, math.nan]), max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(values=ids, seed=st.integers(0, 2**32 - 1))
def test_id_problem_is_the_first_null_or_repeat(values: list[Any], seed: int) -> None:
    rows = np.random.default_rng(seed).permutation(len(values)).astype(np.int64) * 3
    want = reference(values, rows.tolist())
    got = steps.id_problem(pa.array(values), rows)
    if want is None or got is None:
        assert got == want
    else:
        assert (got.first, got.second) == (want.first, want.second)
        assert got.value == want.value or (got.value != got.value and want.value != want.value)
    # The engines' per-group step reports the same problem.
    table = pa.table({ROW: rows, "id": pa.array(values)})
    engine = IdProblems(table.column("id").type)(table)
    assert engine.num_rows == (got is not None)
    if got is not None:
        assert engine.column("first").to_pylist() == [got.first]
        assert engine.column("second").to_pylist() == [got.second]


def test_local_dedup_names_the_rows_of_a_repeated_or_null_id(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"text": ["a b c", "d e f", "g h i"], "doc": ["x", "y", "x"]}), tmp_path / "in.parquet"
    )
    with pytest.raises(
        InvalidInputError, match=r"duplicate id 'x' in column 'doc': .*in.parquet \(row 0\) and .*\(row 2\)"
    ):
        dedup(tmp_path / "in.parquet", tmp_path / "out", id_column="doc")
    pq.write_table(pa.table({"text": ["a b c", "d e f"], "doc": [1, None]}), tmp_path / "null.parquet")
    with pytest.raises(InvalidInputError, match=r"null.parquet \(row 1\): id column 'doc' is null"):
        dedup(tmp_path / "null.parquet", tmp_path / "out2", id_column="doc")
