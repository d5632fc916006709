"""Write a lineage graph to a file in any export format: what ``stemmatic lineage export`` runs.

>>> import pathlib, tempfile
>>> from stemmatic.lineage.graph import LineageGraph
>>> g = LineageGraph(); _ = g.add_edge("openai/gsm8k", "meta-math/metamathqa", "rewrite")
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> [p.name for p in export_graph(g, d / "g.mmd", "mermaid")]
['g.mmd']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from stemmatic.exceptions import InvalidInputError

if TYPE_CHECKING:
    from stemmatic.lineage.graph import LineageGraph

__all__ = ["EXPORT_FORMATS", "ExportFormat", "export_graph"]

ExportFormat = Literal[
    "paper", "node-link", "graphml", "openlineage", "prov", "dot", "mermaid", "svg", "png", "html"
]
#: Every format :func:`export_graph` writes.
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)


def export_graph(
    graph: LineageGraph,
    output: str | os.PathLike[str],
    fmt: ExportFormat = "node-link",
    *,
    node: str | None = None,
    direction: str = "ancestors",
    dpi: float = 192,
    max_nodes: int = 150,
    collapse: str = "auto",
    keep_hops: int = 1,
) -> list[Path]:
    """Write ``graph`` to ``output`` as ``fmt``; return the files written.

    Args:
        graph: the lineage graph.
        output: the file to write (a folder for ``paper``: ``graph.jsonl`` and ``data.jsonl``).
        fmt: one of :data:`EXPORT_FORMATS`.
        node: svg, png: the node whose ancestry to draw (required); html: the first node shown.
        direction, max_nodes, collapse, keep_hops: svg, png: what to draw
            (:func:`~stemmatic.lineage.export.render_svg`).
        dpi: png: pixels per inch (96 is the SVG's size).

    Raises:
        InvalidInputError: an unknown format, or svg/png without ``node``.
    """
    from stemmatic.lineage import export as ex
    from stemmatic.lineage._files import dumps_json

    path = Path(output)
    if fmt == "paper":
        return list(ex.write_paper_jsonl(graph, path))
    if fmt == "node-link":
        ex.write_node_link(graph, path)
    elif fmt == "graphml":
        ex.write_graphml(graph, path)
    elif fmt == "openlineage":
        events = ex.openlineage_events(graph)
        path.write_text("\n".join(dumps_json(e) for e in events) + "\n", encoding="utf-8")
    elif fmt == "prov":
        path.write_text(dumps_json(ex.prov_json(graph), indent=1), encoding="utf-8")
    elif fmt == "dot":
        path.write_text(ex.to_dot(graph), encoding="utf-8")
    elif fmt == "mermaid":
        path.write_text(ex.to_mermaid(graph) + "\n", encoding="utf-8")
    elif fmt in ("svg", "png"):
        if node is None:
            raise InvalidInputError(f"--format {fmt} needs --node")
        if fmt == "svg":
            svg = ex.render_svg(
                graph, node, direction=direction, max_nodes=max_nodes, collapse=collapse, keep_hops=keep_hops
            )
            path.write_text(svg, encoding="utf-8")
        else:
            ex.render_png(
                graph,
                node,
                direction=direction,
                max_nodes=max_nodes,
                collapse=collapse,
                keep_hops=keep_hops,
                path=path,
                dpi=dpi,
            )
    elif fmt == "html":
        path.write_text(ex.render_html(graph, start=node), encoding="utf-8")
    else:
        raise InvalidInputError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    return [path]
