"""The CPU kernel choice (``STEMMATIC_KERNEL``): every kernel gives byte-identical outputs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stemmatic import _core

KERNELS = ("portable", "avx2", "avx512")

# Run in a fresh process per kernel (the choice is made once, at import): MinHash
# signatures of every tokenizer, a dedup and a contamination scan, written to argv[1].
SCRIPT = r"""
import json, sys
from pathlib import Path

import pyarrow as pa

import stemmatic
from stemmatic import _core
from stemmatic.contamination import build_index, scan_corpus
from stemmatic.dedup import dedup

out = Path(sys.argv[1])
corpus, bench = sys.argv[2], sys.argv[3]
texts = [json.loads(line)["text"] for line in open(corpus, encoding="utf-8")]
with open(out / "signatures.bin", "wb") as sink:
    for tokenizer in ("words", "whitespace", "chars", "auto"):
        for bits in (32, 64):
            sig = stemmatic.minhash(
                pa.chunked_array([texts]), num_perm=100, ngram=3, tokenizer=tokenizer, seed=7, bits=bits
            )
            sink.write(sig.tobytes())
dedup([corpus], str(out / "dedup"), threshold=0.5, ngram=3, workers=2)
for tokenizer in ("words", "whitespace", "auto"):
    index = build_index({"bench": bench}, fields=["prompt"], ngram=4, tokenizer=tokenizer)
    scan_corpus([corpus], index, str(out / f"scan-{tokenizer}"), workers=2)
print(_core.kernel())
"""


def _corpus(tmp_path: Path) -> tuple[Path, Path]:
    """Texts that reach every path of the tokenizers: ASCII runs across 64-byte blocks,
    long tokens, non-ASCII runs, unspaced scripts, final sigma, and near-duplicates."""
    pieces = [
        "The quick brown fox jumps over the lazy dog",
        "AVeryLongIdentifierThatSpansSeveralWordsOfEightBytes_and_more_than_64_bytes_in_one_token",
        "café Straße naïve Ωmega ΟΔΟΣ σοφία",
        "我爱北京天安门。Hello世界 2024年コーヒー ที่นี่",
        "tabs\tand\nnewlines\u00a0nbsp\u3000ideographic space",
        "x_1 y2 Z3, 42; foo-bar (baz) [qux] {quux}",
    ]
    docs = []
    for i in range(60):
        words = [pieces[(i + k) % len(pieces)] for k in range(1 + i % 5)]
        docs.append(f"doc {i % 17} " + " ".join(words) + f" tail {i % 3}")
    docs += [docs[3] + "!", docs[10].upper(), "", "   ", "Σ"]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(docs)), encoding="utf-8"
    )
    bench = tmp_path / "bench.jsonl"
    items = [pieces[0], pieces[2] + " " + pieces[3], "nothing of this is in the corpus at all"]
    bench.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in items), encoding="utf-8")
    return corpus, bench


def _outputs(directory: Path) -> dict[str, str]:
    """Digest of every output file but the reports (which hold timings)."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != "report.json" and not path.name.startswith(".")
    }


def _run(kernel: str | None, out: Path, corpus: Path, bench: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "STEMMATIC_KERNEL"}
    if kernel is not None:
        env["STEMMATIC_KERNEL"] = kernel
    out.mkdir()
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), str(corpus), str(bench)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_the_kernel_is_named() -> None:
    assert _core.kernel() in KERNELS
    assert _core.TOKEN_BOUNDS_KERNEL in KERNELS
    # The token-bounds kernel is never wider than the process's kernel.
    assert KERNELS.index(_core.TOKEN_BOUNDS_KERNEL) <= KERNELS.index(_core.kernel())
    forced = os.environ.get("STEMMATIC_KERNEL", "").strip().lower()
    if forced and forced != "auto":
        assert _core.kernel() == forced


def test_every_kernel_gives_the_default_kernels_outputs(tmp_path: Path) -> None:
    corpus, bench = _corpus(tmp_path)
    default = _run(None, tmp_path / "default", corpus, bench)
    assert default.returncode == 0, default.stderr
    detected = default.stdout.split()[-1]
    expected = _outputs(tmp_path / "default")
    assert "signatures.bin" in expected
    assert any(name.startswith("dedup/removed") for name in expected), expected
    assert any(name.startswith("scan-words/") for name in expected), expected
    # Every kernel this CPU runs: the portable one always, the wider ones up to the detected one.
    for kernel in KERNELS[: KERNELS.index(detected) + 1]:
        done = _run(kernel, tmp_path / kernel, corpus, bench)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[-1] == kernel
        assert _outputs(tmp_path / kernel) == expected, kernel


@pytest.mark.parametrize(
    ("value", "message"),
    [("sse9", 'unknown kernel "sse9"'), ("avx-512", "expected one of")],
)
def test_an_unknown_kernel_is_refused_at_import(value: str, message: str) -> None:
    done = _import_with(value)
    assert done.returncode != 0
    assert "ParameterError" in done.stderr
    assert "STEMMATIC_KERNEL" in done.stderr and message in done.stderr


def test_a_kernel_the_cpu_lacks_is_refused_naming_the_features() -> None:
    missing = [k for k in KERNELS if KERNELS.index(k) > KERNELS.index(_detected())]
    if not missing:
        pytest.skip("this CPU runs every kernel")
    done = _import_with(missing[-1])
    assert done.returncode != 0
    assert "cannot run the" in done.stderr and "it lacks avx" in done.stderr


def _detected() -> str:
    env = {k: v for k, v in os.environ.items() if k != "STEMMATIC_KERNEL"}
    done = subprocess.run(
        [sys.executable, "-c", "from stemmatic import _core; print(_core.kernel())"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return done.stdout.split()[-1]


def _import_with(value: str) -> subprocess.CompletedProcess[str]:
    """Import the extension module with ``STEMMATIC_KERNEL=value``."""
    env = {**os.environ, "STEMMATIC_KERNEL": value}
    return subprocess.run(
        [sys.executable, "-c", "import stemmatic._core"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
