"""Dataset lineage: build, check, query and export the family tree of training data.

Importable without the ``[lineage]`` extra; building a graph needs rustworkx
(and PyYAML for cards), and raises :class:`~stemmatic.MissingExtraError`
naming the extra otherwise.

>>> from stemmatic.lineage import LineageGraph, Evidence, ancestors
>>> g = LineageGraph()
>>> _ = g.add_edge("openai/gsm8k", "meta-math/MetaMathQA", "rewrite", evidence=Evidence("paper", "augment GSM8K"))
>>> ancestors(g, "meta-math/metamathqa")
['openai/gsm8k']
"""

from __future__ import annotations

from stemmatic.lineage.build import BuildResult, build_graph
from stemmatic.lineage.contamination import ContaminationReport, confirm_hits, propagate_contamination
from stemmatic.lineage.graph import NODE_KINDS, Edge, Evidence, LineageGraph, Node
from stemmatic.lineage.hygiene import HygieneReport, break_cycles, hygiene_report
from stemmatic.lineage.importers import (
    ImportReport,
    load_dpi,
    load_edges,
    load_hf_card,
    load_paper_jsonl,
    rebind_unresolved,
)
from stemmatic.lineage.licenses import attribution, inherited_licenses, licence_class, licences_allow
from stemmatic.lineage.names import AliasTable, DatasetRef, canonical_name
from stemmatic.lineage.ops import (
    ancestors,
    as_of,
    common_ancestors,
    depths,
    descendants,
    domain_stats,
    explain_path,
    impact,
    roots,
)
from stemmatic.lineage.redundancy import (
    containment,
    containment_matrix,
    diamonds,
    measured_edges,
    redundancy_report,
    shared_roots_matrix,
)
from stemmatic.lineage.relations import RELATIONS, TRANSMISSION
from stemmatic.lineage.sampling import RootSample, allocate, root_sample

__all__ = [
    "NODE_KINDS",
    "RELATIONS",
    "TRANSMISSION",
    "AliasTable",
    "BuildResult",
    "ContaminationReport",
    "DatasetRef",
    "Edge",
    "Evidence",
    "HygieneReport",
    "ImportReport",
    "LineageGraph",
    "Node",
    "RootSample",
    "allocate",
    "ancestors",
    "as_of",
    "attribution",
    "break_cycles",
    "build_graph",
    "canonical_name",
    "common_ancestors",
    "confirm_hits",
    "containment",
    "containment_matrix",
    "depths",
    "descendants",
    "diamonds",
    "domain_stats",
    "explain_path",
    "hygiene_report",
    "impact",
    "inherited_licenses",
    "licence_class",
    "licences_allow",
    "load_dpi",
    "load_edges",
    "load_hf_card",
    "load_paper_jsonl",
    "measured_edges",
    "propagate_contamination",
    "rebind_unresolved",
    "redundancy_report",
    "root_sample",
    "roots",
    "shared_roots_matrix",
]
