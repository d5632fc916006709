"""Bit-identity of two builds of the extension: MinHash signatures, shingle counts, statuses and
shingle sets of the same texts, under every tokenizer, several n-gram sizes, 32- and 64-bit values
and 1 and 2 workers.

Loads ``BASE`` and ``NEW`` (two ``_core.abi3.so`` files, e.g. main's and a branch's) side by side
and compares ``minhash_sketch`` of each corpus byte for byte, and the fused ``Sketcher``'s every
output (band keys, exact keys, lengths and token lengths too) where both builds have it: the short docstrings and their ×10
(bench_short_docs.py's JSONL files, when present), the catalogues of bench_multilingual.py (every
language, when its data is present), a generated corpus with hostile text (control characters,
every ASCII byte, long tokens, mixed scripts, ``Σ``, empty and null rows, invalid UTF-8).
Prints one line per corpus and exits non-zero on the first difference.

    python benches/ab_identity.py BASE.so NEW.so [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from _common import DATA_DIR
from ab_core import load

TOKENIZERS = ("auto", "words", "whitespace", "chars")


def hostile(rng: random.Random, rows: int) -> list[bytes | None]:
    """Short and long rows of every ASCII byte, words, separators, non-ASCII and bad bytes."""
    pieces = [
        "Hello", "WORLD", "snake_case", "x", "42", "ÀÉÎ", "straße", "ΟΔΟΣ", "σς", "İstanbul", "東京",
        "タワー", "ภาษาไทย", "─┼─", "\u00a0", "\u2028", "\t", "\n", "\x00", "\x1f", "\x7f", " ", ".,;",
        "A" * 70, "b" * 129, "𝔘𝔫𝔦", "café\u0301", "ﬁ", "²",
    ]  # fmt: skip
    out: list[bytes | None] = [None, b"", b" ", b"\xff\xfe bad", bytes(range(128))]
    for _ in range(rows):
        n = rng.choice([1, 3, 8, 40, 120, 600])
        text = "".join(rng.choice(pieces) + rng.choice(["", " ", "  ", "-", "\n"]) for _ in range(n))
        out.append(text.encode())
    return out


def corpora(quick: bool) -> dict[str, pa.ChunkedArray]:
    found: dict[str, pa.ChunkedArray] = {}
    for name in ("short-docstrings-60000", "short-docstrings-60000-x10"):
        path = DATA_DIR / name / "docs.jsonl"
        if path.exists() and not (quick and name.endswith("x10")):
            with path.open(encoding="utf-8") as lines:
                found[name] = pa.chunked_array([[json.loads(line)["text"] for line in lines]])
    if (DATA_DIR / "multilingual").exists():
        from bench_multilingual import load_catalogues

        by_lang = load_catalogues(every_language=True)
        found["multilingual catalogues"] = pa.chunked_array([[m for ms in by_lang.values() for m in ms]])
    found["hostile"] = pa.chunked_array([hostile(random.Random(0), 3000)], type=pa.binary())
    return found


SKETCH_FIELDS = (
    "signatures", "num_shingles", "status", "set_values", "set_offsets", "band_keys", "exact_keys", "lengths",
    "token_lengths",
)  # fmt: skip


def sketch(core: Any, texts: pa.ChunkedArray, workers: int, **params: Any) -> list[bytes]:
    """``minhash_sketch``'s arrays, and the fused ``Sketcher``'s where the build has it."""
    out = [
        np.asarray(a).tobytes()
        for a in core.minhash_sketch(texts, on_invalid="skip", workers=workers, **params)
    ]
    if hasattr(core, "Sketcher"):
        p = params
        sketcher = core.Sketcher(
            p["num_perm"], p["ngram"], p["tokenizer"], p["seed"], 16, 8, bits=p["bits"], exact=True,
            keep_sets=True, length_rows=500,
        )  # fmt: skip
        fused = sketcher.sketch(texts, workers=workers, on_invalid="skip")
        out += [np.asarray(getattr(fused, field)).tobytes() for field in SKETCH_FIELDS]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("--quick", action="store_true", help="skip the ×10 corpus and 64-bit values")
    args = parser.parse_args()
    base, new = load("ab_base", args.base), load("ab_new", args.new)
    print(f"kernels: base {base.kernel()}, new {new.kernel()}")
    for name, texts in corpora(args.quick).items():
        mb = pa.compute.sum(pa.compute.binary_length(texts.cast(pa.binary()))).as_py() / 1e6
        checked = 0
        for tokenizer in TOKENIZERS:
            for ngram in (1, 5, 13) if not name.endswith("x10") else (5,):
                for bits in (32,) if args.quick else (32, 64):
                    for workers in (1, 2):
                        params = dict(num_perm=128, ngram=ngram, tokenizer=tokenizer, seed=1, bits=bits)
                        if sketch(base, texts, workers, **params) != sketch(new, texts, workers, **params):
                            sys.exit(f"DIFFERENT: {name}, {params}, workers {workers}")
                        checked += 1
        print(f"{name}: {len(texts):,} rows, {mb:.1f} MB: identical in {checked} settings")


if __name__ == "__main__":
    main()
