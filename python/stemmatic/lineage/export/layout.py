"""A layered (Sugiyama-style) layout in which no edge passes through a box it does not touch.

1. *Orientation*: edges that close a cycle are reversed for the layout (and drawn
   back to their real target).
2. *Layering*: longest path from the sources (``early``), or to the sinks
   (``late``: an ancestry's roots sit next to the node they feed, not all at the left).
3. *Dummy nodes*: an edge spanning several layers gets a zero-height dummy in
   each layer it crosses, which takes a slot of that layer like a box does; the
   edge runs horizontally through the layer at its dummy's height, so it never
   goes through a box, and between layers only through the empty gap.
4. *Crossing reduction*: barycentre sweeps down and up the layers, keeping the
   ordering with the fewest crossings (counted exactly, per pair of layers, as
   inversions).
5. *Heights*: each layer's items keep their order and minimum gaps and are
   pulled towards their neighbours in the adjacent layer (least squares under
   the order constraints: isotonic regression, pool-adjacent-violators), in
   alternating sweeps, so that edges run as straight as the order allows.

>>> lay = layered(4, [(0, 1), (1, 2), (0, 2), (2, 3)], heights=[26, 26, 26, 26])
>>> lay.layer, len(lay.routes[2])  # 0 -> 2 skips layer 1: one dummy, so entry and exit points
([0, 1, 2, 3], 4)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Layered", "assign_layers", "crossings", "layered"]


@dataclass(frozen=True)
class Layered:
    """Where everything goes: a box's layer and centre height, and each edge's route.

    ``routes[e]`` lists the points of edge ``e`` as ``(layer, side, y)``, side
    ``left`` or ``right`` of the layer's column: the first on the source box, then
    where it enters and leaves each layer it crosses (at its dummy's height), the
    last on the target box. A reversed edge's route still runs from its real
    source (leaving by the left side) to its real target (entered from the right).
    """

    layer: list[int]
    y: list[float]
    routes: list[list[tuple[int, str, float]]]
    reversed: list[bool]
    layers: int
    crossings: int


def _orient(n: int, edges: Sequence[tuple[int, int]]) -> list[bool]:
    """For each edge, whether the layout reverses it (it closes a cycle); a greedy Kahn order."""
    indeg = [0] * n
    out: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        if u != v:
            indeg[v] += 1
            out[u].append(v)
    position = [-1] * n
    remaining = set(range(n))
    ready = sorted(i for i in range(n) if indeg[i] == 0)
    order = 0
    while remaining:
        if not ready:  # a cycle: start from the remaining node with the fewest open in-edges
            ready = [min(remaining, key=lambda i: (indeg[i], i))]
        node = ready.pop(0)
        if node not in remaining:
            continue
        remaining.discard(node)
        position[node] = order
        order += 1
        for child in out[node]:
            indeg[child] -= 1
            if indeg[child] == 0 and child in remaining:
                ready.append(child)
    return [position[u] > position[v] for u, v in edges]


def crossings(upper: Sequence[int], lower: Sequence[int]) -> int:
    """Crossings among segments ``upper[i] -> lower[i]`` between two ordered layers (inversions)."""
    pairs = sorted(zip(upper, lower, strict=True))
    size = max(lower, default=0) + 2
    tree = [0] * (size + 1)
    count = 0
    for seen, (_, b) in enumerate(pairs):
        # segments seen so far that end strictly below b cross this one
        i, at_most = b + 1, 0
        while i > 0:
            at_most += tree[i]
            i -= i & -i
        count += seen - at_most
        i = b + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


def _isotonic(target: list[float], weight: list[float]) -> list[float]:
    """The non-decreasing sequence nearest ``target`` in weighted least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [value, weight, length]
    for t, w in zip(target, weight, strict=True):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    out: list[float] = []
    for value, _, length in blocks:
        out.extend([value] * int(length))
    return out


def layered(
    n: int,
    edges: Sequence[tuple[int, int]],
    *,
    heights: Sequence[float],
    align: str = "early",
    gap: float = 12.0,
    dummy_gap: float = 7.0,
    sweeps: int = 12,
) -> Layered:
    """Lay out ``n`` boxes (``heights[i]`` tall) and ``edges`` between them in layers.

    Args:
        n: number of boxes.
        edges: ``(source, target)`` pairs (self-loops are not routed).
        heights: each box's height.
        align: ``early`` (layer = longest path from a source) or ``late`` (from the sinks).
        gap: the least space between two boxes of a layer.
        dummy_gap: the least space between an edge passing through a layer and anything else.
        sweeps: barycentre sweeps of crossing reduction (each down and up).
    """
    layer, flip = assign_layers(n, edges, align=align)
    oriented = [(v, u) if f else (u, v) for (u, v), f in zip(edges, flip, strict=True)]
    layers = max(layer, default=0) + 1
    return _ordered(n, edges, oriented, flip, layer, layers, heights, gap, dummy_gap, sweeps)


def assign_layers(
    n: int, edges: Sequence[tuple[int, int]], *, align: str = "early"
) -> tuple[list[int], list[bool]]:
    """Each box's layer and whether each edge is reversed for the layout (see :func:`layered`)."""
    flip = _orient(n, edges)
    oriented = [(v, u) if f else (u, v) for (u, v), f in zip(edges, flip, strict=True)]
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    for u, v in oriented:
        if u != v:
            succ[u].append(v)
            pred[v].append(u)
    # topological order of the oriented (acyclic) graph
    indeg = [len(p) for p in pred]
    order = [i for i in range(n) if indeg[i] == 0]
    for node in order:
        for child in succ[node]:
            indeg[child] -= 1
            if indeg[child] == 0:
                order.append(child)
    layer = [0] * n
    if align == "late":
        height_to_sink = [0] * n
        for node in reversed(order):
            height_to_sink[node] = max((height_to_sink[c] + 1 for c in succ[node]), default=0)
        top = max(height_to_sink, default=0)
        layer = [top - h for h in height_to_sink]
    else:
        for node in order:
            for child in succ[node]:
                layer[child] = max(layer[child], layer[node] + 1)
    return layer, flip


def _ordered(
    n: int,
    edges: Sequence[tuple[int, int]],
    oriented: list[tuple[int, int]],
    flip: list[bool],
    layer: list[int],
    layers: int,
    heights: Sequence[float],
    gap: float,
    dummy_gap: float,
    sweeps: int,
) -> Layered:
    # items: boxes 0..n-1, then dummies; chains[e] = items of edge e from oriented source to target
    item_layer = list(layer)
    item_height = [float(h) for h in heights]
    chains: list[list[int]] = []
    for u, v in oriented:
        chain = [u]
        for level in range(layer[u] + 1, layer[v]):
            item_layer.append(level)
            item_height.append(0.0)
            chain.append(len(item_layer) - 1)
        chain.append(v)
        chains.append(chain)
    items = len(item_layer)
    up: list[list[int]] = [[] for _ in range(items)]
    down: list[list[int]] = [[] for _ in range(items)]
    for (u, v), chain in zip(oriented, chains, strict=True):
        if u == v:
            continue
        for a, b in itertools.pairwise(chain):
            down[a].append(b)
            up[b].append(a)

    rows: list[list[int]] = [[] for _ in range(layers)]
    for item in range(items):
        rows[item_layer[item]].append(item)
    position = [0.0] * items

    def renumber() -> None:
        for row in rows:
            for i, item in enumerate(row):
                position[item] = float(i)

    def total_crossings() -> int:
        count = 0
        for level in range(layers - 1):
            upper, lower = [], []
            for item in rows[level]:
                for child in down[item]:
                    upper.append(int(position[item]))
                    lower.append(int(position[child]))
            count += crossings(upper, lower)
        return count

    renumber()
    best = [list(row) for row in rows]
    best_count = total_crossings()
    for sweep in range(sweeps):
        levels = range(1, layers) if sweep % 2 == 0 else range(layers - 2, -1, -1)
        for level in levels:
            near = up if sweep % 2 == 0 else down
            row = rows[level]

            def barycentre(item: int, near: list[list[int]] = near) -> tuple[float, float]:
                ns = near[item]
                return (sum(position[x] for x in ns) / len(ns) if ns else position[item], position[item])

            row.sort(key=barycentre)
            for i, item in enumerate(row):
                position[item] = float(i)
        count = total_crossings()
        if count < best_count:
            best, best_count = [list(row) for row in rows], count
        if best_count == 0:
            break
    rows = best
    renumber()

    # heights: centre y of every item, order and gaps kept
    def separation(a: int, b: int) -> float:
        space = gap if item_height[a] and item_height[b] else dummy_gap
        return (item_height[a] + item_height[b]) / 2 + space

    y = [0.0] * items
    for row in rows:
        at = 0.0
        for i, item in enumerate(row):
            if i:
                at += separation(row[i - 1], item)
            y[item] = at
    for sweep in range(8):
        levels = range(1, layers) if sweep % 2 == 0 else range(layers - 2, -1, -1)
        near = up if sweep % 2 == 0 else down
        for level in levels:
            row = rows[level]
            if not row:
                continue
            offsets = [0.0]
            for i in range(1, len(row)):
                offsets.append(offsets[-1] + separation(row[i - 1], row[i]))
            target = []
            weight = []
            for item, offset in zip(row, offsets, strict=True):
                ns = near[item]
                wanted = sum(y[x] for x in ns) / len(ns) if ns else y[item]
                target.append(wanted - offset)
                weight.append(2.0 if not item_height[item] else 1.0 if ns else 0.25)
            for item, value, offset in zip(row, _isotonic(target, weight), offsets, strict=True):
                y[item] = value + offset
    lowest = min((y[i] - item_height[i] / 2 for i in range(items)), default=0.0)
    y = [value - lowest for value in y]

    routes: list[list[tuple[int, str, float]]] = []
    for (u, v), chain, f in zip(edges, chains, flip, strict=True):
        if u == v:
            routes.append([])
            continue
        points: list[tuple[int, str, float]] = [(layer[chain[0]], "right", y[chain[0]])]
        for dummy in chain[1:-1]:
            points.append((item_layer[dummy], "left", y[dummy]))
            points.append((item_layer[dummy], "right", y[dummy]))
        points.append((layer[chain[-1]], "left", y[chain[-1]]))
        routes.append(points[::-1] if f else points)
    return Layered(layer, y[:n], routes, flip, layers, best_count)
