"""Diversity metrics of an embedded dataset, to compare data mixtures.

* **Vendi score** (Friedman & Dieng, 2023, arXiv:2210.02410): the exponential
  of the Shannon entropy of the eigenvalues of ``K / n``, ``K`` a similarity
  kernel with ``K_ii = 1``: the effective number of distinct items (1 when all
  rows are equal, ``n`` when all are orthogonal). Order ``q`` generalizes the
  entropy (Pasarkar & Dieng, 2023): ``q=1`` Shannon, ``q=inf`` ``1 / max eigenvalue``.

  - ``kernel="cosine"`` (default): ``K = X X^T`` for unit rows. ``K / n`` has
    the same non-zero eigenvalues as the ``d x d`` matrix ``X^T X / n``, so the
    score is **exact for any n** in ``O(n d^2)`` time and ``O(d^2)`` memory.
  - ``kernel="rbf"``: ``K_ij = exp(-gamma * |x_i - x_j|^2)`` on unit rows.
    Exact (``n x n`` eigenvalues) up to ``max_exact`` rows; beyond, the mean
    over ``samples`` seeded random subsets of ``max_exact`` rows, with their
    standard deviation. A subset's score is at most its size, so the sampled
    value *underestimates* the Vendi score of a very diverse large set: compare
    sampled values only at the same ``max_exact``.
* **Mean centroid distance**: mean cosine distance ``1 - cos(x_i, mu)`` to the
  mean direction ``mu`` (0: all rows alike; near 1: spread around the sphere).
* **Cluster entropy**: entropy of the share of rows per k-means cluster, and
  divided by ``log k`` (1 = uniform). Give shared centroids to compare mixtures
  in the same clusters (:func:`measure_many` fits them on the union).
* **Coverage radius**: the largest (and 95th percentile, mean) distance from a
  reference row to its nearest row of the dataset: how well the dataset covers
  the reference (the k-center objective when the dataset is a selection).

All distances are between unit vectors: Euclidean ``sqrt(2 - 2 cos)`` or cosine ``1 - cos``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from stemmatic.diversity._vectors import as_unit_vectors, check_seed
from stemmatic.exceptions import ParameterError

__all__ = [
    "VendiScore",
    "cluster_entropy",
    "coverage_radius",
    "mean_centroid_distance",
    "measure",
    "measure_many",
    "vendi_score",
]


@dataclass(frozen=True)
class VendiScore:
    """A Vendi score and how it was computed (``float(score)`` gives the value)."""

    value: float
    kernel: str
    q: float
    exact: bool
    rows: int
    sample_size: int
    samples: int
    std: float

    def __float__(self) -> float:
        return self.value


def _entropy_of(eigenvalues: np.ndarray, q: float) -> float:
    lam = np.clip(eigenvalues, 0.0, None)
    lam = lam[lam > 0]
    lam = lam / lam.sum()
    if q == 1.0:
        return float(-(lam * np.log(lam)).sum())
    if math.isinf(q):
        return float(-math.log(lam.max()))
    return float(math.log((lam**q).sum()) / (1.0 - q))


def _rbf_vendi(x: np.ndarray, gamma: float, q: float) -> float:
    gram = (x @ x.T).astype(np.float64)
    kernel = np.exp(-gamma * np.maximum(2.0 - 2.0 * gram, 0.0))
    return math.exp(_entropy_of(np.linalg.eigvalsh(kernel / len(x)), q))


def vendi_score(
    vectors: Any,
    *,
    kernel: str = "cosine",
    q: float = 1.0,
    gamma: float = 1.0,
    max_exact: int = 2000,
    samples: int = 10,
    seed: int = 0,
    block_rows: int = 65_536,
) -> VendiScore:
    """The Vendi score (effective number of distinct rows) of ``vectors``.

    Args:
        vectors: (n, d) embeddings (normalized here).
        kernel: ``"cosine"`` (exact for any n) or ``"rbf"``.
        q: entropy order (> 0, may be ``float("inf")``).
        gamma: RBF bandwidth.
        max_exact: largest n computed exactly with the RBF kernel; also the
            subset size when sampling.
        samples: subsets averaged when sampling.
        seed: seeds the subsets.
        block_rows: rows per block of the ``X^T X`` accumulation (memory).

    >>> round(vendi_score(np.eye(4)).value, 6), round(vendi_score(np.ones((5, 3))).value, 6)
    (4.0, 1.0)
    """
    x = as_unit_vectors(vectors)
    n = len(x)
    if not q > 0:
        raise ParameterError(f"invalid parameter `q`: {q}; must be positive")
    if kernel == "cosine":
        gram = np.zeros((x.shape[1], x.shape[1]), dtype=np.float64)
        for start in range(0, n, block_rows):
            block = x[start : start + block_rows]
            gram += (block.T @ block).astype(np.float64)
        value = math.exp(_entropy_of(np.linalg.eigvalsh(gram / n), q))
        return VendiScore(value, kernel, q, True, n, n, 1, 0.0)
    if kernel != "rbf":
        raise ParameterError(f"invalid parameter `kernel`: {kernel!r}; expected 'cosine' or 'rbf'")
    if max_exact < 2 or samples < 1:
        raise ParameterError("invalid parameters: `max_exact` must be at least 2 and `samples` at least 1")
    if n <= max_exact:
        return VendiScore(_rbf_vendi(x, gamma, q), kernel, q, True, n, n, 1, 0.0)
    rng = np.random.default_rng(check_seed(seed))
    values = [
        _rbf_vendi(x[np.sort(rng.choice(n, max_exact, replace=False))], gamma, q) for _ in range(samples)
    ]
    return VendiScore(
        float(np.mean(values)), kernel, q, False, n, max_exact, samples, float(np.std(values, ddof=0))
    )


def mean_centroid_distance(vectors: Any) -> float:
    """Mean cosine distance of the rows to their mean direction.

    >>> round(mean_centroid_distance([[1.0, 0.0], [0.0, 1.0]]), 4)
    0.2929
    """
    x = as_unit_vectors(vectors)
    mean = x.mean(axis=0, dtype=np.float64)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        return 1.0
    return float(1.0 - (x @ (mean / norm).astype(np.float32)).mean(dtype=np.float64))


def cluster_entropy(labels: Any, n_clusters: int) -> dict[str, float]:
    """Entropy (nats) of the cluster shares, and divided by ``log n_clusters``.

    >>> cluster_entropy([0, 1, 2, 3], 4)["normalized"]
    1.0
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_clusters).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log(p)).sum())
    return {
        "entropy": entropy,
        "normalized": entropy / math.log(n_clusters) if n_clusters > 1 else 0.0,
        "clusters": n_clusters,
        "clusters_used": int(np.count_nonzero(counts)),
    }


def coverage_radius(vectors: Any, reference: Any, *, gpu: bool | None = None) -> dict[str, float]:
    """How well ``vectors`` cover ``reference``: distances from each reference row to its nearest row.

    Returns the max (the coverage radius), 95th percentile and mean Euclidean
    distance of unit vectors, and the smallest cosine similarity.

    >>> coverage_radius(np.eye(3)[:2], np.eye(3))["max"]
    1.414214
    """
    from stemmatic.diversity.select import nearest_selected

    x = as_unit_vectors(vectors)
    ref = as_unit_vectors(reference, name="reference", dim=x.shape[1])
    both = np.vstack((x, ref))
    _, similarity = nearest_selected(both, np.arange(len(x)), gpu=gpu)
    sims = similarity[len(x) :].astype(np.float64)
    sims[sims > 1.0 - 1e-6] = 1.0  # float32 rounding of equal unit vectors
    distance = np.sqrt(np.maximum(2.0 - 2.0 * sims, 0.0))
    return {
        "max": round(float(distance.max()), 6),
        "p95": round(float(np.quantile(distance, 0.95)), 6),
        "mean": round(float(distance.mean()), 6),
        "min_similarity": round(float(sims.min()), 6),
    }


def measure(
    vectors: Any,
    *,
    centroids: np.ndarray | None = None,
    n_clusters: int | None = None,
    reference: Any = None,
    vendi_kernel: str = "cosine",
    vendi_max_exact: int = 2000,
    seed: int = 0,
    gpu: bool | None = None,
) -> dict[str, Any]:
    """All metrics of one dataset, as a JSON-ready dict.

    Cluster entropy uses ``centroids`` when given, else a k-means with
    ``n_clusters`` (default ``min(1000, sqrt(n))``; needs the ``[diversity]``
    extra). Coverage radius is reported when a ``reference`` is given.
    """
    from stemmatic.diversity.index import assign_to_centroids, spherical_kmeans

    x = as_unit_vectors(vectors)
    n = len(x)
    if centroids is None:
        k = n_clusters if n_clusters is not None else max(1, min(1000, round(math.sqrt(n))))
        kmeans = spherical_kmeans(x, k, seed=seed, gpu=gpu, normalized=True)
        labels, num = kmeans.labels, len(kmeans.centroids)
    else:
        c = as_unit_vectors(centroids, name="centroids", dim=x.shape[1])
        labels, _ = assign_to_centroids(x, c, normalized=True, gpu=gpu)
        num = len(c)
    result: dict[str, Any] = {
        "rows": n,
        "dim": int(x.shape[1]),
        "vendi": asdict(vendi_score(x, kernel=vendi_kernel, max_exact=vendi_max_exact, seed=seed)),
        "mean_centroid_distance": mean_centroid_distance(x),
        "cluster_entropy": cluster_entropy(labels, num),
    }
    if reference is not None:
        result["coverage_radius"] = coverage_radius(x, reference, gpu=gpu)
    return result


def measure_many(
    datasets: Mapping[str, Any],
    *,
    centroids: np.ndarray | None = None,
    n_clusters: int | None = None,
    reference: Any = None,
    vendi_kernel: str = "cosine",
    vendi_max_exact: int = 2000,
    seed: int = 0,
    gpu: bool | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`measure` for several datasets in the same clusters (fitted on their union).

    With shared centroids the cluster entropies are comparable: a mixture that
    spreads over more of the shared clusters has the higher entropy.
    """
    from stemmatic.diversity.index import spherical_kmeans

    if not datasets:
        raise ParameterError("measure_many: no datasets given")
    arrays = {name: as_unit_vectors(v, name=name) for name, v in datasets.items()}
    dims = {a.shape[1] for a in arrays.values()}
    if len(dims) != 1:
        raise ParameterError(f"measure_many: datasets have different dimensions {sorted(dims)}")
    if centroids is None:
        union = np.vstack(list(arrays.values()))
        k = n_clusters if n_clusters is not None else max(1, min(1000, round(math.sqrt(len(union)))))
        centroids = spherical_kmeans(union, k, seed=seed, gpu=gpu, normalized=True).centroids
        del union
    return {
        name: measure(
            x,
            centroids=centroids,
            reference=reference,
            vendi_kernel=vendi_kernel,
            vendi_max_exact=vendi_max_exact,
            seed=seed,
            gpu=gpu,
        )
        for name, x in arrays.items()
    }
