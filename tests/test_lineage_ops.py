"""Lineage queries, contamination propagation, redundancy, licences, sampling and the LLM extractor."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.lineage import (
    Evidence,
    LineageGraph,
    allocate,
    ancestors,
    as_of,
    attribution,
    common_ancestors,
    confirm_hits,
    containment,
    containment_matrix,
    depths,
    descendants,
    diamonds,
    domain_stats,
    explain_path,
    impact,
    inherited_licenses,
    licence_class,
    licences_allow,
    load_dpi,
    measured_edges,
    propagate_contamination,
    redundancy_report,
    root_sample,
    roots,
)
from stemmatic.lineage.llm import OpenAICompatibleExtractor, add_extracted
from stemmatic.lineage.sampling import vendi


@pytest.fixture(scope="module")
def dpi_graph() -> LineageGraph:
    return load_dpi()[0]


def chain_graph() -> LineageGraph:
    g = LineageGraph()
    g.add_node("root/a", domain="math", date="2021-01")
    g.add_node("root/b", domain="general", date="2021-06")
    g.add_node("mid/c", domain="math", date="2022-01")
    g.add_node("leaf/d", domain="math", date="2023-01")
    g.add_edge("root/a", "mid/c", "rewrite", confidence=0.9, evidence=Evidence("card", "rewrites a"))
    g.add_edge("mid/c", "leaf/d", "merge")
    g.add_edge("root/b", "leaf/d", "merge")
    g.add_edge("root/a", "leaf/d", "subset", confidence=0.2)
    g.add_edge("leaf/d", "model:org/m", "trained_on")
    return g


# ------------------------------------------------------------------ ops
def test_ancestry_and_impact() -> None:
    g = chain_graph()
    assert ancestors(g, "leaf/d") == ["mid/c", "root/a", "root/b"]
    assert roots(g, "leaf/d") == ["root/a", "root/b"]
    assert roots(g, "root/a") == ["root/a"]
    assert descendants(g, "root/a") == ["leaf/d", "mid/c", "model:org/m"]
    result = impact(g, "root/a")
    assert [(r.key, r.depth) for r in result.reached] == [("mid/c", 1), ("leaf/d", 1), ("model:org/m", 2)]
    assert result.counts() == {"dataset": 2, "model": 1}
    assert [r.key for r in impact(g, "root/a", max_depth=1).reached] == ["mid/c", "leaf/d"]
    assert common_ancestors(g, "leaf/d", "mid/c") == ["mid/c", "root/a"]
    assert common_ancestors(g, "leaf/d", "mid/c", lowest=True) == ["mid/c"]


def test_explained_path_prefers_credible_edges() -> None:
    g = chain_graph()
    path = explain_path(g, "root/a", "leaf/d")
    # The direct subset edge has confidence 0.2; through mid/c the product is 0.9.
    assert [(e.source, e.relation) for e in path] == [("root/a", "rewrite"), ("mid/c", "merge")]
    assert path[0].evidence[0].quote == "rewrites a"
    with pytest.raises(ParameterError, match="not downstream"):
        explain_path(g, "leaf/d", "root/a")


def test_depths_stats_and_as_of() -> None:
    g = chain_graph()
    depth = depths(g)
    assert depth[g.index("leaf/d")] == 2 and depth[g.index("model:org/m")] == 3
    stats = {s.domain: s for s in domain_stats(g)}
    assert stats["math"].max_depth == 2 and stats["math"].nodes == 3
    assert stats["general"].mean_depth == 0.0
    older = as_of(g, "2022-06-30")
    assert sorted(older.keys) == ["mid/c", "model:org/m", "root/a", "root/b"]
    assert as_of(g, "2022", include_undated=False).num_nodes == 3


def test_math_chains_deeper_than_general_on_dpi(dpi_graph) -> None:
    stats = {s.domain: s for s in domain_stats(dpi_graph)}
    assert stats["math"].mean_depth > 2 * stats["general"].mean_depth


# ------------------------------------------------------------------ contamination
def test_contamination_propagates_with_paths() -> None:
    g = chain_graph()
    g.add_node("bench/q:main@test", kind="benchmark")
    g.add_edge("bench/q:main@test", "bench/q:main", "merge")
    g.add_edge("bench/q:main", "bench/q", "merge")
    g.add_edge("bench/q", "root/b", "distill")
    g.add_edge("bench/q:main@train", "root/a", "subset")
    report = propagate_contamination(g)
    assert report.seeds == {"bench/q:main@test": 1.0}
    risks = {h.key: h.risk for h in report.hits}
    # Whole-dataset citations include the test split with probability 0.5; distill passes 0.5.
    assert risks["bench/q:main"] == pytest.approx(0.5)
    assert risks["root/b"] == pytest.approx(0.25)
    assert risks["model:org/m"] == pytest.approx(0.25)
    assert "root/a" not in risks and "mid/c" not in risks
    hit = next(h for h in report.hits if h.key == "model:org/m")
    assert [e.target for e in hit.path] == ["bench/q:main", "bench/q", "root/b", "leaf/d", "model:org/m"]
    warned = propagate_contamination(g, benchmarks=["bench/q:main@train"], include_benchmark_nodes=False)
    assert warned.hits == [] and "not a test split" in warned.warnings[0]
    flagged = propagate_contamination(g, flagged={"mid/c": 0.4}, include_benchmark_nodes=False)
    assert [(h.key, round(h.risk, 3)) for h in flagged.hits] == [("leaf/d", 0.4), ("model:org/m", 0.4)]
    with pytest.raises(ParameterError):
        propagate_contamination(g, unsplit_factor=2.0)


def test_inherited_contamination_on_dpi(dpi_graph) -> None:
    """GSM8K -> MetaMathQA (GSM_AnsAug slice) -> MetaMathQA -> Capybara -> 10k Prompts Ranked."""
    report = propagate_contamination(dpi_graph, benchmarks=["GSM8K"])
    assert report.seeds == {"gsm8k": 0.5}
    hits = {h.key: h for h in report.hits}
    assert "meta-math/metamathqa" in hits and "tiger-lab/mathinstruct" in hits
    deep = hits["dibt/10k-prompts-ranked"]
    assert [e.target for e in deep.path] == [
        "meta-math/metamathqa:metamathqa-GSM_Rephrased",
        "meta-math/metamathqa",
        "ldjnr/capybara:capybara-Airoboros",
        "ldjnr/capybara",
        "dibt/10k-prompts-ranked",
    ]
    assert deep.path[0].evidence[0].quote == 'Derived from Datasets: "gsm8k"'
    assert deep.risk == pytest.approx(0.5 * 0.7 * 1.0 * 0.7 * 1.0 * 0.7)


def test_confirm_hits_with_data() -> None:
    g = LineageGraph()
    g.add_node("bench/q:main@test", kind="benchmark")
    g.add_edge("bench/q:main@test", "data/leaky", "derived")
    g.add_edge("bench/q:main@test", "data/clean", "synthesize")
    bench = [f"benchmark question number {i} asks about apples and oranges today" for i in range(20)]
    texts = {
        "bench/q:main@test": bench,
        "data/leaky": bench[:10]
        + [f"unrelated training text {i} about the weather in spring" for i in range(30)],
        "data/clean": [f"synthetic sample {i} about bicycles and mountains far away" for i in range(30)],
    }
    report = confirm_hits(propagate_contamination(g), load_texts=texts.get)
    found = {h.key: (h.confirmed, h.risk) for h in report.hits}
    assert found["data/leaky"] == (0.5, pytest.approx(0.7))
    assert found["data/clean"] == (0.0, 0.0)


# ------------------------------------------------------------------ redundancy
def _docs(prefix: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [f"{prefix}{i}" for i in range(400)]
    return [" ".join(rng.choice(words) for _ in range(40)) for _ in range(n)]


def test_containment_exact_and_asymmetric() -> None:
    base = _docs("w", 60, 0)
    part = base[:20]
    noisy = [d + " extra" for d in base[20:40]]  # near-duplicates (Jaccard > 0.9)
    other = _docs("z", 40, 1)
    assert containment(part, base) == 1.0
    assert containment(base, part) == pytest.approx(20 / 60)
    assert containment(noisy, base) == 1.0
    assert containment(other, base) == 0.0
    assert containment([], base) == 0.0
    with pytest.raises(ParameterError):
        containment(part, base, threshold=1.5)


def test_measured_edges_confirm_propose_and_disagree() -> None:
    g = LineageGraph()
    g.add_node("root/a", date="2021")
    g.add_node("mix/m", date="2023")
    g.add_node("copy/c", date="2022")
    g.add_node("claim/x", date="2022")
    g.add_edge("root/a", "mix/m", "merge", evidence=Evidence("card", "includes a"))
    g.add_edge("root/a", "claim/x", "filter", evidence=Evidence("card", "filtered a"))
    a = _docs("a", 40, 2)
    contents = {
        "root/a": a,
        "mix/m": a + _docs("m", 40, 3),
        "copy/c": a[:30],
        "claim/x": _docs("x", 20, 4),
    }
    matrix = containment_matrix(contents)
    assert matrix("root/a", "mix/m") == 1.0 and matrix("mix/m", "root/a") == 0.5
    result = measured_edges(g, matrix)
    assert {(r["a"], r["b"]) for r in result.confirmed} == {("root/a", "mix/m")}
    proposed = {(p["source"], p["target"], p["relation"]) for p in result.proposed}
    # copy/c is inside root/a and younger: a subset cut from root/a.
    assert ("root/a", "copy/c", "subset") in proposed
    kinds = {(d["a"], d["b"], d["kind"]) for d in result.disagreements}
    assert ("root/a", "claim/x", "documented but not measured") in kinds
    edge = g.edge(g.find_edge("root/a", "mix/m", "merge"))
    assert [e.source_kind for e in edge.evidence] == ["card", "measured"]
    assert g.find_edge("root/a", "copy/c", "subset") is not None


def test_structural_redundancy_and_diamond() -> None:
    g = chain_graph()
    assert diamonds(g) == [type(diamonds(g)[0])("leaf/d", "root/a", "mid/c")]
    report = redundancy_report(g, ["mid/c", "leaf/d", "root/b"])
    assert report.structural[0, 1] == pytest.approx(0.5)  # {a} vs {a, b}
    assert report.structural[0, 2] == 0.0
    assert report.empirical is None
    with pytest.raises(ParameterError, match="lacks the texts"):
        redundancy_report(g, ["mid/c", "leaf/d"], contents={"mid/c": ["x"]})


def test_diamond_redundancy_on_dpi(dpi_graph) -> None:
    """Flan (Super-NaturalInstructions) holds SQuAD 1.1 directly and again inside MRQA."""
    found = diamonds(dpi_graph, ["collection:flan-collection-(super-naturalinstructions)"])
    assert ("squad:fc-sni-squad_1.1", "mrqa") in {(d.direct, d.via) for d in found}
    assert len(diamonds(dpi_graph)) == 161


def test_structure_and_content_disagreement() -> None:
    g = LineageGraph()
    g.add_edge("root/a", "x/one", "format")
    g.add_edge("root/a", "x/two", "format")
    g.add_node("x/three")
    contents = {"x/one": _docs("p", 20, 5), "x/two": _docs("q", 20, 6)}
    contents["x/three"] = contents["x/one"][:15]
    report = redundancy_report(g, ["x/one", "x/two", "x/three"], contents=contents)
    kinds = {(d["a"], d["b"]): d["kind"] for d in report.disagreements}
    assert kinds[("x/one", "x/two")] == "structure without overlap"
    assert kinds[("x/one", "x/three")] == "overlap without shared roots"


# ------------------------------------------------------------------ licences
def test_licences() -> None:
    assert licence_class("CC BY-SA 4.0") == "share-alike"
    assert licence_class("Academic Research Purposes Only") == "research-only"
    assert licence_class("Unspecified") == "unknown"
    assert licences_allow(["MIT", "Apache License 2.0"], "commercial")
    assert not licences_allow(["MIT", "CC BY-NC 4.0"], "commercial")
    assert licences_allow(["CC BY-NC 4.0"], "research")
    with pytest.raises(ParameterError):
        licences_allow(["MIT"], "military")
    g = LineageGraph()
    g.add_node("root/a", licenses=["CC BY-NC 4.0"])
    g.add_node("mix/m", licenses=["MIT"])
    g.add_edge("root/a", "mix/m", "merge")
    assert inherited_licenses(g, "mix/m") == {"CC BY-NC 4.0": ["root/a"], "MIT": ["mix/m"]}
    assert [r["key"] for r in attribution(g, ["mix/m"])] == ["mix/m", "root/a"]


# ------------------------------------------------------------------ sampling
def test_allocation_methods() -> None:
    sizes = {"a": 100, "b": 4, "c": 400}
    assert allocate(sizes, 30, "uniform") == {"a": 13, "b": 4, "c": 13}
    assert allocate(sizes, 30, "sqrt") == {"a": 9, "b": 2, "c": 19}
    assert allocate(sizes, 30, "size_capped", cap=100) == {"a": 15, "b": 0, "c": 15}
    assert sum(allocate(sizes, 10_000, "sqrt").values()) == 504
    with pytest.raises(ParameterError):
        allocate(sizes, 10, "size_capped")


def test_vendi_fallback_matches_definition() -> None:
    assert vendi(np.eye(5)) == pytest.approx(5.0)
    assert vendi(np.ones((6, 3))) == pytest.approx(1.0)


def test_root_sample_excludes_and_dedups() -> None:
    g = LineageGraph()
    g.add_node("root/a", licenses=["MIT"])
    g.add_node("root/b", licenses=["CC BY-NC 4.0"])
    g.add_node("root/c", licenses=["Apache 2.0"])
    g.add_node("bench/t:main@test", kind="benchmark")
    g.add_node("root/d", licenses=["MIT"])
    for root in ("root/a", "root/b", "root/c", "bench/t:main@test", "root/d"):
        g.add_edge(root, "mix/m", "merge")
    a = _docs("a", 50, 7)
    contents = {
        "root/a": a,
        "root/b": _docs("b", 50, 8),
        "root/c": a[:10] + _docs("c", 40, 9),  # 10 near-copies of root/a
        "bench/t:main@test": _docs("t", 10, 10),
        "root/d": _docs("d", 50, 11),
    }
    result = root_sample(
        g,
        contents,
        120,
        targets=["mix/m"],
        allocation="uniform",
        contaminated=["root/d"],
        use="commercial",
        baseline=_docs("a", 200, 12),
    )
    assert result.roots == ["root/a", "root/c"]
    assert result.excluded == {
        "bench/t:main@test": "benchmark",
        "root/b": "licence forbids commercial use: CC BY-NC 4.0",
        "root/d": "contaminated",
    }
    assert result.allocation == {"root/a": 50, "root/c": 50}
    assert result.cross_root_duplicates == 10
    assert len(result.texts) == 90
    assert result.baseline_vendi is not None and result.vendi > result.baseline_vendi


# ------------------------------------------------------------------ LLM extractor
def test_llm_extractor_requires_verbatim_quotes() -> None:
    calls = []

    def fake(url, payload, headers):
        calls.append((url, payload["model"], headers))
        edges = [
            {
                "source": "openai/gsm8k",
                "relation": "rewrite",
                "quote": "We rewrite GSM8K questions",
                "confidence": 0.8,
            },
            {"source": "made/up", "relation": "subset", "quote": "never said"},
            {"source": "hendrycks/math", "relation": "bogus", "quote": "and MATH problems"},
        ]
        return {"choices": [{"message": {"content": json.dumps({"edges": edges})}}]}

    extractor = OpenAICompatibleExtractor("http://127.0.0.1:9/v1", model="m", api_key="k", transport=fake)
    edges = extractor.extract("We rewrite GSM8K questions and MATH problems.", "meta-math/MetaMathQA", "u")
    assert [(e.source, e.relation) for e in edges] == [
        ("openai/gsm8k", "rewrite"),
        ("hendrycks/math", "derived"),
    ]
    assert calls[0] == ("http://127.0.0.1:9/v1/chat/completions", "m", {"Authorization": "Bearer k"})
    g = LineageGraph()
    assert add_extracted(g, edges) == 2
    assert g.in_edges("meta-math/metamathqa")[0].evidence[0].source_kind == "llm"
    broken = OpenAICompatibleExtractor(
        "http://127.0.0.1:9/v1", model="m", transport=lambda *a: {"choices": []}
    )
    with pytest.raises(InvalidInputError, match="not the edges JSON"):
        broken.extract("text", "a/b")
    with pytest.raises(ParameterError):
        OpenAICompatibleExtractor("ftp://x", model="m")


def test_llm_extractor_against_local_stub_server() -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            request = json.loads(self.rfile.read(length))
            assert request["messages"][1]["content"].startswith("Subject: org/x")
            content = json.dumps(
                {"edges": [{"source": "a/b", "relation": "filter", "quote": "filtered from a/b"}]}
            )
            body = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        extractor = OpenAICompatibleExtractor(f"http://127.0.0.1:{server.server_port}/v1", model="stub")
        edges = extractor.extract("This set was filtered from a/b by length.", "org/x")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert [(e.source, e.target, e.relation) for e in edges] == [("a/b", "org/x", "filter")]
