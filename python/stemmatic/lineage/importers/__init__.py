"""Importers: DPI summaries, Hugging Face cards, the lineage paper's JSONL, hand-written edges."""

from __future__ import annotations

from stemmatic.lineage.importers._common import ImportReport, rebind_unresolved, resolve_or_unresolved
from stemmatic.lineage.importers.dpi import load_dpi
from stemmatic.lineage.importers.hf import load_hf_card, parse_front_matter
from stemmatic.lineage.importers.manual import load_edges
from stemmatic.lineage.importers.paper import load_paper_jsonl

__all__ = [
    "ImportReport",
    "load_dpi",
    "load_edges",
    "load_hf_card",
    "load_paper_jsonl",
    "parse_front_matter",
    "rebind_unresolved",
    "resolve_or_unresolved",
]
