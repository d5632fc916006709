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

With ``--paper FOLDER...`` it instead loads the lineage paper's released graphs
(a checkout of github.com/Leey21/data-lineage, ``output/<modality>``) and writes
their counts, plain and as stemmatic builds them, to ``benches/results/lineage-paper.md``.
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
        "The lineage paper's released graphs, counted plain and as loaded: [lineage-paper.md](lineage-paper.md) "
        "(`python benches/bench_lineage.py --paper ...`).",
        "",
    ]
    write_results("lineage", "\n".join(lines))
    print("\n".join(lines))


def paper_counts(folder: Path) -> dict[str, object]:
    """Counts of one released modality of the lineage paper: a plain count of its lines, and our graph.

    The plain count reads the JSON lines with nothing but ``json``; the resolved count maps each name
    through the graph's own resolution and counts again, so the graph's numbers must equal it.
    """
    import json
    from collections import Counter

    from stemmatic.lineage import domain_stats, load_paper_jsonl
    from stemmatic.lineage.names import canonical_name

    lines = [
        json.loads(x) for x in (folder / "graph.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()
    ]
    records = [
        json.loads(x) for x in (folder / "data.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()
    ]
    label = [json.loads(x["meta_info"])["relationship"] for x in lines]
    year = {r["name"]: r["year"] for r in records if r.get("year")}
    raw_late = sum(
        1
        for x in lines
        if x["source"] in year and x["target"] in year and year[x["source"]] > year[x["target"]]
    )
    raw_names = {r["name"] for r in records} | {x[k] for x in lines for k in ("source", "target")}

    start = time.perf_counter()
    graph, report = load_paper_jsonl(folder)
    seconds = time.perf_counter() - start
    resolve = {name: graph.resolve(name) for name in raw_names}
    resolved = {
        (resolve[x["source"]], resolve[x["target"]], lab) for x, lab in zip(lines, label, strict=True)
    }
    resolved = {t for t in resolved if t[0] != t[1]}
    date = {resolve[r["name"]]: r["year"] for r in records if r.get("year")}
    resolved_late = {(s, t, lab) for s, t, lab in resolved if s in date and t in date and date[s] > date[t]}
    hygiene = hygiene_report(graph)
    by_spelling = Counter(canonical_name(n) for n in raw_names)
    same_name: dict[str, set[str]] = {}
    for key in graph.keys:
        if "/" in key and ":" not in key:
            same_name.setdefault(key.rsplit("/", 1)[1], set()).add(key)
    return {
        "folder": folder.name,
        "lines": len(lines),
        "records": len(records),
        "raw_names": len(raw_names),
        "raw_labels": Counter(label),
        "raw_late": raw_late,
        "seconds": seconds,
        "nodes": graph.num_nodes,
        "kinds": Counter(graph.kinds),
        "edges": graph.num_edges,
        "relations": Counter(graph.edge_relation[e] for e in graph.edge_ids()),
        "resolved_edges": len(resolved),
        "resolved_labels": Counter(lab for _, _, lab in resolved),
        "violations": len(hygiene.temporal_violations),
        "resolved_late": len(resolved_late),
        "merged": len(report.merged),
        "case_variants": sum(c - 1 for c in by_spelling.values() if c > 1),
        "same_name_orgs": sum(1 for keys in same_name.values() if len(keys) > 1),
        "unresolved": len(hygiene.unresolved),
        "cycles": len(hygiene.cycles),
        "self_inclusions": len(report.self_inclusions),
        "domains": domain_stats(graph, by="category"),
    }


def write_paper(results: list[dict[str, object]], command: str) -> None:
    from stemmatic.lineage.relations import PAPER_RELATIONS

    lines = [
        "# The lineage paper's released graphs, loaded by stemmatic",
        "",
        "- Input: `output/<modality>/{graph,data}.jsonl` of a checkout of github.com/Leey21/data-lineage "
        '("Tracing the Roots", arXiv 2604.10480), read as released',
        f"- Machine: {machine()} (shared)",
        f"- Command: `{command}`",
        "",
        "Plain = the JSON lines counted with `json` alone; resolved = the same count after each name is mapped "
        'through stemmatic\'s name resolution (docs/lineage.md, "Names"); graph = what `load_paper_jsonl` built. '
        "Graph and resolved must agree.",
        "",
        "| | " + " | ".join(str(r["folder"]) for r in results) + " |",
        "|---|" + "---:|" * len(results),
    ]

    def row(label: str, cell) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")

    row("edge lines / data.jsonl records", lambda r: f"{r['lines']:,} / {r['records']:,}")
    row("distinct names as written", lambda r: f"{r['raw_names']:,}")
    row(
        "nodes (kinds)",
        lambda r: f"{r['nodes']:,} ({', '.join(f'{k} {v:,}' for k, v in sorted(r['kinds'].items()))})",
    )
    row(
        "edges: graph / resolved / plain lines",
        lambda r: f"{r['edges']:,} / {r['resolved_edges']:,} / {r['lines']:,}",
    )
    for paper_label, ours in PAPER_RELATIONS.items():
        row(
            f"{paper_label} → `{ours}`: graph / resolved / plain",
            lambda r, p=paper_label, o=ours: (
                f"{r['relations'][o]:,} / {r['resolved_labels'][p]:,} / {r['raw_labels'][p]:,}"
            ),
        )
    row(
        "temporal violations: graph / resolved / plain (year, month precision)",
        lambda r: f"{r['violations']} / {r['resolved_late']} / {r['raw_late']}",
    )
    row(
        "names merged onto another spelling's repository (alias, benchmark, name part)",
        lambda r: str(r["merged"]),
    )
    row("names merged by canonical form (case, `_`/`-`/space)", lambda r: str(r["case_variants"]))
    row("same name under two organisations (kept apart)", lambda r: str(r["same_name_orgs"]))
    row(
        "unresolved nodes / cycles / self-inclusions",
        lambda r: f"{r['unresolved']} / {r['cycles']} / {r['self_inclusions']}",
    )
    row("load time (both files)", lambda r: f"{r['seconds']:.2f} s")
    for r in results:
        lines += [
            "",
            f"Per category, {r['folder']} (`lineage show --by category`; a node counts under each of its categories; "
            "depth from the roots of the whole graph):",
            "",
            "| category | nodes | mean depth | max depth | roots | leaves | mean in | mean out |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in r["domains"]:
            lines.append(
                f"| {s.domain} | {s.nodes} | {s.mean_depth:.2f} | {s.max_depth} | {s.roots} | {s.leaves} | "
                f"{s.mean_in_degree:.2f} | {s.mean_out_degree:.2f} |"
            )
    lines += [
        "",
        "Graph edges fewer than plain lines: lines that name the same pair under one label after resolution "
        '("C4" and "allenai/c4") become one edge with both quotes, and a line whose two names resolve to one '
        "node is a self-inclusion. Graph temporal violations exceed the plain count because resolved names "
        '(a bare "C4") reach dated nodes. Categories of nodes outside data.jsonl are unknown.',
        "",
    ]
    write_results("lineage-paper", "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--paper",
        type=Path,
        nargs="+",
        help="instead: count released folders of the lineage paper (output/text-only_modality, output/multimodal) "
        "into results/lineage-paper.md",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--general-max", type=int, default=1_000_000, help="largest size for the add_edge path"
    )
    parser.add_argument("--peer-max", type=int, default=1_000_000, help="largest size for networkx")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.paper:
        command = "python benches/bench_lineage.py --paper " + " ".join(
            f"data-lineage/output/{p.name}" for p in args.paper
        )
        write_paper([paper_counts(p) for p in args.paper], command)
        return
    results = [run_size(n, args.seed, args.general_max, args.peer_max) for n in args.sizes]
    command = (
        "make bench-lineage (python benches/bench_lineage.py --sizes " + " ".join(map(str, args.sizes)) + ")"
    )
    write(results, command, args.seed)


if __name__ == "__main__":
    main()
