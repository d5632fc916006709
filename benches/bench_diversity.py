"""Diversity benchmark: SemDeDup and k-center selection, stemmatic vs plain numpy.

Input: generated clustered unit vectors (d=384): ``n / 100`` cluster centers on
the sphere, each row a center plus Gaussian noise (cosine ~0.5 within a
cluster), and 5% planted near-identical copies of other rows (cosine ~0.999).

Measured, each (operation, implementation, n) in its own subprocess so that
peak memory is its own:

* ``semdedup`` (eps=0.05, n/1000 clusters, 10 k-means iterations):
  stemmatic (FAISS k-means on a 256-per-centroid sample, blocked in-cluster
  pairs, greedy keep) vs numpy (Lloyd k-means on all rows, then a full
  similarity matrix per cluster with the paper's rule: remove a row if any
  higher-ranked row of its cluster is more similar than 1 - eps).
* ``kcenter`` (budget 1,000): stemmatic (in-place matrix-vector products on
  float32) vs numpy (the usual code: ``np.linalg.norm(X - X[c], axis=1)`` and
  ``np.minimum`` per step).
* quality: recall/precision of the planted copies found by SemDeDup, and the
  k-center coverage radius vs a random subset of the same size.

Run ``python benches/bench_diversity.py --sizes 100000 1000000`` (``make bench-diversity``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_commit, machine, versions, write_results

DIM = 384
DUP_FRACTION = 0.05


def generate(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered unit vectors with planted near-copies: (vectors, copy rows, their sources)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(1, n // 100), DIM), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    x = np.empty((n, DIM), dtype=np.float32)
    step = 8192  # small chunks: generation must not set the process's peak memory
    for start in range(0, n, step):
        m = min(step, n - start)
        x[start : start + m] = centers[rng.integers(0, len(centers), m)]
        x[start : start + m] += rng.standard_normal((m, DIM), dtype=np.float32) / np.float32(np.sqrt(DIM))
    copies = np.sort(rng.choice(n, int(n * DUP_FRACTION), replace=False))
    sources = rng.integers(0, n, len(copies))
    sources = np.where(np.isin(sources, copies), (sources + 1) % n, sources)
    x[copies] = x[sources] + 0.05 * rng.standard_normal((len(copies), DIM), dtype=np.float32) / np.float32(
        np.sqrt(DIM)
    )
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, copies, sources


# ---------------------------------------------------------------- numpy baselines


def numpy_kmeans(x: np.ndarray, k: int, niter: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centroids = x[rng.choice(len(x), k, replace=False)].copy()
    labels = np.zeros(len(x), dtype=np.int64)
    for _ in range(niter):
        for start in range(0, len(x), 65_536):
            labels[start : start + 65_536] = (x[start : start + 65_536] @ centroids.T).argmax(axis=1)
        sums = np.zeros_like(centroids, dtype=np.float64)
        np.add.at(sums, labels, x)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = np.where(norms > 0, sums / np.maximum(norms, 1e-12), centroids).astype(np.float32)
    return labels


def numpy_semdedup(x: np.ndarray, eps: float, k: int, niter: int, seed: int) -> np.ndarray:
    labels = numpy_kmeans(x, k, niter, seed)
    keep = np.ones(len(x), dtype=bool)
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue
        sims = x[members] @ x[members].T
        upper = np.triu(sims, k=1)
        keep[members[upper.max(axis=0) > 1 - eps]] = False
    return keep


def numpy_kcenter(x: np.ndarray, budget: int, first: int) -> list[int]:
    min_dist = np.full(len(x), np.inf, dtype=np.float32)
    chosen = [first]
    for _ in range(budget - 1):
        min_dist = np.minimum(min_dist, np.linalg.norm(x - x[chosen[-1]], axis=1))
        chosen.append(int(np.argmax(min_dist)))
    return chosen


# ---------------------------------------------------------------- worker


def worker(op: str, impl: str, n: int, budget: int, eps: float) -> dict:
    x, copies, sources = generate(n)
    import faiss  # noqa: F401  (imports are not the algorithm's memory)

    import stemmatic.diversity  # noqa: F401
    from stemmatic.io import StageTimer, current_rss_bytes

    rss_before = current_rss_bytes()
    k = max(1, n // 1000)
    out: dict = {"op": op, "impl": impl, "n": n}
    with StageTimer().stage("run") as stage:
        _run(op, impl, n, x, copies, sources, k, budget, eps, out)
    # The sampled peak can miss a short spike; ru_maxrss cannot, but includes generation (small chunks).
    out["peak_rss_bytes"] = max(stage.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    out["extra_rss_bytes"] = out["peak_rss_bytes"] - rss_before
    out["input_bytes"] = x.nbytes
    return out


def _run(
    op: str,
    impl: str,
    n: int,
    x: np.ndarray,
    copies: np.ndarray,
    sources: np.ndarray,
    k: int,
    budget: int,
    eps: float,
    out: dict,
) -> None:
    start = time.perf_counter()
    if op == "semdedup":
        if impl == "stemmatic":
            from stemmatic.diversity import semdedup

            keep = semdedup(x, eps=eps, n_clusters=k, niter=10, seed=0).keep
        else:
            keep = numpy_semdedup(x, eps, k, 10, 0)
        out["seconds"] = time.perf_counter() - start
        removed = ~keep
        planted_pairs_found = removed[copies] | removed[sources]
        in_pair = np.zeros(n, dtype=bool)
        in_pair[copies] = in_pair[sources] = True
        out["removed"] = int(removed.sum())
        out["planted"] = len(copies)
        out["recall"] = float(planted_pairs_found.mean())
        out["precision"] = float(in_pair[removed].mean()) if removed.any() else 1.0
    elif op == "kcenter":
        first = int(np.random.default_rng(0).integers(n))
        if impl == "stemmatic":
            from stemmatic.diversity import kcenter_greedy

            sel = kcenter_greedy(x, budget, seed=0)
            chosen = sel.indices
            out["seconds"] = time.perf_counter() - start
            out["radius"] = sel.info["radius"]
            from stemmatic.diversity import nearest_selected

            rng = np.random.default_rng(1)
            random = rng.choice(n, budget, replace=False)
            _, sims = nearest_selected(x, random)
            out["random_radius"] = float(np.sqrt(max(0.0, 2 - 2 * float(sims.min()))))
            out["first"] = int(chosen[0])
        else:
            chosen = numpy_kcenter(x, budget, first)
            out["seconds"] = time.perf_counter() - start
        out["selected_head"] = [int(i) for i in chosen[:20]]


def run_case(op: str, impl: str, n: int, budget: int, eps: float, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", op, impl, str(n), "--budget", str(budget), "--eps", str(eps)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"op": op, "impl": impl, "n": n, "error": f"not finished within {timeout:.0f} s"}
    except subprocess.CalledProcessError as err:
        return {"op": op, "impl": impl, "n": n, "error": err.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", nargs=3, metavar=("OP", "IMPL", "N"))
    parser.add_argument("--sizes", nargs="+", type=int, default=[100_000])
    parser.add_argument("--numpy-max", type=int, default=100_000, help="largest n for the numpy baselines")
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--eps", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    if args.worker:
        op, impl, n = args.worker
        print(json.dumps(worker(op, impl, int(n), args.budget, args.eps)))
        return

    results = []
    args.load_before = os.getloadavg()[0]
    for n in args.sizes:
        for op in ("semdedup", "kcenter"):
            for impl in ("stemmatic", "numpy"):
                if impl == "numpy" and n > args.numpy_max:
                    continue
                print(f"running {op} {impl} n={n} ...", file=sys.stderr, flush=True)
                r = run_case(op, impl, n, args.budget, args.eps, args.timeout)
                print(json.dumps(r), file=sys.stderr, flush=True)
                results.append(r)
    args.load_after = os.getloadavg()[0]
    write_results("diversity", render(results, args))


def render(results: list[dict], args: argparse.Namespace) -> str:
    def find(op: str, impl: str, n: int) -> dict | None:
        return next((r for r in results if r["op"] == op and r["impl"] == impl and r["n"] == n), None)

    lines = [
        "# Diversity: SemDeDup and k-center selection vs plain numpy",
        "",
        f"- Machine: {machine()}",
        f"- Versions: {versions('stemmatic', 'numpy', 'faiss-cpu')}; commit {git_commit()}",
        f"- Input: generated clustered unit vectors, d={DIM}, n/100 clusters (cosine ~0.5 within one), "
        f"{DUP_FRACTION:.0%} planted near-copies (cosine ~0.999), seed 0 (`generate` in benches/bench_diversity.py)",
        f"- Parameters: SemDeDup eps={args.eps}, n/1000 k-means clusters, 10 iterations; k-center budget {args.budget}",
        f"- Command: `python benches/bench_diversity.py --sizes {' '.join(map(str, args.sizes))}"
        f" --numpy-max {args.numpy_max}` (`make bench-diversity`)",
        "- Each case runs alone in a subprocess; seconds exclude data generation; extra memory = peak RSS "
        "(the larger of a 50 ms sampled peak and ru_maxrss) minus RSS before the run, per vector (the input itself is 4 x 384 = 1,536 B per vector).",
        f"- 1-minute load average {args.load_before:.1f} before and {args.load_after:.1f} after the run "
        f"(the machine's {os.cpu_count()} cores are shared; compare ratios, not absolute times)",
        "",
        "| operation | n | implementation | seconds | vectors/s | extra memory per vector | numpy time ÷ stemmatic |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['op']} | {r['n']:,} | {r['impl']} | {r['error']} | | | |")
            continue
        base = find(r["op"], "numpy", r["n"])
        ours = find(r["op"], "stemmatic", r["n"])
        ratio = ""
        if r["impl"] == "stemmatic" and base and "seconds" in base and ours:
            ratio = f"{base['seconds'] / ours['seconds']:.1f}×"
        lines.append(
            f"| {r['op']} | {r['n']:,} | {r['impl']} | {r['seconds']:.2f} | {r['n'] / r['seconds']:,.0f} | "
            f"{max(0, r['extra_rss_bytes']) / r['n']:,.0f} B | {ratio} |"
        )
    lines += ["", "## Quality", ""]
    for r in results:
        if "error" in r:
            continue
        if r["op"] == "semdedup":
            lines.append(
                f"- SemDeDup {r['impl']}, n={r['n']:,}: removed {r['removed']:,}; planted pairs found "
                f"{r['recall']:.1%} of {r['planted']:,}; removed rows that belong to a planted pair {r['precision']:.1%}."
            )
        elif r["op"] == "kcenter" and r["impl"] == "stemmatic":
            base = find("kcenter", "numpy", r["n"])
            same = ""
            if base and "selected_head" in base:
                same = (
                    "; first 20 picks identical to numpy's"
                    if base["selected_head"] == r["selected_head"]
                    else ("; first 20 picks differ from numpy's")
                )
            lines.append(
                f"- k-center, n={r['n']:,}, budget {args.budget}: coverage radius {r['radius']:.4f} vs "
                f"{r['random_radius']:.4f} for a random subset of the same size "
                f"(Euclidean distance of unit vectors){same}."
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
