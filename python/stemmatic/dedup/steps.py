"""The steps of near-duplicate detection, as pure batch functions.

The local pipeline (:mod:`stemmatic.dedup.pipeline`), the incremental index
(:mod:`stemmatic.dedup.index`) and the Ray/Spark engines
(:mod:`stemmatic.engines`) all run these, so that every engine takes the same
rows, sketches them with the same engine call and groups exact duplicates the
same way:

* :func:`text_column` / :func:`check_text_type`: the text column of a batch,
  refused with its file and type unless it holds strings or bytes;
* :func:`make_sketcher` and :func:`sketch`: one call into the Rust engine per
  batch (:class:`stemmatic._core.Sketcher`): from one tokenization of each
  text, its MinHash signature, status, LSH band keys, byte length and, as
  asked, exact-duplicate key, shingle set and token lengths;
* :func:`keep_scores`: the ``keep=column:NAME`` score of each row;
* :func:`exact_edges`: (representative, duplicate) edges between rows of
  equal exact keys;
* the id column: :func:`id_values` (a batch's ids as int64 or large string,
  as the local pipeline and the index hold them), :func:`check_id_type` (the
  id types the engines carry), :func:`id_problem` (the first null or repeated
  id among rows) and :func:`check_ids` / :func:`refuse_id_problem` (raised
  naming the rows, the same words on every engine).

Engines import this module; it imports nothing of theirs.

>>> import pyarrow as pa
>>> sketcher = make_sketcher(num_perm=16, ngram=2, tokenizer="words", seed=1, bands=4, rows=4, exact=True)
>>> batch = sketch(sketcher, pa.array(["a b c", "A b, c!", None]), workers=1)
>>> batch.band_keys.shape, batch.status.tolist()
((3, 4), [0, 0, 2])
>>> exact_edges(np.arange(2, dtype=np.uint64), *batch.exact_keys[:2].T).tolist()
[[0, 1]]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from stemmatic import _core
from stemmatic._arrow import to_numpy
from stemmatic.exceptions import InvalidInputError
from stemmatic.io import Chunk
from stemmatic.minhash import LONG_TOKEN_CHARS

__all__ = [
    "TEXT_TYPES",
    "IdProblem",
    "check_id_type",
    "check_ids",
    "check_text_type",
    "exact_edges",
    "filled",
    "id_problem",
    "id_values",
    "keep_scores",
    "make_sketcher",
    "refuse_id_problem",
    "sketch",
    "text_column",
]

#: Arrow types a text column may have.
TEXT_TYPES = (pa.string(), pa.large_string(), pa.string_view(), pa.binary(), pa.large_binary())


def check_text_type(column: str, kind: pa.DataType, where: str = "") -> None:
    """Refuse a text column that holds neither strings nor bytes (``where``: ``"FILE: "``)."""
    if kind not in TEXT_TYPES:
        raise InvalidInputError(f"{where}column {column!r} has type {kind}, expected strings")


def text_column(batch: pa.RecordBatch | pa.Table, column: str, where: str = "") -> pa.Array | pa.ChunkedArray:
    """Column ``column`` of ``batch``, checked by :func:`check_text_type`."""
    values = batch.column(column)
    check_text_type(column, values.type, where)
    return values


@functools.lru_cache(maxsize=16)
def make_sketcher(
    *,
    num_perm: int,
    ngram: int,
    tokenizer: str,
    seed: int,
    bands: int,
    rows: int,
    exact: bool = False,
    keep_sets: bool = False,
    bits: int = 32,
    token_sample: int = 0,
    keep_signatures: bool = True,
) -> _core.Sketcher:
    """The engine's fused sketch with these parameters, parsed once.

    Made once per process for each set of parameters and then reused (a
    Sketcher is immutable): the Ray and Spark batch functions ask for one per
    batch.

    ``token_sample``: token lengths of the first so many rows of each batch,
    for :meth:`stemmatic.minhash.TokenLengthCheck.add_lengths`.
    ``keep_signatures=False``: the signatures only give the band keys (a
    batch's ``signatures`` is None), as exact verification needs no more.
    """
    return _core.Sketcher(
        num_perm,
        ngram,
        tokenizer,
        seed,
        bands,
        rows,
        bits=bits,
        exact=exact,
        keep_sets=keep_sets,
        length_rows=token_sample,
        long_chars=LONG_TOKEN_CHARS,
        keep_signatures=keep_signatures,
    )


def sketch(
    sketcher: _core.Sketcher, texts: pa.Array | pa.ChunkedArray, *, workers: int | None
) -> _core.SketchBatch:
    """The sketch of one batch of texts; null and non-UTF-8 rows get a status, not an error."""
    column = texts if isinstance(texts, pa.ChunkedArray) else pa.chunked_array([texts])
    return sketcher.sketch(column, workers=workers, on_invalid="skip")


def filled(values: pa.Array | pa.ChunkedArray, fill: float) -> np.ndarray:
    """A float64 Arrow array as a new numpy array, nulls replaced by ``fill`` (see :func:`stemmatic._arrow.to_numpy`)."""
    return to_numpy(values, fill=fill).astype(np.float64, copy=True)


def keep_scores(batch: pa.RecordBatch | pa.Table, column: str, where: str = "") -> np.ndarray:
    """The ``keep=column:NAME`` score of each row as float64; a missing score never wins (``-inf``)."""
    import pyarrow.compute as pc  # not at import: 0.04-0.08 s of every short run

    values = batch.column(column)
    try:
        scores = pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise InvalidInputError(
            f"{where}--keep column {column!r} has type {values.type}, expected numbers"
        ) from err
    return filled(scores, -np.inf)


def exact_edges(docs: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Edges ``(representative, duplicate)`` between rows of equal exact keys.

    ``docs`` are the rows (with tokens) and ``low``/``high`` their keys'
    halves, in any order and of any one integer dtype; each group of equal
    keys gives an edge from its smallest row to every other row, grouped by
    key (ordered as the dtype orders the halves) and by row within a group.
    """
    order = np.lexsort((docs, low, high))
    docs, low, high = docs[order], low[order], high[order]
    same = np.zeros(len(docs), dtype=bool)
    same[1:] = (low[1:] == low[:-1]) & (high[1:] == high[:-1])
    start = np.maximum.accumulate(np.where(~same, np.arange(len(docs)), 0))
    return np.stack([docs[start][same], docs[same]], axis=1)


# -- the id column -----------------------------------------------------------------


def id_values(chunk: Chunk, name: str, like: pa.DataType | None = None) -> pa.Array:
    """The id column ``name`` of ``chunk`` as int64 or large string.

    Ids must be integers or strings (floats are refused: NaN is not equal to
    itself and ``1.0`` prints as ``1.0``; lists and structs are not ids), and
    of one kind in every input file: ``like`` is the type the earlier files
    gave. Raises :class:`InvalidInputError` naming the file and column.
    """
    column = chunk.batch.column(name)
    kind = column.type
    if pa.types.is_integer(kind):
        try:
            values = column.cast(pa.int64())
        except pa.ArrowInvalid:
            raise InvalidInputError(
                f"{chunk.file.path}: id column {name!r} holds integers beyond the 64-bit range"
            ) from None
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        values = column.cast(pa.large_string())
    else:
        raise InvalidInputError(
            f"{chunk.file.path}: id column {name!r} has type {kind}; ids must be integers or strings"
        )
    if like is not None and values.type != like:
        raise InvalidInputError(
            f"{chunk.file.path}: id column {name!r} holds {'integers' if pa.types.is_integer(kind) else 'strings'}, "
            "but earlier input files hold "
            f"{'integers' if pa.types.is_integer(like) else 'strings'}; ids must be of one type in every file"
        )
    return values


#: Arrow types of an id column the engines carry as they are (the local pipeline takes integers and strings).
_ENGINE_ID_TYPES = (
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


def check_id_type(column: str, kind: pa.DataType) -> None:
    """Refuse an id column the engines cannot compare (lists, structs, ...)."""
    if not any(test(kind) for test in _ENGINE_ID_TYPES):
        raise InvalidInputError(
            f"id column {column!r} has type {kind}; ids must be strings, numbers, booleans or dates"
        )


@dataclass(frozen=True)
class IdProblem:
    """The row of a null id (``second`` = -1, ``value`` None), or the first two rows of a repeated id."""

    first: int
    second: int
    value: Any

    @property
    def null(self) -> bool:
        return self.second < 0


def id_problem(ids: pa.Array | pa.ChunkedArray, rows: np.ndarray | None = None) -> IdProblem | None:
    """The first problem of ``ids``: the smallest row of a null id, else the id repeated from the smallest row.

    ``rows``: the row number of each id (default: its position). None when
    every id is present and unique.

    >>> id_problem(pa.array(["a", "b", "c", "b", "a"]))
    IdProblem(first=0, second=4, value='a')
    >>> id_problem(pa.array([3, None, 1]), rows=np.array([7, 9, 8])).null
    True
    """
    if not ids.null_count and pa.types.is_integer(ids.type):
        # Unique integer ids, the usual case, are told by a sort: 0.1 s against 1 s of
        # value_counts for 1.9 million ids.
        ordered = np.sort(to_numpy(ids))
        if (ordered[1:] != ordered[:-1]).all():
            return None
    import pyarrow.compute as pc  # not at import: 0.04-0.08 s of every short run

    rows = np.arange(len(ids), dtype=np.int64) if rows is None else rows
    if ids.null_count:
        null = np.asarray(pc.is_null(ids), dtype=bool)
        return IdProblem(int(rows[null].min()), -1, None)
    keys = ids
    if pa.types.is_floating(ids.type):
        # Compared as numbers: -0.0 is 0.0, and NaN (null here) equals nothing.
        keys = pc.add(pc.cast(ids, pa.float64()), 0.0)
        keys = pc.if_else(pc.is_nan(keys), pa.scalar(None, pa.float64()), keys)
    counts = pc.value_counts(keys)
    values = counts.field("values")
    repeated = pc.filter(values, pc.and_(pc.greater(counts.field("counts"), 1), pc.is_valid(values)))
    if not len(repeated):
        return None
    hit = np.flatnonzero(np.asarray(pc.is_in(keys, value_set=repeated).fill_null(False), dtype=bool))
    first = int(hit[np.argmin(rows[hit])])
    same = hit[np.asarray(pc.equal(keys.take(pa.array(hit)), keys[first]), dtype=bool)]
    first_two = same[np.argsort(rows[same], kind="stable")[:2]]
    return IdProblem(int(rows[first_two[0]]), int(rows[first_two[1]]), ids[int(first_two[0])].as_py())


def refuse_id_problem(problem: IdProblem, column: str, locate: Callable[[int], str]) -> None:
    """Raise :class:`InvalidInputError` for ``problem``, naming rows with ``locate`` (``file (row k)``)."""
    if problem.null:
        raise InvalidInputError(f"{locate(problem.first)}: id column {column!r} is null")
    raise InvalidInputError(
        f"duplicate id {problem.value!r} in column {column!r}: {locate(problem.first)} "
        f"and {locate(problem.second)}; ids must be unique"
    )


def check_ids(ids: pa.Array | pa.ChunkedArray, column: str, locate: Callable[[int], str]) -> None:
    """Every id of ``ids`` (rows in order) present and unique, else :func:`refuse_id_problem`."""
    problem = id_problem(ids)
    if problem is not None:
        refuse_id_problem(problem, column, locate)
