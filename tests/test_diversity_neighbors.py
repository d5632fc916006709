"""Neighbour search across k-means boundaries: against exact all-pairs, any --n-clusters, any workers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from stemmatic import ParameterError
from stemmatic.cli import app
from stemmatic.diversity import neighbors_within, select, semdedup, semdedup_scores

D = 384


def planted(n: int = 4000, copies: int = 200, cosine: float = 0.995, seed: int = 0):
    """``n`` random unit vectors plus ``copies`` near-copies at exactly ``cosine`` to their source."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sources = rng.choice(n, copies, replace=False)
    u = rng.standard_normal((copies, D)).astype(np.float32)
    u -= (u * x[sources]).sum(1, keepdims=True) * x[sources]
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    y = cosine * x[sources] + np.sqrt(1 - cosine**2) * u
    return np.vstack([x, y]).astype(np.float32), sources, np.arange(n, n + copies)


def pairs_of(found) -> set[tuple[int, int]]:
    return set(zip(found.query.tolist(), found.base.tolist(), strict=True))


@pytest.fixture(scope="module")
def case():
    return planted()


@pytest.mark.parametrize("n_clusters", [3, 5, 8, 10])
def test_recall_equals_exact_all_pairs_for_any_n_clusters(case, n_clusters: int) -> None:
    x, sources, copies = case
    exact = neighbors_within(x, min_similarity=0.99, exact=True)
    assert pairs_of(exact) == set(zip(sources.tolist(), copies.tolist(), strict=True))
    found = neighbors_within(x, min_similarity=0.99, n_clusters=n_clusters, exact=False)
    assert pairs_of(found) == pairs_of(exact)
    np.testing.assert_allclose(found.similarity, exact.similarity, atol=1e-6)
    # The published in-cluster search misses the pairs that k-means cuts (this case has some).
    inside = neighbors_within(x, min_similarity=0.99, n_clusters=n_clusters, exact=False, boundary=0.0)
    assert len(inside) == len(exact) - int(found.cross_cluster.sum())
    assert found.cross_cluster.sum() > 0
    # semdedup removes one row of every planted pair, whatever the clusters.
    result = semdedup(x, eps=0.01, n_clusters=n_clusters)
    assert result.counts()["removed"] == len(copies)
    partner = dict(zip(sources.tolist(), copies.tolist(), strict=True))
    partner.update({c: s for s, c in list(partner.items())})
    assert all(partner[int(r)] == int(result.duplicate_of[r]) for r in result.removed)
    table = result.eps_table()[0]
    assert table["pairs"] == len(copies) and table["cross_cluster_pairs"] == found.cross_cluster.sum()


def test_boundary_one_misses_nothing_in_low_dimensions() -> None:
    # In 6 dimensions a displacement projects strongly on the centroid differences, so only
    # the guaranteed margin is safe: boundary=1 must equal every pair.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 6))
    x = np.vstack([x, x[:600] + 0.06 * rng.normal(size=(600, 6))]).astype(np.float32)
    exact = neighbors_within(x, min_similarity=0.995, exact=True)
    assert len(exact) > 300
    default = neighbors_within(x, min_similarity=0.995, n_clusters=100, exact=False)
    assert len(default) < len(exact)  # the default margin is not enough in 6 dimensions
    for k in (5, 30, 100):
        found = neighbors_within(
            x, min_similarity=0.995, n_clusters=k, exact=False, boundary=1.0, max_probes=100
        )
        assert pairs_of(found) == pairs_of(exact)


def test_queries_against_a_base_equal_exact(case) -> None:
    x, sources, _ = case
    base, queries = x[:4000], x[4000:]
    exact = neighbors_within(base, queries, min_similarity=0.99, exact=True)
    assert pairs_of(exact) == set(zip(range(200), sources.tolist(), strict=True))
    for k in (5, 20):
        found = neighbors_within(base, queries, min_similarity=0.99, n_clusters=k, exact=False)
        assert pairs_of(found) == pairs_of(exact)
        assert found.query.dtype == np.int64 and found.similarity.dtype == np.float64


def test_same_answer_for_any_number_of_workers(case) -> None:
    x, _, _ = case
    one = neighbors_within(x, min_similarity=0.99, n_clusters=20, exact=False, workers=1)
    three = neighbors_within(x, min_similarity=0.99, n_clusters=20, exact=False, workers=3)
    for field in ("query", "base", "similarity", "cross_cluster"):
        assert np.array_equal(getattr(one, field), getattr(three, field))
    a = semdedup(x, eps=0.2, n_clusters=20, workers=1)
    b = semdedup(x, eps=0.2, n_clusters=20, workers=4)
    for field in ("keep", "duplicate_of", "similarity", "max_similarity", "nearest"):
        assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=field != "keep")
    assert a.eps_table() == b.eps_table()
    s1 = semdedup_scores(x, n_clusters=20, workers=1)
    s2 = semdedup_scores(x, n_clusters=20, workers=2)
    assert s1.eps_table() == s2.eps_table()
    assert np.array_equal(s1.nearest, s2.nearest)


def test_scores_count_pairs_across_clusters(case) -> None:
    x, _, _ = case
    scores = semdedup_scores(x, n_clusters=5)
    row = next(r for r in scores.eps_table() if r["eps"] == 0.01)
    assert row["pairs"] == 200 and row["rows_with_near_duplicate"] == 400
    assert row["cross_cluster_pairs"] > 0
    inside = semdedup_scores(x, n_clusters=5, boundary=0.0)
    row0 = next(r for r in inside.eps_table() if r["eps"] == 0.01)
    assert row0["cross_cluster_pairs"] == 0 and row0["pairs"] == 200 - row["cross_cluster_pairs"]


def test_score_first_selects_like_the_sequential_rule_at_scale(case) -> None:
    x, _, _ = case
    scores = np.random.default_rng(1).random(len(x))
    sel = select(x, 4100, "score-first", scores=scores, max_similarity=0.99, n_clusters=20)
    assert sel.info["neighbor_search"]["method"] == "clusters"
    order = np.argsort(-scores, kind="stable")
    chosen: list[int] = []
    for i in order:
        if not chosen or (x[chosen] @ x[i]).max() <= 0.99:
            chosen.append(int(i))
        if len(chosen) == 4100:
            break
    assert sel.indices.tolist() == chosen


def test_bad_parameters_are_clear_errors(case) -> None:
    x, _, _ = case
    with pytest.raises(ParameterError, match="boundary"):
        neighbors_within(x, min_similarity=0.9, boundary=1.5)
    with pytest.raises(ParameterError, match="min_similarity"):
        neighbors_within(x, min_similarity=1.0)
    with pytest.raises(ParameterError, match="max_probes"):
        semdedup(x, eps=0.1, max_probes=-1)
    with pytest.raises(ParameterError, match="workers"):
        neighbors_within(x, min_similarity=0.9, workers=-2)


def test_cli_scores_only_reports_cross_cluster_pairs(case, tmp_path) -> None:
    x, _, _ = case
    np.save(tmp_path / "emb.npy", x)
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"id": np.arange(len(x)), "text": ["t"] * len(x)}), data / "a.parquet")
    out = tmp_path / "out"
    args = ["diversity", "semdedup", str(data), "-o", str(out), "--embeddings", str(tmp_path / "emb.npy")]
    result = CliRunner().invoke(
        app, [*args, "--scores-only", "--n-clusters", "5", "--workers", "2", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    row = next(r for r in report["eps_table"] if r["eps"] == 0.01)
    assert row["pairs"] == 200 and row["cross_cluster_pairs"] > 0
    assert report["parameters"]["boundary"] == 0.35
    bad = CliRunner().invoke(app, [*args, "--boundary", "2", "--overwrite", "--quiet"])
    assert bad.exit_code == 2 and "boundary" in bad.output
