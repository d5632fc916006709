"""Queries on a lineage graph: ancestry, impact, explained paths, statistics, ``as_of``.

Reachability runs in rustworkx (Rust); depths use one pass in topological
order over the columnar edge arrays.

>>> from stemmatic.lineage.graph import LineageGraph
>>> g = LineageGraph()
>>> for u, v in [("r/a", "m/b"), ("m/b", "m/c"), ("r/d", "m/c")]:
...     _ = g.add_edge(u, v, "derived")
>>> roots(g, "m/c")
['r/a', 'r/d']
>>> [(i.key, i.depth) for i in impact(g, "r/a").reached]
[('m/b', 1), ('m/c', 2)]
>>> [e.target for e in explain_path(g, "r/a", "m/c")]
['m/b', 'm/c']
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from stemmatic.exceptions import ParameterError
from stemmatic.lineage.graph import Edge, LineageGraph

__all__ = [
    "DomainStats",
    "Impact",
    "Reached",
    "ancestors",
    "as_of",
    "common_ancestors",
    "counts",
    "depths",
    "descendants",
    "domain_stats",
    "explain_path",
    "impact",
    "roots",
]


def ancestors(graph: LineageGraph, key: str | int) -> list[str]:
    """Keys of every node upstream of ``key``, sorted."""
    return sorted(graph.keys[i] for i in graph._rx.ancestors(graph.graph, graph.index(key)))


def descendants(graph: LineageGraph, key: str | int) -> list[str]:
    """Keys of every node downstream of ``key``, sorted."""
    return sorted(graph.keys[i] for i in graph._rx.descendants(graph.graph, graph.index(key)))


def roots(graph: LineageGraph, key: str | int | None = None) -> list[str]:
    """The root sources (no parents) upstream of ``key``, or of the whole graph.

    A node with no parents is its own root.
    """
    if key is None:
        candidates: Iterable[int] = range(graph.num_nodes)
    else:
        start = graph.index(key)
        candidates = graph._rx.ancestors(graph.graph, start) or {start}
    return sorted(graph.keys[i] for i in candidates if graph.graph.in_degree(i) == 0)


class Reached(NamedTuple):
    """A node reached downstream, at ``depth`` edges from the start (a named tuple: cheap by the million)."""

    key: str
    kind: str
    depth: int
    via: str


@dataclass
class Impact:
    """Everything downstream of a node, by kind."""

    start: str
    reached: list[Reached] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of reached nodes per kind."""
        out: dict[str, int] = {}
        for item in self.reached:
            out[item.kind] = out.get(item.kind, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "start": self.start,
            "counts": self.counts(),
            "reached": [{"key": r.key, "kind": r.kind, "depth": r.depth, "via": r.via} for r in self.reached],
        }


def impact(graph: LineageGraph, key: str | int, *, max_depth: int | None = None) -> Impact:
    """Breadth-first downstream impact of ``key``: every reached node with its depth and parent."""
    start = graph.index(key)
    out = Impact(graph.keys[start])
    # rustworkx walks the graph breadth-first in Rust; a node's first listing is at its least depth.
    depth = {start: 0}
    parent: dict[int, int] = {}
    for node, children in graph._rx.bfs_successors(graph.graph, start):
        below = depth[node] + 1
        if max_depth is not None and below > max_depth:
            continue
        for child in children:
            if child not in depth:
                depth[child] = below
                parent[child] = node
    nodes = np.fromiter(parent, dtype=np.int64, count=len(parent))
    levels = np.fromiter((depth[i] for i in parent), dtype=np.int64, count=len(parent))
    keys, kinds = graph.keys, graph.kinds
    out.reached = [
        Reached(keys[i], kinds[i], depth[i], keys[parent[i]])
        for i in nodes[np.lexsort((nodes, levels))].tolist()
    ]
    return out


def explain_path(graph: LineageGraph, source: str | int, target: str | int) -> list[Edge]:
    """The most credible path from ``source`` down to ``target``, as edges with their evidence.

    "Most credible" maximises the product of edge confidences (Dijkstra on
    ``-log(confidence)``), so a path through documented edges wins over one
    through guesses.

    Raises:
        ParameterError: if ``target`` is not downstream of ``source``.
    """
    u, v = graph.index(source), graph.index(target)
    cost = [-math.log(max(c, 1e-12)) + 1e-9 for c in graph.edge_confidence]
    paths = graph._rx.digraph_dijkstra_shortest_paths(
        graph.graph, u, target=v, weight_fn=lambda eid: cost[eid]
    )
    if v not in paths:
        raise ParameterError(f"{graph.keys[v]!r} is not downstream of {graph.keys[u]!r}")
    nodes = list(paths[v])
    edges = []
    for a, b in itertools.pairwise(nodes):
        best = min((int(eid) for _, t, eid in graph.graph.out_edges(a) if t == b), key=lambda eid: cost[eid])
        edges.append(graph.edge(best))
    return edges


def common_ancestors(graph: LineageGraph, a: str | int, b: str | int, *, lowest: bool = False) -> list[str]:
    """Nodes upstream of both ``a`` and ``b`` (``lowest=True``: only those with no
    common ancestor below them — the nearest shared sources)."""
    rx = graph._rx
    ia, ib = graph.index(a), graph.index(b)
    shared = (rx.ancestors(graph.graph, ia) | {ia}) & (rx.ancestors(graph.graph, ib) | {ib})
    if lowest:
        shared = {n for n in shared if not (rx.descendants(graph.graph, n) & shared)}
    return sorted(graph.keys[i] for i in shared)


def depths(graph: LineageGraph) -> np.ndarray:
    """Longest path length from any root to each node (``int64``; a root has depth 0).

    Nodes on cycles are ordered by rustworkx's condensation-free fallback: the
    cycle's edges that close a loop are ignored (cut cycles first with
    :func:`~stemmatic.lineage.hygiene.break_cycles` for exact numbers).
    """
    n = graph.num_nodes
    depth = np.zeros(n, dtype=np.int64)
    rx = graph._rx
    try:
        order = rx.topological_sort(graph.graph)
    except rx.DAGHasCycle:
        order = _order_ignoring_cycles(graph)
    position = np.empty(n, dtype=np.int64)
    position[np.asarray(order, dtype=np.int64)] = np.arange(n)
    alive = np.fromiter(graph.edge_ids(), dtype=np.int64)
    if alive.size == 0:
        return depth
    src = np.asarray(graph.edge_source, dtype=np.int64)[alive]
    dst = np.asarray(graph.edge_target, dtype=np.int64)[alive]
    forward = position[src] < position[dst]
    src, dst = src[forward], dst[forward]
    # Relax edges grouped by the topological position of their source: after
    # all edges out of positions < p are relaxed, depth[p] is final.
    sort = np.argsort(position[src], kind="stable")
    src, dst = src[sort], dst[sort]
    keys = position[src]
    boundaries = np.flatnonzero(np.diff(keys)) + 1
    for chunk_src, chunk_dst in zip(np.split(src, boundaries), np.split(dst, boundaries), strict=True):
        np.maximum.at(depth, chunk_dst, depth[chunk_src] + 1)
    return depth


def _order_ignoring_cycles(graph: LineageGraph) -> list[int]:
    rx = graph._rx
    order: list[int] = []
    for component in rx.strongly_connected_components(graph.graph)[::-1]:
        order.extend(sorted(component))
    return order


@dataclass(frozen=True)
class DomainStats:
    """Per-domain structure (the lineage paper's Table 1)."""

    domain: str
    nodes: int
    mean_depth: float
    max_depth: int
    mean_in_degree: float
    mean_out_degree: float
    roots: int
    leaves: int


def domain_stats(
    graph: LineageGraph, *, kinds: Iterable[str] = ("dataset", "collection"), by: str = "domain"
) -> list[DomainStats]:
    """Depth and degree statistics per domain over nodes of the given kinds, sorted by domain.

    ``by="domain"`` counts each node once, under its domain (``unknown`` when it has
    none); ``by="category"`` counts it under each of its categories, lower-cased (the
    lineage paper's per-domain table, where a dataset tagged Math and Code counts in
    both). Depth is the longest path from a root of the whole graph; roots have no
    parent and leaves no child.

    Raises:
        ParameterError: if ``by`` is neither ``domain`` nor ``category``.
    """
    if by not in ("domain", "category"):
        raise ParameterError(f"by must be 'domain' or 'category', not {by!r}")
    wanted = set(kinds)
    depth = depths(graph)
    by_domain: dict[str, list[int]] = {}
    for i in range(graph.num_nodes):
        if graph.kinds[i] not in wanted:
            continue
        if by == "domain":
            labels = [graph.domains[i] or "unknown"]
        else:
            labels = list(dict.fromkeys(c.strip().lower() for c in graph.categories[i] if c.strip()))
        for label in labels or ["unknown"]:
            by_domain.setdefault(label, []).append(i)
    out = []
    for domain, members in sorted(by_domain.items()):
        idx = np.asarray(members)
        indeg = np.array([graph.graph.in_degree(i) for i in members])
        outdeg = np.array([graph.graph.out_degree(i) for i in members])
        out.append(
            DomainStats(
                domain,
                len(members),
                float(depth[idx].mean()),
                int(depth[idx].max()),
                float(indeg.mean()),
                float(outdeg.mean()),
                int((indeg == 0).sum()),
                int((outdeg == 0).sum()),
            )
        )
    return out


def as_of(graph: LineageGraph, date: str, *, include_undated: bool = True) -> LineageGraph:
    """The graph as it could have been known on ``date``: nodes dated after it are dropped.

    Dates compare at the precision both sides have (``2023`` is not after
    ``2023-06-01``). Undated nodes are kept unless ``include_undated=False``.
    """
    date = str(date)
    keep = []
    for i, node_date in enumerate(graph.dates):
        if node_date is None:
            if include_undated:
                keep.append(i)
            continue
        width = min(len(node_date), len(date))
        if node_date[:width] <= date[:width]:
            keep.append(i)
    return graph.subgraph(keep)


def counts(graph: LineageGraph) -> dict[str, dict[str, int]]:
    """Nodes per kind and edges per relation, in order of first appearance.

    >>> g = LineageGraph(); _ = g.add_edge("a/x", "b/y", "subset"); _ = g.add_edge("b/y", "model:c/z", "trained_on")
    >>> counts(g)
    {'kinds': {'dataset': 2, 'model': 1}, 'relations': {'subset': 1, 'trained_on': 1}}
    """
    kinds: dict[str, int] = {}
    for kind in graph.kinds:
        kinds[kind] = kinds.get(kind, 0) + 1
    relations: dict[str, int] = {}
    for eid in graph.edge_ids():
        relations[graph.edge_relation[eid]] = relations.get(graph.edge_relation[eid], 0) + 1
    return {"kinds": kinds, "relations": relations}
