"""Greedy keep/remove over a similarity graph, vectorized.

Nodes are ranks ``0..m-1`` (0 = highest priority). Edges ``(src, dst, sim)``
with ``src < dst`` join near-duplicates. The rule is the sequential greedy:
walk the ranks in order and keep a node unless an already kept node is joined
to it. So every removed node is joined to a kept one (what ``duplicate_of``
names), and no two kept nodes are joined.

The sequential walk is a Python loop over nodes; instead this decides nodes
in vectorized rounds: a node whose every higher-priority neighbour is removed
is kept, one with a kept higher-priority neighbour is removed. Each round
decides at least the lowest undecided rank, and in practice a few rounds
decide everything (rounds grow only with chains of near-duplicates); after
:data:`MAX_ROUNDS` the rest is walked sequentially.

:func:`best_of` picks each node's most similar edge; it names a removed
node's kept row here and each row's nearest neighbour in SemDeDup's scores.
"""

from __future__ import annotations

import numpy as np

MAX_ROUNDS = 32

_UNDECIDED, _KEPT, _REMOVED = 0, 1, 2


def greedy_resolve(
    m: int, src: np.ndarray, dst: np.ndarray, sim: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(kept bool[m], duplicate_of int64[m], similarity float32[m])``.

    ``duplicate_of[j]`` is the most similar kept node joined to a removed node
    ``j`` (``-1`` for kept nodes), ``similarity[j]`` their similarity (NaN for
    kept nodes).

    >>> kept, dup, s = greedy_resolve(3, np.array([0, 1]), np.array([1, 2]), np.array([0.99, 0.98]))
    >>> kept.tolist(), dup.tolist()
    ([True, False, True], [-1, 0, -1])
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    sim = np.asarray(sim, dtype=np.float32)
    state = np.full(m, _KEPT, dtype=np.int8)
    state[dst] = _UNDECIDED
    for _ in range(MAX_ROUNDS):
        undecided = state == _UNDECIDED
        if not undecided.any():
            break
        to_remove = np.zeros(m, dtype=bool)
        to_remove[dst[(state[src] == _KEPT) & undecided[dst]]] = True
        state[to_remove] = _REMOVED
        blocked = np.zeros(m, dtype=bool)
        blocked[dst[state[src] != _REMOVED]] = True
        state[(state == _UNDECIDED) & ~blocked] = _KEPT
    else:
        _sequential(state, src, dst)
    kept = state == _KEPT
    live = kept[src]
    # Per removed node, its most similar kept source (ties: the higher-priority source).
    similarity, duplicate_of = best_of(dst[live], src[live], sim[live], m)
    return kept, duplicate_of, similarity


def best_of(rows: np.ndarray, nbrs: np.ndarray, sims: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row its most similar neighbour among candidates (ties: the lower neighbour);
    ``(similarity float32 NaN where none, neighbour -1 where none)``."""
    max_similarity = np.full(n, np.nan, dtype=np.float32)
    nearest = np.full(n, -1, dtype=np.int64)
    ok = np.isfinite(sims)
    rows, nbrs, sims = rows[ok], nbrs[ok], sims[ok]
    if len(rows):
        order = np.lexsort((nbrs, -sims, rows))
        rows_sorted = rows[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = rows_sorted[1:] != rows_sorted[:-1]
        pick = order[first]
        max_similarity[rows[pick]] = sims[pick]
        nearest[rows[pick]] = nbrs[pick]
    return max_similarity, nearest


def _sequential(state: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
    order = np.argsort(dst, kind="stable")
    dst_sorted, src_sorted = dst[order], src[order]
    starts = np.searchsorted(dst_sorted, np.arange(len(state)), side="left")
    ends = np.searchsorted(dst_sorted, np.arange(len(state)), side="right")
    for node in np.flatnonzero(state == _UNDECIDED):
        sources = src_sorted[starts[node] : ends[node]]
        state[node] = _REMOVED if (state[sources] == _KEPT).any() else _KEPT
