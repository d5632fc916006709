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
    describe_source,
)
from stemmatic.diversity._corpus_split import SplitResult, read_corpus
from stemmatic.diversity.corpus_measure import (
    EmbedCorpusResult,
    MeasureCorpusResult,
    embed_corpus,
    measure_corpus,
)
from stemmatic.diversity.corpus_select import SelectCorpusResult, parse_budget, select_corpus
from stemmatic.diversity.neighbors import DEFAULT_BOUNDARY, DEFAULT_MAX_PROBES
from stemmatic.diversity.semdedup import SemDedupResult
from stemmatic.exceptions import ParameterError
from stemmatic.io._sinks import ShardCaps, check_output, write_parquet

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
class SemDedupCorpusResult(SplitResult):
    """:func:`semdedup_corpus`'s result; ``centroids`` are the k-means centroids used (also ``centroids.npy``)."""

    centroids: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))


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
    max_shard_size: int | str | None = None,
    max_shard_rows: int | None = None,
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
        max_shard_size, max_shard_rows: caps on each output file (bytes
            written, e.g. ``"512MB"``, approximate; rows, exact); an input's
            rows then go to ``NAME-00000.EXT``, ``NAME-00001.EXT``, ...
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
    caps = check_output(output_format, compression, max_shard_size, max_shard_rows)
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
        caps=caps,
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
        caps=ShardCaps(),
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
    caps: ShardCaps,
    on_error: str,
    overwrite: bool,
    progress: Progress | None,
) -> SemDedupCorpusResult | SemDedupScoresCorpusResult:
    """Both SemDeDup passes on a corpus: with ``eps``, remove; without, score (:func:`semdedup_scores_corpus`)."""
    from stemmatic.diversity.index import save_centroids
    from stemmatic.diversity.semdedup import semdedup, semdedup_scores

    with read_corpus(
        inputs,
        output,
        source,
        id_column=id_column,
        score_column=score_column,
        on_error=on_error,
        overwrite=overwrite,
        progress=progress,
        also_read=[clustering.centroids_path()],
    ) as read:
        run, timer, loaded, x = read.run, read.timer, read.loaded, read.x
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
                    write_parquet(scores, run.target / "scores.parquet")
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
        return read.split(
            "semdedup",
            decision,
            SemDedupCorpusResult,
            output_format=output_format,
            compression=compression,
            caps=caps,
            parameters=parameters,
            outputs={"kept": "kept/", "removed": "removed/", "centroids": "centroids.npy"},
            blocks=sections,
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
