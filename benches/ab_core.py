"""A/B of two builds of the extension module in one process: MinHash and scan throughput.

Loads ``BASE`` and ``NEW`` (two ``_core.abi3.so`` files, e.g. main's and a branch's) side by
side, runs MinHash signatures and a contamination scan of the same generated corpus with each,
interleaved, on one worker, checks that both give the same bytes, and prints each build's best
MB/s and the median of the paired ratios (the machine may be shared: pairs cancel slow phases).
``STEMMATIC_KERNEL`` applies to builds that read it (a build before it ignores it).

    python benches/ab_core.py BASE.so NEW.so [--mb 10] [--runs 21]
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import random
import time
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa


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
    parser.add_argument("--runs", type=int, default=21, help="runs of each build, interleaved")
    args = parser.parse_args()
    cores = {"base": load("ab_base", args.base), "new": load("ab_new", args.new)}
    rng = random.Random(0)
    docs = corpus(args.mb, rng)
    texts = pa.chunked_array([docs])
    mb = sum(map(len, docs)) / 1e6
    items = [" ".join(rng.choice(docs).split()[:30]) for _ in range(3_000)]
    indexes = {name: build_index(core, items) for name, core in cores.items()}
    kernels = {name: getattr(core, "kernel", lambda: "(no kernel())")() for name, core in cores.items()}
    print(f"{len(docs)} documents, {mb:.1f} MB; kernels: {kernels}")
    seconds: dict[str, dict[str, list[float]]] = {name: {"minhash": [], "scan": []} for name in cores}
    outputs: dict[str, list[bytes]] = {}
    for run in range(args.runs):
        for name in ("base", "new") if run % 2 == 0 else ("new", "base"):
            start = time.perf_counter()
            signatures = cores[name].minhash_signatures(
                texts, num_perm=128, ngram=5, tokenizer="words", seed=1, workers=1
            )
            seconds[name]["minhash"].append(time.perf_counter() - start)
            start = time.perf_counter()
            hits = indexes[name].scan(texts, workers=1)
            seconds[name]["scan"].append(time.perf_counter() - start)
            outputs[name] = [signatures[0].tobytes(), *(np.asarray(a).tobytes() for a in hits)]
    assert outputs["base"] == outputs["new"], "the builds' outputs differ"
    for what in ("minhash", "scan"):
        base, new = seconds["base"][what], seconds["new"][what]
        ratios = sorted(b / n for b, n in zip(base, new, strict=True))
        print(
            f"{what}: base {mb / min(base):.0f} MB/s, new {mb / min(new):.0f} MB/s (best of {args.runs}); "
            f"new/base throughput: best {min(base) / min(new):.3f}, median of pairs {ratios[len(ratios) // 2]:.3f}"
        )


if __name__ == "__main__":
    main()
