"""Node-link JSON and networkx forms of a lineage graph (what ``LineageGraph.to_dict`` and friends run).

The node-link form is ``{"directed", "multigraph", "graph", "nodes", "links"}``
as networkx writes it; reading it checks every entry and names the one that
is malformed (``nodes[3]``, ``links[7].evidence[0]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stemmatic._extras import require
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.lineage._files import describe, located
from stemmatic.lineage.names import AliasTable
from stemmatic.lineage.records import Evidence

if TYPE_CHECKING:
    from stemmatic.lineage.graph import LineageGraph

__all__ = ["from_networkx", "from_node_link", "to_networkx", "to_node_link"]


def to_node_link(graph: LineageGraph) -> dict[str, Any]:
    """The node-link form of ``graph``."""
    return {
        "directed": True,
        "multigraph": True,
        "graph": {"format": "stemmatic-lineage", "version": 1, "aliases": graph.aliases.to_dict()},
        "nodes": [graph.node(i).to_dict() for i in range(len(graph.keys))],
        "links": [edge.to_dict() for edge in graph.edges()],
    }


def from_node_link(cls: type[LineageGraph], data: dict[str, Any], where: str) -> LineageGraph:
    """A ``cls`` read from node-link ``data`` (``where`` names it in errors)."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise InvalidInputError(f"{where}: not node-link JSON (no 'nodes' list)")
    meta: dict[str, Any] = data["graph"] if isinstance(data.get("graph"), dict) else {}
    aliases = meta.get("aliases")
    with located(f"{where}: graph.aliases"):
        graph = cls(AliasTable.from_dict(aliases) if isinstance(aliases, dict) else None)
    links = data.get("links", data.get("edges", []))
    if not isinstance(links, list):
        raise InvalidInputError(f"{where}: field 'links' is {describe(links)}, not a list")
    for position, item in enumerate(data["nodes"]):
        with located(f"{where}: nodes[{position}]"):
            if not isinstance(item, dict):
                raise InvalidInputError(f"the entry is {describe(item)}, not an object")
            graph._add_node(
                item.get("id"),
                kind=item.get("kind"),
                name=item.get("name"),
                size=item.get("size"),
                domain=item.get("domain"),
                categories=item.get("categories"),
                licenses=item.get("licenses"),
                date=item.get("date"),
                source_kind=item.get("source_kind"),
                normalize=False,
                attrs=item.get("attrs"),
            )
    for position, item in enumerate(links):
        with located(f"{where}: links[{position}]"):
            if not isinstance(item, dict):
                raise InvalidInputError(f"the entry is {describe(item)}, not an object")
            ends = []
            for name in ("source", "target", "relation"):
                value = item.get(name)
                if not isinstance(value, str):
                    problem = "missing" if value is None else f"{describe(value)}, not a string"
                    raise InvalidInputError(f"field {name!r} is {problem}")
                ends.append(value)
            numbers = []
            for name, default in (("confidence", 1.0), ("fraction", None)):
                value = item.get(name, default)
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise InvalidInputError(f"field {name!r} is {describe(value)}, not a number")
                if value is not None and not 0.0 <= value <= 1.0:  # before float(): a huge int overflows
                    raise InvalidInputError(f"field {name!r} is {value!r:.40}, not in [0, 1]")
                numbers.append(None if value is None else float(value))
            evidence = item.get("evidence", [])
            if not isinstance(evidence, list):
                raise InvalidInputError(f"field 'evidence' is {describe(evidence)}, not a list")
            items = []
            for number, entry in enumerate(evidence):
                with located(f"evidence[{number}]"):
                    items.append(Evidence.from_dict(entry))
            try:
                source, target = graph.index(ends[0]), graph.index(ends[1])
            except ParameterError as err:
                raise InvalidInputError(f"field 'source' or 'target': {err}") from None
            graph.add_edge(
                source,
                target,
                ends[2],
                confidence=1.0 if numbers[0] is None else numbers[0],
                fraction=numbers[1],
                evidence=items,
            )
    return graph


def to_networkx(graph: LineageGraph) -> Any:
    """A ``networkx.MultiDiGraph`` keyed by node key, with every attribute."""
    nx = require("networkx", "networkx conversion of lineage graphs")
    out = nx.MultiDiGraph()
    for i in range(len(graph.keys)):
        data = graph.node(i).to_dict()
        out.add_node(data.pop("id"), **data)
    for edge in graph.edges():
        data = edge.to_dict()
        out.add_edge(data.pop("source"), data.pop("target"), key=edge.relation, **data)
    return out


def from_networkx(cls: type[LineageGraph], nx_graph: Any) -> LineageGraph:
    """A ``cls`` read from a networkx graph (edges need a ``relation`` attribute)."""
    nodes = [{"id": key, **data} for key, data in nx_graph.nodes(data=True)]
    links = [{"source": u, "target": v, **data} for u, v, data in nx_graph.edges(data=True)]
    return from_node_link(cls, {"nodes": nodes, "links": links}, where="networkx graph")
