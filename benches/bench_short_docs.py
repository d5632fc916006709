"""Short documents, whole process, as a user runs it: ``stemmatic --help``, and ``stemmatic dedup`` vs rensa.

Corpus: real short documents nobody here wrote -- the docstrings (``ast``)
of the Python packages installed in this checkout's virtual environment
(``.venv``'s site-packages, inside the repository), in sorted file order,
about 300 bytes each; written as JSON lines (``{"text": ...}``). Beside it,
the same ×10: nine more copies of every document, each with one word
replaced (a near-duplicate at any length above a few words).

Timed from outside, each run a new process (start-up, imports, reading the
JSONL, writing Parquet out), the peers alternating (A B A B ...) so that a
machine shared with other work slows both alike; the ratio is taken per
pair and its median reported:

* ``stemmatic --help`` against ``python -c pass`` (the interpreter's own start);
* ``stemmatic dedup CORPUS -o OUT`` (exact verification, kept/removed
  Parquet) against rensa's pipeline in one Python process: ``pyarrow.json``
  read, Python word 5-gram shingling, ``RMinHash.from_token_sets``,
  ``RMinHashLSH`` (16 bands), estimated-Jaccard check of candidates,
  union-find, kept/removed Parquet (as in bench_dedup.py).

Run: ``python benches/bench_short_docs.py`` (``--docs``, ``--repeat``).
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sys
import sysconfig
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATA_DIR,
    alternate,
    byte_compile,
    git_commit,
    machine,
    pair_medians,
    versions,
    write_results,
)

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NUM_PERM = 128
THRESHOLD = 0.8
SEED = 1


# -- corpus ------------------------------------------------------------------------------


def docstrings(limit: int) -> list[str]:
    """The first ``limit`` docstrings of the virtual environment's packages, in sorted file order."""
    root = Path(sysconfig.get_paths()["purelib"]).resolve()
    if REPO not in root.parents:
        raise SystemExit(f"{root} is outside the repository: run this with the checkout's .venv/bin/python")
    out: list[str] = []
    for path in sorted(root.rglob("*.py")):
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, OSError, RecursionError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=True)
                if doc:
                    out.append(doc)
                    if len(out) >= limit:
                        return out
    return out


def one_word_changed(texts: list[str], copies: int, seed: int) -> list[str]:
    """``texts`` followed by ``copies - 1`` more copies, each with one word of each document replaced."""
    rng = random.Random(seed)
    out = list(texts)
    for copy in range(1, copies):
        for text in texts:
            words = text.split(" ")
            words[rng.randrange(len(words))] = f"changed{copy}x{rng.randrange(10**6)}"
            out.append(" ".join(words))
    return out


def write_jsonl(texts: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as file:
        for text in texts:
            file.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")


def corpora(docs: int) -> dict[str, Path]:
    one = DATA_DIR / f"short-docstrings-{docs}" / "docs.jsonl"
    ten = DATA_DIR / f"short-docstrings-{docs}-x10" / "docs.jsonl"
    if not one.exists() or not ten.exists():
        texts = docstrings(docs)
        write_jsonl(texts, one)
        write_jsonl(one_word_changed(texts, 10, seed=3), ten)
    return {"1×": one, "10× (one word changed per copy)": ten}


# -- rensa's pipeline, run as its own process -------------------------------------------------


def rensa_pipeline(corpus: Path, out: Path) -> None:
    """bench_dedup.py's rensa pipeline, from JSONL. Its helpers are not imported from there:
    that module imports stemmatic, whose start-up would then be counted as rensa's."""
    import re

    import numpy as np
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq
    from rensa import RMinHash, RMinHashLSH

    word = re.compile(r"\w+")

    def shingles(text: str) -> list[str]:
        tokens = word.findall(text.lower())
        if len(tokens) < 5:
            return [" ".join(tokens)] if tokens else []
        return [" ".join(tokens[i : i + 5]) for i in range(len(tokens) - 4)]

    table = pj.read_json(corpus)
    texts = table.column("text").to_pylist()
    minhashes = RMinHash.from_token_sets([shingles(t) for t in texts], NUM_PERM, SEED)
    lsh = RMinHashLSH(THRESHOLD, NUM_PERM, 16)
    for i, m in enumerate(minhashes):
        lsh.insert(i, m)
    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, candidates in enumerate(lsh.query_all(minhashes)):
        for j in candidates:
            if j > i and minhashes[i].jaccard(minhashes[j]) >= THRESHOLD:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    removed = np.array([find(i) != i for i in range(len(texts))])
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.filter(pa.array(~removed)), out / "kept.parquet")
    pq.write_table(table.filter(pa.array(removed)), out / "removed.parquet")
    print(json.dumps({"removed": int(removed.sum())}))


def stage_seconds(out: Path) -> str:
    report = json.loads((out / "report.json").read_text())
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in report["stages"].items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=60_000, help="docstrings in the 1× corpus")
    parser.add_argument("--repeat", type=int, default=3, help="A/B pairs per dedup comparison")
    parser.add_argument("--help-runs", type=int, default=20, help="A/B pairs for stemmatic --help")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rensa-pipeline", nargs=2, metavar=("CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rensa_pipeline:
        rensa_pipeline(Path(args.rensa_pipeline[0]), Path(args.rensa_pipeline[1]))
        return

    byte_compile("stemmatic")  # as installed from a wheel
    stemmatic = str(BIN / "stemmatic")
    python = sys.executable
    lines = [
        "# Short documents, whole process",
        "",
        f"- Machine: {machine()}; shared with other engineers' work while this ran, so wall times are",
        "  inflated; each figure is the median of runs alternating with its peer, ratios per pair",
        f"- Versions: {versions('stemmatic', 'rensa', 'pyarrow', 'typer')}; commit {git_commit()}",
        f"- Command: `python benches/bench_short_docs.py --docs {args.docs} --repeat {args.repeat} "
        f"--help-runs {args.help_runs} --workers {args.workers}`",
        "",
        "## `stemmatic --help` (start-up)",
        "",
        "| command | wall s (median) | CPU s (median) |",
        "|---|---:|---:|",
    ]
    wall_a, cpu_a, wall_b, cpu_b, ratio, _ = pair_medians(
        *alternate([[stemmatic, "--help"], [python, "-c", "pass"]], args.help_runs)
    )
    lines += [
        f"| `stemmatic --help` | {wall_a:.3f} | {cpu_a:.3f} |",
        f"| `python -c pass` (the interpreter alone) | {wall_b:.3f} | {cpu_b:.3f} |",
        "",
        f"`stemmatic --help` takes {1 / ratio:.1f}× the interpreter's own start ({args.help_runs} pairs); target < 0.15 s.",
        "",
        "## `stemmatic dedup` vs rensa's pipeline, JSONL in, Parquet out",
        "",
        f"Threshold {THRESHOLD}, num_perm {NUM_PERM}, word 5-grams; stemmatic `--workers {args.workers}`, exact "
        "verification; rensa 16 bands, estimated Jaccard.",
        "",
        "| corpus | documents | MB | stemmatic wall s | CPU s | rensa wall s | CPU s | rensa ÷ stemmatic (wall, per pair) | (CPU, per pair) | stemmatic stages (s, from report.json) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, corpus in corpora(args.docs).items():
        rows = sum(1 for _ in corpus.open(encoding="utf-8"))
        megabytes = corpus.stat().st_size / 1e6
        out_a = DATA_DIR / "out-short-stemmatic"
        out_b = DATA_DIR / "out-short-rensa"
        command_a = [stemmatic, "dedup", str(corpus), "-o", str(out_a), "--overwrite", "-q"]
        command_a += ["--workers", str(args.workers), "--seed", str(SEED)]
        command_b = [python, str(Path(__file__).resolve()), "--rensa-pipeline", str(corpus), str(out_b)]
        wall_a, cpu_a, wall_b, cpu_b, ratio, cpu_ratio = pair_medians(
            *alternate([command_a, command_b], args.repeat, clear=[out_a, out_b])
        )
        lines.append(
            f"| {name} | {rows:,} | {megabytes:.1f} | {wall_a:.2f} | {cpu_a:.2f} | {wall_b:.2f} | {cpu_b:.2f} | "
            f"**{ratio:.1f}×** | {cpu_ratio:.1f}× | {stage_seconds(out_a)} |"
        )
    lines += [
        "",
        "Targets (issue 22): ≥ 10× rensa on the 10× corpus, ≥ 5× on the 1× corpus; MB are JSONL bytes.",
        "",
    ]
    path = write_results("short_docs", "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
