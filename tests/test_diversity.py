"""Diversity algorithms against brute-force numpy, determinism, and input errors."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from stemmatic import InvalidInputError, MissingExtraError, ParameterError
from stemmatic.diversity import index as dindex
from stemmatic.diversity import metrics
from stemmatic.diversity._vectors import as_unit_vectors, resolve_budget
from stemmatic.diversity.semdedup import semdedup, semdedup_scores

# The package exports a function `select`, which hides the module of that name as an attribute.
select = importlib.import_module("stemmatic.diversity.select")


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(n: int = 600, d: int = 16, groups: int = 6, seed: int = 0, spread: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(groups, d))
    return centers[rng.integers(0, groups, n)] + spread * rng.normal(size=(n, d))


# ---------------------------------------------------------------- input checks


def test_wrong_dimensions_and_bad_values_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="2-D"):
        as_unit_vectors(np.ones(5))
    with pytest.raises(InvalidInputError, match="3 dimensions, expected 4"):
        as_unit_vectors(np.ones((2, 3)), dim=4)
    x = np.ones((5, 3))
    x[3, 1] = np.nan
    with pytest.raises(InvalidInputError, match="row 3 has a NaN"):
        semdedup(x, eps=0.1)
    x[3, 1] = np.inf
    with pytest.raises(InvalidInputError, match="row 3 has a NaN or infinite"):
        select.kcenter_greedy(x, 2)
    x[3] = 0.0
    with pytest.raises(InvalidInputError, match="row 3 is an all-zero vector"):
        metrics.vendi_score(x)
    with pytest.raises(InvalidInputError, match="numeric"):
        as_unit_vectors(np.array([["a", "b"]]))
    with pytest.raises(InvalidInputError, match="expected 3 scores"):
        select.score_first(np.eye(3), 2, scores=[1.0, 2.0])
    with pytest.raises(InvalidInputError, match="row 1 has a NaN or infinite score"):
        select.score_first(np.eye(3), 2, scores=[1.0, np.nan, 2.0])


def test_centroid_dimension_mismatch(tmp_path) -> None:
    path = dindex.save_centroids(tmp_path / "c.npy", np.eye(4))
    with pytest.raises(InvalidInputError, match="4 dimensions, expected 8"):
        dindex.load_centroids(path, dim=8)
    with pytest.raises(InvalidInputError, match="expected 8"):
        semdedup(np.ones((10, 8)) + np.eye(10, 8), eps=0.1, centroids=np.eye(4))


def test_budget_and_parameters() -> None:
    assert resolve_budget(0.5, 10) == 5
    assert resolve_budget(3, 10) == 3
    for bad in (0, -1, 0.0, 1.5, True):
        with pytest.raises(ParameterError):
            resolve_budget(bad, 10)
    with pytest.raises(ParameterError, match="eps"):
        semdedup(np.eye(3), eps=0.0)
    with pytest.raises(ParameterError, match="n_clusters"):
        semdedup(np.eye(3), eps=0.1, n_clusters=4)
    with pytest.raises(ParameterError, match="selection method"):
        select.select(np.eye(3), 1, "nope")
    with pytest.raises(ParameterError, match="non-negative"):
        select.kcenter_greedy(np.eye(3), 2, scores=[1, -1, 0])


def test_missing_extra_names_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(MissingExtraError, match=r"stemmatic\[diversity\]"):
        semdedup(np.eye(4) + 0.1, eps=0.1, n_clusters=2)
    with pytest.raises(MissingExtraError, match=r"stemmatic\[diversity\]"):
        select.facility_location(np.eye(4) + 0.1, 2)
    assert dindex.gpu_count() == 0
    # selectors and metrics without k-means or a kNN graph need no faiss
    assert len(select.kcenter_greedy(np.eye(4) + 0.1, 2).indices) == 2
    assert metrics.vendi_score(np.eye(4)).value == pytest.approx(4.0)


# ---------------------------------------------------------------- index


def test_choose_index_by_size_and_override() -> None:
    assert dindex.choose_index(10, 8).kind == "flat"
    assert dindex.choose_index(dindex.FLAT_MAX_ROWS + 1, 8).kind == "ivf"
    assert dindex.choose_index(dindex.IVF_MAX_ROWS + 1, 384).factory.endswith(",PQ48")
    assert dindex.choose_index(1000, 8, "HNSW32").factory == "HNSW32"
    with pytest.raises(ParameterError):
        dindex.choose_index(1000, 8, "hnsw")


def test_knn_exact_matches_numpy_and_ivf_recall() -> None:
    x = clustered(2000, 32, groups=20, seed=3)
    u = unit(x)
    sims, ids = dindex.knn(x, 5)
    brute = np.argsort(-(u @ u.T), axis=1, kind="stable")[:, :5]
    assert (ids[:, 0] == np.arange(len(x))).all()
    assert np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ids, brute, strict=True)]) > 0.99
    np.testing.assert_allclose(sims, np.take_along_axis(u @ u.T, ids, axis=1), atol=1e-5)
    _, ivf_ids = dindex.knn(x, 5, index="ivf")
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ivf_ids, brute, strict=True)])
    assert recall > 0.9


def test_kmeans_deterministic_and_centroids_roundtrip(tmp_path) -> None:
    x = clustered(1500, 16, groups=8, seed=1)
    a = dindex.spherical_kmeans(x, 8, seed=5)
    b = dindex.spherical_kmeans(x, 8, seed=5)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.centroids, b.centroids)
    np.testing.assert_allclose(np.linalg.norm(a.centroids, axis=1), 1.0, atol=1e-5)
    path = dindex.save_centroids(tmp_path / "c.npy", a.centroids)
    labels, _ = dindex.assign_to_centroids(x, dindex.load_centroids(path, dim=16))
    assert np.array_equal(labels, a.labels)


# ---------------------------------------------------------------- semdedup


def brute_semdedup(x: np.ndarray, labels: np.ndarray, centroids: np.ndarray, eps: float, scores=None):
    """The rule, one row at a time, with full similarity matrices."""
    u = unit(x)
    n = len(u)
    keep = np.ones(n, dtype=bool)
    dup = np.full(n, -1)
    max_sim = np.full(n, np.nan)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if scores is None:
            rank = sorted(members, key=lambda i: (float(u[i] @ centroids[c]), i))
        else:
            rank = sorted(members, key=lambda i: (-scores[i], i))
        sims = u[rank] @ u[rank].T
        np.fill_diagonal(sims, -np.inf)
        if len(rank) > 1:
            max_sim[rank] = sims.max(axis=1)
        kept_positions: list[int] = []
        for p, row in enumerate(rank):
            near = [q for q in kept_positions if sims[p, q] > 1 - eps]
            if near:
                keep[row] = False
                dup[row] = rank[max(near, key=lambda q: (sims[p, q], -q))]
            else:
                kept_positions.append(p)
    return keep, dup, max_sim


@pytest.mark.parametrize("with_scores", [False, True])
def test_semdedup_matches_brute_force(with_scores: bool) -> None:
    rng = np.random.default_rng(7)
    x = clustered(500, 12, groups=5, seed=7)
    copies = rng.integers(0, 500, 120)
    x = np.vstack(
        [x, x[copies] + rng.normal(scale=rng.choice([0.01, 0.05, 0.2], 120)[:, None], size=(120, 12))]
    )
    scores = rng.random(len(x)) if with_scores else None
    centroids = dindex.spherical_kmeans(x, 5, seed=0).centroids
    result = semdedup(x, eps=0.02, centroids=centroids, scores=scores)
    labels, _ = dindex.assign_to_centroids(x, centroids)
    keep, dup, max_sim = brute_semdedup(x, labels, centroids, 0.02, scores)
    assert np.array_equal(result.keep, keep)
    assert np.array_equal(result.duplicate_of, dup)
    np.testing.assert_allclose(result.max_similarity, max_sim, atol=1e-5)
    assert 0 < result.counts()["removed"] < 120
    assert result.keep[result.duplicate_of[result.removed]].all()
    sims = np.einsum("ij,ij->i", unit(x)[result.removed], unit(x)[result.duplicate_of[result.removed]])
    np.testing.assert_allclose(result.similarity[result.removed], sims, atol=1e-5)
    assert (result.similarity[result.removed] > 0.98).all()
    assert np.isnan(result.similarity[result.keep]).all()


def test_semdedup_scores_mode_and_determinism() -> None:
    x = clustered(800, 16, groups=4, seed=2)
    x[700:720] = x[:20] * 1.5  # exact duplicates up to scale
    a = semdedup(x, eps=0.001, seed=11)
    b = semdedup(x, eps=0.001, seed=11)
    assert np.array_equal(a.keep, b.keep) and np.array_equal(a.duplicate_of, b.duplicate_of)
    assert a.counts()["removed"] == 20
    scores = semdedup_scores(x, seed=11)
    assert np.array_equal(scores.cluster_id, a.cluster_id)
    table = {row["eps"]: row["rows_with_near_duplicate"] for row in scores.eps_table()}
    assert table[0.001] == 40  # both rows of each pair have a near-duplicate
    hist = scores.histogram(bins=20)
    assert sum(hist["counts"]) + hist["no_neighbour"] == 800
    assert hist["counts"][-1] >= 40


def test_semdedup_keeps_highest_score() -> None:
    x = np.vstack([np.eye(4), np.eye(4) + 1e-4])
    result = semdedup(x, eps=0.01, n_clusters=1, scores=[0, 1, 0, 1, 1, 0, 1, 0])
    assert result.keep.tolist() == [False, True, False, True, True, False, True, False]
    assert result.duplicate_of.tolist() == [4, -1, 6, -1, -1, 1, -1, 3]


# ---------------------------------------------------------------- selection


def brute_kcenter(x: np.ndarray, k: int, first: int, weights=None) -> list[int]:
    u = unit(x)
    dist = np.full(len(u), np.inf)
    chosen = [first]
    while True:
        dist = np.minimum(dist, np.sqrt(np.maximum(2 - 2 * (u @ u[chosen[-1]]).astype(np.float64), 0)))
        if len(chosen) == k:
            return chosen
        key = dist if weights is None else dist * weights
        key[chosen] = -1
        chosen.append(int(np.argmax(key)))


def test_kcenter_matches_brute_force() -> None:
    x = clustered(700, 16, groups=7, seed=4)
    sel = select.kcenter_greedy(x, 40, seed=3)
    assert sel.indices.tolist() == brute_kcenter(x, 40, int(sel.indices[0]))
    w = np.random.default_rng(0).random(len(x))
    weighted = select.kcenter_greedy(x, 40, scores=w)
    assert weighted.indices.tolist() == brute_kcenter(x, 40, int(np.argmax(w)), w)
    u = unit(x)
    best = (u @ u[sel.indices].T).max(axis=1)
    np.testing.assert_allclose(sel.similarity, np.where(sel.mask, 1.0, best), atol=1e-5)
    assert sel.info["radius"] == pytest.approx(sel.coverage_radius, abs=1e-3)
    assert np.array_equal(select.kcenter_greedy(x, 40, seed=3).indices, sel.indices)


def test_kcenter_beats_random_coverage() -> None:
    x = clustered(2000, 16, groups=30, seed=5, spread=0.2)
    sel = select.kcenter_greedy(x, 60)
    random = np.random.default_rng(0).choice(len(x), 60, replace=False)
    random_radius = metrics.coverage_radius(x[random], x)["max"]
    assert sel.coverage_radius < random_radius


def test_score_first_matches_sequential() -> None:
    rng = np.random.default_rng(6)
    x = clustered(900, 8, groups=5, seed=6)
    scores = rng.random(len(x))
    sel = select.score_first(x, 60, scores=scores, max_similarity=0.95)
    u = unit(x)
    chosen: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if not chosen or (u[chosen] @ u[i]).max() <= 0.95:
            chosen.append(int(i))
        if len(chosen) == 60:
            break
    assert sel.indices.tolist() == chosen
    assert sel.info["budget_reached"]


def brute_facility_location(x: np.ndarray, k: int, neighbors: int) -> list[int]:
    u = unit(x)
    sims = u @ u.T
    n = len(u)
    graph = np.zeros((n, n))  # graph[i, j]: how well j covers i
    for i in range(n):
        order = [j for j in np.argsort(-sims[i], kind="stable") if j != i][:neighbors]
        graph[i, order] = np.maximum(sims[i, order], 0)
        graph[i, i] = 1.0
    cover = np.zeros(n)
    chosen: list[int] = []
    for _ in range(k):
        gains = np.maximum(graph - cover[:, None], 0).sum(axis=0)
        gains[chosen] = -1
        j = int(np.argmax(gains))
        chosen.append(j)
        cover = np.maximum(cover, graph[:, j])
    return chosen


def test_facility_location_matches_dense_greedy() -> None:
    x = clustered(300, 12, groups=6, seed=8, spread=0.8)
    sel = select.facility_location(x, 25, neighbors=8)
    assert sel.indices.tolist() == brute_facility_location(x, 25, 8)
    assert sel.info["gain_evaluations"] >= 25


def test_cluster_balanced_is_balanced_and_deterministic() -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([np.eye(8)[c] + 0.05 * rng.normal(size=(n, 8)) for c, n in enumerate((20, 200, 300, 400))])
    sel = select.cluster_balanced(x, 100, n_clusters=4, seed=1)
    assert len(sel.indices) == 100
    per_cluster = np.bincount(sel.cluster_id[sel.indices], minlength=4)
    assert sorted(per_cluster.tolist()) == [20, 26, 27, 27]
    again = select.cluster_balanced(x, 100, n_clusters=4, seed=1)
    assert np.array_equal(sel.indices, again.indices)
    scores = np.arange(len(x), dtype=float)
    best = select.cluster_balanced(x, 0.1, n_clusters=4, scores=scores, seed=1)
    for c in range(4):
        members = np.flatnonzero(best.cluster_id == c)
        taken = np.intersect1d(members, best.indices)
        assert (taken.min() if len(taken) else np.inf) >= members[np.argsort(-scores[members])][
            len(taken) - 1
        ]


# ---------------------------------------------------------------- metrics


def test_vendi_exact_cosine_matches_dense_eigenvalues() -> None:
    x = clustered(300, 10, groups=3, seed=9)
    u = unit(x).astype(np.float64)
    lam = np.clip(np.linalg.eigvalsh(u @ u.T / len(u)), 0, None)
    lam = lam[lam > 0] / lam.sum()
    expected = np.exp(-(lam * np.log(lam)).sum())
    score = metrics.vendi_score(x, block_rows=64)
    assert score.exact and score.value == pytest.approx(expected, rel=1e-5)
    q2 = metrics.vendi_score(x, q=2.0).value
    assert q2 == pytest.approx(1.0 / (lam**2).sum(), rel=1e-5)
    assert metrics.vendi_score(x, q=float("inf")).value == pytest.approx(1.0 / lam.max(), rel=1e-5)


def test_vendi_rbf_exact_and_sampled() -> None:
    x = clustered(400, 8, groups=4, seed=10)
    u = unit(x).astype(np.float64)
    k = np.exp(-1.0 * np.maximum(2 - 2 * u @ u.T, 0))
    lam = np.clip(np.linalg.eigvalsh(k / len(u)), 0, None)
    lam = lam[lam > 0] / lam.sum()
    exact = metrics.vendi_score(x, kernel="rbf", max_exact=400)
    assert exact.exact and exact.value == pytest.approx(np.exp(-(lam * np.log(lam)).sum()), rel=1e-6)
    sampled = metrics.vendi_score(x, kernel="rbf", max_exact=100, samples=4, seed=1)
    assert not sampled.exact and sampled.sample_size == 100 and sampled.std > 0
    assert sampled.value == metrics.vendi_score(x, kernel="rbf", max_exact=100, samples=4, seed=1).value


def test_entropy_centroid_distance_and_coverage() -> None:
    assert metrics.cluster_entropy([0, 0, 1, 1], 2)["normalized"] == pytest.approx(1.0)
    assert metrics.cluster_entropy([0, 0, 0, 0], 4)["entropy"] == 0.0
    assert metrics.mean_centroid_distance(np.ones((4, 3))) == pytest.approx(0.0, abs=1e-6)
    x = clustered(500, 8, seed=11)
    ref = clustered(200, 8, seed=12)
    u, r = unit(x), unit(ref)
    d = np.sqrt(np.maximum(2 - 2 * (r @ u.T).max(axis=1), 0))
    cov = metrics.coverage_radius(x, ref)
    assert cov["max"] == pytest.approx(d.max(), abs=1e-5)
    assert cov["mean"] == pytest.approx(d.mean(), abs=1e-5)


def test_measure_many_shares_clusters() -> None:
    spread = clustered(600, 16, groups=12, seed=13)
    narrow = spread[np.argsort(spread[:, 0])[:200]]
    report = metrics.measure_many({"spread": spread, "narrow": narrow}, n_clusters=12)
    assert report["spread"]["cluster_entropy"]["entropy"] > report["narrow"]["cluster_entropy"]["entropy"]
    assert report["spread"]["vendi"]["value"] > report["narrow"]["vendi"]["value"]
    assert set(report["spread"]) >= {"rows", "vendi", "mean_centroid_distance", "cluster_entropy"}
