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

Pairs are computed in row blocks of a cluster (memory ``block x cluster size``),
so memory beyond the embeddings is a few arrays of ``n`` entries. Pairs that
k-means puts in different clusters are not compared (the paper's trade-off).

Choose ``eps`` per embedding model: :func:`semdedup_scores` gives each row's
largest in-cluster similarity and their histogram, before anything is removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from stemmatic.diversity._greedy import greedy_resolve
from stemmatic.diversity._vectors import RowNamer, as_scores, as_unit_vectors, check_seed
from stemmatic.diversity.index import load_centroids, spherical_kmeans
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
    """Per-row in-cluster similarities, computed before choosing ``eps``.

    Attributes:
        cluster_id: each row's k-means cluster.
        max_similarity: cosine similarity to the most similar other row of its
            cluster (NaN for a row alone in its cluster).
        nearest: that row's index (-1 when alone).
        centroids: unit-norm k-means centroids (save with
            :func:`~stemmatic.diversity.index.save_centroids`).
    """

    cluster_id: np.ndarray
    max_similarity: np.ndarray
    nearest: np.ndarray
    centroids: np.ndarray

    def histogram(self, bins: int = 100) -> dict[str, Any]:
        """Histogram of ``max_similarity`` over [0, 1] (see :func:`similarity_histogram`)."""
        return similarity_histogram(self.max_similarity, bins=bins)

    def eps_table(self, eps_grid: tuple[float, ...] = DEFAULT_EPS_GRID) -> list[dict[str, float]]:
        """Per ``eps``: rows with a near-duplicate (``max_similarity > 1 - eps``).

        That count bounds from above what :func:`semdedup` removes at that
        ``eps`` (one row of each group of near-duplicates is kept).
        """
        values = self.max_similarity
        n = len(values)
        return [
            {
                "eps": eps,
                "threshold": 1.0 - eps,
                "rows_with_near_duplicate": int(np.count_nonzero(values > 1.0 - eps)),
                "fraction": float(np.count_nonzero(values > 1.0 - eps) / n),
            }
            for eps in eps_grid
        ]


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


def _cluster_pass(
    x: np.ndarray,
    order: np.ndarray,
    labels_sorted: np.ndarray,
    threshold: float | None,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Max in-cluster similarity and nearest row (in ``order`` positions), and edges above ``threshold``.

    Edges are ``(src, dst, sim)`` in positions of ``order`` with ``src < dst``
    within the same cluster.
    """
    n = len(order)
    max_similarity = np.full(n, np.nan, dtype=np.float32)
    nearest = np.full(n, -1, dtype=np.int64)
    edge_src: list[np.ndarray] = []
    edge_dst: list[np.ndarray] = []
    edge_sim: list[np.ndarray] = []
    bounds = np.flatnonzero(np.diff(labels_sorted)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [n]))
    for done, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        m = end - start
        if m > 1:
            members = x[order[start:end]]
            block = max(1, min(m, _BLOCK_ELEMENTS // m))
            for row0 in range(0, m, block):
                row1 = min(m, row0 + block)
                sims = members[row0:row1] @ members.T
                local = np.arange(row1 - row0)
                sims[local, row0 + local] = -np.inf
                best = sims.argmax(axis=1)
                max_similarity[start + row0 : start + row1] = sims[local, best]
                nearest[start + row0 : start + row1] = start + best
                if threshold is not None:
                    r, c = np.nonzero(sims > threshold)
                    earlier = c < row0 + r
                    r, c = r[earlier], c[earlier]
                    if len(r):
                        edge_src.append(start + c)
                        edge_dst.append(start + row0 + r)
                        edge_sim.append(sims[r, c])
        if progress is not None:
            progress("pairs", done + 1, len(starts))
    edges = (
        (np.concatenate(edge_src), np.concatenate(edge_dst), np.concatenate(edge_sim))
        if edge_src
        else (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))
    )
    return max_similarity, nearest, edges


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
) -> SemDedupResult | SemDedupScores:
    check_seed(seed)
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
    threshold = None if eps is None else 1.0 - eps
    max_sim_sorted, nearest_sorted, (src, dst, sim) = _cluster_pass(
        x, order, labels[order], threshold, progress
    )
    max_similarity = np.empty(n, dtype=np.float32)
    max_similarity[order] = max_sim_sorted
    nearest = np.full(n, -1, dtype=np.int64)
    has = nearest_sorted >= 0
    nearest[order[has]] = order[nearest_sorted[has]]
    if eps is None:
        return SemDedupScores(labels, max_similarity, nearest, c)
    kept_sorted, dup_sorted, dup_sim_sorted = greedy_resolve(n, src, dst, sim)
    keep = np.empty(n, dtype=bool)
    keep[order] = kept_sorted
    duplicate_of = np.full(n, -1, dtype=np.int64)
    removed = dup_sorted >= 0
    duplicate_of[order[removed]] = order[dup_sorted[removed]]
    similarity = np.full(n, np.nan, dtype=np.float32)
    similarity[order] = dup_sim_sorted
    return SemDedupResult(labels, max_similarity, nearest, c, keep, duplicate_of, similarity, float(eps))


def semdedup_scores(
    vectors: Any,
    *,
    n_clusters: int | None = None,
    centroids: np.ndarray | str | None = None,
    niter: int = 20,
    seed: int = 0,
    gpu: bool | None = None,
    progress: Progress | None = None,
    row_namer: RowNamer | None = None,
) -> SemDedupScores:
    """Each row's largest in-cluster cosine similarity, to choose ``eps`` before removing.

    Args:
        vectors: (n, d) embeddings (any norm; normalized here).
        n_clusters: k-means clusters; default :func:`default_num_clusters`.
        centroids: reuse these centroids (array or ``.npy`` path) instead of
            running k-means, e.g. to score two corpora in the same clusters.
        niter: k-means iterations.
        seed: k-means seed; same input and seed give the same output.
        gpu: ``None`` uses FAISS GPUs when present.
        progress: called as ``progress(stage, done, total)``.
        row_namer: names a row in error messages (file and row).

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
    progress: Progress | None = None,
    row_namer: RowNamer | None = None,
) -> SemDedupResult:
    """Remove semantic near-duplicates: within a k-means cluster, cosine similarity > ``1 - eps``.

    Args:
        vectors: (n, d) embeddings (any norm; normalized here).
        eps: rows more similar than ``1 - eps`` are duplicates; in (0, 2).
        n_clusters: k-means clusters; default :func:`default_num_clusters`.
        scores: optional quality score per row: within a group of
            near-duplicates the highest score is kept (default: the row
            farthest from its centroid).
        centroids: reuse these centroids (array or ``.npy`` path).
        niter: k-means iterations.
        seed: k-means seed; same input and seed give the same output.
        gpu: ``None`` uses FAISS GPUs when present.
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
    )
    assert isinstance(result, SemDedupResult)
    return result
