"""FAISS indexes and spherical k-means for unit vectors (cosine = inner product).

The index kind follows the data size (:func:`choose_index`): exact search
(``Flat``) up to :data:`FLAT_MAX_ROWS` vectors, an inverted file with exact
residuals (``IVF``) up to :data:`IVF_MAX_ROWS`, and beyond that an inverted
file with product-quantized codes and an HNSW coarse quantizer (``IVF-PQ``),
whose memory per vector is a few dozen bytes instead of ``4 * d``. Any FAISS
factory string overrides the choice. Indexes and k-means run on the GPUs when
FAISS sees any (``faiss.get_num_gpus() > 0``), else on the CPU.

FAISS objects do not pickle, so what outlives a run is plain numpy: k-means
centroids are saved as ``.npy`` (:func:`save_centroids`) and reloaded with
their dimension checked (:func:`load_centroids`).

faiss is imported lazily: this module imports without the ``[diversity]`` extra.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from stemmatic._extras import require
from stemmatic.diversity._vectors import as_unit_vectors, check_seed
from stemmatic.exceptions import InvalidInputError, ParameterError

__all__ = [
    "FLAT_MAX_ROWS",
    "IVF_MAX_ROWS",
    "IndexSpec",
    "KMeansResult",
    "assign_to_centroids",
    "build_index",
    "choose_index",
    "gpu_count",
    "knn",
    "load_centroids",
    "save_centroids",
    "spherical_kmeans",
]

#: Up to this many vectors, search is exact (``IndexFlatIP``).
FLAT_MAX_ROWS = 100_000
#: Up to this many vectors, ``IVF<nlist>,Flat``; beyond, ``IVF<nlist>_HNSW32,PQ<m>``.
IVF_MAX_ROWS = 10_000_000


def faiss_module(feature: str) -> ModuleType:
    """``import faiss``, or :class:`~stemmatic.MissingExtraError` naming ``[diversity]``."""
    return require("faiss", feature)


def gpu_count(faiss: ModuleType | None = None) -> int:
    """Number of GPUs FAISS can use (0 with faiss-cpu or without the extra).

    >>> gpu_count() >= 0
    True
    """
    if faiss is None:
        try:
            faiss = require("faiss", "GPU detection")
        except ImportError:
            return 0
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def _use_gpu(faiss: ModuleType, gpu: bool | None) -> bool:
    available = gpu_count(faiss) > 0
    if gpu and not available:
        raise ParameterError("gpu=True but FAISS sees no GPU (is faiss-gpu installed?)")
    return available if gpu is None else bool(gpu)


@dataclass(frozen=True)
class IndexSpec:
    """Which FAISS index to build: ``kind``, its factory string and ``nprobe`` (IVF only).

    >>> choose_index(1_000, 384)
    IndexSpec(kind='flat', factory='Flat', nprobe=1)
    >>> choose_index(2_000_000, 384).factory
    'IVF4096,Flat'
    >>> choose_index(50_000_000, 384).factory
    'IVF32768_HNSW32,PQ48'
    """

    kind: str
    factory: str
    nprobe: int = 1


def _nlist(n: int) -> int:
    # The FAISS guideline is 4*sqrt(n) to 16*sqrt(n) lists; a power of two near 4*sqrt(n).
    return max(1, int(2 ** round(math.log2(max(1.0, 4 * math.sqrt(n))))))


def _pq_subquantizers(d: int) -> int:
    # 8-bit codes of about 8 dimensions each; m must divide d.
    target = max(1, d // 8)
    return max(m for m in range(1, target + 1) if d % m == 0)


def choose_index(n: int, d: int, kind: str = "auto", *, nprobe: int | None = None) -> IndexSpec:
    """The index for ``n`` vectors of dimension ``d``.

    Args:
        n: number of vectors to index.
        d: their dimension.
        kind: ``"auto"`` (by size), ``"flat"``, ``"ivf"``, ``"ivfpq"``, or any
            FAISS factory string (``"HNSW32"``, ``"IVF1024,SQ8"``, ...).
        nprobe: inverted lists visited per query (IVF kinds); default
            ``max(16, nlist // 64)``.
    """
    if n < 1 or d < 1:
        raise ParameterError(f"cannot index {n} vectors of dimension {d}")
    if kind == "auto":
        kind = "flat" if n <= FLAT_MAX_ROWS else "ivf" if n <= IVF_MAX_ROWS else "ivfpq"
    nlist = min(_nlist(n), max(1, n // 39))
    default_probe = nprobe if nprobe is not None else min(nlist, max(16, nlist // 64))
    if kind == "flat":
        return IndexSpec("flat", "Flat", 1)
    if kind == "ivf":
        return IndexSpec("ivf", f"IVF{nlist},Flat", default_probe)
    if kind == "ivfpq":
        return IndexSpec("ivfpq", f"IVF{nlist}_HNSW32,PQ{_pq_subquantizers(d)}", default_probe)
    if kind.lower() in ("hnsw", "ivf-pq", "ivf_pq"):
        raise ParameterError(
            f"invalid index kind {kind!r}; expected auto, flat, ivf, ivfpq or a FAISS factory string "
            "such as 'HNSW32'"
        )
    return IndexSpec("factory", kind, nprobe if nprobe is not None else 16)


def build_index(
    vectors: np.ndarray,
    spec: IndexSpec | str = "auto",
    *,
    seed: int = 0,
    gpu: bool | None = None,
    train_rows: int | None = None,
) -> Any:
    """A FAISS inner-product index holding ``vectors`` (normalized here), trained if it needs it.

    Training uses a seeded sample of at most ``train_rows`` vectors (default
    256 per inverted list), so the index is a function of the data and seed.
    """
    faiss = faiss_module("a FAISS index")
    x = as_unit_vectors(vectors)
    n, d = x.shape
    if isinstance(spec, str):
        spec = choose_index(n, d, spec)
    try:
        index = faiss.index_factory(d, spec.factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        raise ParameterError(f"FAISS cannot build index {spec.factory!r}: {err}") from err
    if _use_gpu(faiss, gpu) and spec.kind in ("flat", "ivf"):
        index = faiss.index_cpu_to_all_gpus(index)
    if not index.is_trained:
        try:
            ivf = faiss.extract_index_ivf(index)
        except RuntimeError:  # not an inverted file (PQ, ...)
            ivf = None
        if ivf is not None:
            ivf.cp.seed = check_seed(seed)
        limit = train_rows or (256 * ivf.nlist if ivf is not None else 100_000)
        rng = np.random.default_rng(check_seed(seed))
        sample = x if n <= limit else x[np.sort(rng.choice(n, size=limit, replace=False))]
        index.train(sample)
    index.add(x)
    if spec.nprobe > 1:
        with contextlib.suppress(RuntimeError):  # kinds without nprobe (HNSW, ...)
            faiss.ParameterSpace().set_index_parameter(index, "nprobe", spec.nprobe)
    return index


def knn(
    base: np.ndarray,
    k: int,
    *,
    queries: np.ndarray | None = None,
    index: IndexSpec | str = "auto",
    seed: int = 0,
    gpu: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar ``base`` rows of each query (default: of each base row).

    Returns ``(similarities, indices)``, both ``(num_queries, k)``, most
    similar first; ``-1`` indices (with similarity ``-inf``) where an
    approximate index found fewer than ``k``. With ``queries=None`` each row's
    own index is among its results (similarity 1).
    """
    faiss_module("k-nearest-neighbour search")
    x = as_unit_vectors(base, name="base")
    q = x if queries is None else as_unit_vectors(queries, name="queries", dim=x.shape[1])
    if not 1 <= k <= len(x):
        raise ParameterError(f"invalid parameter `k`: {k}; must be in [1, {len(x)}]")
    faiss_index = build_index(x, index, seed=seed, gpu=gpu)
    similarities, indices = faiss_index.search(q, k)
    similarities[indices < 0] = -np.inf
    return similarities, indices.astype(np.int64)


@dataclass(frozen=True)
class KMeansResult:
    """Unit-norm ``centroids`` (k, d); each vector's ``labels`` and cosine ``similarity`` to its centroid."""

    centroids: np.ndarray
    labels: np.ndarray
    similarity: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.centroids))


def spherical_kmeans(
    vectors: np.ndarray,
    n_clusters: int,
    *,
    niter: int = 20,
    seed: int = 0,
    max_points_per_centroid: int = 256,
    gpu: bool | None = None,
    normalized: bool = False,
) -> KMeansResult:
    """Spherical k-means (FAISS): cosine assignment, unit-norm centroids.

    Training uses a seeded sample of ``max_points_per_centroid * n_clusters``
    vectors at most, then every vector is assigned to its most similar
    centroid. Same data and seed give the same result.

    Args:
        vectors: (n, d) embeddings; normalized here unless ``normalized=True``.
        n_clusters: k, at most n.
        niter: Lloyd iterations.
        seed: seeds initialization and sampling.
        max_points_per_centroid: training sample per centroid.
        gpu: ``None`` uses the GPUs when FAISS has any.
    """
    faiss = faiss_module("spherical k-means")
    x = vectors if normalized else as_unit_vectors(vectors)
    n, d = x.shape
    if not 1 <= n_clusters <= n:
        raise ParameterError(f"invalid parameter `n_clusters`: {n_clusters}; must be in [1, {n}]")
    if niter < 1:
        raise ParameterError(f"invalid parameter `niter`: {niter}; must be at least 1")
    kmeans = faiss.Kmeans(
        d,
        int(n_clusters),
        niter=int(niter),
        seed=check_seed(seed),
        spherical=True,
        gpu=_use_gpu(faiss, gpu),
        verbose=False,
        max_points_per_centroid=int(max_points_per_centroid),
        min_points_per_centroid=1,
    )
    kmeans.train(x)
    centroids = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    labels, similarity = assign_to_centroids(x, centroids, normalized=True, gpu=gpu)
    return KMeansResult(centroids, labels, similarity)


def assign_to_centroids(
    vectors: np.ndarray, centroids: np.ndarray, *, normalized: bool = False, gpu: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each vector's most cosine-similar centroid: ``(labels int64, similarity float32)``."""
    faiss = faiss_module("centroid assignment")
    c = as_unit_vectors(centroids, name="centroids")
    x = vectors if normalized else as_unit_vectors(vectors, dim=c.shape[1])
    if x.shape[1] != c.shape[1]:
        raise InvalidInputError(f"vectors have {x.shape[1]} dimensions but the centroids have {c.shape[1]}")
    index = faiss.IndexFlatIP(c.shape[1])
    if _use_gpu(faiss, gpu):
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(c)
    similarity, labels = index.search(x, 1)
    return labels[:, 0].astype(np.int64), similarity[:, 0].copy()


def save_centroids(path: str | os.PathLike[str], centroids: np.ndarray) -> Path:
    """Save centroids as a float32 ``.npy`` (FAISS objects do not pickle).

    >>> import tempfile, pathlib
    >>> p = save_centroids(pathlib.Path(tempfile.mkdtemp()) / "c.npy", np.eye(2))
    >>> load_centroids(p, dim=2).shape
    (2, 2)
    """
    path = Path(path)
    c = as_unit_vectors(centroids, name="centroids")
    np.save(path, c)
    return path


def load_centroids(path: str | os.PathLike[str], *, dim: int | None = None) -> np.ndarray:
    """Load centroids saved by :func:`save_centroids`, checking their dimension against ``dim``."""
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"{path}: not a readable .npy file of centroids: {err}") from err
    return as_unit_vectors(array, name=f"centroids {path}", dim=dim)
