"""Clusterings of verified edges: components (byte-identical to the numpy code they replace),
star (every removed row is verified at or above the threshold to its kept row), and the
giant-component guard in Rust (the same decisions as the Python loop it replaces)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import stemmatic
from stemmatic.cli import app
from stemmatic.dedup import decide_clusters, dedup
from stemmatic.engines import split_giant_components

WORD = re.compile(r"\w+")


# -- the code these replace, kept as references ---------------------------------------


def old_decide_clusters(n, edges, similarity, reason=None, keep_score=None):  # type: ignore[no-untyped-def]
    """``decide_clusters`` before the Rust port (numpy + union-find)."""
    edges = np.ascontiguousarray(edges, dtype=np.uint64).reshape(-1, 2)
    similarity = np.asarray(similarity, dtype=np.float64)
    reason = np.zeros(len(edges), np.uint8) if reason is None else np.asarray(reason, np.uint8)
    labels = stemmatic._core.connected_components(n, edges).astype(np.int64)
    sizes = np.bincount(labels, minlength=n)
    cluster_size = sizes[labels]
    in_cluster = cluster_size >= 2
    docs = np.flatnonzero(in_cluster)
    score = np.zeros(n) if keep_score is None else np.asarray(keep_score, dtype=np.float64)
    order = np.lexsort((docs, -score[docs], labels[docs]))
    ordered = docs[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = labels[ordered[1:]] != labels[ordered[:-1]]
    kept_of_label = np.full(n, -1, dtype=np.int64)
    kept_of_label[labels[ordered[first]]] = ordered[first]
    removed = np.zeros(n, dtype=bool)
    removed[docs] = True
    removed[ordered[first]] = False
    duplicate_of = np.where(removed, kept_of_label[labels], -1)
    best = np.full(n, np.nan)
    why = np.zeros(n, dtype=np.uint8)
    if len(edges):
        ends = edges.astype(np.int64)
        for col in (0, 1):
            better = ~(best[ends[:, col]] >= similarity)
            idx = ends[better, col]
            o = np.argsort(similarity[better], kind="stable")
            best[idx[o]] = similarity[better][o]
            why[idx[o]] = reason[better][o]
    return removed, duplicate_of, np.where(in_cluster, labels, -1), best, why, cluster_size


def old_guard(n, edges, similarity, max_size):  # type: ignore[no-untyped-def]
    """``split_giant_components`` before the Rust port (a per-edge dict union-find)."""
    edges = np.ascontiguousarray(edges, dtype=np.uint64).reshape(-1, 2)
    keep = np.ones(len(edges), dtype=bool)
    if not len(edges):
        return keep, []
    nodes, inverse = np.unique(edges.ravel(), return_inverse=True)
    dense = inverse.reshape(-1, 2).astype(np.uint64)
    labels = stemmatic._core.connected_components(len(nodes), dense).astype(np.int64)
    sizes = np.bincount(labels, minlength=len(nodes))
    edge_label = labels[dense[:, 0].astype(np.int64)]
    split = []
    for label in np.flatnonzero(sizes > max_size):
        members = np.flatnonzero(labels == label)
        in_comp = np.flatnonzero(edge_label == label)
        keep[in_comp] = False
        a, b = dense[in_comp, 0].astype(np.int64), dense[in_comp, 1].astype(np.int64)
        parent = {int(m): int(m) for m in members}
        size = dict.fromkeys(parent, 1)

        def find(x: int, parent: dict[int, int] = parent) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i in np.lexsort((b, a, -similarity[in_comp])):
            ra, rb = find(int(a[i])), find(int(b[i]))
            if ra == rb:
                keep[in_comp[i]] = True
                continue
            if size[ra] + size[rb] > max_size:
                continue
            if size[ra] < size[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
            size[ra] += size[rb]
            keep[in_comp[i]] = True
        parts = np.bincount(np.unique([find(int(m)) for m in members], return_inverse=True)[1])
        split.append((int(nodes[members[0]]), len(members), tuple(sorted(parts.tolist(), reverse=True))))
    return keep, split


# Random graphs with ties in similarity and score (the tie rules are what could differ).
SIMS = st.sampled_from([0.5, 0.8, 0.85, 0.9, 1.0, -0.0, 0.0, float("nan")])
SCORES = st.sampled_from([0.0, -0.0, 1.0, 2.5, -np.inf, np.inf, float("nan")])


@st.composite
def graphs(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 25))
    m = draw(st.integers(0, 50))
    ends = st.integers(0, n - 1)
    edges = np.array(draw(st.lists(st.tuples(ends, ends), min_size=m, max_size=m)), np.uint64).reshape(-1, 2)
    sims = np.array(draw(st.lists(SIMS, min_size=m, max_size=m)), np.float64)
    reason = np.array(draw(st.lists(st.integers(0, 1), min_size=m, max_size=m)), np.uint8)
    score = draw(st.none() | st.lists(SCORES, min_size=n, max_size=n).map(np.array))
    return n, edges, sims, reason, score


@given(graphs())
def test_components_are_byte_identical_to_the_numpy_code(graph) -> None:  # type: ignore[no-untyped-def]
    n, edges, sims, reason, score = graph
    new = decide_clusters(n, edges, sims, reason, score)
    old = old_decide_clusters(n, edges, sims, reason, score)
    fields = (new.removed, new.duplicate_of, new.cluster_id, new.similarity, new.reason, new.cluster_size)
    for got, want in zip(fields, old, strict=True):
        assert got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()


@given(graphs(), st.integers(2, 6))
def test_guard_makes_the_python_loops_decisions(graph, max_size: int) -> None:  # type: ignore[no-untyped-def]
    n, edges, sims, _, _ = graph
    new = split_giant_components(n, edges, sims, max_size)
    keep, split = old_guard(n, edges, sims, max_size)
    assert new.keep.tolist() == keep.tolist()
    assert [(s.label, s.size, s.parts) for s in new.split] == split


def test_guard_refuses_rows_that_are_not_there() -> None:
    with pytest.raises(stemmatic.ParameterError, match="edge names row 7, but there are 3 rows"):
        split_giant_components(3, np.array([[0, 7]], np.uint64), np.ones(1), 2)
    with pytest.raises(stemmatic.InvalidInputError, match="names a node"):
        decide_clusters(3, np.array([[0, 7]], np.uint64), np.ones(1))


@given(graphs())
def test_star_removes_rows_only_into_a_neighbour(graph) -> None:  # type: ignore[no-untyped-def]
    n, edges, sims, reason, score = graph
    d = decide_clusters(n, edges, sims, reason, score, clustering="star")
    pairs = {(int(a), int(b)) for a, b in edges} | {(int(b), int(a)) for a, b in edges}
    for row in np.flatnonzero(d.removed):
        kept = int(d.duplicate_of[row])
        assert (int(row), kept) in pairs and not d.removed[kept]
        assert (
            d.cluster_id[row] == d.cluster_id[kept] == min(np.flatnonzero(d.duplicate_of == kept).min(), kept)
        )


def test_star_verifies_the_pairs_a_hub_leaves_out() -> None:
    # An LSH star from row 0 (a large bucket), but row 3 is kept first (highest score):
    # without the pairs 1-3 and 2-3, rows 1 and 2 would stay as centers.
    edges = np.array([[0, 1], [0, 2], [0, 3]], np.uint64)
    asked: list[list[int]] = []

    def verify(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        asked.extend(pairs.tolist())
        return np.where(pairs[:, 0] == 1, 0.95, 0.5), np.zeros(len(pairs), np.uint8)

    score = np.array([1.0, 1.0, 1.0, 5.0])
    plain = decide_clusters(4, edges, np.full(3, 0.9), keep_score=score, clustering="star")
    assert plain.removed.tolist() == [True, False, False, False]
    d = decide_clusters(
        4, edges, np.full(3, 0.9), keep_score=score, clustering="star", verify=verify, threshold=0.8
    )
    assert asked == [[1, 3], [2, 3]]
    assert d.removed.tolist() == [True, True, False, False]
    assert d.duplicate_of.tolist() == [3, 3, -1, -1]
    assert d.similarity[1] == 0.95 and d.added_edges.tolist() == [[1, 3]]
    assert d.star_report() == {"rounds": 1, "pairs_verified": 2, "edges_added": 1, "pairs_left_unverified": 0}
    with pytest.raises(stemmatic.ParameterError, match="clustering"):
        decide_clusters(4, edges, np.full(3, 0.9), clustering="stars")  # type: ignore[arg-type]


# -- the pipeline ---------------------------------------------------------------------


def shingles(text: str, n: int = 5) -> set[str]:
    tokens = WORD.findall(text.lower())
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def chain_texts() -> list[str]:
    # Each text shares most of its words with the next, little with the ones after.
    words = [f"w{i}" for i in range(400)]
    return [" ".join(words[k * 4 : k * 4 + 60]) for k in range(40)]


def test_star_never_removes_a_row_below_the_threshold_to_its_kept_row(tmp_path: Path) -> None:
    texts = chain_texts()
    pq.write_table(pa.table({"text": texts}), tmp_path / "a.parquet")
    chained = dedup(tmp_path / "a.parquet", tmp_path / "c", threshold=0.8)
    star = dedup(tmp_path / "a.parquet", tmp_path / "s", threshold=0.8, clustering="star", emit_pairs=True)
    removed = pq.read_table(tmp_path / "c" / "removed").to_pylist()
    below = [r for r in removed if jaccard(texts[r["duplicate_of"]], r["text"]) < 0.8]
    assert chained.removed_rows == 39 and len(below) > 30  # components chain the whole corpus
    rows = pq.read_table(tmp_path / "s" / "removed").to_pylist()
    assert star.removed_rows == len(rows) == 20  # every other link of the chain
    pairs = pq.read_table(tmp_path / "s" / "pairs.parquet").to_pylist()
    listed = {(p["id_a"], p["id_b"]): p["jaccard"] for p in pairs}
    for r in rows:
        sim = jaccard(texts[r["duplicate_of"]], r["text"])
        assert sim >= 0.8 and r["similarity"] == pytest.approx(sim)
        row = texts.index(r["text"])
        assert listed[tuple(sorted((row, r["duplicate_of"])))] == pytest.approx(sim)
    assert star.kept_rows + star.removed_rows == 40
    assert star.report["parameters"]["clustering"] == "star"
    assert chained.report["parameters"]["clustering"] == "components"
    assert "star" in star.report["clusters"] and "star" not in chained.report["clusters"]


@pytest.mark.parametrize("params", [{"verify": "estimate"}, {"max_cluster_size": 3}])
def test_star_with_estimates_and_with_the_guard(tmp_path: Path, params: dict) -> None:
    texts = chain_texts()
    pq.write_table(pa.table({"text": texts}), tmp_path / "a.parquet")
    result = dedup(tmp_path / "a.parquet", tmp_path / "out", threshold=0.8, clustering="star", **params)
    removed = pq.read_table(tmp_path / "out" / "removed").to_pylist()
    assert len(removed) == result.removed_rows >= 10
    # With estimates the promise is on the estimated similarity, which the column records.
    assert all(r["similarity"] >= 0.8 for r in removed)
    if "max_cluster_size" in params:
        assert all(jaccard(texts[r["duplicate_of"]], r["text"]) >= 0.8 for r in removed)
        sizes = (
            pq.read_table(tmp_path / "out" / "clusters.parquet")
            .group_by("cluster_id")
            .aggregate([("id", "count")])
        )
        assert max(sizes.column("id_count").to_pylist()) <= 3
        assert result.report["clusters"]["giant_component_guard"]["split_components"] == 1


class Stages:
    """Records the stages a run reports progress for."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, stage: str, total_rows: int | None) -> None:
        self.started.append(stage)

    def advance(self, rows: int, nbytes: int) -> None:
        pass

    def finish(self) -> None:
        pass


@pytest.mark.parametrize("memory_limit", ["4GB", "1MiB"])
def test_star_verifies_what_a_large_bucket_leaves_out(tmp_path: Path, memory_limit: str) -> None:
    # 30 copies with one word changed: one LSH bucket of 30 (a star from row 0,
    # not a clique); the longest copy is row 29, so keep=longest needs the pairs
    # the bucket did not give. With 1MiB, 200 other documents push the input and
    # its shingle sets out of memory: star reads the sets it needs in one pass.
    rng = np.random.default_rng(5)
    base = [f"t{i}" for i in range(300)]
    texts = []
    for k in range(30):
        words = list(base)
        words[150] = f"change{k}"
        texts.append(" ".join(words) + " extra" * (k == 29))
    if memory_limit == "1MiB":
        texts += [" ".join(f"r{x}" for x in rng.integers(0, 10**9, 600)) for _ in range(200)]
    pq.write_table(pa.table({"text": texts}), tmp_path / "a.parquet")
    stages = Stages()
    result = dedup(
        tmp_path / "a.parquet",
        tmp_path / "out",
        threshold=0.8,
        keep="longest",
        clustering="star",
        clique_max=4,
        memory_limit=memory_limit,
        progress=stages,
    )
    assert result.removed_rows == 29 and result.kept_rows == len(texts) - 29
    removed = pq.read_table(tmp_path / "out" / "removed").to_pylist()
    assert {r["duplicate_of"] for r in removed} == {29}
    star = result.report["clusters"]["star"]
    assert star["pairs_verified"] >= 28 and star["pairs_left_unverified"] == 0 and star["rounds"] >= 1
    if memory_limit == "1MiB":
        # The verify stage's pass and one pass for every round of star.
        assert stages.started.count("verify") == 2


def test_star_with_exact_duplicates_says_exact(tmp_path: Path) -> None:
    text = " ".join(f"t{i}" for i in range(80))
    texts = [text, text.upper(), text + "!", text + " " + "more words here " * 3, text.title()]
    pq.write_table(pa.table({"text": texts, "score": [0, 0, 0, 0, 9]}), tmp_path / "a.parquet")
    result = dedup(
        tmp_path / "a.parquet", None, threshold=0.8, exact=True, keep="column:score", clustering="star"
    )
    removed = result.removed.to_pylist()
    assert result.kept.column("score").to_pylist() == [9]
    assert {r["duplicate_of"] for r in removed} == {4}
    # Rows 0-2 are exact duplicates of row 4 (found through row 0, the group's first row).
    assert [r["reason"] for r in removed] == ["exact", "exact", "exact", "near_duplicate"]


def test_default_outputs_do_not_change_and_are_independent_of_workers(tmp_path: Path) -> None:
    texts = chain_texts()
    pq.write_table(pa.table({"text": texts}), tmp_path / "a.parquet")
    outs = {}
    for name, params in {
        "default": {},
        "components": {"clustering": "components"},
        "star1": {"clustering": "star", "workers": 1},
        "star2": {"clustering": "star", "workers": 2},
    }.items():
        dedup(tmp_path / "a.parquet", tmp_path / name, threshold=0.8, **params)
        outs[name] = [
            (tmp_path / name / p).read_bytes()
            for p in ("kept/a.parquet", "removed/a.parquet", "clusters.parquet")
        ]
    assert outs["default"] == outs["components"]
    assert outs["star1"] == outs["star2"] != outs["default"]


def test_star_refuses_unverified_pairs_and_the_engines(tmp_path: Path) -> None:
    with pytest.raises(stemmatic.ParameterError, match="verify"):
        dedup(tmp_path / "none.parquet", None, clustering="star", verify="none")
    with pytest.raises(stemmatic.ParameterError, match="components or star"):
        dedup(tmp_path / "none.parquet", None, clustering="pivot")
    from stemmatic.dedup import DedupConfig
    from stemmatic.dedup.params import optimal_banding
    from stemmatic.engines._common import EngineOptions, run_dedup

    config = DedupConfig(clustering="star")
    with pytest.raises(stemmatic.ParameterError, match="local engine only"):
        run_dedup(None, None, config, optimal_banding(0.8, 128), EngineOptions())  # type: ignore[arg-type]


def test_cli_clustering_option(tmp_path: Path) -> None:
    texts = chain_texts()
    pq.write_table(pa.table({"text": texts}), tmp_path / "a.parquet")
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["dedup", str(tmp_path / "a.parquet"), "-o", str(out), "--clustering", "star", "-q"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["parameters"]["clustering"] == "star" and report["rows"]["removed"] == 20
    bad = runner.invoke(
        app, ["dedup", str(tmp_path / "a.parquet"), "-o", str(tmp_path / "b"), "--clustering", "x"]
    )
    assert bad.exit_code == 2 and "'components'" in bad.output and "'star'" in bad.output
    engine = runner.invoke(
        app,
        [
            "dedup",
            str(tmp_path / "a.parquet"),
            "-o",
            str(tmp_path / "e"),
            "--clustering",
            "star",
            "--engine",
            "ray",
        ],
    )
    assert engine.exit_code == 2 and "local engine only" in engine.output


def test_star_against_an_index(tmp_path: Path) -> None:
    from stemmatic.dedup import build_index

    texts = chain_texts()
    pq.write_table(pa.table({"text": texts[:10]}), tmp_path / "old.parquet")
    pq.write_table(pa.table({"text": texts[8:20]}), tmp_path / "new.parquet")
    build_index(tmp_path / "old.parquet", tmp_path / "index", threshold=0.8)
    result = dedup(
        tmp_path / "new.parquet", None, threshold=0.8, clustering="star", against=tmp_path / "index"
    )
    for r in result.removed.to_pylist():
        source = texts[r["duplicate_of"]] if r["duplicate_source"] else texts[8 + r["duplicate_of"]]
        assert jaccard(source, r["text"]) >= 0.8
    assert result.report["rows"]["detail"]["removed_against_index"] >= 2
