"""Hostile lineage files and names (issue 14, items 3, 6, 7 and 9).

Every lineage loader answers bad input with an InvalidInputError naming the file, line or record
and field (never a traceback or a RecursionError); YAML alias bombs and oversized card front
matter are refused; every export is well-formed for any node name or attribute and reads back
exactly; the HTML viewer cannot be broken out of by a key.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage import Evidence, LineageGraph
from stemmatic.lineage import export as ex
from stemmatic.lineage._files import dumps_json
from stemmatic.lineage.importers import load_edges, load_hf_card, load_paper_jsonl
from stemmatic.lineage.importers.hf import MAX_FRONT_MATTER_BYTES

DEEP = 100_000


def canonical(graph: LineageGraph) -> tuple[list[dict], list[dict]]:
    data = graph.to_dict()
    return (
        sorted(data["nodes"], key=lambda n: n["id"]),
        sorted(data["links"], key=lambda e: (e["source"], e["target"], e["relation"])),
    )


# ------------------------------------------------------------------ HTML viewer (item 3)
def test_html_start_key_cannot_close_the_script() -> None:
    g = LineageGraph()
    evil = "a/</script><script>alert(1)</script>"
    g.add_node(evil, normalize=False)
    g.add_edge("b/y", evil, "subset", evidence=Evidence("card", quote="<!-- </script> \u2028 \u2029 &amp;"))
    page = ex.render_html(g, start=evil)
    # Only the page's own two scripts open and close; the key and quote stay inside JSON strings.
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "<script>alert" not in page and "<!--" not in page
    assert "\u2028" not in page and "\u2029" not in page
    start = re.search(r"q\.value=(.*?);draw", page)
    assert start is not None and json.loads(start.group(1)) == evil
    assert canonical(ex.read_embedded(page)) == canonical(g)


def test_html_slots_are_filled_once() -> None:
    g = LineageGraph()
    g.add_edge("a/__DATA__", "b/__START__", "subset")
    page = ex.render_html(g, title="__DATA__ <b>x</b>")
    assert "<title>__DATA__ &lt;b&gt;x&lt;/b&gt;</title>" in page
    assert canonical(ex.read_embedded(page)) == canonical(g)


# ------------------------------------------------------------ well-formed exports (item 9)
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "a&b\"c'd",
    "]]>",
    "_x0041_",
    "#quot;#35;",
    "ctl\x00\x01\x08\x0b\x0c\x1b\x7f\x85",
    "cr\rlf\ntab\t",
    "line\u2028para\u2029",
    "emoji 🧬 and 汉字",
    "lone \ud800 and \udfff",
    "nonchar \ufffe\uffff",
    "`md` **b**",
]
any_text = st.text(st.characters(exclude_categories=()), min_size=1, max_size=12)
names = st.one_of(st.sampled_from(HOSTILE), any_text)


def hostile_graph(keys: list[str], text: str) -> LineageGraph:
    g = LineageGraph()
    for key in keys:
        g.add_node(
            key, name=text, domain=text, categories=[text], normalize=False, **{text: [text, {text: 1}]}
        )
    for source, target in itertools.pairwise(keys):
        g.add_edge(source, target, "filter", confidence=0.5, evidence=Evidence("paper", quote=text, url=text))
    return g


def check_exports(g: LineageGraph) -> None:
    with tempfile.TemporaryDirectory() as folder:
        graphml = ex.write_graphml(g, Path(folder) / "g.graphml")
        ET.parse(graphml)  # well-formed XML
        assert canonical(ex.read_graphml(graphml)) == canonical(g)
        node_link = ex.write_node_link(g, Path(folder) / "g.json")
        assert canonical(ex.read_node_link(node_link)) == canonical(g)
        graph_file, data_file = ex.write_paper_jsonl(g, Path(folder) / "paper")
        for line in [*graph_file.read_text("utf-8").split("\n"), *data_file.read_text("utf-8").split("\n")]:
            if line:
                json.loads(line)
    key = g.keys[-1]
    svg = ex.render_svg(g, key)
    ET.fromstring(svg)
    svg.encode("utf-8")
    assert canonical(ex.read_embedded(svg)) == canonical(g)
    page = ex.render_html(g, start=key)
    page.encode("utf-8")
    assert page.count("</script>") == 2
    assert canonical(ex.read_embedded(page)) == canonical(g)
    mermaid = ex.to_mermaid(g)
    mermaid.encode("utf-8")
    labels = re.findall(r'^\s*n\d+\W{1,2}"(.*)"\W{1,2}$', mermaid, re.MULTILINE)
    assert len(labels) == g.num_nodes
    for label in labels:
        assert not re.search(r'[<>&"`\x00-\x1f]', label), label
    assert sorted(ex.from_mermaid(mermaid).keys) == sorted(g.keys)
    dot = ex.to_dot(g)
    dot.encode("utf-8")
    assert sorted(ex.from_dot(dot).keys) == sorted(g.keys)
    for document in (ex.prov_json(g), *ex.openlineage_events(g)):
        json.loads(dumps_json(document).encode("utf-8"))


@settings(max_examples=60, deadline=None)
@given(st.lists(names, min_size=2, max_size=3, unique=True), names)
@example(keys=["<img src=x onerror=alert(1)>", "/"], text="<img src=x onerror=alert(1)>")
def test_every_export_is_well_formed_and_reads_back(keys: list[str], text: str) -> None:
    check_exports(hostile_graph(keys, text))


@pytest.mark.parametrize("key", ["/", "'/'", " / ", "a/"])
def test_a_key_kept_as_written_with_no_repository_in_it_is_a_node(key: str) -> None:
    # A slash made it look like a repository, whose bare name was then parsed out of it.
    g = LineageGraph()
    g.add_node(key, normalize=False)
    g.add_node("org/name")
    assert g.keys == [key, "org/name"]
    assert g.resolve("name") == "org/name"


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_names_in_every_export(text: str) -> None:
    check_exports(hostile_graph([text, f"{text}/2", "plain/key"], text))


def test_graphml_with_control_characters_reads_back(tmp_path: Path) -> None:
    g = LineageGraph()
    g.add_edge("a/x", "b/y", "subset", evidence=Evidence("card", quote="page\x0cbreak"))
    g.add_node("a/x", name="bell\x07")
    path = ex.write_graphml(g, tmp_path / "g.graphml")
    assert "_x0007_" in path.read_text("utf-8")
    assert ex.read_graphml(path).names[0] == "bell\x07"


def test_mermaid_label_carries_no_markup() -> None:
    g = LineageGraph()
    g.add_node("<b onmouseover=x>a</b>", normalize=False)
    g.add_edge("<b onmouseover=x>a</b>", "b/y", "subset")
    text = ex.to_mermaid(g)
    assert "<b" not in text and "#60;b onmouseover=x#62;a#60;/b#62;" in text


# --------------------------------------------------------------- YAML (item 7)
BOMB = "\n".join(
    ["---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    + ["---", "card"]
)


def test_alias_bomb_card_is_refused(tmp_path: Path) -> None:
    assert len(BOMB) < 700
    card = tmp_path / "org" / "bomb" / "README.md"
    card.parent.mkdir(parents=True)
    card.write_text(BOMB, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"README\.md:\d+: malformed YAML \(aliases expand"):
        load_hf_card(card)


def test_benign_aliases_still_load() -> None:
    card = "---\nlicense: &l mit\nx: [*l, *l]\n---\n"
    graph, _ = load_hf_card(text=card, repo_id="org/ok")
    assert graph.node("org/ok").licenses == ("mit",)


def test_oversized_front_matter_is_refused() -> None:
    card = "---\npretty_name: '" + "x" * MAX_FRONT_MATTER_BYTES + "'\n---\n"
    with pytest.raises(InvalidInputError, match=r"card of org/big: YAML front matter is [\d,]+ bytes, over"):
        load_hf_card(text=card, repo_id="org/big")


def test_deeply_nested_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"card of org/x:2: malformed YAML \(nested deeper than 64"):
        load_hf_card(text="---\na: " + "[" * 5000 + "]" * 5000 + "\n---\n", repo_id="org/x")
    edges = tmp_path / "deep.yaml"
    edges.write_text("edges:\n- " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"deep\.yaml:\d+: malformed YAML \(nested deeper"):
        load_edges(edges)


def test_yaml_dates_stay_text_and_export(tmp_path: Path) -> None:
    edges = tmp_path / "e.yaml"
    edges.write_text(
        "nodes:\n- {id: org/a, released: 2023-01-02, date: 2023-01-02}\n"
        "edges:\n- {source: org/a, target: org/b, relation: subset}\n",
        encoding="utf-8",
    )
    graph, _ = load_edges(edges)
    assert graph.get_attr("org/a", "released") == "2023-01-02"
    again = ex.read_node_link(ex.write_node_link(graph, tmp_path / "g.json"))
    assert again.get_attr("org/a", "released") == "2023-01-02" and again.dates[0] == "2023-01-02"


# -------------------------------------------------- every loader names file and field (item 6)
def node_link(nodes: object, links: object = ()) -> str:
    return json.dumps({"nodes": nodes, "links": list(links) if isinstance(links, tuple) else links})


NODE_LINK_CASES = [
    ('{"nodes": [{"id": "a/b", "attrs": {"x": ' + "[" * DEEP + "]" * DEEP + "}}]}", "nested deeper than 64"),
    (
        node_link([{"id": "a/b", "attrs": {"x": json.loads("[" * 70 + "]" * 70)}}]),
        r"nodes\[0\]\.attrs.*deeper",
    ),
    (node_link([{"id": 5}]), r"nodes\[0\]: field 'id' \(the node key\) is an integer"),
    (node_link([{}]), r"nodes\[0\]: field 'id' \(the node key\) is missing"),
    (
        node_link([{"id": "a/b", "categories": "math"}]),
        r"nodes\[0\]: node 'a/b': field 'categories' is a string",
    ),
    (
        node_link([{"id": "a/b", "licenses": [1]}]),
        r"nodes\[0\]: node 'a/b': field 'licenses' holds an integer",
    ),
    (node_link([{"id": "a/b", "size": True}]), r"nodes\[0\]: node 'a/b': field 'size' is True"),
    (
        node_link([{"id": "a/b", "size": 2**64}]),
        r"nodes\[0\]: node 'a/b': field 'size' is 18446744073709551616",
    ),
    (node_link([{"id": "a/b", "name": ["x"]}]), r"nodes\[0\]: node 'a/b': field 'name' is a list"),
    (node_link([{"id": "a/b", "date": [2020]}]), r"nodes\[0\]: node 'a/b': field 'date' is a list"),
    (node_link([{"id": "a/b", "attrs": [1]}]), r"nodes\[0\]: node 'a/b': field 'attrs' is a list"),
    (node_link(["a/b"]), r"nodes\[0\]: the entry is a string, not an object"),
    (
        node_link([{"id": "a/b"}, {"id": "c/d"}], [{"source": 0, "target": "c/d", "relation": "subset"}]),
        r"links\[0\]: field 'source' is an integer",
    ),
    (
        node_link([{"id": "a/b"}, {"id": "c/d"}], [{"source": "a/b", "target": "c/d", "relation": 5}]),
        r"links\[0\]: field 'relation' is an integer",
    ),
    (
        node_link(
            [{"id": "a/b"}, {"id": "c/d"}],
            [{"source": "a/b", "target": "c/d", "relation": "subset", "confidence": "1"}],
        ),
        r"links\[0\]: field 'confidence' is a string, not a number",
    ),
    (
        node_link(
            [{"id": "a/b"}, {"id": "c/d"}],
            [{"source": "a/b", "target": "c/d", "relation": "subset", "confidence": 10**400}],
        ),
        r"links\[0\]: field 'confidence' is 1000.*not in \[0, 1\]",
    ),
    (
        node_link(
            [{"id": "a/b"}, {"id": "c/d"}],
            [
                {
                    "source": "a/b",
                    "target": "c/d",
                    "relation": "subset",
                    "evidence": [{"source_kind": "card", "quote": {"q": 1}}],
                }
            ],
        ),
        r"links\[0\]: evidence\[0\]: evidence field 'quote' is an object",
    ),
    (
        '{"nodes": [], "graph": {"aliases": {"aliases": {"x": [1]}}}}',
        r"graph\.aliases: alias table: field 'aliases\.x'",
    ),
    ('{"nodes": [{"id": "a/b", "size": ' + "9" * 5000 + "}]}", "not usable JSON"),
]


@pytest.mark.parametrize(("text", "message"), NODE_LINK_CASES)
def test_node_link_refuses_with_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "g.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"g\.json.*" + message):
        ex.read_node_link(path)


def test_node_link_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_bytes(b'{"nodes": [\n{"id": "a\xff"}]}')
    with pytest.raises(InvalidInputError, match=r"g\.json:2: byte 21 is not UTF-8"):
        ex.read_node_link(path)


def test_node_link_lone_surrogate_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text('{"nodes": [{"id": "a/\\ud800"}]}', encoding="utf-8")
    graph = ex.read_node_link(path)
    assert graph.keys == ["a/\ud800"]
    assert ex.read_node_link(ex.write_node_link(graph, tmp_path / "out.json")).keys == ["a/\ud800"]


GRAPHML_HEAD = '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph>'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('<node><data key="kind">dataset</data></node>', r"field 'id' \(the node key\) is missing"),
        ('<node id="a/b"><data key="size">1e3</data></node>', r"node 0: field 'size' is '1e3'"),
        ('<node id="a/b"><data key="size">' + "9" * 30 + "</data></node>", r"node 0: field 'size'"),
        ('<node id="a/b"><data key="attrs">' + "[" * DEEP + "</data></node>", r"node 0: field 'attrs'"),
        ('<node id="a/b"><data key="categories">"x"</data></node>', r"field 'categories' is a string"),
        (
            '<node id="a/b"/><node id="c/d"/><edge source="a/b" target="c/d"><data key="relation">subset</data>'
            '<data key="evidence">{"a": 1}</data></edge>',
            r"links\[0\]: field 'evidence' is an object",
        ),
    ],
)
def test_graphml_refuses_with_file_and_field(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "g.graphml"
    path.write_text(GRAPHML_HEAD + body + "</graph></graphml>", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"g\.graphml.*" + message):
        ex.read_graphml(path)


def test_graphml_entity_declarations_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.graphml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE g [<!ENTITY e "aaaaaaaaaa">]>'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph><node id="&e;"/></graph></graphml>',
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError, match=r"g\.graphml: GraphML with entity declarations"):
        ex.read_graphml(path)


def paper_line(**fields: object) -> str:
    return json.dumps({"source": "org/a", "target": "org/b", **fields}, ensure_ascii=False)


@pytest.mark.parametrize(
    ("graph_lines", "data_lines", "message"),
    [
        (['{"source": ' + "[" * DEEP + "]" * DEEP + "}"], None, r"graph\.jsonl:1: JSON nested deeper"),
        (
            [paper_line(meta_info="[" * DEEP + "]" * DEEP)],
            None,
            r"graph\.jsonl:1: field 'meta_info': JSON nested",
        ),
        (
            [paper_line(meta_info=json.dumps({"evidence": ["x"]}))],
            None,
            r"graph\.jsonl:1: field 'meta_info\.evidence' is a list",
        ),
        (
            [paper_line(meta_info=json.dumps({"confidence": True}))],
            None,
            r"graph\.jsonl:1: field 'meta_info\.confidence'",
        ),
        ([paper_line(source="::")], None, r"graph\.jsonl:1: dataset name '::' has an empty"),
        (
            [paper_line()],
            ['{"name": "org/a", "categories": "math"}'],
            r"data\.jsonl:1: node 'org/a': field 'categories'",
        ),
        (
            [paper_line()],
            ['{"name": "org/a", "display_name": 5}'],
            r"data\.jsonl:1: node 'org/a': field 'name' is an integer",
        ),
        ([paper_line()], ['{"name": "org/a", "attrs": {"size": 1, "kind": "x"}}'], None),
        ([paper_line(), "", paper_line(target="org/\u2028c")], None, None),
    ],
)
def test_paper_jsonl_refuses_with_file_line_and_field(
    tmp_path: Path, graph_lines: list[str], data_lines: list[str] | None, message: str | None
) -> None:
    graph_file = tmp_path / "graph.jsonl"
    graph_file.write_text("\n".join(graph_lines) + "\n", encoding="utf-8")
    data_file = None
    if data_lines is not None:
        data_file = tmp_path / "data.jsonl"
        data_file.write_text("\n".join(data_lines) + "\n", encoding="utf-8")
    if message is None:  # loads: attributes named like node fields, U+2028 inside a JSON string
        graph, report = load_paper_jsonl(graph_file, data_file)
        assert report.records == len([line for line in graph_lines if line])
        if data_lines is not None:
            assert graph.get_attr("org/a", "size") == 1 and graph.get_attr("org/a", "kind") == "x"
        return
    with pytest.raises(InvalidInputError, match=message):
        load_paper_jsonl(graph_file, data_file)


def test_paper_jsonl_not_utf8(tmp_path: Path) -> None:
    graph_file = tmp_path / "graph.jsonl"
    graph_file.write_bytes(paper_line().encode() + b"\n" + b'{"source": "\xc3"}\n')
    with pytest.raises(InvalidInputError, match=r"graph\.jsonl:2: byte \d+ is not UTF-8"):
        load_paper_jsonl(graph_file)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "e.csv",
            b"source,target,relation\norg/a,org/b,subset\norg/c,\xff,subset\n",
            r"e\.csv:3: byte \d+ is not UTF-8",
        ),
        (
            "e.csv",
            ("source,target,relation,quote\norg/a,org/b,subset," + "q" * 200_000 + "\n").encode(),
            r"e\.csv:2: malformed CSV \(field larger",
        ),
        (
            "e.yaml",
            b"nodes:\n- {id: org/a, kind: 5}\n",
            r"e\.yaml: nodes\[0\]: node 'org/a': field 'kind' is 5",
        ),
        (
            "e.yaml",
            b"nodes:\n- {id: org/a, categories: math}\n",
            r"e\.yaml: nodes\[0\]: node 'org/a': field 'categories'",
        ),
        (
            "e.yaml",
            b"nodes:\n- {id: org/a, blob: !!binary aGk=}\n",
            r"e\.yaml: field 'nodes\[0\]\.blob' holds a bytes",
        ),
        ("e.yaml", b"nodes:\n- [org/a]\n", r"e\.yaml: nodes\[0\]: the entry is a list"),
        ("e.yaml", b"aliases: [x]\n", r"e\.yaml: field 'aliases' is a list"),
        ("e.yaml", b"edges: 5\n", r"e\.yaml: field 'edges' is an integer"),
        (
            "e.yaml",
            b"edges:\n- {source: org/a, target: 5, relation: subset}\n",
            r"e\.yaml: edges\[0\]: field 'target' is an integer",
        ),
        (
            "e.yaml",
            b"edges:\n- {source: org/a, target: org/b, relation: subset, quote: [x]}\n",
            r"e\.yaml: edges\[0\]: field 'quote' is a list",
        ),
        (
            "e.yaml",
            b"edges:\n- {source: org/a, target: org/b, relation: subset, confidence: true}\n",
            r"e\.yaml: edges\[0\]: field 'confidence' is a boolean",
        ),
        (
            "e.yaml",
            b"edges:\n- {source: '@', target: org/b, relation: subset}\n",
            r"e\.yaml: edges\[0\]: dataset name '@'",
        ),
    ],
)
def test_edge_files_refuse_with_file_line_and_field(
    tmp_path: Path, name: str, text: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(text)
    with pytest.raises(InvalidInputError, match=message):
        load_edges(path)


def test_yaml_node_attributes_named_like_parameters(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("nodes:\n- {id: org/a, key: k, normalize: x, attrs: 1}\n", encoding="utf-8")
    graph, _ = load_edges(path)
    assert graph.node("org/a").attrs == {"key": "k", "normalize": "x", "attrs": 1}
    assert graph.copy().node("org/a").attrs == {"key": "k", "normalize": "x", "attrs": 1}


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("pretty_name: {a: 1}", r"field 'pretty_name' is an object"),
        ("dataset_info:\n  config_name: [a]", r"field 'dataset_info\.config_name' is a list"),
        ("dataset_info:\n  splits:\n  - {name: {a: 1}}", r"field 'dataset_info\.splits\.name' is an object"),
        ("dataset_info:\n  splits:\n  - {name: train, num_examples: true}", r"num_examples' is True"),
        ("dataset_info:\n  splits:\n  - {name: train, num_examples: 99999999999999999999}", r"field 'size'"),
        (
            "configs:\n- {config_name: a, data_files: [{split: [x]}]}",
            r"configs\.data_files\.split' is a list",
        ),
        ("source_datasets: ['::']", r"dataset name '::' has an empty"),
    ],
)
def test_hf_card_refuses_with_file_and_field(tmp_path: Path, front: str, message: str) -> None:
    card = tmp_path / "org" / "name" / "README.md"
    card.parent.mkdir(parents=True)
    card.write_text(f"---\n{front}\n---\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"README\.md: .*" + message):
        load_hf_card(card)


def test_hf_card_not_utf8(tmp_path: Path) -> None:
    card = tmp_path / "org" / "name" / "README.md"
    card.parent.mkdir(parents=True)
    card.write_bytes(b"---\nlicense: mit\n---\n\xe9t\xe9\n")
    with pytest.raises(InvalidInputError, match=r"README\.md:4: byte 21 is not UTF-8"):
        load_hf_card(card)


# ------------------------------------------------------------------------ the CLI
def test_cli_gives_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    deep = tmp_path / "deep.json"
    deep.write_text('{"nodes": ' + "[" * DEEP + "]" * DEEP + "}", encoding="utf-8")
    result = runner.invoke(app, ["lineage", "show", str(deep)])
    assert result.exit_code == 2 and "deep.json: JSON nested deeper than 64 levels" in result.output
    assert "Traceback" not in result.output

    graph = LineageGraph()
    graph.add_edge("org/a", "org/b", "subset")
    graph_file = ex.write_node_link(graph, tmp_path / "g.json")
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"text": "ok"}\n{"text": ' + "[" * DEEP + "]" * DEEP + "}\n", encoding="utf-8")
    result = runner.invoke(
        app, ["lineage", "redundancy", str(graph_file), "org/a", "org/b", "--texts", f"org/a={texts}"]
    )
    assert (
        result.exit_code == 2
        and "t.jsonl:2: malformed JSONL line: arrays/objects nested more than 64 levels" in result.output
    )

    evil = tmp_path / "evil.json"
    evil.write_text('{"nodes": [{"id": "a/\\ud800\\u0000<x>"}]}', encoding="utf-8")
    for fmt, name in (
        ("node-link", "o.json"),
        ("prov", "o.prov"),
        ("openlineage", "o.ol"),
        ("graphml", "o.xml"),
    ):
        result = runner.invoke(app, ["lineage", "export", str(evil), str(tmp_path / name), "--format", fmt])
        assert result.exit_code == 0, result.output
    assert ex.read_graphml(tmp_path / "o.xml").keys == ["a/\ud800\x00<x>"]
