"""What every importer shares: its report, and resolution of free-text names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage.names import (
    UNRESOLVED_PREFIX,
    WELL_KNOWN,
    canonical_name,
    canonical_repo,
    parse_url,
)

if TYPE_CHECKING:
    from stemmatic.lineage.graph import LineageGraph

__all__ = ["ImportReport", "rebind_unresolved", "register_repo_ids", "resolve_or_unresolved"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


@dataclass
class ImportReport:
    """Counts of what an importer read and what it made of it."""

    source: str
    files: int = 0
    records: int = 0
    nodes_added: int = 0
    edges_added: int = 0
    names_seen: int = 0
    names_resolved: int = 0
    unresolved: dict[str, int] = field(default_factory=dict)
    self_inclusions: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Names that landed on a node of another name (an alias, a well-known benchmark's repository,
    #: the one repository with that name part): ``{name as written: key}``.
    merged: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "source": self.source,
            "files": self.files,
            "records": self.records,
            "nodes_added": self.nodes_added,
            "edges_added": self.edges_added,
            "names_seen": self.names_seen,
            "names_resolved": self.names_resolved,
            "unresolved_names": len(self.unresolved),
            "self_inclusions": len(self.self_inclusions),
            "merged_names": len(self.merged),
            "warnings": len(self.warnings),
        }


def _repo_id(name: str) -> str | None:
    """The canonical key of a Hub repository id or dataset/model URL, else ``None``."""
    parsed = parse_url(name)
    if parsed is not None and parsed.kind in ("dataset", "model") and "/" in parsed.repo:
        return canonical_name(parsed.repo)
    if parsed is None and _REPO_ID.match(name.strip()):
        return canonical_name(name)
    return None


def register_repo_ids(graph: LineageGraph, names: Iterable[str]) -> None:
    """Add a node for every repository id among ``names`` (before resolving the bare ones).

    A batch importer calls this first, so that the name-part rule sees every
    repository of the batch whatever the order of its lines.
    """
    for name in names:
        key = _repo_id(name) if "/" in name else None
        if key is not None and graph.get_index(key) is None:
            graph.add_node(key)


def resolve_or_unresolved(graph: LineageGraph, name: str, report: ImportReport) -> str:
    """The key ``name`` resolves to, or an ``unresolved:`` node key kept visible in the graph.

    The one resolution rule of every importer (DPI, cards, paper, edge files): an
    exact key; a Hub id or URL (its node, made if new); the name's canonical form
    (case, ``_``/``-``/spaces, a trailing "dataset" folded); an alias; a
    :data:`~stemmatic.lineage.names.WELL_KNOWN` benchmark (the first of its
    repositories in the graph, else its canonical repository, added); the one
    repository whose name part the bare name is. Otherwise an ``unresolved:``
    node, which :func:`rebind_unresolved` moves once an import makes it resolvable.

    Raises:
        InvalidInputError: if ``name`` is empty.
    """
    report.names_seen += 1
    if not name.strip():
        raise InvalidInputError("empty dataset name")
    canonical_name(name)  # a name with an empty part ('::', '@') is refused, naming it
    if graph.has_key(name):
        report.names_resolved += 1
        return name
    found = graph.resolve(name)
    if found is not None and not found.startswith(UNRESOLVED_PREFIX):
        report.names_resolved += 1
        if found != graph.aliases.fold(name):
            report.merged[name] = found
        return found
    repo = _repo_id(name)
    if repo is not None:
        # A precise Hub id or URL names its node even before anything describes it.
        report.names_resolved += 1
        index = graph.add_node(repo)
        graph.aliases.add_repo(graph.keys[index])
        return graph.keys[index]
    known = WELL_KNOWN.get(graph.aliases.fold(name))
    if known:
        # A benchmark cited by its bare name is its canonical repository, whoever cites it.
        report.names_resolved += 1
        key = graph.keys[graph.add_node(known[0])]
        report.merged[name] = key
        return key
    key = UNRESOLVED_PREFIX + canonical_repo(name)
    report.unresolved[name] = report.unresolved.get(name, 0) + 1
    graph.add_node(key, kind="unresolved", name=name.strip())
    graph.aliases.add(name, key)
    return key


def rebind_unresolved(graph: LineageGraph) -> dict[str, str]:
    """Point the edges of ``unresolved:`` nodes whose name now resolves at the real node.

    Run after importing more sources (a card for ``openai/gsm8k`` resolves an
    earlier ``GSM8K``). The unresolved node stays, without edges, with
    ``resolved_to`` set, so indices stay stable. Returns ``{old: new}``.
    """
    moved: dict[str, str] = {}
    for i in range(graph.num_nodes):
        if graph.kinds[i] != "unresolved" or graph.get_attr(i, "resolved_to"):
            continue
        name = graph.names[i]
        candidates = [
            k for k in graph.aliases.candidates(name) if not k.startswith(UNRESOLVED_PREFIX) and k in graph
        ]
        if len(candidates) != 1:
            continue
        target = graph.index(candidates[0])
        # Its out-edges, then its in-edges, move to the target (an edge that would join the target to
        # itself is dropped).
        for outgoing in (True, False):
            for edge in graph.out_edges(i) if outgoing else graph.in_edges(i):
                graph.remove_edge(edge.index)
                source = target if outgoing else graph.index(edge.source)
                dest = graph.index(edge.target) if outgoing else target
                if source != dest:
                    graph.add_edge(
                        source,
                        dest,
                        edge.relation,
                        confidence=edge.confidence,
                        fraction=edge.fraction,
                        evidence=edge.evidence,
                    )
        graph.set_attr(i, "resolved_to", graph.keys[target])
        moved[graph.keys[i]] = graph.keys[target]
    # The name that was unresolved now finds the node its edges moved to.
    graph.aliases.redirect(moved)
    return moved
