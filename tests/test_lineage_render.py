"""Readable lineage pictures: a layered layout whose edges never cross a box they do not touch, crossing
reduction, a notice when a drawing is cut or collapsed, and the options that draw more."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.exceptions import ParameterError
from stemmatic.lineage.export import read_embedded, render_png, render_svg, write_node_link
from stemmatic.lineage.export.layout import crossings, layered
from stemmatic.lineage.export.render import _H, _W, _draw
from stemmatic.lineage.graph import LineageGraph

pytest.importorskip("rustworkx")


def sample(segments) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    at = (0.0, 0.0)
    for code, values in segments:
        if code == "M":
            at = (values[0], values[1])
            points.append(at)
        elif code == "L":
            end = (values[0], values[1])
            points += [
                (at[0] + (end[0] - at[0]) * t / 20, at[1] + (end[1] - at[1]) * t / 20) for t in range(21)
            ]
            at = end
        else:
            (x1, y1, x2, y2, x3, y3), (x0, y0) = values, at
            for step in range(41):
                t = step / 40
                a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
                points.append((a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3))
            at = (x3, y3)
    return points


def through_boxes(drawing) -> list[tuple[str, str]]:
    """(edge title, box label) for every edge point strictly inside a box other than the edge's own two."""
    found = []
    for curve in drawing.curves:
        points = sample(curve.segments)
        ends = [points[0], points[-1]]
        own = {
            id(box)
            for box in drawing.boxes
            for x, y in ends
            if box.x - 1 <= x <= box.x + _W + 1 and box.y - 1 <= y <= box.y + _H + 1
        }
        for box in drawing.boxes:
            if id(box) in own:
                continue
            if any(
                box.x + 0.5 < x < box.x + _W - 0.5 and box.y + 0.5 < y < box.y + _H - 0.5 for x, y in points
            ):
                found.append((curve.title, box.label))
    return found


def test_an_edge_that_skips_a_layer_goes_around_the_box_between() -> None:
    # gsm8k -> MetaMathQA must not read as gsm8k -> MATH -> MetaMathQA.
    g = LineageGraph()
    g.add_edge("openai/gsm8k", "hendrycks/math-aug", "rewrite")
    g.add_edge("hendrycks/math-aug", "meta-math/metamathqa", "rewrite")
    g.add_edge("openai/gsm8k", "meta-math/metamathqa", "rewrite")
    drawing = _draw(g, "meta-math/metamathqa", "ancestors", 150)
    assert through_boxes(drawing) == []
    long_edge = next(c for c in drawing.curves if c.title.startswith("openai/gsm8k -rewrite-> meta-math"))
    assert [code for code, _ in long_edge.segments] == [
        "M",
        "C",
        "L",
        "C",
    ]  # across, through its slot, across


@pytest.mark.parametrize("seed", range(6))
def test_no_edge_crosses_a_foreign_box_on_random_dags(seed: int) -> None:
    rng = random.Random(seed)
    g = LineageGraph()
    n = 40
    for v in range(1, n):
        for u in rng.sample(range(v), min(v, rng.randint(1, 3))):
            g.add_edge(f"org/n{u}", f"org/n{v}", rng.choice(["subset", "merge", "distill"]))
    g.add_edge(f"org/n{n - 1}", "org/n5", "derived")  # a cycle: drawn, reversed for the layout
    for direction in ("ancestors", "descendants", "both"):
        drawing = _draw(g, "org/n20", direction, 150)
        assert through_boxes(drawing) == []
    collapsed = _draw(g, f"org/n{n - 1}", "ancestors", 10, "domain")
    assert through_boxes(collapsed) == []


def test_crossing_reduction_and_the_crossing_count() -> None:
    for upper, lower in [([0, 1], [1, 0]), ([0, 0, 1], [2, 1, 0]), ([0, 1, 2], [0, 1, 2])]:
        brute = sum(
            1
            for (a, b), (c, d) in itertools.combinations(zip(upper, lower, strict=True), 2)
            if (a - c) * (b - d) < 0
        )
        assert crossings(upper, lower) == brute
    # K(2,2) drawn in the bad order initially gets untangled: a -> d, b -> c only.
    lay = layered(4, [(0, 3), (1, 2)], heights=[26] * 4)
    assert lay.crossings == 0


def test_cut_and_collapsed_drawings_say_so(tmp_path: Path) -> None:
    g = LineageGraph()
    for i in range(30):
        g.add_node(f"org/src-{i}", domain="math" if i % 2 else "code")
        g.add_edge(f"org/src-{i}", f"org/mid-{i % 3}", "subset")
    for i in range(3):
        g.add_edge(f"org/mid-{i}", "org/mix", "merge")
    cut = render_svg(g, "org/mix", max_nodes=10, collapse="none")
    assert "Cut: 10 of the 34 nodes of the ancestry of org/mix" in cut and "--max-nodes 34" in cut
    assert read_embedded(cut).num_nodes == 10
    collapsed = render_svg(g, "org/mix", max_nodes=10)
    assert "Collapsed: the ancestry of org/mix has 34 nodes" in collapsed
    assert "math · 15 nodes" in collapsed and "code · 15 nodes" in collapsed
    assert read_embedded(collapsed).num_nodes == 34  # the data behind the picture is all there
    by_depth = render_svg(g, "org/mix", max_nodes=10, collapse="depth")
    assert "30 nodes · code 15, math 15" in by_depth
    whole = render_svg(g, "org/mix")
    assert "Cut:" not in whole and "Collapsed:" not in whole
    png = render_png(g, "org/mix", max_nodes=10, dpi=48)
    assert png.startswith(b"\x89PNG")
    with pytest.raises(ParameterError, match="collapse must be one of"):
        render_svg(g, "org/mix", collapse="tidy")
    with pytest.raises(ParameterError, match="max_nodes must be at least 1"):
        render_svg(g, "org/mix", max_nodes=0)


def test_cli_export_draws_more_on_request(tmp_path: Path) -> None:
    g = LineageGraph()
    for i in range(12):
        g.add_edge(f"org/src-{i}", "org/mix", "subset")
    graph_file = write_node_link(g, tmp_path / "g.json")
    out = tmp_path / "mix.svg"
    args = ["lineage", "export", str(graph_file), str(out), "--format", "svg", "--node", "org/mix"]
    result = CliRunner().invoke(app, [*args, "--max-nodes", "5", "--collapse", "none"])
    assert result.exit_code == 0, result.output
    assert "Cut: 5 of the 13 nodes" in out.read_text(encoding="utf-8")
    result = CliRunner().invoke(app, [*args, "--max-nodes", "13"])
    assert result.exit_code == 0 and "Cut:" not in out.read_text(encoding="utf-8")
    result = CliRunner().invoke(app, [*args, "--collapse", "sideways"])
    assert result.exit_code == 2 and "'sideways' is not one of 'auto', 'domain'" in result.output
