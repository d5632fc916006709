"""Redundancy between datasets: from the graph's structure and from measured content.

*Structural* redundancy needs only the graph: two datasets that share root
sources overlap (Jaccard of their root sets), and a *diamond* — a dataset one
of whose parents is also an ancestor of another parent — holds the shared
ancestor's content twice, an implicit intersection no card mentions.

*Empirical* redundancy is measured: the containment of A in B is the share of
A's documents with a near-duplicate in B (Jaccard of word 5-gram shingle sets
at least ``threshold``). Candidates come from MinHash signatures
(:func:`stemmatic.minhash`) banded into LSH buckets in numpy, and every
candidate is verified with the exact Jaccard of
:func:`stemmatic.shingle_hashes`, so false positives never count.

From containment, :func:`measured_edges` proposes edges (direction from the
asymmetry of containment and from dates), confirms documented ones, and flags
where documentation and content disagree.

>>> a = ["the quick brown fox jumps over the lazy dog number %d today" % i for i in range(20)]
>>> b = a[:10] + ["completely different text about cats and mats number %d here" % i for i in range(10)]
>>> round(containment(a, b), 2), round(containment(b, a), 2)
(0.5, 0.5)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stemmatic.exceptions import ParameterError
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.relations import TRANSMISSION

__all__ = [
    "ContainmentMatrix",
    "Diamond",
    "MeasuredEdges",
    "RedundancyReport",
    "containment",
    "containment_matrix",
    "diamonds",
    "lsh_bands",
    "measured_edges",
    "redundancy_report",
    "shared_roots_matrix",
]

_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class Diamond:
    """``child`` has parents ``direct`` and ``via``, and ``direct`` is also upstream of ``via``."""

    child: str
    direct: str
    via: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready record."""
        return {"child": self.child, "direct": self.direct, "via": self.via}


def diamonds(graph: LineageGraph, nodes: Iterable[str | int] | None = None) -> list[Diamond]:
    """Every diamond: a parent of a node that is also an ancestor of another of its parents.

    >>> g = LineageGraph()
    >>> for u, v in [("r/a", "m/b"), ("m/b", "m/c"), ("r/a", "m/c")]:
    ...     _ = g.add_edge(u, v, "merge")
    >>> diamonds(g)
    [Diamond(child='m/c', direct='r/a', via='m/b')]
    """
    rx = graph._rx
    out: list[Diamond] = []
    indices = range(graph.num_nodes) if nodes is None else [graph.index(n) for n in nodes]
    for child in indices:
        parents = sorted(set(graph.graph.predecessor_indices(child)))
        if len(parents) < 2:
            continue
        parent_set = set(parents)
        for via in parents:
            upstream = rx.ancestors(graph.graph, via) & parent_set
            out.extend(Diamond(graph.keys[child], graph.keys[d], graph.keys[via]) for d in sorted(upstream))
    return sorted(out, key=lambda d: (d.child, d.direct, d.via))


def shared_roots_matrix(graph: LineageGraph, keys: Sequence[str]) -> np.ndarray:
    """Jaccard of the root-source sets of each pair of ``keys`` (``float64``, ``(n, n)``).

    A node with no parents is its own root.
    """
    rx = graph._rx
    root_sets = []
    for key in keys:
        index = graph.index(key)
        upstream = rx.ancestors(graph.graph, index) | {index}
        root_sets.append({i for i in upstream if graph.graph.in_degree(i) == 0})
    n = len(keys)
    out = np.eye(n)
    for i, j in itertools.combinations(range(n), 2):
        union = root_sets[i] | root_sets[j]
        out[i, j] = out[j, i] = len(root_sets[i] & root_sets[j]) / len(union) if union else 0.0
    return out


# ---------------------------------------------------------------- containment
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising the LSH error at ``threshold``.

    The same criterion as datasketch's ``MinHashLSH``: the integral of the
    false-positive probability below the threshold plus the false-negative
    probability above it, with equal weights.

    >>> lsh_bands(0.8, 128)
    (9, 14)
    """
    if not 0.0 < threshold < 1.0:
        raise ParameterError(f"threshold must be in (0, 1), not {threshold}")
    if num_perm < 2:
        raise ParameterError(f"num_perm must be at least 2, not {num_perm}")
    best, best_error = (1, num_perm), float("inf")
    low = np.linspace(0.0, threshold, 200)
    high = np.linspace(threshold, 1.0, 200)
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        false_pos = float(np.trapezoid(1 - (1 - low**rows) ** bands, low))
        false_neg = float(np.trapezoid((1 - high**rows) ** bands, high))
        if false_pos + false_neg < best_error:
            best, best_error = (bands, rows), false_pos + false_neg
    return best


def _band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n, bands)`` uint64 keys, one per band (a multiply-xor mix of the band's rows)."""
    sig = signatures[:, : bands * rows].astype(np.uint64).reshape(len(signatures), bands, rows)
    keys = np.zeros((len(signatures), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            keys = (keys ^ sig[:, :, r]) * _MIX
            keys ^= keys >> np.uint64(29)
    return keys


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


@dataclass
class _Corpus:
    texts: Sequence[str]
    signatures: np.ndarray
    band_keys: np.ndarray
    _shingles: dict[int, np.ndarray] = field(default_factory=dict)

    def shingles(self, row: int, ngram: int, seed: int) -> np.ndarray:
        found = self._shingles.get(row)
        if found is None:
            from stemmatic import shingle_hashes

            found = np.unique(shingle_hashes(self.texts[row], ngram=ngram, seed=seed))
            self._shingles[row] = found
        return found


class _Measurer:
    def __init__(self, threshold: float, num_perm: int, ngram: int, seed: int, max_candidates: int) -> None:
        self.threshold, self.num_perm, self.ngram, self.seed = threshold, num_perm, ngram, seed
        self.max_candidates = max_candidates
        self.bands, self.rows = lsh_bands(threshold, num_perm)

    def corpus(self, texts: Sequence[str]) -> _Corpus:
        from stemmatic import minhash

        texts = list(texts)
        if not texts:
            empty = np.zeros((0, self.num_perm), dtype=np.uint32)
            return _Corpus(texts, empty, np.zeros((0, self.bands), dtype=np.uint64))
        signatures = minhash(texts, num_perm=self.num_perm, ngram=self.ngram, seed=self.seed)
        return _Corpus(texts, signatures, _band_hashes(signatures, self.bands, self.rows))

    def contained(self, a: _Corpus, b: _Corpus) -> np.ndarray:
        """Boolean per document of ``a``: has a verified near-duplicate in ``b``."""
        found = np.zeros(len(a.texts), dtype=bool)
        if len(a.texts) == 0 or len(b.texts) == 0:
            return found
        candidates: dict[int, set[int]] = {}
        for band in range(self.bands):
            b_keys = b.band_keys[:, band]
            order = np.argsort(b_keys, kind="stable")
            sorted_keys = b_keys[order]
            a_keys = a.band_keys[:, band]
            left = np.searchsorted(sorted_keys, a_keys, side="left")
            right = np.searchsorted(sorted_keys, a_keys, side="right")
            for row in np.flatnonzero(right > left).tolist():
                bucket = candidates.setdefault(row, set())
                if len(bucket) < self.max_candidates:
                    bucket.update(int(x) for x in order[left[row] : right[row]][: self.max_candidates])
        for row, others in candidates.items():
            mine = a.shingles(row, self.ngram, self.seed)
            for other in sorted(others):
                if _jaccard(mine, b.shingles(other, self.ngram, self.seed)) >= self.threshold:
                    found[row] = True
                    break
        return found


def containment(
    a: Sequence[str],
    b: Sequence[str],
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    seed: int = 1,
    max_candidates: int = 64,
) -> float:
    """Share of ``a``'s documents with a near-duplicate (Jaccard >= ``threshold``) in ``b``.

    Raises:
        ParameterError: for a threshold outside (0, 1) or ``num_perm < 2``.
    """
    if len(a) == 0:
        return 0.0
    measurer = _Measurer(threshold, num_perm, ngram, seed, max_candidates)
    return float(measurer.contained(measurer.corpus(a), measurer.corpus(b)).mean())


@dataclass
class ContainmentMatrix:
    """``values[i, j]``: share of dataset ``keys[i]``'s documents found in ``keys[j]``."""

    keys: list[str]
    values: np.ndarray
    sizes: list[int]
    threshold: float

    def __call__(self, a: str, b: str) -> float:
        return float(self.values[self.keys.index(a), self.keys.index(b)])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "keys": self.keys,
            "sizes": self.sizes,
            "threshold": self.threshold,
            "containment": np.round(self.values, 6).tolist(),
        }


def containment_matrix(
    datasets: Mapping[str, Sequence[str]],
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    seed: int = 1,
    max_candidates: int = 64,
) -> ContainmentMatrix:
    """Pairwise containment of every dataset in every other (signatures computed once each).

    >>> m = containment_matrix({"a/x": ["one two three four five six"], "b/y": ["one two three four five six"]})
    >>> m("a/x", "b/y")
    1.0
    """
    measurer = _Measurer(threshold, num_perm, ngram, seed, max_candidates)
    keys = list(datasets)
    corpora = [measurer.corpus(datasets[k]) for k in keys]
    n = len(keys)
    values = np.eye(n)
    for i, j in itertools.permutations(range(n), 2):
        found = measurer.contained(corpora[i], corpora[j])
        values[i, j] = float(found.mean()) if found.size else 0.0
    return ContainmentMatrix(keys, values, [len(c.texts) for c in corpora], threshold)


# ------------------------------------------------------------- measured edges
@dataclass
class MeasuredEdges:
    """What measured containment says about the documented graph."""

    proposed: list[dict[str, Any]] = field(default_factory=list)
    confirmed: list[dict[str, Any]] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"proposed": self.proposed, "confirmed": self.confirmed, "disagreements": self.disagreements}


def _older(graph: LineageGraph, a: int, b: int) -> int | None:
    da, db = graph.dates[a], graph.dates[b]
    if da is None or db is None:
        return None
    width = min(len(da), len(db))
    if da[:width] == db[:width]:
        return None
    return a if da[:width] < db[:width] else b


def measured_edges(
    graph: LineageGraph,
    matrix: ContainmentMatrix,
    *,
    min_containment: float = 0.5,
    symmetric_ratio: float = 0.8,
    absent_below: float = 0.05,
    apply: bool = True,
) -> MeasuredEdges:
    """Confirm, propose and question edges from measured containment.

    For each pair, oriented so that ``c(A in B) >= c(B in A)``, with
    ``c(A in B) >= min_containment``:

    * a documented path between them (either way) is *confirmed* (with
      ``apply``, a ``measured`` evidence is added to a direct edge);
    * otherwise an edge is *proposed* (and added with ``apply``): when
      containment is about equal both ways (ratio >= ``symmetric_ratio``) the
      two are versions of one dataset, the older first; when A is inside B
      and A is older (or undated), B merged A (``A -merge-> B``); when B is
      older, A was cut from B (``B -subset-> A``). The direction's basis is
      recorded in the evidence quote.

    A documented direct edge whose relation copies text (transmission >= 0.6)
    but whose measured containment is below ``absent_below`` both ways is a
    *disagreement*, and so is every proposed edge (documentation is silent).
    """
    out = MeasuredEdges()
    keys = matrix.keys
    idx = {k: graph.index(k) for k in keys}
    rx = graph._rx
    for first, second in itertools.combinations(range(len(keys)), 2):
        # Orient each pair so that A is the one more contained in the other.
        if matrix.values[second, first] > matrix.values[first, second]:
            first, second = second, first
        i, j, a, b = first, second, keys[first], keys[second]
        c_ab, c_ba = float(matrix.values[i, j]), float(matrix.values[j, i])
        u, v = idx[a], idx[b]
        if c_ab < min_containment:
            continue
        symmetric = c_ba >= symmetric_ratio * c_ab
        record = {"a": a, "b": b, "containment_a_in_b": round(c_ab, 6), "containment_b_in_a": round(c_ba, 6)}
        connected = v in rx.descendants(graph.graph, u) or u in rx.descendants(graph.graph, v)
        quote = f"{c_ab:.1%} of {a} in {b}, {c_ba:.1%} of {b} in {a} (threshold {matrix.threshold})"
        if connected:
            out.confirmed.append(record)
            if apply:
                for s, t in ((u, v), (v, u)):
                    for _, target, eid in graph.graph.out_edges(s):
                        if target == t and Evidence("measured", quote) not in graph.edge_evidence[eid]:
                            graph.edge_evidence[eid].append(Evidence("measured", quote))
            continue
        older = _older(graph, u, v)
        if symmetric:
            first = older if older is not None else u
            source, target, relation = first, (v if first == u else u), "version"
            basis = "dates" if older is not None else "order given (no dates)"
        elif older == v:
            source, target, relation, basis = v, u, "subset", "dates: the container is older"
        else:
            basis = "dates: the contained is older" if older == u else "containment only (no dates)"
            source, target, relation = u, v, "merge"
        proposal = {
            **record,
            "source": graph.keys[source],
            "target": graph.keys[target],
            "relation": relation,
            "direction": basis,
        }
        out.proposed.append(proposal)
        out.disagreements.append({**proposal, "kind": "undocumented overlap"})
        if apply:
            graph.add_edge(
                source,
                target,
                relation,
                confidence=round(min(1.0, max(c_ab, c_ba)), 6),
                fraction=round(c_ba if target == u else c_ab, 6) if relation == "merge" else None,
                evidence=Evidence("measured", quote + f"; direction from {basis}"),
            )
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            if i == j:
                continue
            for _, target, eid in graph.graph.out_edges(idx[a]):
                if target != idx[b] or TRANSMISSION[graph.edge_relation[eid]] < 0.6:
                    continue
                if "measured" in {e.source_kind for e in graph.edge_evidence[eid]}:
                    continue
                if matrix.values[i, j] < absent_below and matrix.values[j, i] < absent_below:
                    out.disagreements.append(
                        {
                            "a": a,
                            "b": b,
                            "relation": graph.edge_relation[eid],
                            "containment_a_in_b": round(float(matrix.values[i, j]), 6),
                            "containment_b_in_a": round(float(matrix.values[j, i]), 6),
                            "kind": "documented but not measured",
                        }
                    )
    return out


# --------------------------------------------------------- redundancy report
@dataclass
class RedundancyReport:
    """Structural and (when contents are given) empirical redundancy of a set of datasets."""

    keys: list[str]
    structural: np.ndarray
    empirical: np.ndarray | None
    diamonds: list[Diamond]
    disagreements: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "keys": self.keys,
            "structural_shared_roots": np.round(self.structural, 6).tolist(),
            "empirical_containment": None if self.empirical is None else np.round(self.empirical, 6).tolist(),
            "diamonds": [d.to_dict() for d in self.diamonds],
            "disagreements": self.disagreements,
        }


def redundancy_report(
    graph: LineageGraph,
    keys: Sequence[str],
    *,
    contents: Mapping[str, Any] | None = None,
    text_column: str = "text",
    high: float = 0.5,
    low: float = 0.05,
    **containment_options: Any,
) -> RedundancyReport:
    """Shared-roots Jaccard, diamonds and, with ``contents``, measured containment.

    ``contents`` maps a dataset's key to its documents: a list of texts, or
    what :func:`stemmatic.lineage.texts.read_texts` reads (paths, URLs, a
    table-like object; ``text_column`` names the column). The empirical
    matrix holds ``max(c(A in B), c(B in A))``. A pair is a disagreement
    when one view says ``>= high`` and the other ``< low``.
    """
    from stemmatic.lineage.texts import texts_of

    canonical = [graph.keys[graph.index(k)] for k in keys]
    structural = shared_roots_matrix(graph, canonical)
    found_diamonds = diamonds(graph, canonical)
    empirical = None
    disagreements: list[dict[str, Any]] = []
    if contents is not None:
        missing = [k for k, c in zip(keys, canonical, strict=True) if k not in contents and c not in contents]
        if missing:
            raise ParameterError(f"contents lacks the texts of {', '.join(missing)}")
        matrix = containment_matrix(
            {
                c: texts_of(contents[k] if k in contents else contents[c], text_column)
                for k, c in zip(keys, canonical, strict=True)
            },
            **containment_options,
        )
        empirical = np.maximum(matrix.values, matrix.values.T)
        for i, j in itertools.combinations(range(len(canonical)), 2):
            s, e = float(structural[i, j]), float(empirical[i, j])
            if (s >= high and e < low) or (e >= high and s < low):
                disagreements.append(
                    {
                        "a": canonical[i],
                        "b": canonical[j],
                        "shared_roots": round(s, 6),
                        "containment": round(e, 6),
                        "kind": "structure without overlap" if s >= high else "overlap without shared roots",
                    }
                )
    return RedundancyReport(canonical, structural, empirical, found_diamonds, disagreements)
