"""The lineage paper's released format (graph.jsonl + data.jsonl), and one name resolution for every importer.

The fixtures are invented lines in the paper's format (its files carry no licence and are not copied).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage import (
    domain_stats,
    hygiene_report,
    load_edges,
    load_hf_card,
    load_paper_jsonl,
    rebind_unresolved,
)
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.relations import PAPER_RELATIONS

pytest.importorskip("rustworkx")


def edge(target: str, source: str, relationship: str, evidence: str = "", document: str = "Paper") -> dict:
    meta = {
        "source": document,
        "confidence": 0.9,
        "relationship": relationship,
        "evidence": evidence or f"{target} uses {source}",
        "exists": True,
    }
    return {"target": target, "source": source, "meta_info": json.dumps(meta)}


def record(name: str, categories: list[str], year: str | None, data_type: str = "synthetic", **extra) -> dict:
    out = {
        "name": name,
        "categories": categories,
        "hf_year": year,
        "paper_year": None,
        "year": year,
        "summary": f"A summary of {name}.",
        "data_type": data_type,
        "exists_on_hf": "exists",
        "is_terminal_node": False,
        "terminal_reason": "",
        "paper_url": "https://arxiv.org/abs/0000.00000",
        "downloads": 42,
    }
    out.update(extra)
    return out


GRAPH = [
    edge("acme/Tutor-Mix", "acme/Grade-Math", "Direct Inclusion/Subset", document="HuggingFace README"),
    edge("acme/Tutor-Mix", "Code-Feedback", "Structured Fusion"),
    edge("acme/Grade-Math", "GSM8K", "Semantic Evolution", "we rewrite the GSM8K training set"),
    edge("acme/Grade-Math", "acme/seed-questions", "Synthetic Generation"),
    edge("acme/Long-Thoughts", "acme/Grade-Math", "CoT Distillation"),
    edge("acme/Web-Clean", "C4", "Direct Inclusion/Subset", "filtered from C4"),
    edge("acme/Web-Clean", "allenai/c4", "Direct Inclusion/Subset", "documents of allenai/c4"),
    edge("acme/Tutor-Mix", "m-a-p/Code-Feedback", "Structured Fusion"),
    edge("acme/Tutor-Mix", "team-a/evol-70k", "Direct Inclusion/Subset"),
    edge("acme/Tutor-Mix", "team-b/evol-70k", "Direct Inclusion/Subset"),
    edge("acme/Tutor-Mix", "evol-70k", "Direct Inclusion/Subset"),
    edge("acme/Tutor-Mix", "HumanEval", "Direct Inclusion/Subset", "all of HumanEval"),
]
DATA = [
    record("acme/Tutor-Mix", ["General", "Code"], "2024-03", description="# Tutor mix card\nlong text"),
    record("acme/Grade-Math", ["Math"], "2024-05", data_type="manual"),
    record("openai/gsm8k", ["Math"], "2021-10", data_type="manual"),
    record("acme/Long-Thoughts", ["Math", "Science"], "2025-01"),
    record("acme/Web-Clean", ["General"], "2023-01", data_type=""),
    record("allenai/c4", ["General"], "2019-10", data_type="manual"),
]


@pytest.fixture()
def released(tmp_path: Path) -> Path:
    folder = tmp_path / "output" / "text-only_modality"
    folder.mkdir(parents=True)
    (folder / "graph.jsonl").write_text("".join(json.dumps(x) + "\n" for x in GRAPH), encoding="utf-8")
    (folder / "data.jsonl").write_text("".join(json.dumps(x) + "\n" for x in DATA), encoding="utf-8")
    return folder


def test_the_five_paper_labels_map_one_to_one_and_are_kept(released: Path) -> None:
    graph, report = load_paper_jsonl(released)
    assert report.files == 2 and report.records == len(GRAPH)
    assert sorted(PAPER_RELATIONS.values()) == sorted(set(PAPER_RELATIONS.values()))
    relation = {(e.source, e.target): e for e in graph.edges()}
    first = relation[("acme/grade-math", "acme/tutor-mix")]
    assert first.relation == "subset" and first.confidence == 0.9
    assert first.evidence[0].source_kind == "llm"
    assert first.evidence[0].label == "Direct Inclusion/Subset (HuggingFace README)"
    assert relation[("acme/grade-math", "acme/long-thoughts")].relation == "distill"
    assert relation[("openai/gsm8k", "acme/grade-math")].relation == "rewrite"
    assert relation[("acme/seed-questions", "acme/grade-math")].relation == "synthesize"
    assert relation[("m-a-p/code-feedback", "acme/tutor-mix")].relation == "merge"
    # The label survives every export (it is part of the evidence).
    assert LineageGraph.from_dict(graph.to_dict()).to_dict() == graph.to_dict()


def test_records_become_nodes_with_domain_date_origin_and_kept_fields(released: Path) -> None:
    graph, _ = load_paper_jsonl(released)
    mix = graph.node("acme/Tutor-Mix")
    assert mix.kind == "dataset" and mix.domain == "general" and mix.categories == ("General", "Code")
    assert mix.date == "2024-03" and mix.source_kind == "model-generated"
    assert mix.attrs["summary"] == "A summary of acme/Tutor-Mix."
    assert mix.attrs["downloads"] == 42 and mix.attrs["paper_url"].startswith("https://arxiv.org/")
    assert "description" not in mix.attrs  # the card's full text only on request
    assert graph.node("acme/grade-math").source_kind == "human"
    assert graph.node("acme/web-clean").source_kind is None  # data_type "" says nothing
    kept, _ = load_paper_jsonl(released, keep_descriptions=True)
    assert kept.node("acme/tutor-mix").attrs["description"].startswith("# Tutor mix card")


def test_bare_names_resolve_and_duplicates_merge(released: Path) -> None:
    graph, report = load_paper_jsonl(released)
    # data.jsonl nodes are nodes, and bare names find them.
    assert graph.node("GSM8K").key == "openai/gsm8k"
    assert graph.node("HumanEval").key == "openai/openai-humaneval"
    # "C4" comes before "allenai/c4" in the file and still lands on it; one edge, two quotes.
    assert graph.resolve("C4") == "allenai/c4"
    web = graph.in_edges("acme/web-clean")
    assert [e.source for e in web] == ["allenai/c4"] and len(web[0].evidence) == 2
    assert graph.resolve("Code-Feedback") == "m-a-p/code-feedback"
    assert report.merged["C4"] == "allenai/c4" and report.merged["Code-Feedback"] == "m-a-p/code-feedback"
    # Organisations never merge: a bare name that two organisations have stays unresolved.
    assert graph.resolve("evol-70k") == "unresolved:evol-70k"
    assert hygiene_report(graph).unresolved["unresolved:evol-70k"] == ["team-a/evol-70k", "team-b/evol-70k"]
    assert not any(k.startswith("unresolved:") and "c4" in k for k in graph.keys)


def test_counts_equal_a_plain_count_after_resolution(released: Path) -> None:
    graph, _ = load_paper_jsonl(released)
    resolve = {name: graph.resolve(name) for line in GRAPH for name in (line["source"], line["target"])}
    lines = {
        (resolve[x["source"]], resolve[x["target"]], json.loads(x["meta_info"])["relationship"])
        for x in GRAPH
    }
    # C4 / allenai/c4 and Code-Feedback / m-a-p/Code-Feedback each make one edge of two lines.
    assert graph.num_edges == len(lines) == len(GRAPH) - 2
    year = {graph.resolve(r["name"]): r["year"] for r in DATA}
    late = {(s, t) for s, t, _ in lines if s in year and t in year and year[s] > year[t]}
    violations = {(e.source, e.target) for e in hygiene_report(graph).temporal_violations}
    assert violations == late == {("acme/grade-math", "acme/tutor-mix")}


def test_per_domain_and_per_category_tables(released: Path) -> None:
    graph, _ = load_paper_jsonl(released)
    by_domain = {s.domain: s for s in domain_stats(graph)}
    assert by_domain["math"].nodes == 3 and by_domain["math"].max_depth == 2
    by_category = {s.domain: s for s in domain_stats(graph, by="category")}
    assert by_category["code"].nodes == 1 and by_category["math"].nodes == 3
    assert by_category["science"].leaves == 1


def test_paper_dates_and_lines_are_checked(tmp_path: Path) -> None:
    (tmp_path / "graph.jsonl").write_text(json.dumps(GRAPH[0]) + "\n", encoding="utf-8")
    (tmp_path / "data.jsonl").write_text(
        json.dumps(record("a/b", [], "2024-03")) + "\n" + json.dumps(record("a/c", [], "spring")) + "\n"
    )
    with pytest.raises(InvalidInputError, match=r"data\.jsonl:2: field 'year' is 'spring'"):
        load_paper_jsonl(tmp_path / "graph.jsonl", tmp_path / "data.jsonl")
    bad = dict(GRAPH[0], meta_info=json.dumps({"relationship": "Telepathy"}))
    (tmp_path / "graph.jsonl").write_text(json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"graph\.jsonl:1: unknown lineage relation 'Telepathy'"):
        load_paper_jsonl(tmp_path / "graph.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"empty: no graph\.jsonl"):
        load_paper_jsonl(tmp_path / "empty")


def test_every_importer_resolves_a_bare_name_the_same_way(tmp_path: Path) -> None:
    card = "---\nsource_datasets:\n- GSM8K\n- extended|C4\n---\n"
    graph, _ = load_hf_card(text=card, repo_id="acme/card-set")
    assert graph.parents("acme/card-set") == ["allenai/c4", "openai/gsm8k"]
    edges = tmp_path / "edges.csv"
    edges.write_text("source,target,relation\nGSM8K,acme/edge-set,rewrite\nMATH,acme/edge-set,rewrite\n")
    graph, _ = load_edges(edges)
    assert graph.parents("acme/edge-set") == ["hendrycks/competition-math", "openai/gsm8k"]
    # A mirror already in the graph is preferred to adding the canonical repository.
    graph = LineageGraph()
    graph.add_node("EleutherAI/hendrycks_math")
    (tmp_path / "g.jsonl").write_text(json.dumps(edge("acme/x", "MATH", "Semantic Evolution")) + "\n")
    load_paper_jsonl(tmp_path / "g.jsonl", graph=graph)
    assert graph.parents("acme/x") == ["eleutherai/hendrycks-math"]
    # A well-known name never falls back to the name-part rule.
    graph = LineageGraph()
    graph.add_node("camel-ai/math")
    assert graph.resolve("MATH") is None


def test_rebind_moves_edges_and_the_name(tmp_path: Path) -> None:
    (tmp_path / "g.jsonl").write_text(json.dumps(edge("acme/x", "Code-Feedback", "Structured Fusion")) + "\n")
    graph, _ = load_paper_jsonl(tmp_path / "g.jsonl")
    assert graph.resolve("Code-Feedback") == "unresolved:code-feedback"
    load_hf_card(text="---\nlicense: mit\n---\n", repo_id="m-a-p/Code-Feedback", graph=graph)
    assert rebind_unresolved(graph) == {"unresolved:code-feedback": "m-a-p/code-feedback"}
    assert graph.parents("acme/x") == ["m-a-p/code-feedback"]
    # The name now finds the node its edges moved to (it found the emptied unresolved node before).
    assert graph.node("Code-Feedback").key == "m-a-p/code-feedback"
    assert LineageGraph.from_dict(graph.to_dict()).resolve("Code-Feedback") == "m-a-p/code-feedback"


def test_cli_builds_and_shows_the_released_folder(released: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    result = CliRunner().invoke(app, ["lineage", "build", str(out), "--paper", str(released)])
    assert result.exit_code == 0, result.output
    assert "names merged" in result.output
    result = CliRunner().invoke(app, ["lineage", "show", str(out), "GSM8K"])
    assert result.exit_code == 0, result.output
    assert "openai/gsm8k" in result.output and "no node" not in result.output
    result = CliRunner().invoke(app, ["lineage", "show", str(out), "--by", "category"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "leaves" in result.output and "science" in result.output and "subset" in result.output
    result = CliRunner().invoke(app, ["lineage", "show", str(out), "--by", "colour"])
    assert result.exit_code == 2 and "by must be" in result.output


def test_contamination_reads_train_and_test_split_evidence(released: Path) -> None:
    from stemmatic.lineage import propagate_contamination

    graph, _ = load_paper_jsonl(released)
    # "we rewrite the GSM8K training set": a whole-dataset seed passes nothing through that edge.
    report = propagate_contamination(graph, benchmarks=["GSM8K"])
    assert report.seeds == {"openai/gsm8k": 0.5}
    assert report.hits == [] and [(e.source, e.target) for e in report.cleared] == [
        ("openai/gsm8k", "acme/grade-math")
    ]
    plain = propagate_contamination(graph, benchmarks=["GSM8K"], read_split_evidence=False)
    assert {h.key for h in plain.hits} >= {"acme/grade-math", "acme/tutor-mix"} and plain.cleared == []
    # A quote naming the test set passes the whole risk; a bare citation, unsplit_factor.
    graph = LineageGraph()
    graph.add_edge("openai/gsm8k", "acme/leaky", "subset", evidence=Evidence("paper", "the GSM8K test set"))
    graph.add_edge("openai/gsm8k", "acme/cites", "subset", evidence=Evidence("paper", "built on GSM8K"))
    risks = {h.key: h.risk for h in propagate_contamination(graph, benchmarks=["GSM8K"]).hits}
    assert risks == {"acme/leaky": 1.0, "acme/cites": 0.5}


def test_cli_contamination_lists_cleared_edges(released: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    assert CliRunner().invoke(app, ["lineage", "build", str(out), "--paper", str(released)]).exit_code == 0
    result = CliRunner().invoke(app, ["lineage", "contamination", str(out), "--benchmark", "GSM8K"])
    assert result.exit_code == 0, result.output
    assert "cleared openai/gsm8k -rewrite-> acme/grade-math" in result.output
    assert "0 datasets and models at risk" in result.output
    result = CliRunner().invoke(
        app, ["lineage", "contamination", str(out), "--benchmark", "GSM8K", "--no-split-evidence"]
    )
    assert result.exit_code == 0 and "cleared" not in result.output
