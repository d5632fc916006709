"""Lineage graph model, names, importers (DPI real data, HF cards, paper JSONL, CSV/YAML) and hygiene."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.lineage import (
    AliasTable,
    DatasetRef,
    Evidence,
    LineageGraph,
    break_cycles,
    canonical_name,
    hygiene_report,
    load_dpi,
    load_edges,
    load_hf_card,
    load_paper_jsonl,
    rebind_unresolved,
)


@pytest.fixture(scope="module")
def dpi_graph():
    return load_dpi()


# ------------------------------------------------------------------ names
@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("tatsu-lab/alpaca", "tatsu-lab/alpaca"),
        ("Tatsu-Lab/Alpaca", "tatsu-lab/alpaca"),
        ("WizardLM/WizardLM_evol_instruct_V2_196k", "wizardlm/wizardlm-evol-instruct-v2-196k"),
        ("https://huggingface.co/datasets/tatsu-lab/alpaca", "tatsu-lab/alpaca"),
        ("huggingface.co/datasets/ai4privacy/pii-masking-43k", "ai4privacy/pii-masking-43k"),
        ("https://huggingface.co/datasets/openai/gsm8k/tree/abc123", "openai/gsm8k#abc123"),
        ("https://huggingface.co/meta-llama/Llama-2-7b-hf", "model:meta-llama/llama-2-7b-hf"),
        ("https://github.com/tatsu-lab/stanford_alpaca.git", "github.com/tatsu-lab/stanford-alpaca"),
        ("ELI5 dataset", "eli5"),
        ("Dolly 15k", "dolly-15k"),
        ("openai/gsm8k:main@test", "openai/gsm8k:main@test"),
        ("allenai/ai2_arc:ARC-Challenge@test#rev1", "allenai/ai2-arc:ARC-Challenge@test#rev1"),
    ],
)
def test_canonical_names(raw: str, key: str) -> None:
    assert canonical_name(raw) == key


def test_canonicalisation_never_merges_versions_or_orgs() -> None:
    assert canonical_name("squad") != canonical_name("squad_v2")
    assert canonical_name("xP3") != canonical_name("xP3x")
    assert canonical_name("org-a/alpaca") != canonical_name("org-b/alpaca")
    assert canonical_name("SQuADv1") != canonical_name("SQuAD")


def test_dataset_ref_parts_and_errors() -> None:
    ref = DatasetRef.parse("OpenAI/GSM8K:main@test#r1")
    assert (ref.repo, ref.config, ref.split, ref.revision) == ("openai/gsm8k", "main", "test", "r1")
    assert ref.parent.parent.key == "openai/gsm8k:main"
    for bad in ("", "repo:", "repo@", "repo#", ":cfg"):
        with pytest.raises(InvalidInputError):
            DatasetRef.parse(bad)


def test_alias_table_refuses_ambiguous_short_names() -> None:
    table = AliasTable()
    table.add_repo("org-a/alpaca")
    assert table.resolve("alpaca") == "org-a/alpaca"
    table.add_repo("org-b/alpaca")
    assert table.resolve("alpaca") is None
    assert table.candidates("alpaca") == ["org-a/alpaca", "org-b/alpaca"]
    table.add("GSM", "openai/gsm8k")
    table.add("GSM", "other/gsm")
    assert table.resolve("gsm") is None


# ------------------------------------------------------------------ graph
def test_graph_edges_merge_evidence_and_confidence() -> None:
    g = LineageGraph()
    first = g.add_edge("a/x", "b/y", "filter", confidence=0.5, evidence=Evidence("card", "q1"))
    again = g.add_edge("A/X", "b/y", "Filtered", confidence=0.5, evidence=Evidence("measured", "q2"))
    assert first == again and g.num_edges == 1
    edge = g.edge(first)
    assert edge.confidence == pytest.approx(0.75)
    assert edge.source_kinds == ("card", "measured")
    g.add_edge("a/x", "b/y", "subset")
    assert g.num_edges == 2
    g.remove_edge(first)
    assert g.num_edges == 1 and g.find_edge("a/x", "b/y", "filter") is None
    with pytest.raises(ParameterError):
        g.remove_edge(first)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"relation": "copied"}, "unknown lineage relation"),
        ({"relation": "subset", "confidence": 1.5}, "confidence"),
        ({"relation": "subset", "fraction": -0.1}, "fraction"),
    ],
)
def test_graph_rejects_bad_edges(kwargs: dict, message: str) -> None:
    g = LineageGraph()
    with pytest.raises(InvalidInputError, match=message):
        g.add_edge("a/x", "b/y", **kwargs)


def test_graph_rejects_self_loops_bad_dates_and_kinds() -> None:
    g = LineageGraph()
    with pytest.raises(InvalidInputError, match="itself"):
        g.add_edge("a/x", "A/X", "subset")
    with pytest.raises(InvalidInputError, match="date"):
        g.add_node("a/y", date="March 2023")
    with pytest.raises(InvalidInputError, match="kind"):
        g.add_node("a/y", kind="table")
    with pytest.raises(InvalidInputError, match="source kind"):
        Evidence("rumour")


def test_graph_kinds_from_prefixes_and_promotion() -> None:
    g = LineageGraph()
    g.add_edge("mistralai/Mistral-7B-v0.1", "model:org/tuned", "finetune")
    g.add_edge("org/data", "model:org/tuned", "trained_on")
    assert g.node("model:org/tuned").kind == "model"
    g.add_node("org/data", kind="benchmark")
    assert g.node("org/data").kind == "benchmark"


def test_bulk_paths_and_networkx_roundtrip() -> None:
    g = LineageGraph()
    nodes = g.add_nodes_bulk([f"n/{i}" for i in range(5)])
    g.add_edges_bulk([0, 1, 2], [1, 2, 3], "derived", confidence=0.9)
    assert list(nodes) == [0, 1, 2, 3, 4] and g.num_edges == 3
    with pytest.raises(InvalidInputError):
        g.add_nodes_bulk(["n/new", "n/0"])
    assert "n/new" not in g
    back = LineageGraph.from_networkx(g.to_networkx())
    assert back.to_dict() == g.to_dict()


def test_from_dict_names_bad_entries() -> None:
    with pytest.raises(InvalidInputError, match=r"links\[0\]"):
        LineageGraph.from_dict({"nodes": [{"id": "a/x"}], "links": [{"source": "a/x"}]})
    with pytest.raises(InvalidInputError, match="node-link"):
        LineageGraph.from_dict({"links": []})


# ------------------------------------------------------------------ DPI
def test_dpi_importer_counts(dpi_graph) -> None:
    graph, report = dpi_graph
    assert report.files == 109
    assert report.records == 2312
    assert report.names_seen == 1065
    assert graph.num_nodes == report.nodes_added == 2838
    assert graph.num_edges == report.edges_added == 4443
    kinds = {k: graph.kinds.count(k) for k in set(graph.kinds)}
    # C4, SVAMP, TriviaQA and CommonSenseQA resolve to their Hub repositories (names.WELL_KNOWN).
    assert kinds == {"dataset": 2558, "unresolved": 260, "collection": 20}
    # 269 distinct spellings fold to 260 unresolved nodes ("OPUS collection" / "OPUS Collection").
    assert len(report.unresolved) == 269
    assert len(report.self_inclusions) == 5


def test_dpi_name_resolution(dpi_graph) -> None:
    graph, _ = dpi_graph
    assert graph.resolve("Alpaca") == graph.resolve("alpaca") == "tatsu-lab/alpaca"
    assert graph.resolve("GSM8K") == "gsm8k"
    # A collection whose entries all share one repository is that repository.
    assert graph.resolve("Dolly 15k") == "databricks/databricks-dolly-15k"
    assert graph.resolve("Flan Collection (Flan 2021)") == "collection:flan-collection-(flan-2021)"
    # Versions stay apart: xP3 is not the xP3x collection.
    assert graph.resolve("xP3") == "unresolved:xp3"
    # Slices share a repository as configs merged into it.
    assert "meta-math/metamathqa" in graph.children("meta-math/metamathqa:metamathqa-GSM_AnsAug")
    node = graph.node("tatsu-lab/alpaca")
    assert node.licenses == ("OpenAI", "CC BY-NC 4.0") and node.date == "2023-03-13"
    assert node.size == 52002 and node.source_kind == "model-generated"


def test_dpi_edges_carry_evidence(dpi_graph) -> None:
    graph, _ = dpi_graph
    (edge,) = [e for e in graph.in_edges("thaweewat/alpaca-cleaned-52k-th") if e.relation == "derived"]
    assert edge.source == "tatsu-lab/alpaca"
    assert edge.evidence[0].source_kind == "manual"
    assert edge.evidence[0].quote == 'Derived from Datasets: "Alpaca"'


def test_dpi_hygiene(dpi_graph) -> None:
    graph, report = dpi_graph
    hygiene = hygiene_report(graph)
    assert hygiene.cycles == []
    # DPI resolves "Airoboros" to airoboros-3.2, dated after Capybara that cites it.
    assert ("jondurbin/airoboros-3.2", "ldjnr/capybara:capybara-Airoboros") in {
        (e.source, e.target) for e in hygiene.temporal_violations
    }
    assert ("snli", "SNLI") in hygiene.self_inclusions
    assert len(hygiene.unresolved) == 260 and len(report.unresolved) == 269
    assert "unresolved:opus-collection" in hygiene.unresolved


def test_dpi_malformed_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"x": {"Unique Dataset Identifier": "x"', encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"bad\.json:1"):
        load_dpi(tmp_path / "bad.json")
    (tmp_path / "missing.json").write_text('{"x": {"Unique Dataset Identifier": "x"}}', encoding="utf-8")
    with pytest.raises(InvalidInputError, match="'Collection'"):
        load_dpi(tmp_path / "missing.json")
    with pytest.raises(InvalidInputError, match="no DPI"):
        load_dpi(tmp_path / "nowhere")


# ------------------------------------------------------------------ HF cards
DATASET_CARD = """---
pretty_name: Math Mix
license: [apache-2.0]
task_categories: [question-answering]
source_datasets:
- original
- extended|openai/gsm8k
- hendrycks/competition_math
configs:
- config_name: main
  data_files:
  - split: train
    path: main/train-*
dataset_info:
- config_name: main
  splits:
  - name: train
    num_examples: 900
  - name: test
    num_examples: 100
---
# Math mix
"""


def test_hf_dataset_card(tmp_path: Path) -> None:
    folder = tmp_path / "org" / "math-mix"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(DATASET_CARD, encoding="utf-8")
    graph, report = load_hf_card(folder / "README.md", benchmark=True)
    node = graph.node("org/math-mix")
    assert node.size == 1000 and node.licenses == ("apache-2.0",) and node.domain == "math"
    assert graph.node("org/math-mix:main@test").kind == "benchmark"
    assert graph.node("org/math-mix:main@train").size == 900
    parents = {e.source: e.relation for e in graph.in_edges("org/math-mix")}
    assert parents == {
        "openai/gsm8k": "extend",
        "hendrycks/competition-math": "derived",
        "org/math-mix:main": "merge",
    }
    assert graph.get_attr("org/math-mix", "original") is True
    assert report.names_resolved == 2


def test_hf_model_card() -> None:
    card = "---\nbase_model: [mistralai/Mistral-7B-v0.1, Qwen/Qwen2-7B]\ndatasets: [meta-math/MetaMathQA]\nlicense: mit\n---\n"
    graph, _ = load_hf_card(text=card, repo_id="org/merged")
    relations = {e.source: e.relation for e in graph.in_edges("model:org/merged")}
    assert relations == {
        "model:mistralai/mistral-7b-v0.1": "merge",
        "model:qwen/qwen2-7b": "merge",
        "meta-math/metamathqa": "trained_on",
    }
    card = "---\nbase_model: meta-llama/Llama-3.1-8B\nbase_model_relation: quantized\n---\n"
    graph, _ = load_hf_card(text=card, repo_id="org/q4")
    assert graph.in_edges("model:org/q4")[0].relation == "quantized"


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("no front matter", "no YAML front matter"),
        ("---\nlicense: mit\n", "not closed"),
        ("---\nlicense: [mit\n---\n", r"card of org/x:\d+: malformed YAML"),
        ("---\n- a\n- b\n---\n", "not a mapping"),
        ("---\nsource_datasets: 3\n---\n", "'source_datasets' must be"),
        ("---\nsource_datasets: ['copied|x']\n---\n", "extended"),
        ("---\ndataset_info:\n  splits:\n  - name: train\n    num_examples: -1\n---\n", "num_examples"),
        ("---\nbase_model: a/b\nbase_model_relation: cloned\n---\n", "base_model_relation"),
    ],
)
def test_hf_malformed_cards(card: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_hf_card(text=card, repo_id="org/x")


def test_rebind_unresolved_after_new_cards(dpi_graph) -> None:
    graph = dpi_graph[0].copy()
    assert graph.resolve("OPUS collection") == "unresolved:opus-collection"
    before = len(graph.children("unresolved:opus-collection"))
    graph.add_node("helsinki-nlp/opus-100", name="OPUS collection")
    graph.aliases.add("OPUS collection", "helsinki-nlp/opus-100")
    moved = rebind_unresolved(graph)
    assert moved["unresolved:opus-collection"] == "helsinki-nlp/opus-100"
    assert len(graph.children("helsinki-nlp/opus-100")) == before
    assert graph.children("unresolved:opus-collection") == []


# ------------------------------------------------------------------ paper, CSV, YAML
def test_paper_jsonl(tmp_path: Path) -> None:
    lines = [
        {
            "target": "meta-math/MetaMathQA",
            "source": "openai/gsm8k",
            "meta_info": json.dumps({"relation": "rewrite"}),
        },
        {"target": "org/mix", "source": "meta-math/MetaMathQA", "meta_info": "{}"},
    ]
    (tmp_path / "graph.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    (tmp_path / "data.jsonl").write_text(
        json.dumps({"name": "org/mix", "size": 10, "date": "2024-01"}) + "\n"
    )
    graph, report = load_paper_jsonl(tmp_path / "graph.jsonl", tmp_path / "data.jsonl")
    assert report.records == 2 and graph.node("org/mix").size == 10
    assert [e.relation for e in graph.in_edges("org/mix")] == ["derived"]
    assert graph.in_edges("org/mix")[0].evidence[0].source_kind == "llm"
    (tmp_path / "bad.jsonl").write_text(
        json.dumps({"target": "a/b", "source": "c/d", "meta_info": "{oops"}) + "\n"
    )
    with pytest.raises(InvalidInputError, match=r"bad\.jsonl:1: field 'meta_info'"):
        load_paper_jsonl(tmp_path / "bad.jsonl")
    (tmp_path / "bad2.jsonl").write_text('{"target": "a/b"}\n')
    with pytest.raises(InvalidInputError, match=r"bad2\.jsonl:1: field 'source'"):
        load_paper_jsonl(tmp_path / "bad2.jsonl")


def test_manual_edges(tmp_path: Path) -> None:
    csv_path = tmp_path / "edges.csv"
    csv_path.write_text(
        "source,target,relation,confidence,fraction,quote\na/x,b/y,subset,0.9,0.5,we sampled\n"
    )
    graph, _ = load_edges(csv_path)
    edge = graph.in_edges("b/y")[0]
    assert (edge.relation, edge.confidence, edge.fraction) == ("subset", 0.9, 0.5)
    yaml_path = tmp_path / "edges.yaml"
    yaml_path.write_text(
        "nodes:\n- {id: a/x, date: '2023-01-01', licenses: [mit]}\n"
        "aliases: {The X: a/x}\n"
        "edges:\n- {source: The X, target: c/z, relation: translate}\n",
        encoding="utf-8",
    )
    graph, _ = load_edges(yaml_path)
    assert graph.parents("c/z") == ["a/x"] and graph.node("a/x").licenses == ("mit",)
    bad = tmp_path / "bad.csv"
    bad.write_text("source,target,relation,confidence\na/x,b/y,subset,high\n")
    with pytest.raises(InvalidInputError, match=r"bad\.csv:2: field 'confidence'"):
        load_edges(bad)
    bad.write_text("source,target\na/x,b/y\n")
    with pytest.raises(InvalidInputError, match="header lacks relation"):
        load_edges(bad)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("edges:\n- {source: a/x, target: b/y, relation: [\n")
    with pytest.raises(InvalidInputError, match=r"bad\.yaml:\d+: malformed YAML"):
        load_edges(bad_yaml)


# ------------------------------------------------------------------ hygiene
def test_hygiene_on_synthetic_cycle_and_dates() -> None:
    g = LineageGraph()
    g.add_node("a/x", date="2023-05")
    g.add_node("b/y", date="2022-01-01")
    g.add_edge("a/x", "b/y", "derived", confidence=1.0)
    g.add_edge("b/y", "c/z", "derived", confidence=0.9)
    g.add_edge("c/z", "a/x", "derived", confidence=0.3)
    g.add_node("lonely/one")
    report = hygiene_report(g)
    assert len(report.cycles) == 1
    assert report.cycles[0].component == ("a/x", "b/y", "c/z")
    assert (report.cycles[0].weakest.source, report.cycles[0].weakest.target) == ("c/z", "a/x")
    assert [(e.source, e.target) for e in report.temporal_violations] == [("a/x", "b/y")]
    assert report.dangling == ["lonely/one"]
    cut = break_cycles(g)
    assert [(e.source, e.target) for e in cut] == [("c/z", "a/x")]
    assert hygiene_report(g).cycles == []
    assert not report.ok and report.to_dict()["summary"]["cycles"] == 1
