"""The lineage graph: typed, evidenced edges between datasets, models and benchmarks.

:class:`LineageGraph` keeps its topology in a ``rustworkx.PyDiGraph`` (Rust
adjacency, so ancestry and reachability stay fast at a million nodes) and its
attributes *columnar*: node ``i``'s key is ``keys[i]``, its size ``sizes[i]``
and so on, with an interner (``key -> i``). Node payloads in the rustworkx
graph are the node index itself and edge payloads the edge id, so the graph
never holds a Python object per element beyond an int.

Edges point upstream → downstream. One edge exists per ``(source, target,
relation)``; adding it again (from another card, or from measured content)
appends the evidence and combines confidences as independent witnesses
(``1 - (1-a)(1-b)``).

>>> g = LineageGraph()
>>> _ = g.add_edge("tatsu-lab/alpaca", "yahma/alpaca-cleaned", "filter",
...                evidence=Evidence("card", quote="cleaned version of Alpaca"))
>>> g.node("yahma/alpaca-cleaned").kind, g.num_edges
('dataset', 1)
>>> [e.relation for e in g.in_edges("yahma/alpaca-cleaned")]
['filter']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from stemmatic._extras import require
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.lineage.names import (
    COLLECTION_PREFIX,
    MODEL_PREFIX,
    UNRESOLVED_PREFIX,
    AliasTable,
    normalize_key,
)
from stemmatic.lineage.records import NODE_KINDS, Edge, Evidence, Node
from stemmatic.lineage.relations import check_relation

__all__ = ["NODE_KINDS", "Edge", "Evidence", "LineageGraph", "Node"]


def _is_repo_key(key: str) -> bool:
    """Whether ``key`` is a whole ``org/name`` repository (no config, split or revision, no prefix)."""
    return "/" in key and not any(c in key for c in ":@#") and not key.startswith("github.com/")


def _kind_of_key(key: str) -> str:
    if key.startswith(MODEL_PREFIX):
        return "model"
    if key.startswith(UNRESOLVED_PREFIX):
        return "unresolved"
    if key.startswith(COLLECTION_PREFIX):
        return "collection"
    return "dataset"


class LineageGraph:
    """A directed multigraph of lineage with columnar attributes.

    Args:
        aliases: the alias table used by :meth:`resolve`; a new one by default.

    Raises:
        MissingExtraError: if rustworkx is not installed (``stemmatic[lineage]``).
    """

    def __init__(self, aliases: AliasTable | None = None) -> None:
        rx = require("rustworkx", "lineage graphs")
        self._rx = rx
        self.graph = rx.PyDiGraph(multigraph=True)
        self.aliases = aliases if aliases is not None else AliasTable()
        self._index: dict[str, int] = {}
        self.keys: list[str] = []
        self.kinds: list[str] = []
        self.names: list[str] = []
        self.sizes: list[int | None] = []
        self.domains: list[str | None] = []
        self.categories: list[tuple[str, ...]] = []
        self.licenses: list[tuple[str, ...]] = []
        self.dates: list[str | None] = []
        self.source_kinds: list[str | None] = []
        self.attrs: list[dict[str, Any] | None] = []
        self._edge_key: dict[tuple[int, int, str], int] = {}
        self.edge_source: list[int] = []
        self.edge_target: list[int] = []
        self.edge_relation: list[str] = []
        self.edge_confidence: list[float] = []
        self.edge_fraction: list[float | None] = []
        self.edge_evidence: list[list[Evidence]] = []
        self._edge_rx: list[int] = []
        self._edge_alive: list[bool] = []
        self._num_edges = 0

    # ------------------------------------------------------------------ nodes
    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            return normalize_key(key) in self._index
        except InvalidInputError:
            return False

    def has_key(self, key: str) -> bool:
        """Whether ``key`` is exactly a node key (no normalisation, no aliases)."""
        return key in self._index

    @property
    def num_nodes(self) -> int:
        """Number of nodes."""
        return len(self.keys)

    @property
    def num_edges(self) -> int:
        """Number of live edges."""
        return self._num_edges

    def index(self, key: str | int) -> int:
        """The index of a node given its key (or alias) or index.

        Raises:
            ParameterError: if no node has that key.
        """
        if isinstance(key, int):
            if not 0 <= key < len(self.keys):
                raise ParameterError(f"no node with index {key}")
            return key
        found = self._index.get(key)
        if found is not None:
            return found
        try:
            found = self._index.get(normalize_key(key))
        except InvalidInputError:
            found = None
        if found is None:
            alias = self.aliases.resolve(key)
            found = self._index.get(alias) if alias is not None else None
        if found is None:
            raise ParameterError(f"no node {key!r} in the lineage graph")
        return found

    def get_index(self, key: str) -> int | None:
        """Like :meth:`index` but ``None`` when absent."""
        try:
            return self.index(key)
        except ParameterError:
            return None

    def add_node(
        self,
        key: str,
        /,
        *,
        kind: str | None = None,
        name: str | None = None,
        size: int | None = None,
        domain: str | None = None,
        categories: Iterable[str] = (),
        licenses: Iterable[str] = (),
        date: str | None = None,
        source_kind: str | None = None,
        normalize: bool = True,
        **attrs: Any,
    ) -> int:
        """Add a node or fill in the attributes an existing one lacks; return its index.

        Existing values are never overwritten, except that a ``dataset`` may be
        promoted to ``benchmark`` or ``collection``.

        Raises:
            InvalidInputError: naming the node and field, for a key that is not a
                non-empty string, an unknown kind, a size that is not an integer in
                [0, 2**63), a date that is not ``YYYY[-MM[-DD]]``, text fields that
                are not strings, categories or licences that are not lists of strings,
                or attributes that are not JSON data nested at most 64 deep.
        """
        return self._add_node(
            key,
            kind=kind,
            name=name,
            size=size,
            domain=domain,
            categories=categories,
            licenses=licenses,
            date=date,
            source_kind=source_kind,
            normalize=normalize,
            attrs=attrs,
        )

    def _add_node(self, key: Any, *, normalize: bool = True, **fields: Any) -> int:
        """:meth:`add_node` with its fields as a file holds them (``kind``, ``name``, ... ``attrs``).

        The one place a node is added: every field is checked (:meth:`Node.checked`), so loaders
        hand over what a file holds and name the file and record around the error.
        """
        checked = Node.checked(key, normalize=normalize, **fields)
        node_key = checked.key
        index = self._index.get(node_key)
        if index is None:
            index = len(self.keys)
            self._index[node_key] = index
            self.keys.append(node_key)
            self.kinds.append(checked.kind or _kind_of_key(node_key))
            self.names.append(checked.name or node_key)
            self.sizes.append(checked.size)
            self.domains.append(checked.domain)
            self.categories.append(tuple(dict.fromkeys(checked.categories)))
            self.licenses.append(tuple(dict.fromkeys(checked.licenses)))
            self.dates.append(checked.date)
            self.source_kinds.append(checked.source_kind)
            self.attrs.append(dict(checked.attrs) if checked.attrs else None)
            self.graph.add_node(index)
            if self.kinds[index] in ("dataset", "benchmark") and _is_repo_key(node_key):
                # Every importer's repositories answer to their bare names the same way.
                self.aliases.add_repo(node_key)
            return index
        if self.kinds[index] == "dataset" and checked.kind in ("benchmark", "collection"):
            self.kinds[index] = checked.kind
        if checked.name and self.names[index] == node_key:
            self.names[index] = checked.name
        if self.sizes[index] is None:
            self.sizes[index] = checked.size
        if self.domains[index] is None:
            self.domains[index] = checked.domain
        if checked.categories:
            self.categories[index] = tuple(dict.fromkeys((*self.categories[index], *checked.categories)))
        if checked.licenses:
            self.licenses[index] = tuple(dict.fromkeys((*self.licenses[index], *checked.licenses)))
        if self.dates[index] is None:
            self.dates[index] = checked.date
        if self.source_kinds[index] is None:
            self.source_kinds[index] = checked.source_kind
        if checked.attrs:
            merged = dict(checked.attrs)
            merged.update(self.attrs[index] or {})
            self.attrs[index] = merged
        return index

    def add_nodes_bulk(self, keys: Sequence[str], *, kind: str = "dataset") -> range:
        """Append many new nodes with keys that are already canonical and unique.

        The fast path for generated and imported-at-scale graphs: no
        normalisation and no attribute merge (repositories are registered in the
        alias table, as :meth:`add_node` registers them).

        Raises:
            InvalidInputError: if a key is already in the graph or repeated.
        """
        if kind not in NODE_KINDS:
            raise InvalidInputError(f"kind {kind!r} is not one of {', '.join(NODE_KINDS)}")
        start = len(self.keys)
        for offset, key in enumerate(keys):
            if self._index.setdefault(key, start + offset) != start + offset:
                for undo in keys[:offset]:
                    del self._index[undo]
                raise InvalidInputError(f"node key {key!r} is already in the graph")
        count = len(keys)
        self.keys.extend(keys)
        self.kinds.extend([kind] * count)
        self.names.extend(keys)
        self.sizes.extend([None] * count)
        self.domains.extend([None] * count)
        self.categories.extend([()] * count)
        self.licenses.extend([()] * count)
        self.dates.extend([None] * count)
        self.source_kinds.extend([None] * count)
        self.attrs.extend([None] * count)
        self.graph.add_nodes_from(range(start, start + count))
        if kind in ("dataset", "benchmark"):
            self.aliases.add_canonical_repos(key for key in keys if _is_repo_key(key))
        return range(start, start + count)

    def node(self, key: str | int) -> Node:
        """A snapshot of a node's attributes."""
        i = self.index(key)
        return Node(
            i,
            self.keys[i],
            self.kinds[i],
            self.names[i],
            self.sizes[i],
            self.domains[i],
            self.categories[i],
            self.licenses[i],
            self.dates[i],
            self.source_kinds[i],
            dict(self.attrs[i] or {}),
        )

    def nodes(self, kind: str | None = None) -> Iterator[Node]:
        """Every node (of one kind, if given), in index order."""
        for i in range(len(self.keys)):
            if kind is None or self.kinds[i] == kind:
                yield self.node(i)

    def set_attr(self, key: str | int, name: str, value: Any) -> None:
        """Set one extra attribute of a node (overwriting)."""
        i = self.index(key)
        extra = self.attrs[i] or {}
        extra[name] = value
        self.attrs[i] = extra

    def get_attr(self, key: str | int, name: str, default: Any = None) -> Any:
        """One extra attribute of a node."""
        return (self.attrs[self.index(key)] or {}).get(name, default)

    def resolve(self, name: str) -> str | None:
        """The key of the node ``name`` stands for (key, URL or alias), or ``None``."""
        found = self.get_index(name)
        return self.keys[found] if found is not None else None

    # ------------------------------------------------------------------ edges
    def add_edge(
        self,
        source: str | int,
        target: str | int,
        relation: str,
        *,
        confidence: float = 1.0,
        fraction: float | None = None,
        evidence: Evidence | Iterable[Evidence] | None = None,
    ) -> int:
        """Add (or reinforce) the edge ``source -relation-> target``; return its id.

        Keys that are not in the graph become nodes, with the kind their prefix
        implies (``model:``, ``unresolved:``, ``collection:``, else dataset).

        Raises:
            InvalidInputError: for an unknown relation, a confidence or
                fraction outside [0, 1], or a self-loop.
        """
        rel = check_relation(relation)
        if not 0.0 <= confidence <= 1.0 or math.isnan(confidence):
            raise InvalidInputError(f"edge {source!r} -> {target!r}: confidence {confidence} not in [0, 1]")
        if fraction is not None and not 0.0 <= fraction <= 1.0:
            raise InvalidInputError(f"edge {source!r} -> {target!r}: fraction {fraction} not in [0, 1]")
        u = source if isinstance(source, int) else self._ensure(source)
        v = target if isinstance(target, int) else self._ensure(target)
        if u == v:
            raise InvalidInputError(f"edge {self.keys[u]!r} -> itself: a dataset cannot derive from itself")
        items: list[Evidence]
        if evidence is None:
            items = []
        elif isinstance(evidence, Evidence):
            items = [evidence]
        else:
            items = list(evidence)
        existing = self._edge_key.get((u, v, rel))
        if existing is not None:
            for item in items:
                if item not in self.edge_evidence[existing]:
                    self.edge_evidence[existing].append(item)
            old = self.edge_confidence[existing]
            self.edge_confidence[existing] = 1.0 - (1.0 - old) * (1.0 - confidence)
            if self.edge_fraction[existing] is None:
                self.edge_fraction[existing] = fraction
            return existing
        eid = len(self.edge_source)
        self._edge_key[(u, v, rel)] = eid
        self.edge_source.append(u)
        self.edge_target.append(v)
        self.edge_relation.append(rel)
        self.edge_confidence.append(float(confidence))
        self.edge_fraction.append(fraction)
        self.edge_evidence.append(items)
        self._edge_rx.append(self.graph.add_edge(u, v, eid))
        self._edge_alive.append(True)
        self._num_edges += 1
        return eid

    def add_edges_bulk(
        self, sources: Sequence[int], targets: Sequence[int], relation: str, *, confidence: float = 1.0
    ) -> range:
        """Append many new edges between node indices (no duplicate merging, no evidence).

        The fast path for generated graphs; the caller guarantees no
        ``(source, target, relation)`` repeats and no self-loops.

        Raises:
            InvalidInputError: for an unknown relation or unequal lengths.
        """
        rel = check_relation(relation)
        if len(sources) != len(targets):
            raise InvalidInputError("add_edges_bulk: sources and targets differ in length")
        start = len(self.edge_source)
        count = len(sources)
        src = [int(s) for s in sources]
        dst = [int(t) for t in targets]
        self._edge_key.update(
            zip(zip(src, dst, [rel] * count, strict=True), range(start, start + count), strict=True)
        )
        self.edge_source.extend(src)
        self.edge_target.extend(dst)
        self.edge_relation.extend([rel] * count)
        self.edge_confidence.extend([float(confidence)] * count)
        self.edge_fraction.extend([None] * count)
        self.edge_evidence.extend([] for _ in range(count))
        self._edge_rx.extend(
            self.graph.add_edges_from(list(zip(src, dst, range(start, start + count), strict=True)))
        )
        self._edge_alive.extend([True] * count)
        self._num_edges += count
        return range(start, start + count)

    def _ensure(self, key: str) -> int:
        found = self.get_index(key)
        return found if found is not None else self.add_node(key)

    def _check_edge(self, edge: int) -> None:
        if not 0 <= edge < len(self._edge_alive) or not self._edge_alive[edge]:
            raise ParameterError(f"no edge with id {edge}")

    def remove_edge(self, edge: int) -> None:
        """Remove an edge by id (its id is never reused).

        Raises:
            ParameterError: if there is no live edge with that id.
        """
        self._check_edge(edge)
        self.graph.remove_edge_from_index(self._edge_rx[edge])
        self._edge_alive[edge] = False
        del self._edge_key[(self.edge_source[edge], self.edge_target[edge], self.edge_relation[edge])]
        self._num_edges -= 1

    def edge(self, edge: int) -> Edge:
        """A snapshot of one edge.

        Raises:
            ParameterError: if there is no live edge with that id.
        """
        self._check_edge(edge)
        return Edge(
            edge,
            self.keys[self.edge_source[edge]],
            self.keys[self.edge_target[edge]],
            self.edge_relation[edge],
            self.edge_confidence[edge],
            self.edge_fraction[edge],
            tuple(self.edge_evidence[edge]),
        )

    def edge_ids(self) -> Iterator[int]:
        """Ids of the live edges, in insertion order."""
        return (i for i, alive in enumerate(self._edge_alive) if alive)

    def edges(self) -> Iterator[Edge]:
        """Every live edge, in insertion order."""
        return (self.edge(i) for i in self.edge_ids())

    def find_edge(self, source: str | int, target: str | int, relation: str | None = None) -> int | None:
        """The id of a live edge between two nodes (of a relation, if given), else ``None``."""
        u, v = self.index(source), self.index(target)
        if relation is not None:
            return self._edge_key.get((u, v, check_relation(relation)))
        for _, _, eid in self.graph.out_edges(u):
            if self.edge_target[eid] == v:
                return int(eid)
        return None

    def in_edges(self, key: str | int) -> list[Edge]:
        """The edges into a node (its documented parents)."""
        return sorted(
            (self.edge(int(eid)) for _, _, eid in self.graph.in_edges(self.index(key))), key=lambda e: e.index
        )

    def out_edges(self, key: str | int) -> list[Edge]:
        """The edges out of a node (what was made from it)."""
        return sorted(
            (self.edge(int(eid)) for _, _, eid in self.graph.out_edges(self.index(key))),
            key=lambda e: e.index,
        )

    def parents(self, key: str | int) -> list[str]:
        """Keys of the direct upstream nodes, sorted."""
        return sorted({self.keys[i] for i in self.graph.predecessor_indices(self.index(key))})

    def children(self, key: str | int) -> list[str]:
        """Keys of the direct downstream nodes, sorted."""
        return sorted({self.keys[i] for i in self.graph.successor_indices(self.index(key))})

    # ------------------------------------------------------------ conversions
    def subgraph(self, nodes: Iterable[int]) -> LineageGraph:
        """A new graph of the given node indices and the edges between them."""
        keep = sorted(set(nodes))
        out = LineageGraph(self.aliases)
        for i in keep:
            out._copy_node_from(self, i)
        kept = set(keep)
        for eid in self.edge_ids():
            u, v = self.edge_source[eid], self.edge_target[eid]
            if u in kept and v in kept:
                out.add_edge(
                    out._index[self.keys[u]],
                    out._index[self.keys[v]],
                    self.edge_relation[eid],
                    confidence=self.edge_confidence[eid],
                    fraction=self.edge_fraction[eid],
                    evidence=self.edge_evidence[eid],
                )
        return out

    def _copy_node_from(self, other: LineageGraph, i: int) -> int:
        return self._add_node(
            other.keys[i],
            kind=other.kinds[i],
            name=other.names[i],
            size=other.sizes[i],
            domain=other.domains[i],
            categories=other.categories[i],
            licenses=other.licenses[i],
            date=other.dates[i],
            source_kind=other.source_kinds[i],
            normalize=False,
            attrs=other.attrs[i],
        )

    def copy(self) -> LineageGraph:
        """A deep-enough copy (attributes and evidence lists are new objects)."""
        return self.subgraph(range(len(self.keys)))

    def to_dict(self) -> dict[str, Any]:
        """Node-link form: ``{"directed", "multigraph", "nodes": [...], "links": [...]}``.

        >>> g = LineageGraph(); _ = g.add_edge("a/x", "b/y", "subset")
        >>> LineageGraph.from_dict(g.to_dict()).to_dict() == g.to_dict()
        True
        """
        from stemmatic.lineage._node_link import to_node_link

        return to_node_link(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "node-link data") -> LineageGraph:
        """Inverse of :meth:`to_dict`.

        Raises:
            InvalidInputError: naming the entry (``nodes[3]``, ``links[7]``)
                and field that is missing or malformed.
        """
        from stemmatic.lineage._node_link import from_node_link

        return from_node_link(cls, data, where)

    def to_networkx(self) -> Any:
        """A ``networkx.MultiDiGraph`` keyed by node key, with every attribute.

        Raises:
            MissingExtraError: if networkx is not installed.
        """
        from stemmatic.lineage._node_link import to_networkx

        return to_networkx(self)

    @classmethod
    def from_networkx(cls, nx_graph: Any) -> LineageGraph:
        """Inverse of :meth:`to_networkx` (edges need a ``relation`` attribute)."""
        from stemmatic.lineage._node_link import from_networkx

        return from_networkx(cls, nx_graph)

    def __repr__(self) -> str:
        return f"LineageGraph(nodes={self.num_nodes}, edges={self.num_edges})"
