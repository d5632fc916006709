"""From verified edges to decisions: clusters, the kept row of each, and why each other row goes.

A pure function of its arrays, shared by the local pipeline and the Ray and
Spark engines, so all of them decide the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemmatic import _core

__all__ = ["REASON_EXACT", "REASON_NEAR", "ClusterDecision", "decide_clusters"]

REASON_NEAR = 0
REASON_EXACT = 1


@dataclass(frozen=True)
class ClusterDecision:
    """Per-row decisions over ``n`` rows (row = position in the ordered inputs)."""

    #: True for rows removed as duplicates.
    removed: np.ndarray
    #: Row kept in place of a removed row (-1 for rows not removed).
    duplicate_of: np.ndarray
    #: Cluster id (its smallest row) for rows in a cluster of two or more, else -1.
    cluster_id: np.ndarray
    #: Similarity of the best edge incident to the row (NaN if none).
    similarity: np.ndarray
    #: REASON_NEAR or REASON_EXACT of that edge.
    reason: np.ndarray
    #: Size of each row's cluster (1 for rows in no cluster).
    cluster_size: np.ndarray

    def counts(self) -> dict[str, object]:
        sizes = self.cluster_size[self.cluster_id == np.arange(len(self.cluster_id))]
        sizes = sizes[sizes >= 2]
        histogram = np.bincount(sizes) if len(sizes) else np.zeros(0, np.int64)
        return {
            "clusters": len(sizes),
            "rows_in_clusters": int((self.cluster_id >= 0).sum()),
            "removed": int(self.removed.sum()),
            "removed_exact": int((self.removed & (self.reason == REASON_EXACT)).sum()),
            "histogram": {str(size): int(count) for size, count in enumerate(histogram) if count},
        }


def decide_clusters(
    n: int,
    edges: np.ndarray,
    similarity: np.ndarray,
    reason: np.ndarray | None = None,
    keep_score: np.ndarray | None = None,
) -> ClusterDecision:
    """Connected components of ``edges`` over ``n`` rows, one kept row per component.

    The kept row has the highest ``keep_score`` (all equal = the first row),
    ties broken by the smallest row; every other row of the component is
    removed with ``duplicate_of`` = the kept row. So a row is never removed
    without a kept representative.

    >>> d = decide_clusters(4, np.array([[0, 2], [2, 3]], np.uint64), np.array([0.9, 0.85]))
    >>> d.removed.tolist(), d.duplicate_of.tolist(), d.cluster_id.tolist()
    ([False, False, True, True], [-1, -1, 0, 0], [0, -1, 0, 0])
    """
    edges = np.ascontiguousarray(edges, dtype=np.uint64).reshape(-1, 2)
    similarity = np.asarray(similarity, dtype=np.float64)
    reason = np.zeros(len(edges), np.uint8) if reason is None else np.asarray(reason, np.uint8)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return ClusterDecision(np.zeros(0, bool), empty, empty, np.zeros(0), np.zeros(0, np.uint8), empty)
    labels = _core.connected_components(n, edges).astype(np.int64)
    sizes = np.bincount(labels, minlength=n)
    cluster_size = sizes[labels]
    in_cluster = cluster_size >= 2

    docs = np.flatnonzero(in_cluster)
    score = np.zeros(n) if keep_score is None else np.asarray(keep_score, dtype=np.float64)
    order = np.lexsort((docs, -score[docs], labels[docs]))
    ordered = docs[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = labels[ordered[1:]] != labels[ordered[:-1]]
    kept_of_label = np.full(n, -1, dtype=np.int64)
    kept_of_label[labels[ordered[first]]] = ordered[first]
    removed = np.zeros(n, dtype=bool)
    removed[docs] = True
    removed[ordered[first]] = False
    duplicate_of = np.where(removed, kept_of_label[labels], -1)

    best = np.full(n, np.nan)
    why = np.zeros(n, dtype=np.uint8)
    if len(edges):
        ends = edges.astype(np.int64)
        for col in (0, 1):
            better = ~(best[ends[:, col]] >= similarity)
            idx = ends[better, col]
            # Ascending similarity, so the largest wins where a row repeats.
            o = np.argsort(similarity[better], kind="stable")
            best[idx[o]] = similarity[better][o]
            why[idx[o]] = reason[better][o]
    return ClusterDecision(
        removed=removed,
        duplicate_of=duplicate_of,
        cluster_id=np.where(in_cluster, labels, -1),
        similarity=best,
        reason=why,
        cluster_size=cluster_size,
    )
