"""Benchmark contamination inherited along lineage paths.

Seeds are benchmark nodes (``kind == "benchmark"``, e.g. ``openai/gsm8k:main@test``),
benchmark names given by the caller, and datasets the contamination scanner
flagged (with the share of their documents it found contaminated). Risk flows
downstream and is multiplied on each edge by the relation's transmission
(:data:`~stemmatic.lineage.relations.TRANSMISSION`: a reformat passes every
leaked item on, a synthesis from seeds few) and the edge's confidence; each
reached node keeps its highest-risk path (a max-product Dijkstra), so every hit
comes with the chain of edges and the evidence behind it.

A benchmark cited as a whole (``gsm8k`` rather than ``gsm8k@test``) may
have been used through its train split only: such seeds, and a test split's
edge up into its containing config or repository, carry ``unsplit_factor``.
The evidence of an edge leaving such a seed can say which part was used
(:func:`split_scope`): a quote that names only the training set or train split
("we rewrite the GSM8K training set") passes nothing on, and the edge is listed
in :attr:`ContaminationReport.cleared`; one that names a test, validation or
evaluation set passes the whole risk (1.0 rather than ``unsplit_factor``); any
other quote is a whole-dataset citation.

>>> from stemmatic.lineage.graph import LineageGraph
>>> g = LineageGraph()
>>> _ = g.add_edge("openai/gsm8k:main@test", "openai/gsm8k", "merge")
>>> _ = g.add_edge("openai/gsm8k", "meta-math/metamathqa", "rewrite")
>>> _ = g.add_edge("meta-math/metamathqa", "model:org/math-llm", "trained_on")
>>> hits = propagate_contamination(g, benchmarks=["openai/gsm8k:main@test"]).hits
>>> [(h.key, round(h.risk, 2)) for h in hits]
[('openai/gsm8k', 0.5), ('meta-math/metamathqa', 0.3), ('model:org/math-llm', 0.3)]
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stemmatic.exceptions import ParameterError
from stemmatic.lineage.graph import Edge, LineageGraph
from stemmatic.lineage.names import DatasetRef
from stemmatic.lineage.relations import TRANSMISSION

__all__ = [
    "TEST_SPLITS",
    "ContaminationHit",
    "ContaminationReport",
    "confirm_hits",
    "propagate_contamination",
    "split_scope",
]

TEST_SPLITS = frozenset({"test", "validation", "valid", "dev", "eval", "evaluation"})
_PART = r"(?:set|split|splits|sets|portion|partition|subset|data|questions|problems|examples)\b"
_TRAIN = re.compile(r"\btrain(?:ing)?[\s_-]*" + _PART + r"|@train\b|\bsplit=['\"]?train\b", re.IGNORECASE)
_TEST = re.compile(
    r"\b(?:test|testing|validation|valid|dev|eval|evaluation|held[\s-]*out)[\s_-]*"
    + _PART
    + r"|@(?:test|validation|dev)\b|\bsplit=['\"]?(?:test|validation)\b",
    re.IGNORECASE,
)


def split_scope(edge: Edge) -> str | None:
    """Which part of its source an edge's evidence says was used: ``train``, ``test`` or ``None``.

    ``test`` when any quote names a test, validation, dev or evaluation set (or split);
    ``train`` when quotes name only the training set or train split; ``None`` for a
    citation of the whole dataset.

    >>> from stemmatic.lineage.graph import Edge, Evidence
    >>> def scope(quote):
    ...     return split_scope(Edge(0, "a/b", "c/d", "rewrite", 1.0, None, (Evidence("paper", quote),)))
    >>> scope("we augment the GSM8K training set"), scope("questions from the MATH test split"), scope("GSM8K")
    ('train', 'test', None)
    """
    quotes = " ".join(f"{e.quote} {e.label}" for e in edge.evidence)
    if _TEST.search(quotes):
        return "test"
    if _TRAIN.search(quotes):
        return "train"
    return None


class _Trace:
    """The predecessor edges of one propagation, shared by its hits (paths built on demand)."""

    def __init__(self, graph: LineageGraph, via: dict[int, int]) -> None:
        self.graph, self.via = graph, via

    def path(self, node: int) -> tuple[Edge, ...]:
        steps: list[Edge] = []
        while node in self.via:
            eid = self.via[node]
            steps.append(self.graph.edge(eid))
            node = self.graph.edge_source[eid]
        return tuple(steps[::-1])


@dataclass(frozen=True)
class ContaminationHit:
    """A dataset or model downstream of a contaminated seed; ``path`` is its riskiest chain of edges."""

    key: str
    kind: str
    risk: float
    seed: str
    index: int = field(repr=False, compare=False)
    trace: _Trace | None = field(default=None, repr=False, compare=False)
    confirmed: float | None = None

    @property
    def path(self) -> tuple[Edge, ...]:
        """The edges from the seed to this node, each with its evidence."""
        return self.trace.path(self.index) if self.trace is not None else ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record, the path as ``source -relation-> target`` steps with evidence."""
        out: dict[str, Any] = {
            "key": self.key,
            "kind": self.kind,
            "risk": round(self.risk, 6),
            "seed": self.seed,
            "path": [
                {
                    "source": e.source,
                    "target": e.target,
                    "relation": e.relation,
                    "confidence": e.confidence,
                    "evidence": [ev.to_dict() for ev in e.evidence],
                }
                for e in self.path
            ],
        }
        if self.confirmed is not None:
            out["confirmed"] = self.confirmed
        return out


@dataclass
class ContaminationReport:
    """Seeds with their starting risk, and every hit, highest risk first."""

    seeds: dict[str, float] = field(default_factory=dict)
    hits: list[ContaminationHit] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Edges out of a whole-dataset seed whose evidence says only its training part was used.
    cleared: list[Edge] = field(default_factory=list)

    def at_risk(self, threshold: float = 0.0) -> list[str]:
        """Keys of hits with risk above ``threshold``."""
        return [h.key for h in self.hits if h.risk > threshold]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready report."""
        return {
            "seeds": self.seeds,
            "hits": [h.to_dict() for h in self.hits],
            "warnings": self.warnings,
            "cleared": [e.to_dict() for e in self.cleared],
        }


def _split_of(key: str) -> str | None:
    if ":" in key.split("/")[0]:
        return None
    try:
        return DatasetRef.parse(key).split
    except ValueError:
        return None


def _seed_risk(graph: LineageGraph, index: int, unsplit_factor: float) -> float | None:
    split = _split_of(graph.keys[index])
    if split is None:
        return unsplit_factor
    return 1.0 if split.lower() in TEST_SPLITS else None


def propagate_contamination(
    graph: LineageGraph,
    *,
    benchmarks: Iterable[str] = (),
    flagged: Mapping[str, float] | None = None,
    include_benchmark_nodes: bool = True,
    unsplit_factor: float = 0.5,
    min_risk: float = 1e-3,
    read_split_evidence: bool = True,
) -> ContaminationReport:
    """Propagate benchmark contamination from seeds to every reachable dataset and model.

    Args:
        graph: the lineage graph.
        benchmarks: benchmark names or keys; a test split is a seed of risk 1,
            a whole dataset one of ``unsplit_factor``, a train split no seed.
        flagged: ``{dataset: risk}`` from the contamination scanner (the share
            of the dataset's documents found contaminated, or 1.0).
        include_benchmark_nodes: also seed every node of kind ``benchmark``.
        unsplit_factor: chance that a citation of a whole benchmark dataset
            includes its test split.
        min_risk: stop following paths below this risk.
        read_split_evidence: let an edge's evidence out of a whole-dataset seed say
            which part was used (:func:`split_scope`): training part only, nothing
            passes; a test part, the whole risk rather than ``unsplit_factor``.

    Raises:
        ParameterError: for a factor or risk outside [0, 1], or a name that
            is not in the graph.
    """
    for name, value in (("unsplit_factor", unsplit_factor), ("min_risk", min_risk)):
        if not 0.0 <= value <= 1.0:
            raise ParameterError(f"{name} must be in [0, 1], not {value}")
    report = ContaminationReport()
    risk: dict[int, float] = {}
    seed_of: dict[int, int] = {}
    via: dict[int, int] = {}
    #: Seeds cited as a whole dataset, at their full risk (before ``unsplit_factor``).
    whole: dict[int, float] = {}

    def add_seed(index: int, value: float) -> None:
        if value > risk.get(index, 0.0):
            risk[index] = value
            seed_of[index] = index
            report.seeds[graph.keys[index]] = value
            whole.pop(index, None)

    if include_benchmark_nodes:
        for i, kind in enumerate(graph.kinds):
            if kind == "benchmark":
                add_seed(i, 1.0)
    for name in benchmarks:
        index = graph.index(name)
        seed_risk = _seed_risk(graph, index, unsplit_factor)
        if seed_risk is None:
            report.warnings.append(f"{graph.keys[index]} is not a test split: not a contamination seed")
            continue
        add_seed(index, seed_risk)
        if _split_of(graph.keys[index]) is None and risk[index] == seed_risk and seed_of[index] == index:
            whole[index] = 1.0
    for name, value in (flagged or {}).items():
        if not 0.0 <= value <= 1.0:
            raise ParameterError(f"flagged risk of {name!r} must be in [0, 1], not {value}")
        add_seed(graph.index(name), value)

    heap = [(-value, index) for index, value in risk.items()]
    heapq.heapify(heap)
    done: set[int] = set()
    relation, confidence, out_edges = graph.edge_relation, graph.edge_confidence, graph.graph.out_edges
    while heap:
        negative, node = heapq.heappop(heap)
        if node in done or -negative < risk.get(node, 0.0) - 1e-15:
            continue
        done.add(node)
        split = _split_of(graph.keys[node]) if "@" in graph.keys[node] else None
        from_test = split is not None and split.lower() in TEST_SPLITS
        at = -negative
        for _, child, eid in out_edges(node):
            factor = TRANSMISSION[relation[eid]] * confidence[eid]
            if from_test and relation[eid] == "merge" and _split_of(graph.keys[child]) is None:
                factor *= unsplit_factor
            start = at
            if node in whole and read_split_evidence and via.get(node) is None:
                scope = split_scope(graph.edge(int(eid)))
                if scope == "train":
                    report.cleared.append(graph.edge(int(eid)))
                    continue
                if scope == "test":
                    start = whole[node]
            value = start * factor
            if value < min_risk or value <= risk.get(child, 0.0) or child in done:
                continue
            risk[child] = value
            seed_of[child] = seed_of[node]
            via[child] = int(eid)
            heapq.heappush(heap, (-value, child))

    seed_indices = {graph.index(key) for key in report.seeds}
    trace = _Trace(graph, via)
    for node, value in risk.items():
        if node in seed_indices:
            continue
        report.hits.append(
            ContaminationHit(
                graph.keys[node], graph.kinds[node], value, graph.keys[seed_of[node]], node, trace
            )
        )
    report.hits.sort(key=lambda h: (-h.risk, h.key))
    return report


def confirm_hits(
    report: ContaminationReport,
    *,
    load_texts: Callable[[str], list[str] | None],
    scanner: Callable[[list[str], list[str]], float] | None = None,
    threshold: float = 0.0,
) -> ContaminationReport:
    """Check each hit on the data: the share of its seed's items found in the hit's documents.

    Args:
        report: from :func:`propagate_contamination`.
        load_texts: ``key -> texts`` for seeds and hits whose data is at hand
            (``None`` when not available: that hit stays unconfirmed).
        scanner: ``(benchmark_texts, dataset_texts) -> share of benchmark
            items found``; by default the MinHash containment of
            :func:`stemmatic.lineage.redundancy.containment` (share of
            benchmark items with a near-duplicate in the dataset).
        threshold: hits whose confirmed share is at most this get risk 0.

    Returns:
        A new report whose hits carry ``confirmed`` where data was available.
    """
    if scanner is None:
        from stemmatic.lineage.redundancy import containment

        def scanner(bench: list[str], data: list[str]) -> float:
            return containment(bench, data)

    cache: dict[str, list[str] | None] = {}

    def texts(key: str) -> list[str] | None:
        if key not in cache:
            cache[key] = load_texts(key)
        return cache[key]

    out = ContaminationReport(dict(report.seeds), warnings=list(report.warnings))
    for hit in report.hits:
        bench, data = texts(hit.seed), texts(hit.key)
        if not bench or data is None:
            out.hits.append(hit)
            continue
        share = float(scanner(bench, data))
        out.hits.append(
            ContaminationHit(
                hit.key,
                hit.kind,
                hit.risk if share > threshold else 0.0,
                hit.seed,
                hit.index,
                hit.trace,
                share,
            )
        )
    out.hits.sort(key=lambda h: (-h.risk, h.key))
    return out
