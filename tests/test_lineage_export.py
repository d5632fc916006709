"""Every lineage export format round-trips; the CLI drives build, show, impact, contamination,
redundancy, sample and export."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.exceptions import InvalidInputError, MissingExtraError, ParameterError
from stemmatic.lineage import Evidence, LineageGraph
from stemmatic.lineage import export as ex
from stemmatic.lineage.importers import load_paper_jsonl


def sample_graph() -> LineageGraph:
    g = LineageGraph()
    g.add_node(
        "openai/gsm8k:main@test",
        kind="benchmark",
        size=1319,
        licenses=["MIT"],
        date="2021-10",
        categories=["math word problems"],
    )
    g.add_node(
        "meta-math/metamathqa", domain="math", source_kind="model-generated", hf_url="https://x", n=[1, 2]
    )
    g.add_edge(
        "openai/gsm8k:main@test",
        "openai/gsm8k",
        "merge",
        evidence=[Evidence("card", 'split "test" <of> & gsm8k', "https://hf.co/datasets/openai/gsm8k")],
    )
    g.add_edge(
        "openai/gsm8k",
        "meta-math/metamathqa",
        "rewrite",
        confidence=0.8,
        fraction=0.25,
        evidence=[Evidence("paper", "we rewrite ]]> GSM8K"), Evidence("measured", "40% contained")],
    )
    g.add_edge("meta-math/metamathqa", "model:org/math-7b", "trained_on")
    g.add_node("unresolved:gsm-hard", kind="unresolved", name="GSM Hard")
    g.add_node("collection:mix", kind="collection")
    g.add_edge("unresolved:gsm-hard", "collection:mix", "merge")
    return g


def canonical(graph: LineageGraph) -> tuple[list[str], list[str]]:
    data = graph.to_dict()
    return (
        sorted(json.dumps(n, sort_keys=True) for n in data["nodes"]),
        sorted(json.dumps(e, sort_keys=True) for e in data["links"]),
    )


def topology(graph: LineageGraph) -> set[tuple[str, str, str]]:
    return {(e.source, e.target, e.relation) for e in graph.edges()}


def test_node_link_roundtrip(tmp_path: Path) -> None:
    g = sample_graph()
    assert canonical(ex.read_node_link(ex.write_node_link(g, tmp_path / "g.json"))) == canonical(g)


def test_graphml_roundtrip(tmp_path: Path) -> None:
    g = sample_graph()
    assert canonical(ex.read_graphml(ex.write_graphml(g, tmp_path / "g.graphml"))) == canonical(g)
    (tmp_path / "bad.graphml").write_text("<graphml><graph>")
    with pytest.raises(InvalidInputError, match="malformed GraphML"):
        ex.read_graphml(tmp_path / "bad.graphml")


def test_paper_jsonl_roundtrip(tmp_path: Path) -> None:
    g = sample_graph()
    graph_path, data_path = ex.write_paper_jsonl(g, tmp_path / "paper")
    first = json.loads(graph_path.read_text().splitlines()[0])
    assert set(first) == {"target", "source", "meta_info"} and isinstance(first["meta_info"], str)
    assert canonical(load_paper_jsonl(graph_path, data_path)[0]) == canonical(g)


def test_openlineage_roundtrip() -> None:
    g = sample_graph()
    events = ex.openlineage_events(g, event_time="2025-01-01T00:00:00.000Z")
    event = next(e for e in events if e["dataset"]["name"] == "meta-math/metamathqa")
    assert event["schemaURL"].endswith("#/$defs/DatasetEvent")
    facet = event["dataset"]["facets"]["lineage"]
    assert facet["_schemaURL"].endswith("LineageDatasetFacet.json#/$defs/LineageDatasetFacet")
    (entry,) = facet["inputs"]
    assert (entry["name"], entry["type"], entry["transformations"][0]["type"]) == (
        "openai/gsm8k",
        "DATASET",
        "INDIRECT",
    )
    assert canonical(ex.from_openlineage(json.loads(json.dumps(events)))) == canonical(g)
    with pytest.raises(InvalidInputError, match=r"events\[0\]"):
        ex.from_openlineage([{"eventTime": "x"}])


def test_prov_json_roundtrip() -> None:
    g = sample_graph()
    document = ex.prov_json(g)
    assert "stm:openai%2Fgsm8k%3Amain%40test" in document["entity"]
    derivation = next(iter(document["wasDerivedFrom"].values()))
    assert derivation["prov:type"] == "stm:merge"
    assert canonical(ex.from_prov_json(json.loads(json.dumps(document)))) == canonical(g)


def test_dot_and_mermaid_roundtrip_topology() -> None:
    g = sample_graph()
    dot = ex.to_dot(g)
    assert 'color="#e15759"' in dot  # rewrite
    back = ex.from_dot(dot)
    assert topology(back) == topology(g) and back.kinds == g.kinds
    assert [back.edge(i).confidence for i in back.edge_ids()] == [g.edge(i).confidence for i in g.edge_ids()]
    mermaid = ex.to_mermaid(g)
    back = ex.from_mermaid(mermaid)
    assert topology(back) == topology(g) and back.kinds == g.kinds
    with pytest.raises(InvalidInputError, match="DOT line 2"):
        ex.from_dot("digraph x {\n  what is this\n}")
    with pytest.raises(InvalidInputError, match="undeclared"):
        ex.from_mermaid("flowchart LR\n  n0 -->|merge| n1")


def test_svg_and_html_embed_their_graph(tmp_path: Path) -> None:
    g = sample_graph()
    svg = ex.render_svg(g, "model:org/math-7b")
    # The sample's quote holds "]]>": the embedded JSON escapes ">", so only the CDATA end spells it.
    assert svg.startswith("<svg") and "#e15759" in svg and svg.count("]]>") == 1
    drawn = ex.read_embedded(svg)
    assert sorted(drawn.keys) == sorted(
        ["openai/gsm8k:main@test", "openai/gsm8k", "meta-math/metamathqa", "model:org/math-7b"]
    )
    assert canonical(drawn)[1] == canonical(g.subgraph(g.index(k) for k in drawn.keys))[1]
    below = ex.read_embedded(ex.render_svg(g, "openai/gsm8k", direction="descendants"))
    assert sorted(below.keys) == ["meta-math/metamathqa", "model:org/math-7b", "openai/gsm8k"]
    page = ex.render_html(g)
    assert "<script src" not in page and "http://" not in page.split("<script", 1)[0]
    (tmp_path / "g.html").write_text(page, encoding="utf-8")
    assert canonical(ex.read_embedded(tmp_path / "g.html")) == canonical(g)
    with pytest.raises(InvalidInputError):
        ex.read_embedded("<svg></svg>")


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def svg_size(svg: str) -> tuple[int, int]:
    head = svg.split(">", 1)[0]
    return int(head.split('width="')[1].split('"')[0]), int(head.split('height="')[1].split('"')[0])


def pixels_of(image: np.ndarray, color: str) -> int:
    """How many pixels of ``image`` (RGB or RGBA floats) are ``color`` (#rrggbb), within rounding."""
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return int((np.abs(image[..., :3] - rgb).max(axis=-1) <= 1.5 / 255).sum())


def test_png_draws_the_svg_picture(tmp_path: Path) -> None:
    from matplotlib.image import imread

    g = LineageGraph()
    g.add_edge("openai/gsm8k", "meta-math/metamathqa", "rewrite")
    g.add_edge("meta-math/metamathqa", "model:org/math-7b", "trained_on", confidence=0.4)
    g.add_edge("other/unrelated", "openai/gsm8k", "filter")  # upstream of the drawn node: drawn
    g.add_edge("model:org/math-7b", "model:org/math-7b-q4", "quantized")  # downstream: not drawn
    width, height = svg_size(ex.render_svg(g, "model:org/math-7b"))
    for dpi, scale in [(96, 1), (192, 2)]:
        png = ex.render_png(g, "model:org/math-7b", dpi=dpi, path=tmp_path / f"{dpi}.png")
        assert png.startswith(PNG_MAGIC) and (tmp_path / f"{dpi}.png").read_bytes() == png
        image = imread(io.BytesIO(png))
        assert image.shape[:2] == (height * scale, width * scale)
        # Every relation drawn (edge and legend) shows in its colour; the undrawn one does not.
        for relation in ("rewrite", "trained_on", "filter"):
            assert pixels_of(image, ex.RELATION_COLORS[relation]) > 20 * scale, relation
        assert pixels_of(image, ex.RELATION_COLORS["quantized"]) == 0
        # The focus node's 1-pixel frame straddles two pixel rows at 96 dpi: only at 192 is it pure.
        assert scale == 1 or pixels_of(image, "#d62728") > 200
    below = imread(io.BytesIO(ex.render_png(g, "openai/gsm8k", direction="descendants", dpi=96)))
    assert pixels_of(below, ex.RELATION_COLORS["quantized"]) > 20
    assert pixels_of(below, ex.RELATION_COLORS["filter"]) == 0


def test_png_labels_the_font_cannot_draw() -> None:
    # A CJK name (absent from DejaVu Sans) and a "$...$" name (mathtext) would each warn or fail
    # in matplotlib; strict pytest turns any warning into a failure.
    g = LineageGraph()
    g.add_edge("某机构/中文指令数据", "org/$x$-mix", "translate")
    assert ex.render_png(g, "org/$x$-mix", dpi=96).startswith(PNG_MAGIC)
    from stemmatic.lineage.export.render import _drawable

    assert _drawable("ab中", frozenset(map(ord, "ab"))) == "ab\ufffd"


def test_png_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    g = sample_graph()
    with pytest.raises(ParameterError, match="dpi must be positive"):
        ex.render_png(g, "model:org/math-7b", dpi=0)
    with pytest.raises(ParameterError, match="lower dpi or max_nodes"):
        ex.render_png(g, "model:org/math-7b", dpi=10_000)
    with pytest.raises(ParameterError, match="direction"):
        ex.render_png(g, "model:org/math-7b", direction="sideways")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match="lineage"):
        ex.render_png(g, "model:org/math-7b")


def test_networkx_conversion() -> None:
    g = sample_graph()
    nx_graph = g.to_networkx()
    assert nx_graph.number_of_nodes() == g.num_nodes and nx_graph.number_of_edges() == g.num_edges
    assert canonical(LineageGraph.from_networkx(nx_graph)) == canonical(g)


# ------------------------------------------------------------------ CLI
def test_cli_end_to_end(tmp_path: Path) -> None:
    runner = CliRunner()
    graph_file = tmp_path / "g.json"
    edges = tmp_path / "edges.csv"
    edges.write_text("source,target,relation,quote\nmy/root,my/mix,merge,we merged it\n")
    result = runner.invoke(
        app, ["lineage", "build", str(graph_file), "--dpi", "builtin", "--edges", str(edges)]
    )
    assert result.exit_code == 0, result.output
    assert "2312" in result.output and graph_file.exists()

    result = runner.invoke(app, ["lineage", "show", str(graph_file), "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s.json").read_text())["hygiene"]["summary"]["cycles"] == 0
    result = runner.invoke(app, ["lineage", "show", str(graph_file), "tatsu-lab/alpaca"])
    assert result.exit_code == 0 and "CC BY-NC 4.0" in result.output

    result = runner.invoke(
        app, ["lineage", "impact", str(graph_file), "Alpaca", "--json", str(tmp_path / "i.json")]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "i.json").read_text())["start"] == "tatsu-lab/alpaca"

    result = runner.invoke(
        app,
        [
            "lineage",
            "contamination",
            str(graph_file),
            "--benchmark",
            "GSM8K",
            "--json",
            str(tmp_path / "c.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    hits = {h["key"] for h in json.loads((tmp_path / "c.json").read_text())["hits"]}
    assert "meta-math/metamathqa" in hits

    texts_a, texts_b = tmp_path / "a.txt", tmp_path / "b.jsonl"
    texts_a.write_text("\n".join(f"root text number {i} about rivers and lakes and hills" for i in range(30)))
    texts_b.write_text(
        "\n".join(json.dumps({"text": f"other words {i} on trains and planes and ships"}) for i in range(30))
    )
    result = runner.invoke(
        app,
        [
            "lineage",
            "redundancy",
            str(graph_file),
            "my/root",
            "my/mix",
            "--texts",
            f"my/root={texts_a}",
            "--texts",
            f"my/mix={texts_b}",
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        json.loads((tmp_path / "r.json").read_text())["disagreements"][0]["kind"]
        == "structure without overlap"
    )

    out = tmp_path / "sample.jsonl"
    result = runner.invoke(
        app,
        [
            "lineage",
            "sample",
            str(graph_file),
            "--budget",
            "10",
            "--output",
            str(out),
            "--target",
            "my/mix",
            "--texts",
            f"my/root={texts_a}",
            "--baseline",
            str(texts_b),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 10
    assert json.loads(out.with_suffix(".attribution.json").read_text())["allocation"] == {"my/root": 10}

    for fmt, name in [
        ("graphml", "g.graphml"),
        ("dot", "g.dot"),
        ("mermaid", "g.mmd"),
        ("prov", "g.prov.json"),
        ("openlineage", "g.ol.jsonl"),
        ("html", "g.html"),
        ("paper", "paper"),
    ]:
        result = runner.invoke(
            app, ["lineage", "export", str(graph_file), str(tmp_path / name), "--format", fmt]
        )
        assert result.exit_code == 0, (fmt, result.output)
    result = runner.invoke(
        app,
        [
            "lineage",
            "export",
            str(graph_file),
            str(tmp_path / "a.svg"),
            "--format",
            "svg",
            "--node",
            "my/mix",
        ],
    )
    assert result.exit_code == 0 and (tmp_path / "a.svg").read_text().startswith("<svg")
    result = runner.invoke(
        app,
        [
            "lineage",
            "export",
            str(graph_file),
            str(tmp_path / "a.png"),
            "--format",
            "png",
            "--node",
            "tatsu-lab/alpaca",
            "--direction",
            "descendants",
            "--dpi",
            "96",
        ],
    )
    assert result.exit_code == 0, result.output
    png = (tmp_path / "a.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and png == ex.render_png(
        ex.read_node_link(graph_file), "tatsu-lab/alpaca", direction="descendants", dpi=96
    )


def test_cli_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["lineage", "build", str(tmp_path / "g.json")])
    assert result.exit_code == 2 and "nothing to import" in result.output
    (tmp_path / "bad.json").write_text("{not json")
    result = runner.invoke(app, ["lineage", "show", str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and "bad.json:1" in result.output
    ex.write_node_link(sample_graph(), tmp_path / "g.json")
    result = runner.invoke(app, ["lineage", "impact", str(tmp_path / "g.json"), "no/such"])
    assert result.exit_code == 2 and "no node 'no/such'" in result.output
    result = runner.invoke(
        app, ["lineage", "export", str(tmp_path / "g.json"), str(tmp_path / "x"), "--format", "pdf"]
    )
    assert result.exit_code == 2 and "'pdf' is not one of 'paper', 'node-link'" in result.output
    result = runner.invoke(
        app, ["lineage", "export", str(tmp_path / "g.json"), str(tmp_path / "x"), "--format", "png"]
    )
    assert result.exit_code == 2 and "--format png needs --node" in result.output


def test_export_graph_writes_every_format_by_name(tmp_path):
    from stemmatic.lineage.export import EXPORT_FORMATS, export_graph

    graph = sample_graph()
    node = graph.keys[-1]
    for fmt in EXPORT_FORMATS:
        if fmt == "png":
            continue  # needs matplotlib's fonts; drawn in test_lineage_render
        written = export_graph(graph, tmp_path / f"g.{fmt}", fmt, node=node)
        assert written and all(p.stat().st_size > 0 for p in written), fmt
    assert [p.name for p in export_graph(graph, tmp_path / "paper", "paper")] == ["graph.jsonl", "data.jsonl"]
    assert ex.from_mermaid((tmp_path / "g.mermaid").read_text()).num_edges == graph.num_edges
    with pytest.raises(InvalidInputError, match="--format svg needs --node"):
        export_graph(graph, tmp_path / "x.svg", "svg")
    with pytest.raises(InvalidInputError, match="must be one of"):
        export_graph(graph, tmp_path / "x.pdf", "pdf")  # type: ignore[arg-type]
    result = CliRunner().invoke(
        app,
        [
            "lineage",
            "export",
            str(ex.write_node_link(graph, tmp_path / "g.json")),
            str(tmp_path / "d.svg"),
            "--format",
            "svg",
            "--node",
            node,
            "--direction",
            "sideways",
        ],
    )
    assert result.exit_code == 2 and "'sideways' is not one of" in result.output
