"""Hygiene of a lineage graph: what documentation got wrong or left open.

* **cycles** — lineage must be acyclic, documentation is not; each strongly
  connected component is reported with one cycle and the *weakest* edge on it
  (lowest confidence, then lowest relation transmission, then fewest pieces
  of evidence, then an edge whose parent is dated after its child);
* **temporal violations** — a parent dated after its child;
* **self-inclusions** — a dataset cited as its own source (importers record
  them instead of adding the loop) and two-node cycles;
* **dangling** nodes (no edge at all) and **unresolved** names, with the
  candidates an alias could pick between.

>>> from stemmatic.lineage.graph import LineageGraph
>>> g = LineageGraph()
>>> _ = g.add_edge("a/x", "b/y", "derived", confidence=0.9)
>>> _ = g.add_edge("b/y", "a/x", "derived", confidence=0.4)
>>> report = hygiene_report(g)
>>> report.cycles[0].weakest.source, report.cycles[0].weakest.target
('b/y', 'a/x')
>>> [e.target for e in break_cycles(g)], g.num_edges
(['a/x'], 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stemmatic.lineage.graph import Edge, LineageGraph
from stemmatic.lineage.relations import TRANSMISSION

__all__ = ["Cycle", "HygieneReport", "break_cycles", "hygiene_report"]


@dataclass(frozen=True)
class Cycle:
    """A strongly connected component, one cycle through it and the edge to cut."""

    component: tuple[str, ...]
    cycle: tuple[Edge, ...]
    weakest: Edge


@dataclass
class HygieneReport:
    """Everything :func:`hygiene_report` found."""

    cycles: list[Cycle] = field(default_factory=list)
    temporal_violations: list[Edge] = field(default_factory=list)
    self_inclusions: list[tuple[str, str]] = field(default_factory=list)
    dangling: list[str] = field(default_factory=list)
    unresolved: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether nothing at all was found."""
        return not (
            self.cycles
            or self.temporal_violations
            or self.self_inclusions
            or self.dangling
            or self.unresolved
        )

    def summary(self) -> dict[str, int]:
        """Counts per kind of problem."""
        return {
            "cycles": len(self.cycles),
            "temporal_violations": len(self.temporal_violations),
            "self_inclusions": len(self.self_inclusions),
            "dangling": len(self.dangling),
            "unresolved": len(self.unresolved),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready report."""
        return {
            "summary": self.summary(),
            "cycles": [
                {
                    "component": list(c.component),
                    "cycle": [e.to_dict() for e in c.cycle],
                    "cut": c.weakest.to_dict(),
                }
                for c in self.cycles
            ],
            "temporal_violations": [e.to_dict() for e in self.temporal_violations],
            "self_inclusions": [list(pair) for pair in self.self_inclusions],
            "dangling": self.dangling,
            "unresolved": self.unresolved,
        }


def _is_temporal_violation(graph: LineageGraph, edge_id: int) -> bool:
    parent = graph.dates[graph.edge_source[edge_id]]
    child = graph.dates[graph.edge_target[edge_id]]
    if parent is None or child is None:
        return False
    width = min(len(parent), len(child))
    return parent[:width] > child[:width]


def _weakness(graph: LineageGraph, edge_id: int) -> tuple[float, float, int, int, int]:
    return (
        graph.edge_confidence[edge_id],
        TRANSMISSION[graph.edge_relation[edge_id]],
        len(graph.edge_evidence[edge_id]),
        0 if _is_temporal_violation(graph, edge_id) else 1,
        -edge_id,
    )


def _cycles(graph: LineageGraph) -> list[Cycle]:
    rx = graph._rx
    out = []
    for component in rx.strongly_connected_components(graph.graph):
        if len(component) < 2:
            continue
        members = set(component)
        start = min(members)
        sub_edges = [eid for _, _, eid in graph.graph.out_edges(start) if graph.edge_target[eid] in members]
        cycle_ids = _find_cycle(graph, start, members) if sub_edges else []
        if not cycle_ids:
            continue
        weakest = min(cycle_ids, key=lambda eid: _weakness(graph, eid))
        out.append(
            Cycle(
                tuple(sorted(graph.keys[i] for i in members)),
                tuple(graph.edge(e) for e in cycle_ids),
                graph.edge(weakest),
            )
        )
    return sorted(out, key=lambda c: c.component)


def _find_cycle(graph: LineageGraph, start: int, members: set[int]) -> list[int]:
    """Edge ids of a shortest cycle through ``start`` inside one component (BFS)."""
    from collections import deque

    parent_edge: dict[int, int] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for eid in sorted(int(e) for _, _, e in graph.graph.out_edges(node)):
            nxt = graph.edge_target[eid]
            if nxt not in members:
                continue
            if nxt == start:
                path = [eid]
                while node != start:
                    back = parent_edge[node]
                    path.append(back)
                    node = graph.edge_source[back]
                return path[::-1]
            if nxt not in seen:
                seen.add(nxt)
                parent_edge[nxt] = eid
                queue.append(nxt)
    return []


def hygiene_report(graph: LineageGraph) -> HygieneReport:
    """Cycles, temporal violations, self-inclusions, dangling and unresolved nodes."""
    report = HygieneReport(cycles=_cycles(graph))
    for eid in graph.edge_ids():
        if _is_temporal_violation(graph, eid):
            report.temporal_violations.append(graph.edge(eid))
        u, v = graph.edge_source[eid], graph.edge_target[eid]
        if u < v and graph.graph.has_edge(v, u):
            report.self_inclusions.append((graph.keys[u], graph.keys[v]))
    for i, key in enumerate(graph.keys):
        for name in graph.get_attr(i, "self_inclusion") or []:
            report.self_inclusions.append((key, str(name)))
        if graph.kinds[i] == "unresolved":
            if graph.get_attr(i, "resolved_to"):
                continue
            report.unresolved[key] = [
                k for k in graph.aliases.candidates(graph.names[i]) if not k.startswith("unresolved:")
            ]
        elif graph.graph.in_degree(i) == 0 and graph.graph.out_degree(i) == 0:
            report.dangling.append(key)
    return report


def break_cycles(graph: LineageGraph) -> list[Edge]:
    """Remove the weakest edge of each cycle until the graph is acyclic; return the cut edges."""
    cut: list[Edge] = []
    while True:
        cycles = _cycles(graph)
        if not cycles:
            return cut
        for cycle in cycles:
            cut.append(cycle.weakest)
            graph.remove_edge(cycle.weakest.index)
