"""One lineage graph from every kind of source: what ``stemmatic lineage build`` runs.

Sources are imported in a fixed order (DPI summaries, cards, Hub cards,
benchmark cards, the lineage paper's release, hand-written edge files), then
names left unresolved by an earlier import are rebound now that later ones
may resolve them, cycles are optionally cut at their weakest edge, and the
graph's hygiene is reported.

>>> import pathlib, tempfile
>>> edges = pathlib.Path(tempfile.mkdtemp()) / "edges.csv"
>>> _ = edges.write_text("source,target,relation\\ntatsu-lab/alpaca,yahma/alpaca-cleaned,filter\\n")
>>> built = build_graph(edges=[edges])
>>> built.graph.num_edges, [r.edges_added for r in built.reports]
(1, [1])
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage.graph import Edge, LineageGraph
from stemmatic.lineage.hygiene import HygieneReport, break_cycles, hygiene_report
from stemmatic.lineage.importers import (
    ImportReport,
    load_dpi,
    load_edges,
    load_hf_card,
    load_paper_jsonl,
    rebind_unresolved,
)

__all__ = ["BuildResult", "build_graph"]

PathLike = str | Path


@dataclass
class BuildResult:
    """The built graph, one import report per source, what was rebound and cut, and its hygiene."""

    graph: LineageGraph
    hygiene: HygieneReport
    reports: list[ImportReport] = field(default_factory=list)
    #: ``unresolved:`` names rebound to a node after every import, old key -> new key.
    rebound: dict[str, str] = field(default_factory=dict)
    #: The edges cut to break cycles (``cut_cycles=True``).
    cut: list[Edge] = field(default_factory=list)


def build_graph(
    *,
    dpi: PathLike | None = None,
    cards: Iterable[PathLike] = (),
    hub: Iterable[str] = (),
    benchmark_cards: Iterable[PathLike] = (),
    paper: PathLike | None = None,
    paper_data: PathLike | None = None,
    edges: Iterable[PathLike] = (),
    cut_cycles: bool = False,
) -> BuildResult:
    """Import every given source into one graph, rebind names, optionally cut cycles, report hygiene.

    Args:
        dpi: Data Provenance Initiative summaries: ``"builtin"`` for the ones
            shipped with stemmatic, or a DPI checkout, its ``data_summaries``
            folder or one summary file.
        cards: Hugging Face card ``README.md`` files (repository read from ``.../org/name/``).
        hub: Hub repositories by id (``org/name``: a dataset, else a model;
            ``model:org/name``: a model), through huggingface_hub and its cache.
        benchmark_cards: cards of benchmarks: their test splits become benchmark nodes.
        paper: the lineage paper's ``graph.jsonl`` or its released folder.
        paper_data: its ``data.jsonl`` (found beside ``paper`` in a folder).
        edges: hand-written edge files (``.csv``, ``.yaml``).
        cut_cycles: cut the weakest edge of every cycle.

    Raises:
        InvalidInputError: when no source is given, or a source is malformed.
    """
    from stemmatic.lineage.importers.dpi import BUILTIN

    graph = LineageGraph()
    reports: list[ImportReport] = []
    if dpi is not None:
        reports.append(load_dpi(None if os.fspath(dpi) == BUILTIN else dpi, graph=graph)[1])
    for path in cards:
        reports.append(load_hf_card(path, graph=graph)[1])
    for repo in hub:
        repo_id = repo.removeprefix("model:")
        kind = "model" if repo.startswith("model:") else "auto"
        reports.append(load_hf_card(repo_id=repo_id, kind=kind, graph=graph)[1])
    for path in benchmark_cards:
        reports.append(load_hf_card(path, graph=graph, benchmark=True)[1])
    if paper is not None:
        reports.append(load_paper_jsonl(paper, paper_data, graph=graph)[1])
    for path in edges:
        reports.append(load_edges(path, graph=graph)[1])
    if not reports:
        raise InvalidInputError("nothing to import: give --dpi, --card, --hub, --paper or --edges")
    rebound = rebind_unresolved(graph)
    cut = break_cycles(graph) if cut_cycles else []
    return BuildResult(graph, hygiene_report(graph), reports, rebound, cut)
