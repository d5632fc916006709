"""Pairs of rows within a cosine similarity, found across k-means cluster boundaries.

One module of about 650 lines, on purpose: the partition, the boundary
visits, the blocked scan and the canonical merge share the invariants stated
below (which rows a cluster holds, which visits the margin allows, float64
decisions); split apart, each piece would restate them.

Comparing every pair of ``n`` rows costs ``n^2 d``. SemDeDup (Abbas et al.,
2023, arXiv:2303.09540) compares rows only within their k-means cluster
(about ``n * 1000 * d`` with clusters of 1,000 rows), and so misses
near-duplicates that k-means puts on two sides of a boundary: on 20,000
random vectors with 500 planted copies it missed 21. This module keeps the
clusters' cost and finds those pairs too (*boundary probing*): a row is also
compared with the members of each other cluster whose centroid is nearly as
similar to it as its own.

Why that finds them. Let ``x`` lie in cluster ``a`` and ``y`` in cluster
``b``, with ``cos(x, y) > t``, so ``||x - y|| < r = sqrt(2 - 2t)``. The gaps
``g_x = <x, c_a> - <x, c_b>`` and ``g_y = <y, c_b> - <y, c_a>`` are both
``>= 0`` (each row is in its most similar cluster) and sum to
``<x - y, c_a - c_b> <= r ||c_a - c_b||``, so one of them is at most
``r ||c_a - c_b|| / 2``. Each row therefore visits every other cluster whose
*normalized gap* ``g / (||c_a - c_b|| / 2)`` is at most ``boundary * r``:

* ``boundary=1`` misses no pair at all (up to float rounding, which a small
  slack covers), but on high-dimensional data most rows then visit many
  clusters;
* the bound is reached only when ``x - y`` points from ``c_a`` straight to
  ``c_b``; a displacement in a random direction of ``d`` dimensions projects
  to about ``1/sqrt(d)`` of it, so a fraction of the bound
  (:data:`DEFAULT_BOUNDARY`) finds all but a few pairs in 10,000 at a
  fraction of the cost, measured in ``benches/results/diversity.md``.

Visits are capped at ``max_probes`` clusters per row (smallest gap first).
Every similarity that decides a pair is recomputed in float64 from the
float32 unit vectors, pairs come back sorted, and clusters run on a thread
pool whose results are merged in cluster order: the answer is the same for
any number of workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stemmatic.diversity._vectors import as_unit_vectors, check_seed
from stemmatic.exceptions import ParameterError

__all__ = [
    "DEFAULT_BOUNDARY",
    "DEFAULT_MAX_PROBES",
    "EXACT_MAX_PAIRS",
    "NeighborPairs",
    "neighbors_within",
]

#: ``progress(stage, done, total)``
Progress = Callable[[str, int, int], None]

#: Fraction of the guaranteed margin ``r ||c_a - c_b|| / 2`` within which a
#: row also visits another cluster (1 = no pair can be missed).
DEFAULT_BOUNDARY = 0.35
#: At most this many other clusters visited per row.
DEFAULT_MAX_PROBES = 4
#: Up to this many candidate pairs (``n_queries * n_base``), search every pair exactly.
EXACT_MAX_PAIRS = 25_000_000
#: Elements of one block of similarities (float32): 64 MiB.
_BLOCK_ELEMENTS = 1 << 24
#: Similarities within this of the threshold (float32 products) are recomputed in float64.
_ROUNDING = 1e-4
#: Normalized gaps within this of the margin still visit (rounding of the gaps).
_GAP_SLACK = 1e-5


@dataclass(frozen=True)
class NeighborPairs:
    """Pairs of rows whose cosine similarity exceeds ``min_similarity``.

    Attributes:
        query: row of ``queries`` (with ``queries=None``: the lower row of ``vectors``).
        base: row of ``vectors`` (with ``queries=None``: the higher row, ``query < base``).
        similarity: their cosine similarity (float64 products of the float32 unit vectors).
        cross_cluster: True where the two rows are in different k-means
            clusters (found only by boundary probing); all False for the exact search.
        info: how they were found (``method``, ``n_clusters``, ``visits_per_row``, ...).

    Pairs are sorted by ``(query, base)``.
    """

    query: np.ndarray
    base: np.ndarray
    similarity: np.ndarray
    cross_cluster: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.query)


def guaranteed_radius(min_similarity: float) -> float:
    """Largest Euclidean distance of two unit vectors more similar than ``min_similarity``.

    >>> round(guaranteed_radius(0.98), 4)
    0.2
    """
    return math.sqrt(max(0.0, 2.0 - 2.0 * min_similarity))


def resolve_threads(workers: int | None) -> int:
    """Threads for a pool: ``None``/0 = ``STEMMATIC_NUM_THREADS`` or all CPUs."""
    from stemmatic.contamination._build import check_workers

    check_workers(workers)
    from stemmatic import _core

    return max(1, int(_core.resolve_workers(workers or None)))


def check_boundary(boundary: float, max_probes: int) -> None:
    if not 0.0 <= boundary <= 1.0:
        raise ParameterError(
            f"invalid parameter `boundary`: {boundary}; must be in [0, 1] (1 = every pair guaranteed)"
        )
    if not 0 <= max_probes <= 1024:
        raise ParameterError(f"invalid parameter `max_probes`: {max_probes}; must be in [0, 1024]")


# ---------------------------------------------------------------- partitions


@dataclass(frozen=True)
class Partition:
    """Rows of one side by cluster, and the other clusters each row visits.

    ``visit_row``/``visit_cluster``/``visit_gap`` are sorted by ``(row, cluster)``;
    ``visit_gap`` is the normalized gap ``g / (||c_own - c_other|| / 2)``.
    """

    labels: np.ndarray
    visit_row: np.ndarray
    visit_cluster: np.ndarray
    visit_gap: np.ndarray
    members_order: np.ndarray  # rows sorted by (cluster, row)
    members_start: np.ndarray  # (k + 1,) offsets into members_order
    visitors_order: np.ndarray  # visit indices sorted by (cluster, row)
    visitors_start: np.ndarray  # (k + 1,) offsets into visitors_order

    def members(self, cluster: int) -> np.ndarray:
        return self.members_order[self.members_start[cluster] : self.members_start[cluster + 1]]

    def visitors(self, cluster: int) -> tuple[np.ndarray, np.ndarray]:
        picked = self.visitors_order[self.visitors_start[cluster] : self.visitors_start[cluster + 1]]
        return self.visit_row[picked], self.visit_gap[picked]

    visit_keys: np.ndarray  # visit_row * k + visit_cluster, sorted (for gap_of)

    def gap_of(self, rows: np.ndarray, clusters: np.ndarray, k: int) -> np.ndarray:
        """Normalized gap of ``rows`` to ``clusters`` (inf where the row does not visit it)."""
        keys = self.visit_keys
        want = rows.astype(np.int64) * k + clusters
        at = np.searchsorted(keys, want)
        found = at < len(keys)
        found[found] = keys[at[found]] == want[found]
        out = np.full(len(rows), np.inf)
        out[found] = self.visit_gap[at[found]]
        return out


def partition(
    x: np.ndarray,
    centroids: np.ndarray,
    labels: np.ndarray | None,
    *,
    max_gap: float,
    max_probes: int,
    gpu: bool | None = None,
    chunk_rows: int = 4096,
) -> Partition:
    """Assign rows to clusters (unless ``labels`` are given) and find their visits.

    A row visits another cluster when its normalized gap to it is at most
    ``max_gap`` (the ``max_probes`` smallest such gaps). One blocked matrix
    product with the centroids; since ``||c_a - c_b|| / 2 <= 1``, only
    clusters within ``max_gap`` in plain similarity can qualify.
    """
    del gpu  # a product with k centroids is cheap next to k-means itself
    k = len(centroids)
    n = len(x)
    c32 = np.ascontiguousarray(centroids, dtype=np.float32)
    gram = c32 @ c32.T if k <= 4096 else None
    given = labels is not None
    out_labels = np.asarray(labels, dtype=np.int64) if given else np.empty(n, dtype=np.int64)
    rows_parts: list[np.ndarray] = []
    clusters_parts: list[np.ndarray] = []
    gaps_parts: list[np.ndarray] = []
    probing = max_gap > 0 and max_probes > 0 and k > 1
    if probing or not given:
        for start in range(0, n, chunk_rows):
            sims = x[start : start + chunk_rows] @ c32.T
            local = np.arange(len(sims))
            if not given:
                out_labels[start : start + len(sims)] = sims.argmax(axis=1)
            if not probing:
                continue
            own = out_labels[start : start + len(sims)]
            own_sim = sims[local, own]
            r, c = np.nonzero(sims >= (own_sim - np.float32(max_gap + _GAP_SLACK))[:, None])
            other = c != own[r]
            r, c = r[other], c[other]
            if gram is not None:
                centroid_cos = gram[own[r], c].astype(np.float64)
            else:
                centroid_cos = np.einsum("nd,nd->n", c32[own[r]], c32[c], dtype=np.float64)
            half = np.sqrt(np.maximum(2.0 - 2.0 * centroid_cos, 0.0)) / 2.0
            gap = np.maximum(own_sim[r].astype(np.float64) - sims[r, c], 0.0) / np.maximum(half, 1e-12)
            ok = gap <= max_gap + _GAP_SLACK
            rows_parts.append(start + r[ok])
            clusters_parts.append(c[ok].astype(np.int64))
            gaps_parts.append(gap[ok])
    labels = out_labels
    if rows_parts:
        visit_row = np.concatenate(rows_parts)
        visit_cluster = np.concatenate(clusters_parts)
        visit_gap = np.concatenate(gaps_parts)
        # Closest ``max_probes`` visits per row: (row, gap, cluster) order, then the first ones.
        order = np.lexsort((visit_cluster, visit_gap, visit_row))
        visit_row, visit_cluster, visit_gap = visit_row[order], visit_cluster[order], visit_gap[order]
        first = np.searchsorted(visit_row, visit_row, side="left")
        keep = np.arange(len(visit_row)) - first < max_probes
        visit_row, visit_cluster, visit_gap = visit_row[keep], visit_cluster[keep], visit_gap[keep]
        order = np.lexsort((visit_cluster, visit_row))
        visit_row, visit_cluster, visit_gap = visit_row[order], visit_cluster[order], visit_gap[order]
    else:
        visit_row = np.empty(0, np.int64)
        visit_cluster = np.empty(0, np.int64)
        visit_gap = np.empty(0, np.float64)
    members_order = np.lexsort((np.arange(n), labels))
    members_start = np.searchsorted(labels[members_order], np.arange(k + 1), side="left")
    visitors_order = np.lexsort((visit_row, visit_cluster))
    visitors_start = np.searchsorted(visit_cluster[visitors_order], np.arange(k + 1), side="left")
    return Partition(
        labels,
        visit_row,
        visit_cluster,
        visit_gap,
        members_order,
        members_start,
        visitors_order,
        visitors_start,
        visit_row * k + visit_cluster,
    )


# ---------------------------------------------------------------- blocks


@dataclass
class Block:
    """Similarities of query rows ``q`` to base rows ``b``, a row block of one cluster's work.

    ``q_gap``/``b_gap`` are each row's normalized gap to ``cluster`` (0 for its members).
    """

    cluster: int
    q: np.ndarray
    b: np.ndarray
    sims: np.ndarray
    q_gap: np.ndarray
    b_gap: np.ndarray


def cluster_blocks(
    x_q: np.ndarray,
    x_b: np.ndarray,
    part_q: Partition,
    part_b: Partition,
    cluster: int,
    self_join: bool,
) -> Iterator[Block]:
    """One cluster's blocks: (members + visitors) x members, and with two sides members x base visitors."""
    bm = part_b.members(cluster)
    qm = part_q.members(cluster)
    qv, qv_gap = part_q.visitors(cluster)
    if len(bm):
        q_rows = np.concatenate((qm, qv))
        q_gap = np.concatenate((np.zeros(len(qm)), qv_gap))
        yield from _blocks(cluster, x_q, x_b, q_rows, q_gap, bm, np.zeros(len(bm)))
    if not self_join and len(qm):
        bv, bv_gap = part_b.visitors(cluster)
        if len(bv):
            yield from _blocks(cluster, x_q, x_b, qm, np.zeros(len(qm)), bv, bv_gap)


def _blocks(
    cluster: int,
    x_q: np.ndarray,
    x_b: np.ndarray,
    q: np.ndarray,
    q_gap: np.ndarray,
    b: np.ndarray,
    b_gap: np.ndarray,
) -> Iterator[Block]:
    base = x_b[b]
    step = max(1, min(len(q), _BLOCK_ELEMENTS // max(1, len(b))))
    for start in range(0, len(q), step):
        rows = q[start : start + step]
        yield Block(cluster, rows, b, x_q[rows] @ base.T, q_gap[start : start + step], b_gap)


def candidate_pairs(
    block: Block, threshold: float, *, self_join: bool, part_q: Partition, part_b: Partition, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(q, b, sim32, gap)`` of the block above ``threshold`` (float32), each pair once.

    A pair of rows in different clusters can be found twice, once by each
    row's visit; it is kept from the discovery with the smaller gap (ties: the
    lower row's visit, or with two sides the query's), and ``gap`` is that one.
    """
    r, c = np.nonzero(block.sims > threshold)
    q, b = block.q[r], block.b[c]
    q_label, b_label = part_q.labels[q], part_b.labels[b]
    if self_join:
        keep = (q != b) & ((q_label != b_label) | (q < b))  # two members: once, from the lower row
        r, c, q, b, q_label, b_label = r[keep], c[keep], q[keep], b[keep], q_label[keep], b_label[keep]
    gap = np.maximum(block.q_gap[r], block.b_gap[c])
    cross = np.flatnonzero(q_label != b_label)
    if len(cross):
        q_visits = q_label[cross] != block.cluster
        # The other discovery: the base row visiting the query's cluster, or the query row
        # visiting the base row's cluster.
        other = np.where(
            q_visits,
            part_b.gap_of(b[cross], q_label[cross], k),
            part_q.gap_of(q[cross], b_label[cross], k),
        )
        mine = gap[cross]
        if self_join:
            me = np.where(q_visits, q[cross], b[cross])
            them = np.where(q_visits, b[cross], q[cross])
            lose_tie = them < me
        else:
            lose_tie = ~q_visits
        drop = (other < mine) | ((other == mine) & lose_tie)
        keep = np.ones(len(q), dtype=bool)
        keep[cross[drop]] = False
        r, c, q, b, gap = r[keep], c[keep], q[keep], b[keep], gap[keep]
    return q, b, block.sims[r, c], gap


def exact_similarity(x_q: np.ndarray, x_b: np.ndarray, q: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarities of row pairs, float64 products of the float32 vectors (canonical)."""
    out = np.empty(len(q), dtype=np.float64)
    step = 65_536
    for start in range(0, len(q), step):
        qs, bs = q[start : start + step], b[start : start + step]
        out[start : start + step] = np.einsum(
            "nd,nd->n", x_q[qs].astype(np.float64), x_b[bs].astype(np.float64)
        )
    return out


def map_clusters(
    work: Callable[[int], Any], k: int, workers: int, progress: Progress | None, stage: str
) -> list[Any]:
    """``work(cluster)`` for every cluster on ``workers`` threads; results in cluster order."""
    results: list[Any] = []
    if workers <= 1 or k <= 1:
        for cluster in range(k):
            results.append(work(cluster))
            if progress is not None:
                progress(stage, cluster + 1, k)
        return results
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, result in enumerate(pool.map(work, range(k))):
            results.append(result)
            if progress is not None:
                progress(stage, done + 1, k)
    return results


@dataclass(frozen=True)
class Scan:
    """One pass over the clusters: pairs above ``collect``, per-row best, and per-grid counts."""

    q: np.ndarray
    b: np.ndarray
    gap: np.ndarray
    best_rows: np.ndarray
    best_nbrs: np.ndarray
    best_sims: np.ndarray
    grid: list[dict[str, Any]]


def scan(
    x_q: np.ndarray,
    x_b: np.ndarray,
    part_q: Partition,
    part_b: Partition,
    k: int,
    *,
    self_join: bool,
    collect: float | None,
    best: bool = False,
    grid: tuple[tuple[float, float], ...] = (),
    workers: int = 1,
    progress: Progress | None = None,
) -> Scan:
    """Compare every cluster's rows with its members and visitors.

    Args:
        collect: keep candidate pairs with float32 similarity above this (None: none).
        best: record each row's most similar compared row.
        grid: ``(threshold, max_gap)`` entries: count pairs above ``threshold``
            found within ``max_gap`` (and those across clusters), and the rows in them.
    """
    floor = min([t for t, _ in grid] + ([collect - _ROUNDING] if collect is not None else []), default=None)

    def work(cluster: int) -> tuple[Any, ...]:
        qs: list[np.ndarray] = []
        bs: list[np.ndarray] = []
        gs: list[np.ndarray] = []
        br: list[np.ndarray] = []
        bn: list[np.ndarray] = []
        bv: list[np.ndarray] = []
        counts: list[list[Any]] = [[0, 0, []] for _ in grid]
        for block in cluster_blocks(x_q, x_b, part_q, part_b, cluster, self_join):
            if best:
                sims = block.sims
                if self_join:  # a row is not its own neighbour (b is sorted)
                    at = np.minimum(np.searchsorted(block.b, block.q), len(block.b) - 1)
                    own = np.flatnonzero(block.b[at] == block.q)
                    sims[own, at[own]] = -np.inf
                arg = sims.argmax(axis=1)
                br.append(block.q)
                bn.append(block.b[arg])
                bv.append(sims[np.arange(len(arg)), arg])
                if self_join:
                    visitors = np.flatnonzero(part_q.labels[block.q] != cluster)
                    if len(visitors):
                        col = sims[visitors].argmax(axis=0)
                        br.append(block.b)
                        bn.append(block.q[visitors[col]])
                        bv.append(sims[visitors[col], np.arange(len(block.b))])
            if floor is None:
                continue
            q, b, s, g = candidate_pairs(block, floor, self_join=self_join, part_q=part_q, part_b=part_b, k=k)
            if collect is not None:
                ok = s > collect - _ROUNDING
                qs.append(q[ok])
                bs.append(b[ok])
                gs.append(g[ok])
            for entry, (threshold, max_gap) in zip(counts, grid, strict=True):
                ok = (s > threshold) & (g <= max_gap + _GAP_SLACK)
                entry[0] += int(np.count_nonzero(ok))
                entry[1] += int(np.count_nonzero(ok & (part_q.labels[q] != part_b.labels[b])))
                entry[2].append(np.concatenate((q[ok], b[ok])))
        return qs, bs, gs, br, bn, bv, counts

    results = map_clusters(work, k, workers, progress, "pairs")

    def cat(i: int, dtype: Any) -> np.ndarray:
        parts = [a for r in results for a in r[i]]
        return np.concatenate(parts) if parts else np.empty(0, dtype)

    grid_out: list[dict[str, Any]] = []
    for g, (threshold, max_gap) in enumerate(grid):
        rows = [a for r in results for a in r[6][g][2]]
        marked = np.unique(np.concatenate(rows)) if rows else np.empty(0, np.int64)
        grid_out.append(
            {
                "threshold": threshold,
                "max_gap": max_gap,
                "pairs": sum(r[6][g][0] for r in results),
                "cross_cluster_pairs": sum(r[6][g][1] for r in results),
                "rows": marked,
            }
        )
    return Scan(
        cat(0, np.int64),
        cat(1, np.int64),
        cat(2, np.float64),
        cat(3, np.int64),
        cat(4, np.int64),
        cat(5, np.float32),
        grid_out,
    )


# ---------------------------------------------------------------- public


def finish_pairs(
    x_q: np.ndarray,
    x_b: np.ndarray,
    q: np.ndarray,
    b: np.ndarray,
    threshold: float,
    cross: np.ndarray,
    info: dict[str, Any],
) -> NeighborPairs:
    """Canonical pairs: float64 similarities above ``threshold``, unique, sorted by (query, base)."""
    if len(q):
        order = np.lexsort((b, q))
        q, b, cross = q[order], b[order], cross[order]
        first = np.ones(len(q), dtype=bool)
        first[1:] = (q[1:] != q[:-1]) | (b[1:] != b[:-1])
        q, b, cross = q[first], b[first], cross[first]
        sims = exact_similarity(x_q, x_b, q, b)
        ok = sims > threshold
        q, b, sims, cross = q[ok], b[ok], sims[ok], cross[ok]
    else:
        sims = np.empty(0, np.float64)
    info["pairs"] = len(q)
    info["cross_cluster_pairs"] = int(np.count_nonzero(cross))
    return NeighborPairs(q.astype(np.int64), b.astype(np.int64), sims, cross.astype(bool), info)


def exact_pairs(x_q: np.ndarray, x_b: np.ndarray, threshold: float, self_join: bool) -> NeighborPairs:
    """Every pair above ``threshold``, compared in row blocks."""
    q_parts: list[np.ndarray] = [np.empty(0, np.int64)]
    b_parts: list[np.ndarray] = [np.empty(0, np.int64)]
    step = max(1, _BLOCK_ELEMENTS // len(x_b))
    for start in range(0, len(x_q), step):
        sims = x_q[start : start + step] @ x_b.T
        r, c = np.nonzero(sims > threshold - _ROUNDING)
        r = r + start
        if self_join:
            keep = r < c
            r, c = r[keep], c[keep]
        q_parts.append(r)
        b_parts.append(c)
    q = np.concatenate(q_parts).astype(np.int64)
    b = np.concatenate(b_parts).astype(np.int64)
    return finish_pairs(x_q, x_b, q, b, threshold, np.zeros(len(q), bool), {"method": "exact"})


def neighbors_within(
    vectors: Any,
    queries: Any = None,
    *,
    min_similarity: float,
    n_clusters: int | None = None,
    centroids: np.ndarray | None = None,
    boundary: float = DEFAULT_BOUNDARY,
    max_probes: int = DEFAULT_MAX_PROBES,
    exact: bool | None = None,
    niter: int = 20,
    seed: int = 0,
    workers: int | None = None,
    gpu: bool | None = None,
    progress: Progress | None = None,
) -> NeighborPairs:
    """All pairs of rows with cosine similarity above ``min_similarity``.

    With ``queries=None``, pairs of rows of ``vectors`` (``query < base``);
    otherwise each query row against each row of ``vectors``. Small inputs
    (``n_queries * n_base <= EXACT_MAX_PAIRS``, or ``exact=True``) compare
    every pair, unless ``n_clusters`` or ``centroids`` is given. Larger ones are clustered by spherical k-means on ``vectors``
    (``n_clusters``, default about 1,000 rows per cluster; or ``centroids``)
    and compared within clusters and across boundaries (see the module text):
    ``boundary`` is the fraction of the guaranteed margin a row visits
    (``1.0`` misses no pair) and ``max_probes`` caps the clusters it visits.

    The result is the same for any ``workers`` (threads; ``None``/0:
    ``STEMMATIC_NUM_THREADS`` or all CPUs).

    Args:
        vectors: (n, d) embeddings (any norm; normalized here).
        queries: optional (m, d) embeddings searched against ``vectors``.
        min_similarity: pairs with cosine similarity strictly above this, in [-1, 1).
        n_clusters: k-means clusters of ``vectors``.
        centroids: use these (k, d) centroids instead of k-means.
        boundary: in [0, 1]; 0 compares within clusters only (SemDeDup).
        max_probes: other clusters visited per row at most.
        exact: True compares every pair; False always clusters; None chooses by size
            (and clusters when ``n_clusters`` or ``centroids`` is given).
        niter: k-means iterations.
        seed: k-means seed.
        workers: threads.
        gpu: ``None`` uses FAISS GPUs when present (k-means, centroid search).
        progress: called as ``progress(stage, done, total)``.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 32))
    >>> x[1500] = x[3] + 0.01 * rng.normal(size=32)
    >>> found = neighbors_within(x, min_similarity=0.99, n_clusters=20, exact=False)
    >>> list(zip(found.query.tolist(), found.base.tolist()))
    [(3, 1500)]
    """
    if not -1.0 <= min_similarity < 1.0:
        raise ParameterError(f"invalid parameter `min_similarity`: {min_similarity}; must be in [-1, 1)")
    check_boundary(boundary, max_probes)
    check_seed(seed)
    threads = resolve_threads(workers)
    x_b = as_unit_vectors(vectors)
    self_join = queries is None
    x_q = x_b if self_join else as_unit_vectors(queries, name="queries", dim=x_b.shape[1])
    if exact is None:  # explicit clusters ask for the clustered search
        small = len(x_q) * len(x_b) <= EXACT_MAX_PAIRS
        exact = small and n_clusters is None and centroids is None
    use_exact = exact
    if use_exact and centroids is None:
        return exact_pairs(x_q, x_b, min_similarity, self_join)
    from stemmatic.diversity.index import spherical_kmeans
    from stemmatic.diversity.semdedup import default_num_clusters

    if centroids is not None:
        c = as_unit_vectors(centroids, name="centroids", dim=x_b.shape[1])
        labels_b = None
    else:
        k = default_num_clusters(len(x_b)) if n_clusters is None else n_clusters
        if progress is not None:
            progress("kmeans", 0, 1)
        km = spherical_kmeans(x_b, k, niter=niter, seed=seed, gpu=gpu, normalized=True)
        c, labels_b = km.centroids, km.labels
        if progress is not None:
            progress("kmeans", 1, 1)
    max_gap = boundary * guaranteed_radius(min_similarity)
    part_b = partition(x_b, c, labels_b, max_gap=max_gap, max_probes=max_probes, gpu=gpu)
    part_q = part_b if self_join else partition(x_q, c, None, max_gap=max_gap, max_probes=max_probes, gpu=gpu)
    k = len(c)
    found = scan(
        x_q,
        x_b,
        part_q,
        part_b,
        k,
        self_join=self_join,
        collect=min_similarity,
        workers=threads,
        progress=progress,
    )
    q, b = found.q, found.b
    if self_join:
        q, b = np.minimum(q, b), np.maximum(q, b)
    n_rows = len(x_q) + (0 if self_join else len(x_b))
    visits = len(part_q.visit_row) + (0 if self_join else len(part_b.visit_row))
    info = {
        "method": "clusters",
        "n_clusters": k,
        "boundary": boundary,
        "max_probes": max_probes,
        "visits_per_row": round(visits / n_rows, 4),
    }
    cross = part_q.labels[q] != part_b.labels[b]
    return finish_pairs(x_q, x_b, q, b, min_similarity, cross, info)
