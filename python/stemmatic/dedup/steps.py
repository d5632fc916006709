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
  equal exact keys.

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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stemmatic import _core
from stemmatic._arrow import to_numpy
from stemmatic.exceptions import InvalidInputError
from stemmatic.minhash import LONG_TOKEN_CHARS

__all__ = [
    "TEXT_TYPES",
    "check_text_type",
    "exact_edges",
    "filled",
    "keep_scores",
    "make_sketcher",
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
) -> _core.Sketcher:
    """The engine's fused sketch with these parameters, parsed once.

    ``token_sample``: token lengths of the first so many rows of each batch,
    for :meth:`stemmatic.minhash.TokenLengthCheck.add_lengths`.
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
