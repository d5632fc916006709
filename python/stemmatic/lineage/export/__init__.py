"""Exports of a lineage graph, each with a reader so that every format round-trips (but PNG).

==================  ===================================  ============================
format              writer                               reader
==================  ===================================  ============================
paper JSONL         :func:`write_paper_jsonl`            :func:`~stemmatic.lineage.importers.load_paper_jsonl`
node-link JSON      :func:`write_node_link`              :func:`read_node_link`
GraphML             :func:`write_graphml`                :func:`read_graphml`
OpenLineage         :func:`openlineage_events`           :func:`from_openlineage`
PROV-JSON           :func:`prov_json`                    :func:`from_prov_json`
DOT                 :func:`to_dot`                       :func:`from_dot`
Mermaid             :func:`to_mermaid`                   :func:`from_mermaid`
SVG (ancestry)      :func:`~.render.render_svg`          :func:`~.render.read_embedded`
PNG (ancestry)      :func:`~.render.render_png`          none: a picture only
static HTML         :func:`~.html.render_html`           :func:`~.render.read_embedded`
==================  ===================================  ============================

DOT and Mermaid carry keys, kinds and relations (not evidence); every other
format carries all attributes and evidence. :func:`export_graph` writes any
of them to a file by name (what ``stemmatic lineage export --format`` runs).

>>> from stemmatic.lineage.graph import LineageGraph
>>> g = LineageGraph(); _ = g.add_edge("openai/gsm8k", "meta-math/metamathqa", "rewrite")
>>> print(to_mermaid(g))
flowchart LR
  n0["openai/gsm8k"]
  n1["meta-math/metamathqa"]
  n0 -->|rewrite| n1
  linkStyle 0 stroke:#e15759
"""

from __future__ import annotations

from stemmatic.lineage.export.files import EXPORT_FORMATS, ExportFormat, export_graph
from stemmatic.lineage.export.formats import (
    from_dot,
    from_mermaid,
    from_openlineage,
    from_prov_json,
    openlineage_events,
    prov_json,
    read_graphml,
    read_node_link,
    to_dot,
    to_mermaid,
    write_graphml,
    write_node_link,
    write_paper_jsonl,
)
from stemmatic.lineage.export.html import render_html
from stemmatic.lineage.export.render import RELATION_COLORS, read_embedded, render_png, render_svg

__all__ = [
    "EXPORT_FORMATS",
    "RELATION_COLORS",
    "ExportFormat",
    "export_graph",
    "from_dot",
    "from_mermaid",
    "from_openlineage",
    "from_prov_json",
    "openlineage_events",
    "prov_json",
    "read_embedded",
    "read_graphml",
    "read_node_link",
    "render_html",
    "render_png",
    "render_svg",
    "to_dot",
    "to_mermaid",
    "write_graphml",
    "write_node_link",
    "write_paper_jsonl",
]
