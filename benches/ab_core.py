"""A/B of two builds of the extension module in one process: MinHash and scan throughput.

Loads ``BASE`` and ``NEW`` (two ``_core.abi3.so`` files, e.g. main's and a branch's) side by
side, runs MinHash signatures and a contamination scan of the same corpus with each,
interleaved, checks that both give the same bytes, and prints each build's best MB/s (wall)
and the median of the paired ratios, of wall time and of CPU time (``time.process_time``,
all threads; the machine may be shared: pairs cancel slow phases, and CPU time does not count
the time the process waits for a core). The corpus is generated (``--mb``) or the ``text``
field of a JSONL file (``--jsonl``, e.g. bench_short_docs.py's docstrings); ``--workers``
sets the threads of both calls. ``STEMMATIC_KERNEL`` applies to builds that read it (a build
before it ignores it).

    python benches/ab_core.py BASE.so NEW.so [--mb 10 | --jsonl DOCS.jsonl] [--runs 21] [--workers 1]
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import random
import time
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute


def load(package: str, path: str) -> ModuleType:
    """The extension at ``path`` as ``package._core`` (its init symbol is ``PyInit__core``)."""
    name = f"{package}._core"
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def corpus(mb: float, rng: random.Random) -> list[str]:
    vocab = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
        for _ in range(20_000)
    ]
    vocab += ["Café", "naïve", "Straße", "北京", "東京都", "Ωmega"]
    docs: list[str] = []
    size = 0
    while size < mb * 1e6:
        doc = " ".join(rng.choice(vocab) for _ in range(rng.randint(50, 400))) + "."
        docs.append(doc)
        size += len(doc)
    return docs


def build_index(core: ModuleType, items: list[str]) -> Any:
    n = len(items)
    index, _ = core.NgramIndex.build(
        benchmarks=["bench"],
        fields=["text"],
        benchmark_ids=np.zeros(n, np.uint32),
        field_ids=np.zeros(n, np.uint32),
        item_ids=pa.chunked_array([[str(i) for i in range(n)]]),
        texts=pa.chunked_array([items]),
        ngram=8,
        tokenizer="words",
        seed=1,
    )
    return index


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("--mb", type=float, default=10.0, help="MB of generated text")
    parser.add_argument("--jsonl", help="JSONL file whose `text` fields are the corpus (instead of --mb)")
    parser.add_argument("--runs", type=int, default=21, help="runs of each build, interleaved")
    parser.add_argument("--workers", type=int, default=1, help="threads of each call")
    parser.add_argument("--tokenizer", default="words", help="MinHash tokenizer")
    args = parser.parse_args()
    cores = {"base": load("ab_base", args.base), "new": load("ab_new", args.new)}
    rng = random.Random(0)
    if args.jsonl:
        with open(args.jsonl, encoding="utf-8") as lines:
            docs = [json.loads(line)["text"] for line in lines]
    else:
        docs = corpus(args.mb, rng)
    texts = pa.chunked_array([docs])
    mb = pa.compute.sum(pa.compute.binary_length(texts)).as_py() / 1e6
    items = [" ".join(rng.choice(docs).split()[:30]) for _ in range(3_000)]
    indexes = {name: build_index(core, items) for name, core in cores.items()}
    kernels = {name: getattr(core, "kernel", lambda: "(no kernel())")() for name, core in cores.items()}
    print(
        f"{len(docs)} documents, {mb:.1f} MB; kernels: {kernels}; workers {args.workers}; "
        f"tokenizer {args.tokenizer}"
    )
    wall: dict[str, dict[str, list[float]]] = {name: {"minhash": [], "scan": []} for name in cores}
    cpu: dict[str, dict[str, list[float]]] = {name: {"minhash": [], "scan": []} for name in cores}
    outputs: dict[str, list[bytes]] = {}

    def timed(name: str, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = call(*args, **kwargs)
        wall[name][what].append(time.perf_counter() - start)
        cpu[name][what].append(time.process_time() - start_cpu)
        return result

    for run in range(args.runs):
        for name in ("base", "new") if run % 2 == 0 else ("new", "base"):
            signatures = timed(
                name,
                "minhash",
                cores[name].minhash_signatures,
                texts,
                num_perm=128,
                ngram=5,
                tokenizer=args.tokenizer,
                seed=1,
                workers=args.workers,
            )
            hits = timed(name, "scan", indexes[name].scan, texts, workers=args.workers)
            outputs[name] = [signatures[0].tobytes(), *(np.asarray(a).tobytes() for a in hits)]
    assert outputs["base"] == outputs["new"], "the builds' outputs differ"

    def median_ratio(base: list[float], new: list[float]) -> float:
        ratios = sorted(b / n for b, n in zip(base, new, strict=True))
        return ratios[len(ratios) // 2]

    for what in ("minhash", "scan"):
        base, new = wall["base"][what], wall["new"][what]
        base_cpu, new_cpu = sorted(cpu["base"][what]), sorted(cpu["new"][what])
        print(
            f"{what}: base {mb / min(base):.0f} MB/s, new {mb / min(new):.0f} MB/s (wall, best of {args.runs}); "
            f"new/base throughput: best {min(base) / min(new):.3f}, median of pairs {median_ratio(base, new):.3f}; "
            f"CPU s (median) base {base_cpu[len(base_cpu) // 2]:.4f}, new {new_cpu[len(new_cpu) // 2]:.4f}, "
            f"new/base median of pairs {median_ratio(cpu['base'][what], cpu['new'][what]):.3f}"
        )


if __name__ == "__main__":
    main()
