"""The giant-component guard: split clusters above a size cap by verified similarity.

Connected components chain: ``a~b``, ``b~c``, ... can link thousands of rows
that are not near-duplicates of each other (templated pages, boilerplate with
one changing line). Above ``max_size`` rows, a component is rebuilt from its
own edges in descending similarity (ties by the smaller pair), Kruskal-style,
and an edge is accepted only if the two sub-clusters it joins stay within
``max_size`` together; so the strongest links survive and the chains break.
Components at or under the cap are untouched, so a guard that never fires
changes nothing.

A pure function of its arrays, usable by every engine (local, Ray, Spark):
the engines call it on the edges of one component at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stemmatic import _core
from stemmatic.exceptions import ParameterError

__all__ = ["GuardResult", "SplitCluster", "split_giant_components"]


@dataclass(frozen=True)
class SplitCluster:
    """A component above the cap and what it was split into."""

    #: The component's smallest row (its label before the split).
    label: int
    #: Rows in the component.
    size: int
    #: Sizes of the clusters it was split into, largest first (singletons included).
    parts: tuple[int, ...]


@dataclass(frozen=True)
class GuardResult:
    """Which edges to keep, and the components that were split."""

    #: Boolean mask over the input edges: True = keep.
    keep: np.ndarray
    #: One entry per component above the cap, ordered by label.
    split: list[SplitCluster] = field(default_factory=list)

    def report(self) -> dict[str, object]:
        """A JSON-ready summary for run reports."""
        return {
            "split_components": len(self.split),
            "rows_in_split_components": sum(s.size for s in self.split),
            "largest_split_component": max((s.size for s in self.split), default=0),
            "components": [{"label": s.label, "size": s.size, "parts": list(s.parts)} for s in self.split],
        }


def split_giant_components(n: int, edges: np.ndarray, similarity: np.ndarray, max_size: int) -> GuardResult:
    """Keep the edges of components of at most ``max_size`` rows; split larger ones.

    Args:
        n: number of rows (every edge end is below ``n``).
        edges: ``(m, 2)`` row pairs (verified near- or exact-duplicate edges).
        similarity: ``(m,)`` similarity of each edge.
        max_size: largest cluster allowed (at least 2).

    Returns:
        The edges to keep and, per split component, its size and parts. The
        kept edges give components of at most ``max_size`` rows.

    >>> chain = np.array([[0, 1], [1, 2], [2, 3], [3, 4]], np.uint64)
    >>> result = split_giant_components(5, chain, np.array([0.9, 0.95, 0.8, 0.99]), max_size=2)
    >>> result.keep.tolist(), result.split[0].parts
    ([False, True, False, True], (2, 2, 1))
    """
    if max_size < 2:
        raise ParameterError(f"invalid parameter `max_cluster_size`: {max_size}; must be at least 2")
    edges = np.ascontiguousarray(edges, dtype=np.uint64).reshape(-1, 2)
    similarity = np.asarray(similarity, dtype=np.float64)
    keep = np.ones(len(edges), dtype=bool)
    if not len(edges):
        return GuardResult(keep)
    # Work on the rows that have edges only, renumbered densely in order, so
    # the guard costs O(m log m) whatever n is (labels stay smallest rows).
    nodes, inverse = np.unique(edges.ravel(), return_inverse=True)
    if int(nodes[-1]) >= n:
        raise ParameterError(f"edge names row {int(nodes[-1])}, but there are {n} rows")
    dense = inverse.reshape(-1, 2).astype(np.uint64)
    labels = _core.connected_components(len(nodes), dense).astype(np.int64)
    sizes = np.bincount(labels, minlength=len(nodes))
    edge_label = labels[dense[:, 0].astype(np.int64)]
    giant = np.flatnonzero(sizes > max_size)
    split: list[SplitCluster] = []
    for label in giant:
        members = np.flatnonzero(labels == label)
        in_comp = np.flatnonzero(edge_label == label)
        keep[in_comp] = False
        comp_edges = dense[in_comp].astype(np.int64)
        a, b = comp_edges[:, 0], comp_edges[:, 1]
        order = np.lexsort((b, a, -similarity[in_comp]))
        parent = {int(m): int(m) for m in members}
        size = dict.fromkeys(parent, 1)

        def find(x: int, parent: dict[int, int] = parent) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i in order:
            ra, rb = find(int(a[i])), find(int(b[i]))
            if ra == rb:
                keep[in_comp[i]] = True
                continue
            if size[ra] + size[rb] > max_size:
                continue
            if size[ra] < size[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
            size[ra] += size[rb]
            keep[in_comp[i]] = True
        roots = [find(int(m)) for m in members]
        parts = np.bincount(np.unique(roots, return_inverse=True)[1])
        split.append(
            SplitCluster(
                label=int(nodes[members[0]]),
                size=len(members),
                parts=tuple(int(p) for p in sorted(parts.tolist(), reverse=True)),
            )
        )
    return GuardResult(keep, split)
