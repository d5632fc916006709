"""Diversity on corpora: embed, SemDeDup, diverse selection and metrics, from files or tables to files or tables.

The array-level tools (:func:`~stemmatic.diversity.semdedup`,
:func:`~stemmatic.diversity.select`, :func:`~stemmatic.diversity.measure_many`)
take a matrix of vectors; these functions take a corpus:

* ``inputs``: Parquet, JSON(L), CSV/TSV or Arrow files (optionally
  .gz/.zst/.bz2), directories, globs or URLs (:func:`stemmatic.io.resolve_inputs`),
  or a table-like object: a pyarrow Table or RecordBatchReader, a polars,
  pandas or DuckDB frame (anything with ``__arrow_c_stream__``), a
  ``datasets.Dataset``;
* ``output``: a directory (local or a URL): ``kept/`` and ``removed/``
  mirroring the input shards, ``report.json`` and what the tool adds; or
  ``None``: nothing is written and the result carries the rows as Arrow
  tables (``result.kept``, ``result.removed``).

Every input row ends on one side: kept + removed (+ rejected malformed lines,
with ``on_error="skip"``) = input. Removed rows gain ``duplicate_of`` (the id
of the kept row they duplicate, or of their nearest selected row),
``cluster_id``, ``similarity`` and ``reason``. Ids are ``id_column``'s values,
or each row's position in the ordered inputs.

The vectors come from one of (the same keywords everywhere):
``embedding_column`` (an input column of embeddings), ``embeddings`` (a
``.npy`` path or an array, one row per input row in input order) or
``embedder`` (``"hashing"``, ``"minilm"``, a local sentence-transformers
directory, or an :class:`~stemmatic.diversity.embed.Embedder`) run on
``text_column`` in batches of ``batch_size``, cached under ``cache_dir``;
``dim`` is the hashing embedder's dimension.

``progress``, when given, receives the run's stages (a :class:`stemmatic._run.Progress`;
the command line shows it as bars or log lines). Every run returns the report
that ``report.json`` holds (the schema every command shares: docs/reports.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from stemmatic.diversity._corpus_io import (
    Decision,
    EmbeddingSource,
    Loaded,
    check_format,
    corpus_run,
    describe_source,
)
from stemmatic.diversity.corpus_measure import (
    EmbedCorpusResult,
    MeasureCorpusResult,
    embed_corpus,
    measure_corpus,
)
from stemmatic.diversity.neighbors import DEFAULT_BOUNDARY, DEFAULT_MAX_PROBES
from stemmatic.diversity.semdedup import SemDedupResult
from stemmatic.exceptions import ParameterError, StemmaticError

if TYPE_CHECKING:
    from stemmatic._run import Progress
    from stemmatic.diversity.embed import Embedder

__all__ = [
    "EmbedCorpusResult",
    "MeasureCorpusResult",
    "SelectCorpusResult",
    "SemDedupCorpusResult",
    "SemDedupScoresCorpusResult",
    "SplitResult",
    "embed_corpus",
    "measure_corpus",
    "parse_budget",
    "select_corpus",
    "semdedup_corpus",
    "semdedup_scores_corpus",
]

PathLike = str | os.PathLike[str]


@dataclass
class SplitResult:
    """Where the rows of a corpus went (kept or removed), and the run's report.

    Attributes:
        input_rows: rows read, malformed lines included.
        kept_rows, removed_rows: kept + removed + rejected = input.
        rejected_rows: malformed lines skipped (``on_error="skip"``).
        report: what ``report.json`` holds.
        output: the output directory (a URL as given); ``None`` for a run in memory.
        kept, removed: with ``output=None``, the rows as Arrow tables
            (the removed rows with ``duplicate_of``, ``cluster_id``,
            ``similarity``, ``reason``); ``None`` when written to files.
        rejected: with ``output=None`` and ``on_error="skip"``, the skipped
            lines (``path``, ``line``, ``error``, ``raw``).
    """

    input_rows: int
    kept_rows: int
    removed_rows: int
    rejected_rows: int
    report: dict[str, Any]
    output: Path | str | None = None
    kept: pa.Table | None = None
    removed: pa.Table | None = None
    rejected: pa.Table | None = None


@dataclass
class SemDedupCorpusResult(SplitResult):
    """:func:`semdedup_corpus`'s result; ``centroids`` are the k-means centroids used (also ``centroids.npy``)."""

    centroids: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))


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


@dataclass
class SemDedupScoresCorpusResult:
    """:func:`semdedup_scores_corpus`'s result.

    Attributes:
        scores: per row ``id``, ``cluster_id``, ``max_similarity`` (largest
            cosine similarity to the rows it was compared with) and
            ``nearest_id`` (also ``scores.parquet``).
        centroids: the k-means centroids (also ``centroids.npy``).
        report: with the similarity histogram and the per-eps table.
        output: the output directory (a URL as given), or ``None``.
    """

    scores: pa.Table
    centroids: np.ndarray
    report: dict[str, Any]
    output: Path | str | None = None
    rejected_rows: int = 0


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


def _check_counts(n: int, counts: dict[str, int]) -> None:
    if counts["kept"] + counts["removed"] != n:
        raise StemmaticError(f"internal error: kept + removed != {n} rows read ({counts})")


# ---------------------------------------------------------------- semdedup


def semdedup_corpus(
    inputs: Any,
    output: PathLike | None = None,
    *,
    eps: float = 0.05,
    n_clusters: int | None = None,
    centroids: PathLike | np.ndarray | None = None,
    boundary: float = DEFAULT_BOUNDARY,
    max_probes: int = DEFAULT_MAX_PROBES,
    niter: int = 20,
    seed: int = 0,
    workers: int | None = None,
    score_column: str | None = None,
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
    on_error: str = "raise",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> SemDedupCorpusResult:
    """SemDeDup on a corpus: remove rows within cosine ``1 - eps`` of a kept row (across cluster boundaries).

    Runs :func:`stemmatic.diversity.semdedup` on the corpus's vectors (see the
    module for ``inputs``, ``output`` and where vectors come from) and splits
    the rows: a removed row names the kept row it duplicates. Within a group
    of near-duplicates the row farthest from its centroid is kept, or the
    highest ``score_column``. With ``output``, also ``centroids.npy``.

    Args:
        eps: rows more similar than ``1 - eps`` are duplicates; in (0, 2).
        n_clusters: k-means clusters (default n/1000); ``centroids`` (an
            array or a ``.npy``) reuses earlier ones instead.
        boundary, max_probes: how far rows near a cluster boundary look into
            neighbouring clusters (:func:`~stemmatic.diversity.neighbors_within`).
        niter, seed: k-means iterations and seed; same seed, same output.
        workers: threads; the output does not depend on it.
        output_format, compression: of the output shards: ``parquet`` (default
            codec zstd) or ``jsonl`` (default: each input file's compression).
        on_error: ``"raise"`` on a malformed line, or ``"skip"`` it (to
            ``rejected/``, or ``result.rejected`` in memory).
        overwrite: replace a non-empty ``output``.

    >>> import numpy as np, pyarrow as pa
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(100, 16))
    >>> x[50] = x[3] + 1e-3                 # a near-copy of row 3
    >>> table = pa.table({"id": [f"doc{i}" for i in range(100)], "emb": list(x)})
    >>> result = semdedup_corpus(table, embedding_column="emb", id_column="id", eps=0.01, n_clusters=2)
    >>> result.kept_rows, result.removed.column("duplicate_of").to_pylist()
    (99, ['doc3'])
    """
    if not 0.0 < eps < 2.0:
        raise ParameterError(f"invalid parameter `eps`: {eps}; must be in (0, 2)")
    check_format(output_format, compression)
    outcome = _semdedup(
        inputs,
        output,
        _Clustering(n_clusters, centroids, boundary, max_probes, niter, seed, workers),
        EmbeddingSource(embedding_column, embeddings, embedder, text_column, dim, batch_size, cache_dir),
        eps=eps,
        score_column=score_column,
        id_column=id_column,
        output_format=output_format,
        compression=compression,
        on_error=on_error,
        overwrite=overwrite,
        progress=progress,
    )
    assert isinstance(outcome, SemDedupCorpusResult)
    return outcome


def semdedup_scores_corpus(
    inputs: Any,
    output: PathLike | None = None,
    *,
    n_clusters: int | None = None,
    centroids: PathLike | np.ndarray | None = None,
    boundary: float = DEFAULT_BOUNDARY,
    max_probes: int = DEFAULT_MAX_PROBES,
    niter: int = 20,
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
    on_error: str = "raise",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> SemDedupScoresCorpusResult:
    """Each row's largest similarity and, per eps, the rows and pairs above ``1 - eps``: choose eps first.

    :func:`stemmatic.diversity.semdedup_scores` on a corpus; removes nothing.
    Writes ``scores.parquet``, ``centroids.npy`` and ``report.json`` (with
    the similarity histogram and the eps table) to ``output``; the arguments
    are :func:`semdedup_corpus`'s.

    >>> import numpy as np, pyarrow as pa
    >>> x = np.random.default_rng(0).normal(size=(60, 8))
    >>> x[30] = x[4] + 1e-3
    >>> result = semdedup_scores_corpus(pa.table({"emb": list(x)}), embedding_column="emb", n_clusters=2)
    >>> result.scores.column("nearest_id")[30].as_py()
    4
    """
    outcome = _semdedup(
        inputs,
        output,
        _Clustering(n_clusters, centroids, boundary, max_probes, niter, seed, workers),
        EmbeddingSource(embedding_column, embeddings, embedder, text_column, dim, batch_size, cache_dir),
        eps=None,
        score_column=None,
        id_column=id_column,
        output_format="parquet",
        compression=None,
        on_error=on_error,
        overwrite=overwrite,
        progress=progress,
    )
    assert isinstance(outcome, SemDedupScoresCorpusResult)
    return outcome


@dataclass(frozen=True)
class _Clustering:
    """The k-means and neighbour-search arguments both SemDeDup passes take."""

    n_clusters: int | None
    centroids: PathLike | np.ndarray | None
    boundary: float
    max_probes: int
    niter: int
    seed: int
    workers: int | None

    def arguments(self) -> dict[str, Any]:
        centroids = self.centroids
        if centroids is not None and not isinstance(centroids, (np.ndarray, str)):
            centroids = os.fspath(centroids)
        return {
            "n_clusters": self.n_clusters,
            "centroids": centroids,
            "boundary": self.boundary,
            "max_probes": self.max_probes,
            "niter": self.niter,
            "seed": self.seed,
            "workers": self.workers,
        }

    def centroids_path(self) -> PathLike | None:
        return None if isinstance(self.centroids, np.ndarray) else self.centroids


def _semdedup(
    inputs: Any,
    output: PathLike | None,
    clustering: _Clustering,
    source: EmbeddingSource,
    *,
    eps: float | None,
    score_column: str | None,
    id_column: str | None,
    output_format: str,
    compression: str | None,
    on_error: str,
    overwrite: bool,
    progress: Progress | None,
) -> SemDedupCorpusResult | SemDedupScoresCorpusResult:
    """Both SemDeDup passes on a corpus: with ``eps``, remove; without, score (:func:`semdedup_scores_corpus`)."""
    from stemmatic.diversity.index import save_centroids
    from stemmatic.diversity.semdedup import semdedup, semdedup_scores
    from stemmatic.io import StageTimer

    also_read = [source.vectors_path(), clustering.centroids_path()]
    with corpus_run(
        inputs, output, overwrite=overwrite, on_error=on_error, progress=progress, also_read=also_read
    ) as run:
        timer = StageTimer()
        with timer.stage("read"):
            loaded = run.load(source, id_column=id_column, score_column=score_column)
            x = loaded.unit_vectors()
        with timer.stage("semdedup"):
            arguments = {**clustering.arguments(), "progress": run.steps}
            result = (
                semdedup_scores(x, **arguments)
                if eps is None
                else semdedup(x, eps=eps, scores=loaded.scores, **arguments)
            )
        if run.target is not None:
            save_centroids(run.target / "centroids.npy", result.centroids)
        n = len(x)
        sizes = np.bincount(result.cluster_id)
        sections: dict[str, Any] = {
            "similarity_histogram": result.histogram(),
            "eps_table": result.eps_table(),
            "cluster_sizes": {
                "min": int(sizes.min()),
                "max": int(sizes.max()),
                "mean": round(n / len(result.centroids), 2),
            },
        }
        parameters = {
            "eps": eps,
            "threshold": None if eps is None else 1.0 - eps,
            "n_clusters": len(result.centroids),
            "centroids": None if clustering.centroids is None else describe_source(clustering.centroids),
            "niter": clustering.niter,
            "seed": clustering.seed,
            "boundary": clustering.boundary,
            "max_probes": clustering.max_probes,
            "score_column": score_column,
            "id_column": id_column,
            "keep_rule": f"highest {score_column}" if score_column else "farthest from centroid",
            "scores_only": eps is None,
        }
        if eps is None:
            with timer.stage("write"):
                scores = _scores_table(loaded, result.cluster_id, result.max_similarity, result.nearest)
                if run.target is not None:
                    import pyarrow.parquet as pq

                    pq.write_table(scores, run.target / "scores.parquet")
            report = run.report(
                "semdedup",
                loaded,
                parameters=parameters,
                timer=timer,
                outputs={"scores": "scores.parquet", "centroids": "centroids.npy"},
                **sections,
            )
            run.finish(report)
            return SemDedupScoresCorpusResult(scores, result.centroids, report, run.location, loaded.rejected)
        assert isinstance(result, SemDedupResult)
        decision = Decision(
            result.keep,
            result.duplicate_of,
            result.cluster_id,
            result.similarity,
            f"semdedup: cosine similarity > {1.0 - eps:g} to a kept row",
        )
        with timer.stage("write"):
            counts, kept, removed = run.split(loaded, decision, fmt=output_format, compression=compression)
        _check_counts(n, counts)
        report = run.report(
            "semdedup",
            loaded,
            parameters=parameters,
            timer=timer,
            kept=counts["kept"],
            removed=counts["removed"],
            outputs={"kept": "kept/", "removed": "removed/", "centroids": "centroids.npy"},
            **sections,
        )
        run.finish(report)
        return SemDedupCorpusResult(
            n + loaded.rejected,
            counts["kept"],
            counts["removed"],
            loaded.rejected,
            report,
            run.location,
            kept,
            removed,
            run.rejected_table(),
            centroids=result.centroids,
        )


def _scores_table(
    loaded: Loaded, cluster_id: np.ndarray, max_similarity: np.ndarray, nearest: np.ndarray
) -> pa.Table:
    """Per row: its id, cluster, largest similarity and the id of that most similar row."""
    ok = nearest >= 0
    return pa.table(
        {
            "id": loaded.ids,
            "cluster_id": pa.array(cluster_id, pa.int64()),
            "max_similarity": pa.array(max_similarity, pa.float32(), mask=np.isnan(max_similarity)),
            "nearest_id": loaded.ids.take(pa.array(np.where(ok, nearest, 0), mask=~ok)),  # null: no neighbour
        }
    )


# ---------------------------------------------------------------- select


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
    from stemmatic.io import StageTimer

    if method not in METHODS:
        raise ParameterError(f"invalid selection method {method!r}; expected one of {', '.join(METHODS)}")
    amount = parse_budget(budget)
    check_format(output_format, compression)
    method_options: dict[str, Any] = {"seed": seed}
    if method == "score-first":
        method_options.update(max_similarity=max_similarity, n_clusters=n_clusters, workers=workers)
    elif method == "cluster-balanced":
        method_options["n_clusters"] = n_clusters
    elif method == "facility-location":
        method_options.update(neighbors=neighbors, quality_weight=quality_weight)
        method_options.pop("seed")
    source = EmbeddingSource(embedding_column, embeddings, embedder, text_column, dim, batch_size, cache_dir)
    with corpus_run(
        inputs,
        output,
        overwrite=overwrite,
        on_error=on_error,
        progress=progress,
        also_read=[source.vectors_path()],
    ) as run:
        timer = StageTimer()
        with timer.stage("read"):
            loaded = run.load(source, id_column=id_column, score_column=score_column)
            x = loaded.unit_vectors()
        with timer.stage("select"):
            chosen = select(x, amount, method, scores=loaded.scores, progress=run.steps, **method_options)
        keep = chosen.mask
        decision = Decision(
            keep,
            np.where(keep, -1, chosen.nearest),
            chosen.cluster_id,
            np.where(keep, np.nan, chosen.similarity),
            f"not selected by {method}; nearest selected row is duplicate_of",
        )
        with timer.stage("write"):
            counts, kept, removed = run.split(loaded, decision, fmt=output_format, compression=compression)
            selection = pa.table(
                {
                    "rank": pa.array(np.arange(len(chosen.indices), dtype=np.int64)),
                    "id": loaded.ids.take(pa.array(chosen.indices)),
                }
            )
            if run.target is not None:
                import pyarrow.parquet as pq

                pq.write_table(selection, run.target / "selection.parquet")
        n = len(x)
        _check_counts(n, counts)
        similarity = chosen.similarity.astype(np.float64)
        report = run.report(
            "select",
            loaded,
            parameters={
                "method": method,
                "budget": budget,
                "score_column": score_column,
                "id_column": id_column,
                **method_options,
            },
            timer=timer,
            kept=counts["kept"],
            removed=counts["removed"],
            outputs={"kept": "kept/", "removed": "removed/", "selection_order": "selection.parquet"},
            selection={
                **chosen.info,
                "coverage_radius": chosen.coverage_radius,
                "mean_distance_to_selected": float(np.sqrt(np.maximum(2 - 2 * similarity, 0)).mean()),
            },
        )
        run.finish(report)
        return SelectCorpusResult(
            n + loaded.rejected,
            counts["kept"],
            counts["removed"],
            loaded.rejected,
            report,
            run.location,
            kept,
            removed,
            run.rejected_table(),
            selection=selection,
            coverage_radius=chosen.coverage_radius,
        )
