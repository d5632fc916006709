"""Diverse selection on a corpus: :func:`select_corpus` and its budget.

Part of the corpus API (:mod:`stemmatic.diversity.corpus`, which documents
``inputs``, ``output`` and where vectors come from, and re-exports these).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from stemmatic.diversity._corpus_io import Decision, EmbeddingSource
from stemmatic.diversity._corpus_split import SplitResult, read_corpus
from stemmatic.exceptions import ParameterError
from stemmatic.io._sinks import check_output, write_parquet

if TYPE_CHECKING:
    from stemmatic._run import Progress
    from stemmatic.diversity.embed import Embedder

__all__ = ["SelectCorpusResult", "parse_budget", "select_corpus"]

PathLike = str | os.PathLike[str]


@dataclass
class SelectCorpusResult(SplitResult):
    """:func:`select_corpus`'s result.

    Attributes:
        selection: ``rank`` and ``id`` of the selected rows in the order they
            were selected (also ``selection.parquet``).
        coverage_radius: largest Euclidean distance (unit vectors) from a row
            to its nearest selected row.
    """

    selection: pa.Table = field(default_factory=lambda: pa.table({"rank": pa.array([], pa.int64())}))
    coverage_radius: float = 0.0


def parse_budget(budget: str | int | float) -> int | float:
    """A selection budget: ``"1000"`` (or ``1000``) is a count of rows, ``"0.1"`` or ``"10%"`` a ratio.

    >>> parse_budget("1000"), parse_budget("0.25"), parse_budget("10%"), parse_budget(50)
    (1000, 0.25, 0.1, 50)
    """
    if isinstance(budget, (int, float)) and not isinstance(budget, bool):
        return budget
    text = str(budget).strip()
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100.0
        if any(c in text for c in ".eE"):
            return float(text)
        return int(text)
    except ValueError:
        raise ParameterError(
            f"invalid budget {text!r}; expected a count (1000) or a ratio (0.1, 10%)"
        ) from None


def select_corpus(
    inputs: Any,
    output: PathLike | None = None,
    *,
    budget: str | int | float,
    method: str = "kcenter",
    score_column: str | None = None,
    max_similarity: float = 0.9,
    n_clusters: int | None = None,
    neighbors: int = 10,
    quality_weight: float = 1.0,
    seed: int = 0,
    workers: int | None = None,
    id_column: str | None = None,
    embedding_column: str | None = None,
    embeddings: PathLike | np.ndarray | None = None,
    embedder: str | Embedder = "hashing",
    text_column: str = "text",
    dim: int = 384,
    batch_size: int = 1024,
    cache_dir: PathLike | None = None,
    output_format: str = "parquet",
    compression: str | None = None,
    max_shard_size: int | str | None = None,
    max_shard_rows: int | None = None,
    on_error: str = "raise",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> SelectCorpusResult:
    """Select a diverse subset of a corpus within a budget; unselected rows name their nearest selected row.

    Runs :func:`stemmatic.diversity.select` on the corpus's vectors: selected
    rows are kept, the others removed (``duplicate_of``: their nearest
    selected row). With ``output``, also ``selection.parquet`` (the selection
    order).

    Args:
        budget: rows to keep: a count (``1000``, ``"1000"``) or a ratio
            (``0.1``, ``"10%"``).
        method: ``kcenter``, ``cluster-balanced``, ``score-first`` or
            ``facility-location``.
        score_column: quality score (higher is better) for the methods that
            use one.
        max_similarity: score-first: skip rows more similar than this to a
            selected row.
        n_clusters: cluster-balanced, score-first: k-means clusters.
        neighbors, quality_weight: facility-location: kNN graph degree and
            weight of the score.
        seed: same seed, same output. Other arguments: :func:`semdedup_corpus`.

    >>> import pyarrow as pa
    >>> docs = pa.table({"text": ["a cat sat on the mat", "a cat sat on a mat", "stocks fell sharply"]})
    >>> result = select_corpus(docs, budget=2, dim=64)
    >>> sorted(result.selection.column("id").to_pylist()), result.removed.column("duplicate_of").to_pylist()
    ([0, 2], [0])
    """
    from stemmatic.diversity.select import METHODS, select

    if method not in METHODS:
        raise ParameterError(f"invalid selection method {method!r}; expected one of {', '.join(METHODS)}")
    amount = parse_budget(budget)
    caps = check_output(output_format, compression, max_shard_size, max_shard_rows)
    method_options: dict[str, Any] = {"seed": seed}
    if method == "score-first":
        method_options.update(max_similarity=max_similarity, n_clusters=n_clusters, workers=workers)
    elif method == "cluster-balanced":
        method_options["n_clusters"] = n_clusters
    elif method == "facility-location":
        method_options.update(neighbors=neighbors, quality_weight=quality_weight)
        method_options.pop("seed")
    source = EmbeddingSource(embedding_column, embeddings, embedder, text_column, dim, batch_size, cache_dir)
    with read_corpus(
        inputs,
        output,
        source,
        id_column=id_column,
        score_column=score_column,
        on_error=on_error,
        overwrite=overwrite,
        progress=progress,
    ) as read:
        with read.timer.stage("select"):
            chosen = select(
                read.x, amount, method, scores=read.loaded.scores, progress=read.run.steps, **method_options
            )
        keep = chosen.mask
        decision = Decision(
            keep,
            np.where(keep, -1, chosen.nearest),
            chosen.cluster_id,
            np.where(keep, np.nan, chosen.similarity),
            f"not selected by {method}; nearest selected row is duplicate_of",
        )
        selection = pa.table(
            {
                "rank": pa.array(np.arange(len(chosen.indices), dtype=np.int64)),
                "id": read.loaded.ids.take(pa.array(chosen.indices)),
            }
        )

        def write_selection(target: Path) -> None:

            write_parquet(selection, target / "selection.parquet")

        similarity = chosen.similarity.astype(np.float64)
        return read.split(
            "select",
            decision,
            SelectCorpusResult,
            output_format=output_format,
            compression=compression,
            caps=caps,
            parameters={
                "method": method,
                "budget": budget,
                "score_column": score_column,
                "id_column": id_column,
                **method_options,
            },
            outputs={"kept": "kept/", "removed": "removed/", "selection_order": "selection.parquet"},
            blocks={
                "selection": {
                    **chosen.info,
                    "coverage_radius": chosen.coverage_radius,
                    "mean_distance_to_selected": float(np.sqrt(np.maximum(2 - 2 * similarity, 0)).mean()),
                }
            },
            also_write=write_selection,
            selection=selection,
            coverage_radius=chosen.coverage_radius,
        )
