"""From verified edges to decisions: clusters, the kept row of each, and why each other row goes.

Two clusterings (the algorithm is ``stemmatic_core::cluster``, in Rust):

* ``components`` (default): connected components of the edges, one kept
  row per component. Edges chain (``a~b``, ``b~c``), so a removed row may
  be far below the threshold to its kept row.
* ``star``: greedy centers in keep-priority order. A row is removed only as
  the duplicate of a kept row it has a verified edge to, so every removed
  row is within the threshold of its kept row. LSH verifies candidate
  pairs only (a large bucket gives a star from its smallest row, not every
  pair), so star asks for the comparisons it still needs (two centers that
  share a neighbour); with ``verify`` given, they are verified and the
  decision is taken again, until nothing is left to ask or after
  :data:`STAR_ROUNDS` rounds.

A pure function of its arrays, shared by the local pipeline and the Ray and
Spark engines, so all of them decide the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from stemmatic import _core
from stemmatic.exceptions import ParameterError

__all__ = [
    "CLUSTERINGS",
    "REASON_EXACT",
    "REASON_NEAR",
    "STAR_ROUNDS",
    "ClusterDecision",
    "Clustering",
    "StarVerifier",
    "decide_clusters",
]

REASON_NEAR = 0
REASON_EXACT = 1

Clustering = Literal["components", "star"]
CLUSTERINGS: tuple[Clustering, ...] = ("components", "star")
#: Most rounds of extra verification star runs (each verifies the pairs the last decision asked for).
STAR_ROUNDS = 16
#: Verifies ``(k, 2)`` row pairs: their similarity and reason (``REASON_NEAR``/``REASON_EXACT``).
StarVerifier = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _no_edges() -> np.ndarray:
    return np.zeros((0, 2), np.uint64)


@dataclass(frozen=True)
class ClusterDecision:
    """Per-row decisions over ``n`` rows (row = position in the ordered inputs)."""

    #: True for rows removed as duplicates.
    removed: np.ndarray
    #: Row kept in place of a removed row (-1 for rows not removed).
    duplicate_of: np.ndarray
    #: Cluster id (its smallest row) for rows in a cluster of two or more, else -1.
    cluster_id: np.ndarray
    #: Similarity of the best edge incident to the row (NaN if none); with
    #: ``star``, a removed row's is that of its edge to ``duplicate_of``.
    similarity: np.ndarray
    #: REASON_NEAR or REASON_EXACT of that edge.
    reason: np.ndarray
    #: Size of each row's cluster (1 for rows in no cluster).
    cluster_size: np.ndarray
    #: Star: the pairs its extra verification found at or above the threshold
    #: (``(k, 2)`` uint64, with their similarities), on top of the given edges.
    added_edges: np.ndarray = field(default_factory=_no_edges)
    added_similarity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: Star: rounds of extra verification, pairs verified, and pairs still
    #: unverified when the rounds ran out (0 when it converged).
    star_rounds: int = 0
    star_pairs_verified: int = 0
    star_pairs_left: int = 0

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

    def star_report(self) -> dict[str, int]:
        """What star's extra verification did (for run reports)."""
        return {
            "rounds": self.star_rounds,
            "pairs_verified": self.star_pairs_verified,
            "edges_added": len(self.added_edges),
            "pairs_left_unverified": self.star_pairs_left,
        }


def decide_clusters(
    n: int,
    edges: np.ndarray,
    similarity: np.ndarray,
    reason: np.ndarray | None = None,
    keep_score: np.ndarray | None = None,
    *,
    clustering: Clustering = "components",
    verify: StarVerifier | None = None,
    threshold: float | None = None,
) -> ClusterDecision:
    """Clusters of ``edges`` over ``n`` rows, one kept row per cluster.

    The kept row has the highest ``keep_score`` (all equal = the first row),
    ties broken by the smallest row; every other row of the cluster is
    removed with ``duplicate_of`` = the kept row. So a row is never removed
    without a kept representative. With ``clustering="star"``, clusters are
    greedy stars and a removed row always has an edge to its kept row;
    ``verify`` (with ``threshold``) lets star compare the rows it needs to
    (see the module docs).

    >>> d = decide_clusters(4, np.array([[0, 2], [2, 3]], np.uint64), np.array([0.9, 0.85]))
    >>> d.removed.tolist(), d.duplicate_of.tolist(), d.cluster_id.tolist()
    ([False, False, True, True], [-1, -1, 0, 0], [0, -1, 0, 0])
    >>> s = decide_clusters(4, np.array([[0, 2], [2, 3]], np.uint64), np.array([0.9, 0.85]), clustering="star")
    >>> s.removed.tolist(), s.duplicate_of.tolist(), s.cluster_id.tolist()
    ([False, False, True, False], [-1, -1, 0, -1], [0, -1, 0, -1])
    """
    if clustering not in CLUSTERINGS:
        raise ParameterError(f"invalid parameter `clustering`: {clustering!r}; expected components or star")
    if verify is not None and threshold is None:
        raise ParameterError("decide_clusters: give `threshold` with `verify`")
    edges = np.ascontiguousarray(edges, dtype=np.uint64).reshape(-1, 2)
    similarity = np.ascontiguousarray(similarity, dtype=np.float64)
    reason = (
        np.zeros(len(edges), np.uint8) if reason is None else np.ascontiguousarray(reason, dtype=np.uint8)
    )
    score = None if keep_score is None else np.ascontiguousarray(keep_score, dtype=np.float64)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return ClusterDecision(np.zeros(0, bool), empty, empty, np.zeros(0), np.zeros(0, np.uint8), empty)
    added: list[np.ndarray] = []
    added_sims: list[np.ndarray] = []
    checked = _no_edges()
    rounds = verified = 0
    while True:
        arrays = _core.cluster_decision(
            n, edges, similarity, reason, score, clustering=clustering, checked=checked
        )
        todo = arrays.to_verify
        if verify is None or not len(todo) or rounds == STAR_ROUNDS:
            break
        assert threshold is not None
        rounds += 1
        verified += len(todo)
        sims, why = verify(todo)
        sims = np.asarray(sims, dtype=np.float64)
        ok = sims >= threshold
        edges = np.concatenate([edges, todo[ok]])
        similarity = np.concatenate([similarity, sims[ok]])
        reason = np.concatenate([reason, np.asarray(why, dtype=np.uint8)[ok]])
        checked = np.concatenate([checked, todo[~ok]])
        added.append(todo[ok])
        added_sims.append(sims[ok])
    return ClusterDecision(
        removed=arrays.removed,
        duplicate_of=arrays.duplicate_of,
        cluster_id=arrays.cluster_id,
        similarity=arrays.similarity,
        reason=arrays.reason,
        cluster_size=arrays.cluster_size,
        added_edges=np.concatenate(added) if added else _no_edges(),
        added_similarity=np.concatenate(added_sims) if added_sims else np.zeros(0),
        star_rounds=rounds,
        star_pairs_verified=verified,
        star_pairs_left=len(todo) if verify is not None else 0,
    )
