"""Pictures of lineage: an SVG or PNG of one node's ancestry and a self-contained HTML viewer.

One module of about 610 lines, on purpose: the SVG and the PNG draw one
layout (:func:`_draw`: boxes, curves, legend, notices) and must stay the same
picture, so both renderers sit beside the drawing they share.

All are laid out here without a layout library: nodes are placed in layers by
their longest distance from the roots of the drawn subgraph, ordered inside a
layer by the mean position of their parents (one barycentre sweep), and edges
are Bézier curves coloured by relation. The SVG and the PNG draw the same
layout (:func:`_draw`), the PNG through matplotlib. The SVG and HTML files
embed the drawn subgraph as node-link JSON, which :func:`read_embedded` reads
back; the PNG is a picture only.

The HTML viewer (:mod:`stemmatic.lineage.export.html`) embeds the graph the
same way, so :func:`read_embedded` reads both.

>>> from stemmatic.lineage.graph import LineageGraph
>>> g = LineageGraph(); _ = g.add_edge("openai/gsm8k", "meta-math/metamathqa", "rewrite")
>>> svg = render_svg(g, "meta-math/metamathqa")
>>> svg.startswith("<svg") and read_embedded(svg).num_edges == 1
True
"""

from __future__ import annotations

import io
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path

from stemmatic._extras import require
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.lineage._files import dumps_json, load_json, read_text
from stemmatic.lineage.export._text import xml_text
from stemmatic.lineage.graph import LineageGraph

__all__ = ["RELATION_COLORS", "read_embedded", "render_png", "render_svg"]

RELATION_COLORS: dict[str, str] = {
    "subset": "#4e79a7",
    "filter": "#59a14f",
    "merge": "#f28e2b",
    "distill": "#b07aa1",
    "rewrite": "#e15759",
    "synthesize": "#ff9da7",
    "translate": "#76b7b2",
    "format": "#9c755f",
    "version": "#bab0ac",
    "extend": "#edc948",
    "derived": "#7f7f7f",
    "trained_on": "#1f3b73",
    "finetune": "#8c2d04",
    "adapter": "#6a3d9a",
    "quantized": "#33a02c",
}
_KIND_FILL = {
    "group": "#e8f0e0",
    "dataset": "#f7f7f7",
    "benchmark": "#fde0dd",
    "model": "#deebf7",
    "collection": "#fff2cc",
    "unresolved": "#ffffff",
}
_W, _H, _GAP_X, _GAP_Y = 230, 26, 70, 12
_FONT_PX = 11
_MARKER = "stemmatic-lineage"


_DIRECTIONS = ("ancestors", "descendants", "both")
COLLAPSE_MODES = ("auto", "domain", "depth", "none")
_NOTICE_H = 26


def _reach(graph: LineageGraph, start: int, direction: str) -> set[int]:
    if direction not in _DIRECTIONS:
        raise ParameterError(f"direction must be 'ancestors', 'descendants' or 'both', not {direction!r}")
    rx = graph._rx
    chosen: set[int] = {start}
    if direction in ("ancestors", "both"):
        chosen |= set(rx.ancestors(graph.graph, start))
    if direction in ("descendants", "both"):
        chosen |= set(rx.descendants(graph.graph, start))
    return chosen


def _nearest(
    graph: LineageGraph, start: int, chosen: set[int], limit: int, hops: int | None = None
) -> list[int]:
    """Up to ``limit`` nodes of ``chosen`` nearest to ``start`` (breadth-first, both directions)."""
    from collections import deque

    kept, queue = {start: 0}, deque([start])
    while queue and len(kept) < limit:
        node = queue.popleft()
        if hops is not None and kept[node] >= hops:
            continue
        near = set(graph.graph.predecessor_indices(node)) | set(graph.graph.successor_indices(node))
        for other in sorted(near & chosen):
            if other not in kept and len(kept) < limit:
                kept[other] = kept[node] + 1
                queue.append(other)
    return list(kept)


@dataclass(frozen=True)
class _Box:
    key: str
    label: str
    kind: str
    x: float
    y: float
    fill: str
    stroke: str
    dashed: bool
    title: str = ""


@dataclass(frozen=True)
class _Curve:
    """An edge's route: ``M`` to its start, then ``C`` (Bézier across a gap between layers) and ``L``
    (straight through a layer it crosses, where its dummy node holds a slot free of boxes)."""

    segments: tuple[tuple[str, tuple[float, ...]], ...]
    color: str
    dashed: bool
    title: str
    width: float = 1.6

    @property
    def tip(self) -> tuple[float, float, float]:
        """The end point and which way the arrow points there (+1 right, -1 left)."""
        values = self.segments[-1][1]
        x1, y1 = values[-2], values[-1]
        before = values[-4] if len(values) >= 4 else self.segments[-2][1][-2]
        return x1, y1, 1.0 if before <= x1 else -1.0


@dataclass(frozen=True)
class _LegendRow:
    relation: str
    color: str
    y: float


@dataclass(frozen=True)
class _Drawing:
    """Everything both pictures draw, in SVG user units (CSS pixels, y downwards)."""

    sub: LineageGraph
    width: float
    height: float
    curves: list[_Curve]
    boxes: list[_Box]
    legend: list[_LegendRow]
    notice: str = ""


@dataclass
class _Unit:
    """One box of the drawing: a node, or a group of nodes standing in for them."""

    label: str
    kind: str
    title: str
    members: list[int]
    focus: bool = False


def _label(text: str) -> str:
    return text if len(text) <= 36 else text[:35] + "…"


def _single(sub: LineageGraph, i: int) -> _Unit:
    # An unresolved name shows as written (its dashed box says it is unresolved).
    shown = sub.names[i] if sub.kinds[i] == "unresolved" else sub.keys[i]
    return _Unit(_label(shown), sub.kinds[i], f"{sub.keys[i]} ({sub.kinds[i]})", [i])


def _draw(
    graph: LineageGraph,
    key: str | int,
    direction: str,
    max_nodes: int,
    collapse: str = "auto",
    keep_hops: int = 1,
) -> _Drawing:
    """Lay out ``key``'s ancestry (or descendants) once, for :func:`render_svg` and :func:`render_png`."""
    from stemmatic.lineage.export.layout import assign_layers, layered

    if collapse not in COLLAPSE_MODES:
        raise ParameterError(f"collapse must be one of {', '.join(COLLAPSE_MODES)}, not {collapse!r}")
    if max_nodes < 1 or keep_hops < 0:
        raise ParameterError(
            f"max_nodes must be at least 1 and keep_hops at least 0, not {max_nodes}, {keep_hops}"
        )
    start = graph.index(key)
    focus = graph.keys[start]
    chosen = _reach(graph, start, direction)
    total = len(chosen)
    noun = {"ancestors": "ancestry", "descendants": "descendants", "both": "lineage"}[direction]
    notice = ""
    mode = "none" if total <= max_nodes else ("domain" if collapse == "auto" else collapse)
    if mode == "none" and total > max_nodes:
        chosen = set(_nearest(graph, start, chosen, max_nodes))
        notice = (
            f"Cut: {len(chosen)} of the {total} nodes of the {noun} of {focus}, nearest first. "
            f"Draw them all with max_nodes={total} (--max-nodes {total}) or grouped with collapse='domain' "
            "(--collapse domain)."
        )
    sub = graph.subgraph(chosen)
    sub_focus = sub.index(focus)
    align = "late" if direction == "ancestors" else "early"
    sub_edges = [(sub.edge_source[e], sub.edge_target[e]) for e in sub.edge_ids()]
    units: list[_Unit] = []
    unit_of: dict[int, int] = {}
    if mode == "none":
        for i in range(sub.num_nodes):
            unit_of[i] = len(units)
            units.append(_single(sub, i))
    else:
        node_layer, _ = assign_layers(sub.num_nodes, sub_edges, align=align)
        singles = _nearest(sub, sub_focus, set(range(sub.num_nodes)), max(1, max_nodes // 2), keep_hops)
        for i in singles:
            unit_of[i] = len(units)
            units.append(_single(sub, i))
        groups: dict[tuple[int, str], int] = {}
        for i in range(sub.num_nodes):
            if i in unit_of:
                continue
            domain = sub.domains[i] or "unknown"
            group = (node_layer[i], domain if mode == "domain" else "")
            if group not in groups:
                groups[group] = len(units)
                units.append(_Unit("", "group", "", []))
            unit_of[i] = groups[group]
            units[groups[group]].members.append(i)
        for (_, group_domain), u in groups.items():
            members = units[u].members
            domains: dict[str, int] = {}
            for i in members:
                domains[sub.domains[i] or "unknown"] = domains.get(sub.domains[i] or "unknown", 0) + 1
            common = ", ".join(
                f"{d} {c}" for d, c in sorted(domains.items(), key=lambda x: (-x[1], x[0]))[:2]
            )
            units[u].label = _label(
                f"{group_domain} · {len(members)} nodes"
                if mode == "domain"
                else f"{len(members)} nodes · {common}"
            )
            names = ", ".join(sub.keys[i] for i in members[:25]) + (" …" if len(members) > 25 else "")
            units[u].title = f"{len(members)} nodes: {names}"
        notice = (
            f"Collapsed: the {noun} of {focus} has {total} nodes; {sum(len(units[u].members) for u in groups.values())} "
            f"of them are grouped by {'domain and ' if mode == 'domain' else ''}layer into {len(groups)} boxes, "
            f"nodes within {keep_hops} edge(s) of {focus} are drawn one by one. "
            f"collapse='none' with max_nodes={total} (--collapse none --max-nodes {total}) draws every node."
        )
    units[unit_of[sub_focus]].focus = True

    # Edges between units (grouped edges aggregated), coloured by their most common relation.
    bundles: dict[tuple[int, int], list[int]] = {}
    for eid in sub.edge_ids():
        u, v = unit_of[sub.edge_source[eid]], unit_of[sub.edge_target[eid]]
        if u != v:
            bundles.setdefault((u, v), []).append(eid)
    pairs = list(bundles)
    lay = layered(len(units), pairs, heights=[_H] * len(units), align=align)
    top = 20 + (_NOTICE_H if notice else 0)

    def x_of(layer: int, side: str) -> float:
        return 20 + layer * (_W + _GAP_X) + (_W if side == "right" else 0)

    curves = []
    for (u, v), route in zip(pairs, lay.routes, strict=True):
        eids = bundles[(u, v)]
        counts: dict[str, int] = {}
        for eid in eids:
            counts[sub.edge_relation[eid]] = counts.get(sub.edge_relation[eid], 0) + 1
        relation = min(counts, key=lambda r: (-counts[r], r))
        if len(eids) == 1:
            edge = sub.edge(eids[0])
            quote = "; ".join(f"[{e.source_kind}] {e.quote}" for e in edge.evidence)
            title = f"{edge.source} -{edge.relation}-> {edge.target} ({edge.confidence:g}) {quote}"
            dashed = edge.confidence < 0.5
        else:
            title = f"{len(eids)} edges: " + ", ".join(f"{r} {c}" for r, c in sorted(counts.items()))
            dashed = False
        segments: list[tuple[str, tuple[float, ...]]] = [
            ("M", (x_of(route[0][0], route[0][1]), top + route[0][2]))
        ]
        for (l0, s0, y0), (l1, s1, y1) in itertools.pairwise(route):
            x0, x1 = x_of(l0, s0), x_of(l1, s1)
            if l0 == l1:  # through a layer, in its dummy's slot
                segments.append(("L", (x1, top + y1)))
            else:  # across the empty gap between two layers
                bend = (x1 - x0) / 2
                segments.append(("C", (x0 + bend, top + y0, x1 - bend, top + y1, x1, top + y1)))
        curves.append(
            _Curve(
                tuple(segments),
                RELATION_COLORS.get(relation, "#888888"),
                dashed,
                title,
                1.6 + (1.2 * math.log2(len(eids)) if len(eids) > 1 else 0.0),
            )
        )
    boxes = []
    for u, unit in enumerate(units):
        x = x_of(lay.layer[u], "left")
        y = top + lay.y[u] - _H / 2
        boxes.append(
            _Box(
                key=sub.keys[unit.members[0]] if unit.kind != "group" else "",
                label=unit.label,
                kind=unit.kind,
                x=x,
                y=y,
                fill=_KIND_FILL.get(unit.kind, "#fff"),
                stroke="#d62728" if unit.focus else "#555",
                dashed=unit.kind == "unresolved",
                title=unit.title,
            )
        )
    width = max([20 + lay.layers * (_W + _GAP_X) - _GAP_X + 20, 40 + len(notice) * 6.2 if notice else 0])
    height = max((b.y for b in boxes), default=top) + _H + 20
    used = sorted({sub.edge_relation[e] for e in sub.edge_ids()})
    legend = [
        _LegendRow(relation, RELATION_COLORS.get(relation, "#888"), height + 8 + row * 18)
        for row, relation in enumerate(used)
    ]
    return _Drawing(sub, width, height + 18 * len(used) + 10, curves, boxes, legend, notice)


_DRAW_ARGS = """        direction: ``ancestors``, ``descendants`` or ``both``.
        max_nodes: the most nodes drawn one by one. A larger ancestry is drawn collapsed
            (``collapse="auto"``, the default, or ``"domain"``: nodes beyond ``keep_hops``
            edges of ``key`` grouped into one box per domain and layer; ``"depth"``: one box
            per layer) or cut to the nodes nearest to ``key`` (``"none"``); either way the
            picture says so at its top and names the option that draws more.
        collapse: ``auto``, ``domain``, ``depth`` or ``none``.
        keep_hops: in a collapsed view, nodes within this many edges of ``key`` stay single."""


def _svg_path(curve: _Curve) -> str:
    parts = []
    for code, values in curve.segments:
        numbers = [f"{v:.1f}" for v in values]
        pairs = [f"{x} {y}" for x, y in zip(numbers[::2], numbers[1::2], strict=True)]
        parts.append(f"{code} {', '.join(pairs)}")
    return " ".join(parts)


def render_svg(
    graph: LineageGraph,
    key: str | int,
    *,
    direction: str = "ancestors",
    max_nodes: int = 150,
    collapse: str = "auto",
    keep_hops: int = 1,
) -> str:
    """An SVG drawing of ``key`` with its ancestors (or descendants, or both).

    The layout is layered (:mod:`~stemmatic.lineage.export.layout`): an edge never
    passes through a box it does not touch, and crossings are reduced. The SVG
    embeds the drawn subgraph (all of it when collapsed) for :func:`read_embedded`.

    Args:
        graph: the lineage graph.
        key: the node to draw around (highlighted).
    __DRAW_ARGS__

    Raises:
        ParameterError: for an unknown direction, node or collapse mode, or ``max_nodes`` < 1.
    """
    drawing = _draw(graph, key, direction, max_nodes, collapse, keep_hops)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{drawing.width:.0f}" height="{drawing.height:.0f}" '
        f'font-family="Helvetica, Arial, sans-serif" font-size="{_FONT_PX}">',
        # dumps_json(embed=True) escapes < > & and XML's forbidden characters, so "]]>" cannot occur.
        f'<metadata id="{_MARKER}"><![CDATA[{dumps_json(drawing.sub.to_dict(), embed=True)}]]></metadata>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9.6" markerHeight="9.6" '
        'markerUnits="userSpaceOnUse" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    if drawing.notice:
        parts.append(
            f'<text x="20" y="30" font-weight="bold" fill="#b22222">{xml_text(drawing.notice)}</text>'
        )
    for curve in drawing.curves:
        dash = ' stroke-dasharray="4 3"' if curve.dashed else ""
        parts.append(
            f'<path d="{_svg_path(curve)}" fill="none" stroke="{curve.color}" stroke-width="{curve.width:.1f}"'
            f'{dash} marker-end="url(#arrow)"><title>{xml_text(curve.title)}</title></path>'
        )
    for box in drawing.boxes:
        dash = ' stroke-dasharray="3 2"' if box.dashed else ""
        parts.append(
            f"<g><title>{xml_text(box.title)}</title>"
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{_W}" height="{_H}" rx="4" fill="{box.fill}" '
            f'stroke="{box.stroke}"{dash}/>'
            f'<text x="{box.x + 6:.1f}" y="{box.y + 17:.1f}">{xml_text(box.label)}</text></g>'
        )
    for row in drawing.legend:
        parts.append(
            f'<line x1="20" y1="{row.y:.0f}" x2="50" y2="{row.y:.0f}" stroke="{row.color}" '
            f'stroke-width="3"/><text x="56" y="{row.y + 4:.0f}">{xml_text(row.relation)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


render_svg.__doc__ = (render_svg.__doc__ or "").replace("    __DRAW_ARGS__", _DRAW_ARGS)


#: PNG pixels are CSS pixels scaled by ``dpi / 96``; matplotlib sizes text and lines in points (1/72 in).
_CSS_PX_PER_INCH = 96
_PT_PER_PX = 72 / _CSS_PX_PER_INCH
#: Bundled with matplotlib, so finding it never falls back (and never warns); its charmap tells which
#: characters of a label it can draw.
_PNG_FONT = "DejaVu Sans"
_AGG_MAX_PIXELS = 2**16 - 1


def _drawable(text: str, charmap: frozenset[int]) -> str:
    # Agg warns about, and draws an empty box for, a character the font lacks (a CJK dataset name in
    # DejaVu Sans): show U+FFFD instead, as a browser shows the SVG's missing glyphs.
    return "".join(ch if ord(ch) in charmap else "\ufffd" for ch in text)


def render_png(
    graph: LineageGraph,
    key: str | int,
    *,
    direction: str = "ancestors",
    max_nodes: int = 150,
    collapse: str = "auto",
    keep_hops: int = 1,
    path: str | Path | None = None,
    dpi: float = 192,
) -> bytes:
    """A PNG of the same picture as :func:`render_svg`, drawn with matplotlib (the ``lineage`` extra).

    Node positions, labels, relation colours, dashes and the legend come from the layout the SVG
    uses; the image is the SVG's size scaled by ``dpi / 96`` (192, the default, doubles it).

    Args:
        graph: the lineage graph.
        key: the node to draw around (highlighted).
    __DRAW_ARGS__
        path: also write the PNG here.
        dpi: pixels per inch, with the SVG's pixels at 96 per inch.

    Returns:
        The PNG file's bytes.

    Raises:
        ParameterError: for an unknown direction, node or collapse mode, ``max_nodes`` < 1, a
            non-positive ``dpi``, or an image wider or taller than Agg's 65,535 pixels.
        MissingExtraError: if matplotlib is not installed.

    >>> from stemmatic.lineage.graph import LineageGraph
    >>> g = LineageGraph(); _ = g.add_edge("openai/gsm8k", "meta-math/metamathqa", "rewrite")
    >>> render_png(g, "meta-math/metamathqa", dpi=96)[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    if not dpi > 0:
        raise ParameterError(f"dpi must be positive, not {dpi!r}")
    drawing = _draw(graph, key, direction, max_nodes, collapse, keep_hops)
    scale = dpi / _CSS_PX_PER_INCH
    pixels = (round(drawing.width * scale), round(drawing.height * scale))
    if max(pixels) > _AGG_MAX_PIXELS:
        raise ParameterError(
            f"a {pixels[0]}x{pixels[1]} pixel PNG is beyond Agg's {_AGG_MAX_PIXELS} pixels a side: "
            "lower dpi or max_nodes"
        )
    require("matplotlib", "PNG rendering")
    # The Agg canvas is attached to this figure only: no pyplot, so neither the caller's backend
    # nor pyplot's global figure list is touched.
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ft2font import FT2Font
    from matplotlib.patches import FancyBboxPatch, PathPatch, Polygon
    from matplotlib.path import Path as CurvePath

    font = font_manager.FontProperties(family=_PNG_FONT, size=_FONT_PX * _PT_PER_PX)
    charmap = frozenset(FT2Font(font_manager.findfont(font, fallback_to_default=False)).get_charmap())
    # matplotlib truncates width * dpi to whole pixels (older releases even when the product lands
    # one ulp below an integer): aim a thousandth of a pixel past the rounded size.
    figure = Figure(figsize=((pixels[0] + 1e-3) / dpi, (pixels[1] + 1e-3) / dpi), dpi=dpi, facecolor="white")
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, drawing.width)
    axes.set_ylim(drawing.height, 0)  # y downwards, as in the SVG
    axes.set_axis_off()

    # Line widths in points; dash patterns are in multiples of the line width (matplotlib scales them).
    edge_width = 1.6
    codes = {"M": CurvePath.MOVETO, "L": CurvePath.LINETO, "C": CurvePath.CURVE4}
    if drawing.notice:
        axes.text(
            20,
            30,
            drawing.notice,
            fontproperties=font,
            color="#b22222",
            fontweight="bold",
            verticalalignment="baseline",
            parse_math=False,
        )
    for curve in drawing.curves:
        vertices: list[tuple[float, float]] = []
        path_codes = []
        for code, values in curve.segments:
            for x, y in zip(values[::2], values[1::2], strict=True):
                vertices.append((x, y))
                path_codes.append(codes[code])
        axes.add_patch(
            PathPatch(
                CurvePath(vertices, path_codes),
                fill=False,
                edgecolor=curve.color,
                linewidth=curve.width * _PT_PER_PX,
                linestyle=(0, (4 / curve.width, 3 / curve.width)) if curve.dashed else "solid",
                capstyle="butt",
            )
        )
        # The SVG's arrow marker: 9.6 px long and wide, tip on the end, pointing along the last
        # control segment, which is horizontal.
        tip_x, tip_y, way = curve.tip
        head = 6 * edge_width
        axes.add_patch(
            Polygon(
                [
                    (tip_x - way * head, tip_y - head / 2),
                    (tip_x, tip_y),
                    (tip_x - way * head, tip_y + head / 2),
                ],
                closed=True,
                facecolor="#555",
                edgecolor="none",
            )
        )
    for box in drawing.boxes:
        frame = FancyBboxPatch(
            (box.x, box.y),
            _W,
            _H,
            boxstyle="round,pad=0,rounding_size=4",
            facecolor=box.fill,
            edgecolor=box.stroke,
            linewidth=_PT_PER_PX,
            linestyle=(0, (3, 2)) if box.dashed else "solid",
        )
        axes.add_patch(frame)
        label = axes.text(
            box.x + 6,
            box.y + 17,
            _drawable(box.label, charmap),
            fontproperties=font,
            verticalalignment="baseline",
            parse_math=False,
        )
        label.set_clip_path(frame)  # DejaVu is wider than Helvetica: a 36-character label may overrun
    for row in drawing.legend:
        axes.plot([20, 50], [row.y, row.y], color=row.color, linewidth=3 * _PT_PER_PX, solid_capstyle="butt")
        axes.text(
            56, row.y + 4, row.relation, fontproperties=font, verticalalignment="baseline", parse_math=False
        )

    buffer = io.BytesIO()
    # print_png, not savefig: the caller's savefig.* rcParams (bbox "tight", facecolor) stay out of it.
    canvas.print_png(buffer, metadata={"Software": "stemmatic"})  # type: ignore[no-untyped-call]
    png = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(png)
    return png


def read_embedded(source: str | Path) -> LineageGraph:
    """The graph embedded in an SVG from :func:`render_svg` or an HTML page from :func:`~.html.render_html`.

    ``source`` is the file's text or its path.

    Raises:
        InvalidInputError: if no embedded stemmatic graph is found.
    """
    text = read_text(source) if isinstance(source, Path) else source
    svg = re.search(rf'<metadata id="{_MARKER}"><!\[CDATA\[(.*?)\]\]></metadata>', text, re.DOTALL)
    if svg:
        # Files written before the data was escaped split a "]]>" across two CDATA sections.
        payload = svg.group(1).replace("]]]]><![CDATA[>", "]]>")
    else:
        page = re.search(rf'<script type="application/json" id="{_MARKER}">(.*?)</script>', text, re.DOTALL)
        if not page:
            raise InvalidInputError("no embedded stemmatic lineage graph in this SVG/HTML")
        payload = page.group(1)  # JSON reads the "<\/" of older pages as "</"
    where = f"{source} (embedded lineage graph)" if isinstance(source, Path) else "embedded lineage graph"
    return LineageGraph.from_dict(load_json(payload, where), where=where)


render_png.__doc__ = (render_png.__doc__ or "").replace("    __DRAW_ARGS__", _DRAW_ARGS)


def __getattr__(name: str) -> object:
    # render_html moved to stemmatic.lineage.export.html; this import path keeps working.
    if name == "render_html":
        from stemmatic.lineage.export.html import render_html

        return render_html
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
