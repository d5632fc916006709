"""Root-source sampling: a training mixture drawn from the upstream roots of a lineage.

The lineage paper samples from root datasets instead of from aggregations of
aggregations and gets a more diverse mixture. Here that is a procedure with
its exclusions and checks made explicit:

1. **roots** — the root sources upstream of ``targets`` (or every root whose
   texts are given), minus benchmark nodes, roots reached by contamination
   (a :class:`~stemmatic.lineage.contamination.ContaminationReport`), and
   roots whose licences forbid ``use``;
2. **allocation** of the budget over roots — ``uniform``, ``size_capped``
   (proportional to ``min(size, cap)``) or ``sqrt`` (proportional to
   ``sqrt(size)``), never more than a root holds, the remainder handed on;
3. **diverse pick** inside each root — k-center greedy on embeddings
   (``stemmatic.diversity`` when installed, else the same farthest-point rule
   here);
4. **cross-root dedup** — MinHash/LSH near-duplicates across roots (exact
   Jaccard verified) are dropped, keeping the first;
5. **report** — Vendi score and centroid cosine distance of the result, and
   of a same-size random draw from ``baseline`` when given.

Embeddings come from ``embed`` (any ``texts -> (n, d)`` callable, such as a
sentence-transformers model); by default a deterministic hashed bag of words
(256 dimensions), which needs no model.

>>> from stemmatic.lineage.graph import LineageGraph
>>> g = LineageGraph()
>>> _ = g.add_edge("r/a", "mix/m", "merge"); _ = g.add_edge("r/b", "mix/m", "merge")
>>> texts = {"r/a": [f"alpha text {i} " * 3 for i in range(30)], "r/b": [f"beta words {i} " * 3 for i in range(10)]}
>>> result = root_sample(g, texts, 20, targets=["mix/m"], allocation="uniform")
>>> result.allocation
{'r/a': 10, 'r/b': 10}
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stemmatic.exceptions import ParameterError
from stemmatic.lineage.graph import LineageGraph
from stemmatic.lineage.licenses import licences_allow

__all__ = ["RootSample", "allocate", "hashed_embedding", "root_sample", "vendi"]

_WORD = re.compile(r"\w+")


def hashed_embedding(texts: Sequence[str], dim: int = 256) -> np.ndarray:
    """Unit-norm hashed bag-of-words vectors (CRC32 of each lower-cased word, signed).

    >>> hashed_embedding(["a b", "a b"]).shape
    (2, 256)
    """
    out = np.zeros((len(texts), dim), dtype=np.float64)
    for row, text in enumerate(texts):
        for word in _WORD.findall(text.lower()):
            h = zlib.crc32(word.encode())
            out[row, h % dim] += 1.0 if (h >> 31) & 1 else -1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)


def vendi(vectors: np.ndarray) -> float:
    """Vendi score (q=1, cosine kernel) of row vectors: ``exp`` of the eigenvalue entropy.

    Uses ``stemmatic.diversity.metrics.vendi_score`` when that module is
    installed; otherwise computes the same quantity from the ``d x d`` Gram
    matrix (its non-zero eigenvalues equal those of ``K / n``).

    >>> round(vendi(np.eye(3)), 6), round(vendi(np.ones((4, 2))), 6)
    (3.0, 1.0)
    """
    try:
        from stemmatic.diversity.metrics import vendi_score
    except ImportError:
        pass  # the eigenvalue form below
    else:
        return float(vendi_score(vectors))
    x = np.asarray(vectors, dtype=np.float64)
    if len(x) == 0:
        return 0.0
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms == 0, 1.0, norms)
    lam = np.clip(np.linalg.eigvalsh(x.T @ x / len(x)), 0.0, None)
    lam = lam[lam > 1e-12]
    lam = lam / lam.sum()
    return float(math.exp(-(lam * np.log(lam)).sum()))


def _kcenter(vectors: np.ndarray, k: int) -> np.ndarray:
    try:
        from stemmatic.diversity.select import kcenter_greedy
    except ImportError:
        pass  # the plain farthest-point loop below
    else:
        return np.asarray(kcenter_greedy(vectors.astype(np.float32), k).indices, dtype=np.int64)
    n = len(vectors)
    chosen = [0]
    dist = np.linalg.norm(vectors - vectors[0], axis=1)
    while len(chosen) < min(k, n):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(vectors - vectors[nxt], axis=1))
    return np.asarray(chosen, dtype=np.int64)


def allocate(
    sizes: Mapping[str, int], budget: int, method: str = "sqrt", *, cap: int | None = None
) -> dict[str, int]:
    """Split ``budget`` over roots by ``method``, never above a root's size (largest remainders).

    >>> allocate({"a": 100, "b": 4, "c": 400}, 30, "sqrt")
    {'a': 9, 'b': 2, 'c': 19}

    Raises:
        ParameterError: for an unknown method, a negative budget, or
            ``size_capped`` without ``cap``.
    """
    if budget < 0:
        raise ParameterError(f"budget must be non-negative, not {budget}")
    if method not in ("uniform", "size_capped", "sqrt"):
        raise ParameterError(f"allocation must be 'uniform', 'size_capped' or 'sqrt', not {method!r}")
    if method == "size_capped" and (cap is None or cap <= 0):
        raise ParameterError("allocation 'size_capped' needs a positive cap")
    left = dict(sizes)
    out = dict.fromkeys(sizes, 0)
    remaining = min(budget, sum(sizes.values()))
    while remaining > 0:
        open_roots = [k for k in sorted(left) if left[k] > 0]
        if method == "uniform":
            weights = np.ones(len(open_roots))
        elif method == "sqrt":
            weights = np.sqrt([sizes[k] for k in open_roots])
        else:
            assert cap is not None
            weights = np.array([min(sizes[k], cap) for k in open_roots], dtype=np.float64)
        share = remaining * weights / weights.sum()
        whole = np.floor(share).astype(np.int64)
        order = np.argsort(-(share - whole), kind="stable")
        whole[order[: remaining - int(whole.sum())]] += 1
        for k, want in zip(open_roots, whole, strict=True):
            take = min(int(want), left[k])
            out[k] += take
            left[k] -= take
            remaining -= take
    return out


@dataclass
class RootSample:
    """The sampled mixture and how it was made."""

    roots: list[str]
    excluded: dict[str, str]
    allocation: dict[str, int]
    picks: dict[str, list[int]]
    cross_root_duplicates: int
    vendi: float
    centroid_distance: float
    baseline_vendi: float | None = None
    baseline_centroid_distance: float | None = None
    texts: list[tuple[str, int, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (without the texts)."""
        return {
            "roots": self.roots,
            "excluded": self.excluded,
            "allocation": self.allocation,
            "selected": {k: len(v) for k, v in self.picks.items()},
            "cross_root_duplicates": self.cross_root_duplicates,
            "vendi": self.vendi,
            "centroid_distance": self.centroid_distance,
            "baseline_vendi": self.baseline_vendi,
            "baseline_centroid_distance": self.baseline_centroid_distance,
        }


def _centroid_distance(vectors: np.ndarray) -> float:
    """Mean cosine distance of the rows to their mean direction."""
    if len(vectors) == 0:
        return 0.0
    mean = vectors.mean(axis=0)
    norm = np.linalg.norm(mean)
    if norm == 0:
        return 1.0
    return float(np.mean(1.0 - vectors @ (mean / norm)))


def root_sample(
    graph: LineageGraph,
    contents: Mapping[str, Any],
    budget: int,
    *,
    targets: Iterable[str] | None = None,
    allocation: str = "sqrt",
    cap: int | None = None,
    contaminated: Iterable[str] = (),
    use: str | None = "research",
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    dedup_threshold: float = 0.8,
    baseline: Any = None,
    seed: int = 0,
    text_column: str = "text",
) -> RootSample:
    """Sample ``budget`` documents from the root sources (see the module docstring).

    Args:
        graph: the lineage graph.
        contents: documents of root datasets, by key (roots without texts are
            reported as excluded): lists of texts, or what
            :func:`stemmatic.lineage.texts.read_texts` reads (paths, URLs,
            table-like objects), read only for the roots that are sampled.
        budget: number of documents wanted.
        targets: datasets whose roots to use (default: every root in ``contents``).
        allocation: ``uniform``, ``size_capped`` or ``sqrt``.
        cap: the size cap for ``size_capped``.
        contaminated: keys to exclude (e.g. ``report.at_risk()`` plus seeds).
        use: exclude roots whose licences forbid this use (``commercial``,
            ``research``, ``permissive-only``; ``None`` skips the check).
        embed: ``texts -> (n, d)`` embeddings (default :func:`hashed_embedding`).
        dedup_threshold: Jaccard above which two picks from different roots
            are duplicates.
        baseline: documents of the mixture to compare with (e.g. OpenHermes), as ``contents``' values.
        seed: seeds the baseline draw.
        text_column: the column holding the documents of what is read from files or tables.
    """
    from stemmatic.lineage.ops import roots as roots_of
    from stemmatic.lineage.texts import texts_of

    embed = embed or hashed_embedding
    given = {graph.keys[graph.index(k)]: v for k, v in contents.items()}
    canonical: dict[str, Sequence[str]] = {}
    if targets is None:
        candidates = sorted(k for k in given if graph.graph.in_degree(graph.index(k)) == 0)
    else:
        candidates = sorted({r for t in targets for r in roots_of(graph, t)})
    bad = {graph.keys[graph.index(k)] for k in contaminated}
    excluded: dict[str, str] = {}
    chosen: list[str] = []
    for key in candidates:
        i = graph.index(key)
        if graph.kinds[i] == "benchmark":
            excluded[key] = "benchmark"
        elif graph.kinds[i] == "unresolved":
            excluded[key] = "unresolved name"
        elif key in bad:
            excluded[key] = "contaminated"
        elif use is not None and graph.licenses[i] and not licences_allow(graph.licenses[i], use):
            excluded[key] = f"licence forbids {use} use: {', '.join(graph.licenses[i])}"
        elif key not in given or not canonical.setdefault(key, texts_of(given[key], text_column)):
            excluded[key] = "no texts given"
        else:
            chosen.append(key)
    plan = allocate({k: len(canonical[k]) for k in chosen}, budget, allocation, cap=cap)
    picks: dict[str, list[int]] = {}
    vectors: list[np.ndarray] = []
    texts: list[tuple[str, int, str]] = []
    for key in chosen:
        docs = list(canonical[key])
        if plan[key] == 0:
            picks[key] = []
            continue
        emb = np.asarray(embed(docs), dtype=np.float64)
        rows = _kcenter(emb, plan[key])[: plan[key]]
        picks[key] = sorted(int(r) for r in rows)
        vectors.append(emb[picks[key]])
        texts.extend((key, r, docs[r]) for r in picks[key])
    duplicates = 0
    if texts and dedup_threshold < 1.0:
        keep = _cross_root_keep(texts, dedup_threshold)
        duplicates = int((~keep).sum())
        if duplicates:
            all_vectors = np.vstack(vectors)[keep]
            texts = [t for t, k in zip(texts, keep, strict=True) if k]
            picks = {key: [r for k2, r, _ in texts if k2 == key] for key in picks}
            vectors = [all_vectors]
    matrix = np.vstack(vectors) if vectors else np.zeros((0, 1))
    result = RootSample(
        chosen, excluded, plan, picks, duplicates, vendi(matrix), _centroid_distance(matrix), texts=texts
    )
    if baseline is not None:
        baseline = texts_of(baseline, text_column)
    if baseline is not None and len(baseline):
        rng = np.random.default_rng(seed)
        size = min(len(texts) or budget, len(baseline))
        draw = [baseline[i] for i in sorted(rng.choice(len(baseline), size, replace=False))]
        base = np.asarray(embed(draw), dtype=np.float64)
        result.baseline_vendi = vendi(base)
        result.baseline_centroid_distance = _centroid_distance(base)
    return result


def _cross_root_keep(texts: list[tuple[str, int, str]], threshold: float) -> np.ndarray:
    """False for a pick with a verified near-duplicate among earlier picks of another root."""
    from stemmatic.lineage.redundancy import _Measurer

    measurer = _Measurer(threshold, 128, 5, 1, 64)
    keep = np.ones(len(texts), dtype=bool)
    roots = [t[0] for t in texts]
    for position, root in enumerate(dict.fromkeys(roots)):
        mine = [i for i, r in enumerate(roots) if r == root]
        earlier = [i for i, r in enumerate(roots) if r != root and r in list(dict.fromkeys(roots))[:position]]
        earlier = [i for i in earlier if keep[i]]
        if not earlier:
            continue
        found = measurer.contained(
            measurer.corpus([texts[i][2] for i in mine]), measurer.corpus([texts[i][2] for i in earlier])
        )
        keep[np.asarray(mine)[found]] = False
    return keep
