"""A/B of the sketch step and of ``stemmatic dedup`` as a whole: two package roots, one input.

1. **Sketch step, in process** (the build of ``NEW``): the per-batch calls the sketch stage
   made before the fused call (``minhash_sketch`` or ``minhash_signatures``, ``band_keys``,
   ``exact_keys``, ``binary_length``, ``token_lengths`` of the first 256 rows) against one
   ``Sketcher.sketch``, on the same batches, interleaved; outputs checked equal; CPU seconds
   of this process (``time.process_time``).
2. **Whole process**: ``stemmatic dedup INPUT`` run from ``BASE`` and ``NEW`` (each a
   checkout's ``python/`` directory with its built extension), alternating ``A B A B``; CPU
   seconds of the child (``resource.getrusage(RUSAGE_CHILDREN)``), wall seconds, and the
   sketch stage's seconds from its ``report.json``. The outputs of each pair are compared
   (every file but the report's timings).

Ratios are per pair (base ÷ new: above 1 means the new side is faster), medians printed; the
machine may be shared, and pairs cancel slow phases.

    python benches/ab_dedup.py BASE/python NEW/python INPUT [--runs 3] [--workers 2] [--exact]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj


def _tree(root: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "_work" not in path.parts:
            data = path.read_bytes()
            if path.name == "report.json":
                report = json.loads(data)
                for key in ("stages", "stage_peak_rss_bytes", "seconds", "throughput", "peak_rss_bytes"):
                    report.pop(key, None)
                data = json.dumps(report, sort_keys=True).replace(str(root), "OUT").encode()
            files[str(path.relative_to(root))] = data
    return files


def run_dedup(python_dir: str, input_path: str, out: Path, args: list[str]) -> tuple[float, float, float]:
    """(child CPU s, wall s, sketch stage s) of one ``stemmatic dedup`` run."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": python_dir}
    code = "from stemmatic.cli import main; main()"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, "dedup", input_path, "-o", str(out), *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sketch = json.loads((out / "report.json").read_text())["stages"]["sketch"]
    return cpu, wall, float(sketch)


def sketch_step(python_dir: str, input_path: str, runs: int, workers: int, exact: bool) -> list[float]:
    """Per run, separate calls' CPU s ÷ fused CPU s on every batch of the input."""
    sys.path.insert(0, python_dir)
    from stemmatic import _core

    files = sorted(Path(input_path).rglob("*.jsonl")) if Path(input_path).is_dir() else [Path(input_path)]
    table = pa.concat_tables(pj.read_json(f) for f in files)
    texts = table.column("text")
    batches = [pa.chunked_array([texts.slice(i, 8192).combine_chunks()]) for i in range(0, len(texts), 8192)]
    bands, rows = 9, 13
    fused = _core.Sketcher(
        128, 5, "auto", 1, bands, rows, exact=exact, keep_sets=True, length_rows=256, long_chars=20
    )

    def separate() -> list[Any]:
        out = []
        for column in batches:
            sig, _, _, values, _ = _core.minhash_sketch(
                column, num_perm=128, ngram=5, tokenizer="auto", seed=1, workers=workers, on_invalid="skip"
            )
            keys = _core.band_keys(sig, bands=bands, rows=rows, workers=workers)
            exact_keys = _core.exact_keys(column, tokenizer="auto", workers=workers) if exact else None
            lengths = pc.binary_length(column)
            token = _core.token_lengths(column.slice(0, 256), tokenizer="auto", long_chars=20)
            out.append((keys, exact_keys, values, lengths, token))
        return out

    def one_call() -> list[Any]:
        out = []
        for column in batches:
            batch = fused.sketch(column, workers=workers, on_invalid="skip")
            out.append(
                (batch.band_keys, batch.exact_keys, batch.set_values, batch.lengths, batch.token_lengths)
            )
        return out

    a, b = separate(), one_call()
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x[0], y[0]) and np.array_equal(x[2], y[2]) and np.array_equal(x[4], y[4])
        assert not exact or np.array_equal(x[1], y[1])
    ratios = []
    for _ in range(runs):
        start = time.process_time()
        separate()
        old = time.process_time() - start
        start = time.process_time()
        one_call()
        new = time.process_time() - start
        ratios.append(old / new)
        print(f"  sketch step: separate {old:.2f} CPU s, fused {new:.2f} CPU s, ratio {old / new:.3f}")
    sys.path.remove(python_dir)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("input")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--exact", action="store_true")
    parser.add_argument("--skip-step", action="store_true", help="only the whole-process runs")
    args = parser.parse_args()
    dedup_args = ["--workers", str(args.workers)] + (["--exact"] if args.exact else [])
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    if not args.skip_step:
        step = sketch_step(args.new, args.input, args.runs, args.workers, args.exact)
        print(f"sketch step, separate ÷ fused CPU s (median of {len(step)}): {statistics.median(step):.3f}")
    work = Path(tempfile.mkdtemp(prefix="ab_dedup-"))
    cpu, wall, sketch = [], [], []
    try:
        for run in range(args.runs):
            results = {}
            for side, root in (("base", args.base), ("new", args.new)):
                results[side] = run_dedup(root, args.input, work / side, dedup_args)
                print(
                    f"  run {run} {side}: CPU {results[side][0]:.2f} s, wall {results[side][1]:.2f} s, "
                    f"sketch {results[side][2]:.2f} s"
                )
            if _tree(work / "base") != _tree(work / "new"):
                raise SystemExit("outputs differ")
            cpu.append(results["base"][0] / results["new"][0])
            wall.append(results["base"][1] / results["new"][1])
            sketch.append(results["base"][2] / results["new"][2])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"whole process, base ÷ new (median of {args.runs} pairs): CPU {statistics.median(cpu):.3f}, "
        f"wall {statistics.median(wall):.3f}, sketch stage {statistics.median(sketch):.3f}; outputs identical"
    )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
