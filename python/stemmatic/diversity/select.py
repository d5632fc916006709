"""Diverse subset selection under a budget.

Four selectors, each taking a budget (a count, or a ratio of the rows) and an
optional quality score per row (higher is better):

* :func:`kcenter_greedy` — farthest-point traversal (Gonzalez, 1985), the
  2-approximation of the k-center problem (Sener & Savarese, 2018, "core-set").
* :func:`cluster_balanced` — k-means, then the same number of rows from every
  cluster (small clusters given whole), best scored (or seeded random) first.
* :func:`score_first` — DEITA's selection (Liu et al., 2024, arXiv:2312.15685):
  rows by decreasing score, each taken unless its cosine similarity to an
  already selected row exceeds ``max_similarity``.
* :func:`facility_location` — greedy maximization of the facility-location
  function ``sum_i max_{j in S} sim(i, j)`` over a FAISS k-nearest-neighbour
  graph (lazy greedy, Minoux 1978; ``1 - 1/e`` of the optimum on that graph),
  plus ``quality_weight * score`` per selected row. Our own implementation
  (apricot, the usual library, is unmaintained).

Every selector returns a :class:`Selection`: the selected rows in selection
order, and for every row its nearest selected row and their similarity, which
is what an unselected row's output record names.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from stemmatic.diversity._greedy import greedy_resolve
from stemmatic.diversity._vectors import as_scores, as_unit_vectors, check_seed, resolve_budget
from stemmatic.diversity.index import FLAT_MAX_ROWS, IndexSpec, knn, spherical_kmeans
from stemmatic.exceptions import ParameterError

__all__ = [
    "METHODS",
    "Method",
    "Selection",
    "cluster_balanced",
    "facility_location",
    "kcenter_greedy",
    "nearest_selected",
    "score_first",
    "select",
]

Progress = Callable[[str, int, int], None]

#: A selector's name, as :func:`select` (and the CLI's ``--method``) accepts it.
Method = Literal["kcenter", "cluster-balanced", "score-first", "facility-location"]
METHODS: tuple[str, ...] = get_args(Method)


@dataclass(frozen=True)
class Selection:
    """Selected rows and, for every row, its nearest selected row.

    Attributes:
        method: the selector.
        indices: selected rows, in the order they were selected.
        nearest: per row, the nearest selected row (itself when selected).
        similarity: per row, cosine similarity to ``nearest``.
        cluster_id: per row, its k-means cluster (cluster-balanced only).
        info: method details for reports (objective, radius, ...).
    """

    method: str
    indices: np.ndarray
    nearest: np.ndarray
    similarity: np.ndarray
    cluster_id: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        """True for selected rows."""
        out = np.zeros(len(self.nearest), dtype=bool)
        out[self.indices] = True
        return out

    @property
    def coverage_radius(self) -> float:
        """Largest Euclidean distance (unit vectors) from a row to its nearest selected row."""
        return float(np.sqrt(max(0.0, 2.0 - 2.0 * float(self.similarity.min()))))

    @classmethod
    def of(
        cls,
        method: str,
        x: np.ndarray,
        indices: np.ndarray,
        *,
        gpu: bool | None,
        cluster_id: np.ndarray | None = None,
        info: dict[str, Any],
    ) -> Selection:
        """The selection of rows ``indices`` of the unit vectors ``x``, each row given its nearest selected row."""
        nearest, similarity = nearest_selected(x, indices, gpu=gpu)
        return cls(method, indices, nearest, similarity, cluster_id, info)

    def counts(self) -> dict[str, int]:
        return {
            "input": len(self.nearest),
            "kept": len(self.indices),
            "removed": len(self.nearest) - len(self.indices),
        }


def nearest_selected(
    x: np.ndarray, indices: np.ndarray, *, gpu: bool | None = None, block_rows: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest selected row of each row of unit vectors ``x`` and its cosine similarity.

    Exact (blocked matrix products) up to :data:`~stemmatic.diversity.index.FLAT_MAX_ROWS`
    selected rows, then a FAISS IVF index. Selected rows are their own nearest.
    """
    indices = np.asarray(indices, dtype=np.int64)
    n = len(x)
    if len(indices) > FLAT_MAX_ROWS:
        sims, ids = knn(x[indices], 1, queries=x, gpu=gpu)
        nearest, similarity = indices[np.maximum(ids[:, 0], 0)], sims[:, 0].astype(np.float32)
    else:
        centers = x[indices]
        nearest = np.empty(n, dtype=np.int64)
        similarity = np.empty(n, dtype=np.float32)
        for start in range(0, n, block_rows):
            sims = x[start : start + block_rows] @ centers.T
            best = sims.argmax(axis=1)
            nearest[start : start + block_rows] = indices[best]
            similarity[start : start + block_rows] = sims[np.arange(len(best)), best]
    nearest[indices] = indices
    similarity[indices] = 1.0
    return nearest, similarity


def kcenter_greedy(
    vectors: Any,
    budget: int | float,
    *,
    scores: Any = None,
    seed: int = 0,
    gpu: bool | None = None,
    progress: Progress | None = None,
) -> Selection:
    """Farthest-point (k-center greedy) selection.

    Starts from the best-scored row (or a seeded random row), then repeatedly
    takes the row farthest from every selected row (Euclidean distance of the
    unit vectors, ``sqrt(2 - 2 cos)``; ties to the lower row index). With
    ``scores`` (non-negative) the next row maximizes ``score * distance``.

    Each step is one matrix-vector product over the float32 matrix plus two
    vectorized passes over ``n`` floats, in place (no ``n x d`` temporaries).
    ``info["radius"]`` is the k-center objective: the largest distance from a
    row to its nearest selected row.

    Args:
        vectors: (n, d) embeddings (normalized here).
        budget: rows to select: a count, or a float ratio in (0, 1].
        scores: optional non-negative quality score per row.
        seed: seeds the first row when there are no scores.
        gpu: ``None`` uses FAISS GPUs when present (nearest-row search of big selections).
        progress: called as ``progress(stage, done, total)``.

    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(size=(50, 8)) + 20 * np.eye(8)[c] for c in range(4)])
    >>> sel = kcenter_greedy(x, 4, seed=1)
    >>> sorted(int(i) // 50 for i in sel.indices)      # one row from each of the 4 groups
    [0, 1, 2, 3]
    """
    x = as_unit_vectors(vectors)
    n = len(x)
    k = resolve_budget(budget, n)
    seed = check_seed(seed)
    weights = None
    if scores is not None:
        weights = as_scores(scores, n).astype(np.float32)
        if (weights < 0).any():
            raise ParameterError("kcenter_greedy: scores must be non-negative (they multiply distances)")
    center = int(np.argmax(weights)) if weights is not None else int(np.random.default_rng(seed).integers(n))
    # Farthest in distance = least similar: track each row's largest similarity to a selected row.
    max_sim = np.full(n, -np.inf, dtype=np.float32)
    sims = np.empty(n, dtype=np.float32)
    key = np.empty(n, dtype=np.float32) if weights is not None else None
    selected = [center]
    for step in range(k):
        np.dot(x, x[center], out=sims)
        np.maximum(max_sim, sims, out=max_sim)
        max_sim[center] = np.inf  # never chosen again
        if progress is not None and (step % 256 == 0 or step == k - 1):
            progress("select", step + 1, k)
        if step == k - 1:
            break
        if key is None or weights is None:
            center = int(np.argmin(max_sim))
        else:
            np.subtract(1.0, max_sim, out=key)
            np.maximum(key, 0.0, out=key)
            np.sqrt(key, out=key)  # proportional to sqrt(2 - 2 cos)
            key *= weights
            key[np.asarray(selected)] = -np.inf
            center = int(np.argmax(key))
        selected.append(center)
    indices = np.asarray(selected, dtype=np.int64)
    max_sim[indices] = np.inf
    worst = float(max_sim.min()) if len(indices) < n else 1.0
    return Selection.of(
        "kcenter",
        x,
        indices,
        gpu=gpu,
        info={"budget": k, "radius": float(np.sqrt(max(0.0, 2.0 - 2.0 * worst)))},
    )


def _balanced_quota(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Water-filling: equal shares per cluster, small clusters given whole.

    >>> _balanced_quota(np.array([1, 10, 10]), 9).tolist()
    [1, 4, 4]
    """
    quota = np.zeros(len(sizes), dtype=np.int64)
    remaining = min(int(budget), int(sizes.sum()))
    while remaining > 0:
        open_clusters = np.flatnonzero(quota < sizes)
        share = remaining // len(open_clusters)
        if share == 0:
            spare = sizes[open_clusters] - quota[open_clusters]
            ranked = open_clusters[np.lexsort((open_clusters, -spare))]
            quota[ranked[:remaining]] += 1
            break
        add = np.minimum(share, sizes[open_clusters] - quota[open_clusters])
        quota[open_clusters] += add
        remaining -= int(add.sum())
    return quota


def cluster_balanced(
    vectors: Any,
    budget: int | float,
    *,
    n_clusters: int | None = None,
    scores: Any = None,
    centroids: np.ndarray | None = None,
    niter: int = 20,
    seed: int = 0,
    gpu: bool | None = None,
    progress: Progress | None = None,
) -> Selection:
    """The same number of rows from every k-means cluster.

    Args:
        vectors: (n, d) embeddings.
        budget: a count, or a float ratio in (0, 1].
        n_clusters: default ``round(sqrt(n))``.
        scores: optional; within a cluster the best scored rows are taken,
            else a seeded random sample.
        centroids: use these (k, d) centroids instead of running k-means.
        niter: k-means iterations.
        seed: seeds the k-means and the sampling.
        gpu: ``None`` uses FAISS GPUs when present.
        progress: called as ``progress(stage, done, total)``.
    """
    from stemmatic.diversity.index import assign_to_centroids

    x = as_unit_vectors(vectors)
    n = len(x)
    k = resolve_budget(budget, n)
    seed = check_seed(seed)
    score_values = as_scores(scores, n) if scores is not None else None
    if progress is not None:
        progress("kmeans", 0, 1)
    if centroids is not None:
        centers = as_unit_vectors(centroids, name="centroids", dim=x.shape[1])
        labels, _ = assign_to_centroids(x, centers, normalized=True, gpu=gpu)
    else:
        clusters = n_clusters if n_clusters is not None else max(1, round(math.sqrt(n)))
        result = spherical_kmeans(x, clusters, niter=niter, seed=seed, gpu=gpu, normalized=True)
        centers, labels = result.centroids, result.labels
    if progress is not None:
        progress("kmeans", 1, 1)
    sizes = np.bincount(labels, minlength=len(centers))
    quota = _balanced_quota(sizes, k)
    tiebreak = np.random.default_rng(seed).permutation(n)
    key = -score_values if score_values is not None else np.zeros(n)
    order = np.lexsort((tiebreak, key, labels))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    picks = [order[s : s + q] for s, q in zip(starts.tolist(), quota.tolist(), strict=True) if q]
    indices = np.concatenate(picks) if picks else np.empty(0, np.int64)
    return Selection.of(
        "cluster-balanced",
        x,
        indices,
        gpu=gpu,
        cluster_id=labels,
        info={"budget": k, "n_clusters": len(centers), "clusters_used": int(np.count_nonzero(quota))},
    )


def score_first(
    vectors: Any,
    budget: int | float,
    *,
    scores: Any = None,
    max_similarity: float = 0.9,
    seed: int = 0,
    n_clusters: int | None = None,
    boundary: float | None = None,
    workers: int | None = None,
    gpu: bool | None = None,
    progress: Progress | None = None,
) -> Selection:
    """DEITA-style selection: best score first, skipping rows too similar to a selected one.

    Rows are taken in decreasing score (without scores: a seeded random order),
    each unless its cosine similarity to an already selected row exceeds
    ``max_similarity``, until ``budget`` rows are selected or none is left.
    The pairs above ``max_similarity`` come from
    :func:`~stemmatic.diversity.neighbors.neighbors_within` (every pair for
    small inputs; k-means clusters with boundary probing for large ones), and
    the sequential rule is applied to them. Memory grows with the number of
    such pairs: use a near-duplicate threshold (0.8 to 0.95), not a low one.

    >>> x = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.7, 0.7]])
    >>> score_first(x, 3, scores=[4, 3, 2, 1], max_similarity=0.9).indices.tolist()
    [0, 2, 3]
    """
    from stemmatic.diversity.neighbors import DEFAULT_BOUNDARY, neighbors_within

    x = as_unit_vectors(vectors)
    n = len(x)
    k = resolve_budget(budget, n)
    seed = check_seed(seed)
    if not -1.0 <= max_similarity <= 1.0:
        raise ParameterError(f"invalid parameter `max_similarity`: {max_similarity}; must be in [-1, 1]")
    if scores is not None:
        order = np.lexsort((np.arange(n), -as_scores(scores, n)))
    else:
        order = np.random.default_rng(seed).permutation(n)
    if max_similarity < 1.0:
        pairs = neighbors_within(
            x,
            min_similarity=max_similarity,
            n_clusters=n_clusters,
            boundary=DEFAULT_BOUNDARY if boundary is None else boundary,
            seed=seed,
            workers=workers,
            gpu=gpu,
            progress=progress,
        )
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        p_q, p_b = position[pairs.query], position[pairs.base]
        kept, _, _ = greedy_resolve(n, np.minimum(p_q, p_b), np.maximum(p_q, p_b), pairs.similarity)
        search = dict(pairs.info)
    else:  # no cosine similarity exceeds 1
        kept = np.ones(n, dtype=bool)
        search = {"method": "none"}
    taken = np.flatnonzero(kept)[:k]
    indices = order[taken]
    examined = int(taken[-1]) + 1 if len(taken) == k else n
    if progress is not None:
        progress("select", len(indices), k)
    return Selection.of(
        "score-first",
        x,
        indices,
        gpu=gpu,
        info={
            "budget": k,
            "max_similarity": max_similarity,
            "rows_examined": examined,
            "budget_reached": bool(len(indices) == k),
            "neighbor_search": search,
        },
    )


def facility_location(
    vectors: Any,
    budget: int | float,
    *,
    neighbors: int = 10,
    scores: Any = None,
    quality_weight: float = 1.0,
    index: IndexSpec | str = "auto",
    seed: int = 0,
    gpu: bool | None = None,
    progress: Progress | None = None,
) -> Selection:
    """Greedy facility location over a k-nearest-neighbour graph.

    Maximizes ``F(S) = sum_i max_{j in S} max(0, sim(i, j)) + quality_weight * sum_{j in S} score_j``,
    where ``sim(i, j)`` is kept only for ``j`` among ``i``'s ``neighbors``
    nearest rows (and ``sim(i, i) = 1``). ``F`` is monotone submodular, so
    lazy greedy is exact greedy and reaches ``1 - 1/e`` of the best ``F`` on
    that graph. Ties go to the lower row index.

    Args:
        vectors: (n, d) embeddings.
        budget: a count, or a float ratio in (0, 1].
        neighbors: graph degree (more is slower and closer to dense F).
        scores: optional quality score per row, added with ``quality_weight``.
        quality_weight: weight of the score term.
        index: FAISS index for the graph (see :func:`~stemmatic.diversity.index.choose_index`).
        seed: seeds the index training (approximate kinds).
        gpu: ``None`` uses FAISS GPUs when present.
        progress: called as ``progress(stage, done, total)``.

    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(size=(30, 8)) + 20 * np.eye(8)[c] for c in range(3)])
    >>> sel = facility_location(x, 3, neighbors=5)
    >>> sorted(int(i) // 30 for i in sel.indices)
    [0, 1, 2]
    """
    x = as_unit_vectors(vectors)
    n = len(x)
    k = resolve_budget(budget, n)
    if neighbors < 1:
        raise ParameterError(f"invalid parameter `neighbors`: {neighbors}; must be at least 1")
    bonus = np.zeros(n)
    if scores is not None:
        bonus = quality_weight * as_scores(scores, n)
    if progress is not None:
        progress("knn graph", 0, 1)
    sims, ids = knn(x, min(n, neighbors + 1), index=index, seed=seed, gpu=gpu)
    if progress is not None:
        progress("knn graph", 1, 1)
    rows = np.repeat(np.arange(n, dtype=np.int64), ids.shape[1])
    cols = ids.ravel()
    weights = np.maximum(sims.ravel().astype(np.float64), 0.0)
    keep = (cols >= 0) & (cols != rows)
    rows = np.concatenate((np.arange(n, dtype=np.int64), rows[keep]))
    cols = np.concatenate((np.arange(n, dtype=np.int64), cols[keep]))
    weights = np.concatenate((np.ones(n), weights[keep]))
    # Column-major: for each candidate j, the rows i it would cover and sim(i, j).
    by_col = np.argsort(cols, kind="stable")
    covered_rows, covered_sims = rows[by_col], weights[by_col]
    indptr = np.searchsorted(cols[by_col], np.arange(n + 1), side="left")

    coverage = np.zeros(n)
    gains = np.bincount(cols, weights=weights, minlength=n) + bonus
    heap = [(-float(g), j) for j, g in enumerate(gains.tolist())]
    heapq.heapify(heap)
    selected: list[int] = []
    evaluations = 0
    while heap and len(selected) < k:
        _, j = heapq.heappop(heap)
        lo, hi = indptr[j], indptr[j + 1]
        gain = float(np.maximum(covered_sims[lo:hi] - coverage[covered_rows[lo:hi]], 0.0).sum()) + bonus[j]
        evaluations += 1
        if not heap or gain >= -heap[0][0] - 1e-12 * max(1.0, abs(gain)):
            selected.append(j)
            np.maximum.at(coverage, covered_rows[lo:hi], covered_sims[lo:hi])
            if progress is not None and (len(selected) % 64 == 0 or len(selected) == k):
                progress("select", len(selected), k)
        else:
            heapq.heappush(heap, (-gain, j))
    indices = np.asarray(selected, dtype=np.int64)
    return Selection.of(
        "facility-location",
        x,
        indices,
        gpu=gpu,
        info={
            "budget": k,
            "neighbors": neighbors,
            "objective": float(coverage.sum() + bonus[indices].sum()),
            "gain_evaluations": evaluations,
        },
    )


def select(vectors: Any, budget: int | float, method: str = "kcenter", **options: Any) -> Selection:
    """Dispatch to a selector by name (one of :data:`METHODS`).

    >>> select(np.eye(3), 2, "score-first", scores=[1, 3, 2]).indices.tolist()
    [1, 2]
    """
    functions: dict[str, Callable[..., Selection]] = {
        "kcenter": kcenter_greedy,
        "cluster-balanced": cluster_balanced,
        "score-first": score_first,
        "facility-location": facility_location,
    }
    if method not in functions:
        raise ParameterError(f"invalid selection method {method!r}; expected one of {', '.join(METHODS)}")
    return functions[method](vectors, budget, **options)
