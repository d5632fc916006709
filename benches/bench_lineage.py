"""Lineage graph operations at 1e5 and 1e6 nodes: stemmatic (rustworkx + columnar) vs networkx.

The graph is generated: a share of nodes are roots, every other node gets 1-3
parents among earlier nodes (half of them among the previous 1,000, so chains
get deep), relations drawn from the vocabulary. Measured per size:

* build — the bulk path (``add_nodes_bulk`` / ``add_edges_bulk``) and, at the
  smallest size, the general ``add_edge`` path (key lookups, evidence merge);
* impact — everything downstream of the 10 roots with most children;
* ancestry — ancestors of 100 random leaves;
* propagation — contamination from 10 benchmark seeds (max-product Dijkstra);
* depths + hygiene — longest-path depths and strongly-connected components.

networkx runs the same operations in the same process (``nx.descendants``,
``nx.ancestors``, ``nx.multi_source_dijkstra`` on ``-log(transmission)``) as
the peer. Writes ``benches/results/lineage.md``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import subprocess
import time
from pathlib import Path

import numpy as np

from _common import write_results
from stemmatic.lineage import LineageGraph, depths, hygiene_report, impact, propagate_contamination
from stemmatic.lineage.relations import RELATIONS, TRANSMISSION

DATASET_RELATIONS = [r for r in RELATIONS if r not in ("trained_on", "finetune", "adapter", "quantized")]


def generate(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    roots = max(10, n // 20)
    parents_per_node = rng.integers(1, 4, size=n)
    parents_per_node[:roots] = 0
    child = np.repeat(np.arange(n), parents_per_node)
    near = rng.random(child.size) < 0.5
    span = np.where(near, np.minimum(child, 1000), child)
    parent = child - 1 - (rng.random(child.size) * np.maximum(span, 1)).astype(np.int64)
    parent = np.clip(parent, 0, None)
    keep = parent < child
    child, parent = child[keep], parent[keep]
    pairs = np.unique(np.stack([parent, child], axis=1), axis=0)
    relation = rng.integers(0, len(DATASET_RELATIONS), size=len(pairs))
    keys = [f"org{i % 997}/dataset-{i}" for i in range(n)]
    return keys, pairs[:, 0], pairs[:, 1], relation


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def build_bulk(keys, src, dst, rel) -> LineageGraph:
    graph = LineageGraph()
    graph.add_nodes_bulk(keys)
    for r in np.unique(rel):
        mask = rel == r
        graph.add_edges_bulk(src[mask].tolist(), dst[mask].tolist(), DATASET_RELATIONS[r])
    return graph


def build_general(keys, src, dst, rel) -> LineageGraph:
    graph = LineageGraph()
    for s, d, r in zip(src.tolist(), dst.tolist(), rel.tolist(), strict=True):
        graph.add_edge(keys[s], keys[d], DATASET_RELATIONS[r])
    return graph


def build_networkx(keys, src, dst, rel):
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(keys)
    names = [DATASET_RELATIONS[r] for r in rel.tolist()]
    graph.add_edges_from(
        (keys[s], keys[d], {"relation": name, "cost": -math.log(TRANSMISSION[name])})
        for s, d, name in zip(src.tolist(), dst.tolist(), names, strict=True)
    )
    return graph


def run_size(n: int, seed: int, general_max: int, peer_max: int) -> dict[str, object]:
    import networkx as nx

    keys, src, dst, rel = generate(n, seed)
    out: dict[str, object] = {"nodes": n, "edges": len(src)}
    out["build_bulk"], graph = timed(lambda: build_bulk(keys, src, dst, rel))
    if n <= general_max:
        out["build_general"], general = timed(lambda: build_general(keys, src, dst, rel))
        assert general.num_edges == graph.num_edges
    out_degree = np.bincount(src, minlength=n)
    top_roots = np.argsort(-out_degree[: max(10, n // 20)], kind="stable")[:10]
    rng = np.random.default_rng(seed + 1)
    leaves = rng.choice(np.flatnonzero(out_degree == 0), size=100, replace=False)

    out["impact"], reached = timed(lambda: [len(impact(graph, int(r)).reached) for r in top_roots])
    out["impact_nodes"] = int(sum(reached))
    rx = graph._rx
    out["descendants_rx"], _ = timed(lambda: [len(rx.descendants(graph.graph, int(r))) for r in top_roots])
    out["ancestors"], sizes = timed(lambda: [len(rx.ancestors(graph.graph, int(leaf))) for leaf in leaves])
    out["ancestor_nodes"] = int(sum(sizes))
    for r in top_roots:
        graph.kinds[int(r)] = "benchmark"
        graph.keys[int(r)] = graph.keys[int(r)]
    seeds = [int(r) for r in top_roots]
    out["propagate"], report = timed(lambda: propagate_contamination(graph, min_risk=1e-3))
    out["propagate_hits"] = len(report.hits)
    out["depths"], depth = timed(lambda: depths(graph))
    out["max_depth"] = int(np.max(depth))
    out["hygiene"], _ = timed(lambda: hygiene_report(graph))
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    if n <= peer_max:
        out["nx_build"], nx_graph = timed(lambda: build_networkx(keys, src, dst, rel))
        out["nx_descendants"], _ = timed(lambda: [len(nx.descendants(nx_graph, keys[r])) for r in top_roots])
        out["nx_ancestors"], _ = timed(
            lambda: [len(nx.ancestors(nx_graph, keys[int(leaf)])) for leaf in leaves]
        )

        def nx_propagate():
            cutoff = -math.log(1e-3)
            return nx.multi_source_dijkstra_path_length(
                nx_graph, {keys[s] for s in seeds}, cutoff=cutoff, weight="cost"
            )

        out["nx_propagate"], lengths = timed(nx_propagate)
        out["nx_propagate_hits"] = len(lengths) - len(seeds)
        out["nx_depths"], _ = timed(lambda: nx.dag_longest_path_length(nx_graph))
        del nx_graph
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def write(results: list[dict[str, object]], command: str, seed: int) -> None:
    import networkx
    import rustworkx

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "?"
    lines = [
        "# Lineage graph operations at 1e5 and 1e6 nodes",
        "",
        f"- Machine: {machine()}",
        f"- Versions: rustworkx {rustworkx.__version__}, networkx {networkx.__version__}, numpy {np.__version__}; commit {commit}",
        f"- Input: generated DAG (`benches/bench_lineage.py`, seed {seed}): 5% roots, every other node 1-3 parents "
        "among earlier nodes (half among the previous 1,000), relations drawn uniformly from the dataset vocabulary",
        "- Parameters: impact = downstream of the 10 roots with most children; ancestry = ancestors of 100 random "
        "leaves; propagation = contamination from those 10 roots as benchmark seeds, min risk 1e-3 "
        "(networkx: `multi_source_dijkstra_path_length` on -log(transmission) with the same cutoff)",
        f"- Command: `{command}`",
        "",
        "| operation | " + " | ".join(f"{r['nodes']:,} nodes / {r['edges']:,} edges" for r in results) + " |",
        "|---|" + "---:|" * len(results),
    ]

    def row(label: str, key: str, peer: str | None = None, fmt: str = "{:.2f} s") -> None:
        cells = []
        for r in results:
            if key not in r:
                cells.append("—")
                continue
            cell = fmt.format(r[key])
            if peer and peer in r:
                cell += f" (networkx {fmt.format(r[peer])}, {r[peer] / max(r[key], 1e-9):.1f}×)"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("build, bulk path", "build_bulk", "nx_build")
    row("build, `add_edge` per edge (key lookup, evidence merge)", "build_general")
    row("impact (BFS with depth and parent, 10 roots)", "impact")
    row("descendants only (rustworkx, 10 roots)", "descendants_rx", "nx_descendants")
    row("nodes reached by the 10 impacts", "impact_nodes", fmt="{:,}")
    row("ancestors of 100 leaves", "ancestors", "nx_ancestors")
    row("contamination propagation (10 seeds, with paths)", "propagate", "nx_propagate")
    row("nodes at risk", "propagate_hits", fmt="{:,}")
    row("longest-path depths of every node", "depths", "nx_depths")
    row("max depth", "max_depth", fmt="{:,}")
    row("hygiene report (SCCs, dates, dangling, unresolved)", "hygiene")
    row("peak RSS of the process (GiB, cumulative)", "peak_rss_gib", fmt="{:.2f}")
    lines += [
        "",
        "networkx's depth column is `dag_longest_path_length` (one number, not every node's depth). "
        "The propagation peer computes distances only; stemmatic's also keeps each hit's path and evidence. "
        "Single runs on a shared 2-core machine; ratios are from the same process.",
        "",
    ]
    write_results("lineage", "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--general-max", type=int, default=1_000_000, help="largest size for the add_edge path"
    )
    parser.add_argument("--peer-max", type=int, default=1_000_000, help="largest size for networkx")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = [run_size(n, args.seed, args.general_max, args.peer_max) for n in args.sizes]
    command = (
        "make bench-lineage (python benches/bench_lineage.py --sizes " + " ".join(map(str, args.sizes)) + ")"
    )
    write(results, command, args.seed)


if __name__ == "__main__":
    main()
