"""SemDeDup: semantic deduplication in embedding space (Abbas et al., 2023, arXiv:2303.09540).

MinHash sees shared n-grams; two paraphrases share few. SemDeDup clusters the
embeddings with spherical k-means, then within each cluster compares every
pair: rows whose cosine similarity exceeds ``1 - eps`` are near-duplicates.

Within a cluster, rows are ranked (by default the row *farthest* from the
centroid first, as the paper keeps the least prototypical example; or by a
quality score, highest first; ties by row index) and walked greedily: a row is
removed if a kept higher-ranked row is a near-duplicate of it, and names that
row in ``duplicate_of``. The paper's reference code removes a row when *any*
higher-ranked row is similar, even one that was itself removed; the greedy rule
removes a subset of those rows, so that every removed row has a kept
near-duplicate and no two kept rows are near-duplicates.

The paper compares pairs only within a cluster, so near-duplicates that
k-means puts on two sides of a boundary are missed, and how many depends on
``n_clusters``. Here a row near a boundary is also compared with the members
of the neighbouring clusters (:mod:`~stemmatic.diversity.neighbors`,
``boundary``; ``boundary=0`` is the paper's in-cluster search), so the result
hardly depends on ``n_clusters``. Pairs are computed in row blocks of a
cluster (memory ``block x cluster size``).

Choose ``eps`` per embedding model: :func:`semdedup_scores` gives each row's
largest similarity to the rows it is compared with, their histogram, and per
``eps`` the rows and pairs above ``1 - eps`` (and how many pairs cross
clusters), before anything is removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from stemmatic.diversity._greedy import best_of, greedy_resolve
from stemmatic.diversity._vectors import RowNamer, as_scores, as_unit_vectors, check_seed
from stemmatic.diversity.index import load_centroids, spherical_kmeans
from stemmatic.diversity.neighbors import (
    DEFAULT_BOUNDARY,
    DEFAULT_MAX_PROBES,
    check_boundary,
    finish_pairs,
    guaranteed_radius,
    partition,
    resolve_threads,
    scan,
)
from stemmatic.exceptions import ParameterError

__all__ = [
    "DEFAULT_EPS_GRID",
    "SemDedupResult",
    "SemDedupScores",
    "default_num_clusters",
    "semdedup",
    "semdedup_scores",
    "similarity_histogram",
]

#: ``progress(stage, done, total)``
Progress = Callable[[str, int, int], None]

#: The ``eps`` values whose removal bounds :meth:`SemDedupScores.eps_table` reports.
DEFAULT_EPS_GRID = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)

#: Elements of one block of similarities (float32): 64 MiB.
_BLOCK_ELEMENTS = 1 << 24


def default_num_clusters(n: int) -> int:
    """About 1,000 rows per cluster: pairs cost ``n * 1000 * d`` flops in all.

    >>> default_num_clusters(50), default_num_clusters(1_000_000)
    (1, 1000)
    """
    return max(1, min(n, round(n / 1000)))


@dataclass(frozen=True)
class SemDedupScores:
    """Per-row similarities and per-``eps`` counts, computed before choosing ``eps``.

    Attributes:
        cluster_id: each row's k-means cluster.
        max_similarity: cosine similarity to the most similar row it was
            compared with: its cluster's rows and, near a boundary, the
            neighbouring clusters' (NaN for a row compared with none).
        nearest: that row's index (-1 when none).
        centroids: unit-norm k-means centroids (save with
            :func:`~stemmatic.diversity.index.save_centroids`).
        eps_counts: per ``eps`` (the grid, or the one ``eps`` of a run): rows
            with a near-duplicate, pairs above ``1 - eps``, and how many of
            those pairs cross k-means clusters.
    """

    cluster_id: np.ndarray
    max_similarity: np.ndarray
    nearest: np.ndarray
    centroids: np.ndarray
    eps_counts: tuple[dict[str, Any], ...]

    def histogram(self, bins: int = 100) -> dict[str, Any]:
        """Histogram of ``max_similarity`` over [0, 1] (see :func:`similarity_histogram`)."""
        return similarity_histogram(self.max_similarity, bins=bins)

    def eps_table(self) -> list[dict[str, Any]]:
        """Per ``eps``: rows with a near-duplicate, pairs, and pairs across clusters.

        ``rows_with_near_duplicate`` bounds from above what :func:`semdedup`
        removes at that ``eps`` (one row of each group of near-duplicates is
        kept); ``cross_cluster_pairs`` are the pairs that an in-cluster-only
        search (SemDeDup as published) would miss.
        """
        return [dict(row) for row in self.eps_counts]


@dataclass(frozen=True)
class SemDedupResult(SemDedupScores):
    """:class:`SemDedupScores` plus the decision for one ``eps``.

    Attributes:
        keep: True for kept rows.
        duplicate_of: for a removed row, the kept row it duplicates (the most
            similar kept near-duplicate); -1 for kept rows.
        similarity: cosine similarity to ``duplicate_of`` (NaN for kept rows).
        eps: the ``eps`` used; rows with similarity above ``1 - eps`` are duplicates.
    """

    keep: np.ndarray
    duplicate_of: np.ndarray
    similarity: np.ndarray
    eps: float

    @property
    def removed(self) -> np.ndarray:
        """Indices of removed rows."""
        return np.flatnonzero(~self.keep)

    def counts(self) -> dict[str, int]:
        kept = int(np.count_nonzero(self.keep))
        return {"input": len(self.keep), "kept": kept, "removed": len(self.keep) - kept}


def similarity_histogram(values: np.ndarray, *, bins: int = 100) -> dict[str, Any]:
    """Counts of similarities in ``bins`` equal bins over [0, 1].

    NaN values (rows alone in their cluster) are counted apart; negative
    similarities fall in the first bin and values above 1 (rounding) in the last.

    >>> h = similarity_histogram(np.array([0.1, 0.95, 0.99, np.nan]), bins=10)
    >>> h["counts"], h["no_neighbour"]
    ([0, 1, 0, 0, 0, 0, 0, 0, 0, 2], 1)
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    counts, edges = np.histogram(np.clip(finite, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    return {
        "edges": [round(float(e), 6) for e in edges],
        "counts": [int(c) for c in counts],
        "no_neighbour": int(len(values) - len(finite)),
    }


def _priority_order(
    labels: np.ndarray, centroid_similarity: np.ndarray, scores: np.ndarray | None
) -> np.ndarray:
    """Rows sorted by cluster, then by rank within the cluster, then by row index."""
    rows = np.arange(len(labels))
    key = -scores if scores is not None else centroid_similarity.astype(np.float64)
    return np.lexsort((rows, key, labels))


def _run(
    vectors: Any,
    *,
    eps: float | None,
    n_clusters: int | None,
    scores: Any,
    centroids: np.ndarray | str | None,
    niter: int,
    seed: int,
    gpu: bool | None,
    progress: Progress | None,
    row_namer: RowNamer | None,
    boundary: float,
    max_probes: int,
    workers: int | None,
) -> SemDedupResult | SemDedupScores:
    check_seed(seed)
    check_boundary(boundary, max_probes)
    threads = resolve_threads(workers)
    x = as_unit_vectors(vectors, row_namer=row_namer)
    n = len(x)
    score_values = as_scores(scores, n) if scores is not None else None
    if centroids is not None:
        from stemmatic.diversity.index import assign_to_centroids

        c = load_centroids(centroids, dim=x.shape[1]) if isinstance(centroids, str) else centroids
        c = as_unit_vectors(c, name="centroids", dim=x.shape[1])
        labels, centroid_similarity = assign_to_centroids(x, c, normalized=True, gpu=gpu)
    else:
        k = default_num_clusters(n) if n_clusters is None else n_clusters
        if progress is not None:
            progress("kmeans", 0, 1)
        kmeans = spherical_kmeans(x, k, niter=niter, seed=seed, gpu=gpu, normalized=True)
        c, labels, centroid_similarity = kmeans.centroids, kmeans.labels, kmeans.similarity
        if progress is not None:
            progress("kmeans", 1, 1)
    order = _priority_order(labels, centroid_similarity, score_values)
    grid = DEFAULT_EPS_GRID if eps is None else (eps,)
    max_gaps = [boundary * guaranteed_radius(1.0 - e) for e in grid]
    part = partition(x, c, labels, max_gap=max(max_gaps), max_probes=max_probes, gpu=gpu)
    found = scan(
        x,
        x,
        part,
        part,
        len(c),
        self_join=True,
        collect=None if eps is None else 1.0 - eps,
        best=True,
        grid=tuple((1.0 - e, g) for e, g in zip(grid, max_gaps, strict=True)),
        workers=threads,
        progress=progress,
    )
    max_similarity, nearest = best_of(found.best_rows, found.best_nbrs, found.best_sims, n)
    eps_counts = tuple(
        {
            "eps": e,
            "threshold": 1.0 - e,
            "rows_with_near_duplicate": len(row["rows"]),
            "fraction": len(row["rows"]) / n,
            "pairs": row["pairs"],
            "cross_cluster_pairs": row["cross_cluster_pairs"],
        }
        for e, row in zip(grid, found.grid, strict=True)
    )
    if eps is None:
        return SemDedupScores(labels, max_similarity, nearest, c, eps_counts)
    q, b = np.minimum(found.q, found.b), np.maximum(found.q, found.b)
    pairs = finish_pairs(x, x, q, b, 1.0 - eps, labels[q] != labels[b], {})
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    p_q, p_b = position[pairs.query], position[pairs.base]
    src, dst = np.minimum(p_q, p_b), np.maximum(p_q, p_b)
    kept_sorted, dup_sorted, dup_sim_sorted = greedy_resolve(n, src, dst, pairs.similarity)
    keep = np.empty(n, dtype=bool)
    keep[order] = kept_sorted
    duplicate_of = np.full(n, -1, dtype=np.int64)
    removed = dup_sorted >= 0
    duplicate_of[order[removed]] = order[dup_sorted[removed]]
    similarity = np.full(n, np.nan, dtype=np.float32)
    similarity[order] = dup_sim_sorted
    return SemDedupResult(
        labels, max_similarity, nearest, c, eps_counts, keep, duplicate_of, similarity, float(eps)
    )


def semdedup_scores(
    vectors: Any,
    *,
    n_clusters: int | None = None,
    centroids: np.ndarray | str | None = None,
    niter: int = 20,
    seed: int = 0,
    gpu: bool | None = None,
    boundary: float = DEFAULT_BOUNDARY,
    max_probes: int = DEFAULT_MAX_PROBES,
    workers: int | None = None,
    progress: Progress | None = None,
    row_namer: RowNamer | None = None,
) -> SemDedupScores:
    """Each row's largest cosine similarity and per-``eps`` counts, to choose ``eps`` before removing.

    Rows near a boundary visit neighbouring clusters within the margin of the
    largest ``eps`` of :data:`DEFAULT_EPS_GRID` (at most ``max_probes``), so
    this pass costs up to ``max_probes + 1`` times an in-cluster one. The
    arguments are those of :func:`semdedup`; ``centroids`` can score two
    corpora in the same clusters.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 16))
    >>> x[100] = x[7] + 1e-3           # a planted near-duplicate
    >>> s = semdedup_scores(x, n_clusters=2)
    >>> int(s.nearest[100]), bool(s.max_similarity[100] > 0.999)
    (7, True)
    """
    result = _run(
        vectors,
        eps=None,
        n_clusters=n_clusters,
        scores=None,
        centroids=centroids,
        niter=niter,
        seed=seed,
        gpu=gpu,
        progress=progress,
        row_namer=row_namer,
        boundary=boundary,
        max_probes=max_probes,
        workers=workers,
    )
    return result


def semdedup(
    vectors: Any,
    *,
    eps: float = 0.05,
    n_clusters: int | None = None,
    scores: Any = None,
    centroids: np.ndarray | str | None = None,
    niter: int = 20,
    seed: int = 0,
    gpu: bool | None = None,
    boundary: float = DEFAULT_BOUNDARY,
    max_probes: int = DEFAULT_MAX_PROBES,
    workers: int | None = None,
    progress: Progress | None = None,
    row_namer: RowNamer | None = None,
) -> SemDedupResult:
    """Remove semantic near-duplicates: rows with cosine similarity > ``1 - eps`` to a kept row.

    Args:
        vectors: (n, d) embeddings (any norm; normalized here).
        eps: rows more similar than ``1 - eps`` are duplicates; in (0, 2).
        n_clusters: k-means clusters; default :func:`default_num_clusters`.
        scores: optional quality score per row: within a group of
            near-duplicates the highest score is kept (default: the row
            farthest from its centroid).
        centroids: reuse these centroids (array or ``.npy`` path) instead of
            running k-means.
        niter: k-means iterations.
        seed: k-means seed; same input and seed give the same output.
        gpu: ``None`` uses FAISS GPUs when present.
        boundary: a row also visits a neighbouring cluster within this fraction
            of the margin that guarantees every pair (1.0: no pair missed; 0:
            in-cluster only, as the paper).
        max_probes: neighbouring clusters a row visits at most.
        workers: threads (``None``/0: ``STEMMATIC_NUM_THREADS`` or all CPUs);
            the result is the same for any number.
        progress: called as ``progress(stage, done, total)``.
        row_namer: names a row in error messages (file and row).

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 16))
    >>> x[200:210] = x[:10] + 1e-3 * rng.normal(size=(10, 16))
    >>> result = semdedup(x, eps=0.01, n_clusters=3)
    >>> result.counts()
    {'input': 300, 'kept': 290, 'removed': 10}
    >>> sorted({int(result.duplicate_of[i]) % 200 for i in result.removed}) == list(range(10))
    True
    """
    if not 0.0 < eps < 2.0:
        raise ParameterError(f"invalid parameter `eps`: {eps}; must be in (0, 2)")
    result = _run(
        vectors,
        eps=eps,
        n_clusters=n_clusters,
        scores=scores,
        centroids=centroids,
        niter=niter,
        seed=seed,
        gpu=gpu,
        progress=progress,
        row_namer=row_namer,
        boundary=boundary,
        max_probes=max_probes,
        workers=workers,
    )
    assert isinstance(result, SemDedupResult)
    return result
