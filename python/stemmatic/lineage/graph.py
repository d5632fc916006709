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
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from stemmatic._extras import require
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.lineage._files import check_json_value, describe, located
from stemmatic.lineage.names import (
    COLLECTION_PREFIX,
    MODEL_PREFIX,
    UNRESOLVED_PREFIX,
    AliasTable,
    normalize_key,
)
from stemmatic.lineage.relations import SOURCE_KINDS, check_relation

__all__ = ["NODE_KINDS", "Edge", "Evidence", "LineageGraph", "Node"]

NODE_KINDS: tuple[str, ...] = ("dataset", "benchmark", "model", "collection", "unresolved")
_DATE = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")
#: Sizes are row counts that numpy and Arrow hold as int64.
_MAX_SIZE = 2**63 - 1


def _optional_text(value: Any, field: str, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidInputError(f"node {key!r}: field {field!r} is {describe(value)}, not a string")


def _texts(value: Any, field: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise InvalidInputError(f"node {key!r}: field {field!r} is {describe(value)}, not a list of strings")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(f"node {key!r}: field {field!r} holds {describe(item)}, not a string")
    return items


@dataclass(frozen=True)
class Evidence:
    """Why an edge is believed: a quote, where it is from, and what kind of source.

    ``source_kind`` is one of ``card``, ``paper``, ``manual`` (human-curated,
    including the Data Provenance Initiative audit), ``measured`` (content
    overlap computed by stemmatic) or ``llm`` (an extractor's reading, which
    must quote its source).
    """

    source_kind: str
    quote: str = ""
    url: str = ""
    #: What the source itself called the relation or where it read it, kept as written
    #: (the lineage paper's ``Direct Inclusion/Subset``, with the document it was read from).
    label: str = ""

    def __post_init__(self) -> None:
        if self.source_kind not in SOURCE_KINDS:
            raise InvalidInputError(
                f"evidence source kind {self.source_kind!r} is not one of {', '.join(SOURCE_KINDS)}"
            )

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict (``label`` only when set)."""
        out = {"source_kind": self.source_kind, "quote": self.quote, "url": self.url}
        if self.label:
            out["label"] = self.label
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """Inverse of :meth:`to_dict`.

        Raises:
            InvalidInputError: naming the field that is missing or not a string.
        """
        if not isinstance(data, dict):
            raise InvalidInputError(f"evidence is {describe(data)}, not an object")
        fields = []
        for name, default in (("source_kind", None), ("quote", ""), ("url", ""), ("label", "")):
            value = data.get(name, default)
            if value is None and default is not None:
                value = default
            if not isinstance(value, str):
                problem = "missing" if value is None else f"{describe(value)}, not a string"
                raise InvalidInputError(f"evidence field {name!r} is {problem}")
            fields.append(value)
        return cls(*fields)


@dataclass(frozen=True)
class Node:
    """A snapshot of one node's attributes."""

    index: int
    key: str
    kind: str
    name: str
    size: int | None = None
    domain: str | None = None
    categories: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    date: str | None = None
    source_kind: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (empty attributes left out)."""
        out: dict[str, Any] = {"id": self.key, "kind": self.kind, "name": self.name}
        for name in ("size", "domain", "date", "source_kind"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.categories:
            out["categories"] = list(self.categories)
        if self.licenses:
            out["licenses"] = list(self.licenses)
        if self.attrs:
            out["attrs"] = dict(self.attrs)
        return out


@dataclass(frozen=True)
class Edge:
    """A snapshot of one edge."""

    index: int
    source: str
    target: str
    relation: str
    confidence: float
    fraction: float | None
    evidence: tuple[Evidence, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = {
            "source": self.source,
            "target": self.target,
            "relation": self.relation,
            "confidence": self.confidence,
            "evidence": [e.to_dict() for e in self.evidence],
        }
        if self.fraction is not None:
            out["fraction"] = self.fraction
        return out

    @property
    def source_kinds(self) -> tuple[str, ...]:
        """The distinct kinds of source behind this edge, in order of first appearance."""
        return tuple(dict.fromkeys(e.source_kind for e in self.evidence))


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

    def _add_node(
        self,
        key: Any,
        *,
        kind: Any = None,
        name: Any = None,
        size: Any = None,
        domain: Any = None,
        categories: Any = (),
        licenses: Any = (),
        date: Any = None,
        source_kind: Any = None,
        normalize: bool = True,
        attrs: Any = None,
    ) -> int:
        """:meth:`add_node` with the extra attributes as one mapping (any names, ``kind`` included).

        The one place a node is added: every field is checked here, so loaders hand over what a
        file holds and name the file and record around the error.
        """
        if not isinstance(key, str):
            problem = "missing" if key is None else f"{describe(key)}, not a string"
            raise InvalidInputError(f"field 'id' (the node key) is {problem}")
        node_key = normalize_key(key) if normalize else key
        if not node_key:
            raise InvalidInputError("field 'id' (the node key) is empty")
        if kind is not None and (not isinstance(kind, str) or kind not in NODE_KINDS):
            raise InvalidInputError(
                f"node {key!r}: field 'kind' is {kind!r}, not one of {', '.join(NODE_KINDS)}"
            )
        if size is not None and (
            not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_SIZE
        ):
            raise InvalidInputError(
                f"node {key!r}: field 'size' is {size!r:.60}, not an integer in [0, 2**63)"
            )
        name = _optional_text(name, "name", key)
        domain = _optional_text(domain, "domain", key)
        source_kind = _optional_text(source_kind, "source_kind", key)
        categories = _texts(categories, "categories", key)
        licenses = _texts(licenses, "licenses", key)
        if date is not None:
            if isinstance(date, bool) or not isinstance(date, (str, int)):
                raise InvalidInputError(f"node {key!r}: field 'date' is {describe(date)}, not a string")
            date = str(date).strip()[:10] or None
            if date is not None and not _DATE.match(date):
                raise InvalidInputError(f"node {key!r}: field 'date' {date!r} is not YYYY[-MM[-DD]]")
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, dict):
            raise InvalidInputError(f"node {key!r}: field 'attrs' is {describe(attrs)}, not an object")
        check_json_value(attrs, f"node {key!r}", "attrs")
        index = self._index.get(node_key)
        if index is None:
            index = len(self.keys)
            self._index[node_key] = index
            self.keys.append(node_key)
            self.kinds.append(kind or _kind_of_key(node_key))
            self.names.append(name or node_key)
            self.sizes.append(size)
            self.domains.append(domain)
            self.categories.append(tuple(dict.fromkeys(categories)))
            self.licenses.append(tuple(dict.fromkeys(licenses)))
            self.dates.append(date)
            self.source_kinds.append(source_kind)
            self.attrs.append(dict(attrs) if attrs else None)
            self.graph.add_node(index)
            if self.kinds[index] in ("dataset", "benchmark") and _is_repo_key(node_key):
                # Every importer's repositories answer to their bare names the same way.
                self.aliases.add_repo(node_key)
            return index
        if kind is not None and self.kinds[index] == "dataset" and kind in ("benchmark", "collection"):
            self.kinds[index] = kind
        if name and self.names[index] == node_key:
            self.names[index] = name
        if self.sizes[index] is None:
            self.sizes[index] = size
        if self.domains[index] is None:
            self.domains[index] = domain
        if categories:
            self.categories[index] = tuple(dict.fromkeys((*self.categories[index], *categories)))
        if licenses:
            self.licenses[index] = tuple(dict.fromkeys((*self.licenses[index], *licenses)))
        if self.dates[index] is None:
            self.dates[index] = date
        if self.source_kinds[index] is None:
            self.source_kinds[index] = source_kind
        if attrs:
            merged = dict(attrs)
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

    def remove_edge(self, edge: int) -> None:
        """Remove an edge by id (its id is never reused).

        Raises:
            ParameterError: if there is no live edge with that id.
        """
        if not 0 <= edge < len(self._edge_alive) or not self._edge_alive[edge]:
            raise ParameterError(f"no edge with id {edge}")
        self.graph.remove_edge_from_index(self._edge_rx[edge])
        self._edge_alive[edge] = False
        del self._edge_key[(self.edge_source[edge], self.edge_target[edge], self.edge_relation[edge])]
        self._num_edges -= 1

    def edge(self, edge: int) -> Edge:
        """A snapshot of one edge.

        Raises:
            ParameterError: if there is no live edge with that id.
        """
        if not 0 <= edge < len(self._edge_alive) or not self._edge_alive[edge]:
            raise ParameterError(f"no edge with id {edge}")
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
        return {
            "directed": True,
            "multigraph": True,
            "graph": {"format": "stemmatic-lineage", "version": 1, "aliases": self.aliases.to_dict()},
            "nodes": [self.node(i).to_dict() for i in range(len(self.keys))],
            "links": [edge.to_dict() for edge in self.edges()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "node-link data") -> LineageGraph:
        """Inverse of :meth:`to_dict`.

        Raises:
            InvalidInputError: naming the entry (``nodes[3]``, ``links[7]``)
                and field that is missing or malformed.
        """
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

    def to_networkx(self) -> Any:
        """A ``networkx.MultiDiGraph`` keyed by node key, with every attribute.

        Raises:
            MissingExtraError: if networkx is not installed.
        """
        nx = require("networkx", "networkx conversion of lineage graphs")
        out = nx.MultiDiGraph()
        for i in range(len(self.keys)):
            data = self.node(i).to_dict()
            out.add_node(data.pop("id"), **data)
        for edge in self.edges():
            data = edge.to_dict()
            out.add_edge(data.pop("source"), data.pop("target"), key=edge.relation, **data)
        return out

    @classmethod
    def from_networkx(cls, nx_graph: Any) -> LineageGraph:
        """Inverse of :meth:`to_networkx` (edges need a ``relation`` attribute)."""
        nodes = [{"id": key, **data} for key, data in nx_graph.nodes(data=True)]
        links = [{"source": u, "target": v, **data} for u, v, data in nx_graph.edges(data=True)]
        return cls.from_dict({"nodes": nodes, "links": links}, where="networkx graph")

    def __repr__(self) -> str:
        return f"LineageGraph(nodes={self.num_nodes}, edges={self.num_edges})"
