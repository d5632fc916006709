"""Validation and normalization of embedding matrices, shared by every diversity tool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stemmatic.exceptions import InvalidInputError, ParameterError

#: Describes a row for error messages (``"file a.parquet row 12"``); default: ``"row 12"``.
RowNamer = Callable[[int], str]


def _row_name(row: int, row_namer: RowNamer | None) -> str:
    return row_namer(row) if row_namer is not None else f"row {row}"


def as_unit_vectors(
    vectors: Any,
    *,
    name: str = "vectors",
    dim: int | None = None,
    row_namer: RowNamer | None = None,
    copy: bool = True,
) -> np.ndarray:
    """Return ``vectors`` as a C-contiguous float32 matrix with unit-norm rows.

    Cosine similarity is then the inner product, which is what FAISS and BLAS
    compute fastest. The input is never modified (unless ``copy=False`` and it
    is already a C-contiguous float32 matrix the caller owns).

    Raises:
        InvalidInputError: not a 2-D numeric matrix, no rows, a dimension other
            than ``dim``, a NaN or infinite value, or an all-zero row (its
            cosine similarity is undefined); the message names the first bad row.

    >>> as_unit_vectors([[3.0, 4.0], [0.0, 2.0]])
    array([[0.6, 0.8],
           [0. , 1. ]], dtype=float32)
    """
    array = np.asarray(vectors)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise InvalidInputError(f"{name}: expected a numeric matrix, got dtype {array.dtype}")
    if array.ndim != 2:
        raise InvalidInputError(
            f"{name}: expected a 2-D array (rows x dimensions), got {array.ndim}-D shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidInputError(f"{name}: empty matrix of shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise InvalidInputError(f"{name}: vectors have {array.shape[1]} dimensions, expected {dim}")
    if copy or array.dtype != np.float32 or not array.flags.c_contiguous:
        with np.errstate(over="ignore"):  # float64 beyond float32 range becomes inf, reported below
            out = np.array(array, dtype=np.float32, order="C", copy=True)
    else:
        out = array
    squared = np.einsum("ij,ij->i", out, out, dtype=np.float64)
    bad = ~np.isfinite(squared)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InvalidInputError(
            f"{name}: {_row_name(int(rows[0]), row_namer)} has a NaN or infinite value"
            + (f" ({len(rows)} such rows)" if len(rows) > 1 else "")
        )
    zero = squared == 0
    if zero.any():
        rows = np.flatnonzero(zero)
        raise InvalidInputError(
            f"{name}: {_row_name(int(rows[0]), row_namer)} is an all-zero vector, whose cosine similarity "
            "is undefined" + (f" ({len(rows)} such rows)" if len(rows) > 1 else "")
        )
    out /= np.sqrt(squared).astype(np.float32)[:, None]
    return out


def as_scores(scores: Any, n: int, *, name: str = "scores") -> np.ndarray:
    """Quality scores as a finite float64 vector of length ``n`` (higher is better).

    >>> as_scores([1, 2.5], 2)
    array([1. , 2.5])
    """
    array = np.asarray(scores, dtype=np.float64)
    if array.shape != (n,):
        raise InvalidInputError(f"{name}: expected {n} scores (one per vector), got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        raise InvalidInputError(f"{name}: row {int(np.flatnonzero(bad)[0])} has a NaN or infinite score")
    return array


def resolve_budget(budget: int | float, n: int) -> int:
    """Number of rows a budget selects: an ``int`` is a count, a ``float`` in (0, 1] a ratio of ``n``.

    >>> resolve_budget(10, 100), resolve_budget(0.25, 100), resolve_budget(500, 100)
    (10, 25, 100)
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)):
        raise ParameterError(f"invalid parameter `budget`: {budget!r}; expected a count or a ratio")
    if isinstance(budget, (float, np.floating)):
        if not 0.0 < budget <= 1.0:
            raise ParameterError(f"invalid parameter `budget`: {budget}; a ratio must be in (0, 1]")
        return max(1, round(float(budget) * n))
    if budget < 1:
        raise ParameterError(f"invalid parameter `budget`: {budget}; a count must be at least 1")
    return min(int(budget), n)


def check_seed(seed: int) -> int:
    if not 0 <= seed < 2**31:
        raise ParameterError(f"invalid parameter `seed`: {seed}; must be in [0, 2**31)")
    return int(seed)
