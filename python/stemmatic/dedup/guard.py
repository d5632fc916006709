"""The giant-component guard: split clusters above a size cap by verified similarity.

Connected components chain: ``a~b``, ``b~c``, ... can link thousands of rows
that are not near-duplicates of each other (templated pages, boilerplate with
one changing line). Above ``max_size`` rows, a component is rebuilt from its
own edges in descending similarity (ties by the smaller pair), Kruskal-style,
and an edge is accepted only if the two sub-clusters it joins stay within
``max_size`` together; so the strongest links survive and the chains break.
Components at or under the cap are untouched, so a guard that never fires
changes nothing.

The loop runs in Rust (``stemmatic_core::cluster::split_giant_components``,
O(m log m) whatever ``n`` is). A pure function of its arrays, usable by
every engine (local, Ray, Spark): the engines call it on the edges of one
component at a time.
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
    similarity = np.ascontiguousarray(similarity, dtype=np.float64)
    result = _core.split_giant_components(n, edges, similarity, max_size)
    split = [
        SplitCluster(label=int(label), size=int(size), parts=tuple(parts))
        for label, size, parts in result.split
    ]
    return GuardResult(result.keep, split)
