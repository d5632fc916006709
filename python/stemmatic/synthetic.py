"""Generated corpora with planted near-duplicates, for the demo, tests and benchmarks.

The text is not lorem ipsum: words follow a Zipf law over a pseudo-vocabulary
(like natural language), sentences vary in length and carry capitals and
punctuation, and document lengths are log-uniform between ``min_words`` and
``max_words``. A share of documents are edited copies of earlier ones (word
substitutions, insertions, deletions), so their true Jaccard similarity to the
source is spread over a known range; ``planted_source`` records the source.
Everything is a pure function of ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

__all__ = ["SyntheticCorpus", "generate_corpus", "write_shards"]

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "qu", "st", "ch", "ng"]


def _vocabulary(rng: np.random.Generator, size: int) -> np.ndarray:
    lengths = rng.integers(1, 4, size=size)
    syllables = np.array(_SYLLABLES)
    words = {"".join(syllables[rng.integers(0, len(syllables), n)]) for n in lengths}
    return np.array(sorted(words))


@dataclass(frozen=True)
class SyntheticCorpus:
    """A generated corpus: ``table`` has columns ``id``, ``text``, ``planted_source``, ``edit_rate``."""

    table: pa.Table

    @property
    def texts(self) -> list[str]:
        texts: list[str] = self.table.column("text").to_pylist()
        return texts

    @property
    def num_planted(self) -> int:
        """Number of documents that are edited copies of another."""
        return len(self.table) - int(self.table.column("planted_source").null_count)


def generate_corpus(
    num_docs: int = 1000,
    *,
    seed: int = 0,
    min_words: int = 20,
    max_words: int = 5000,
    duplicate_fraction: float = 0.2,
    edit_rates: tuple[float, ...] = (0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.4),
    vocabulary_size: int = 50_000,
) -> SyntheticCorpus:
    """Generate ``num_docs`` documents, ``duplicate_fraction`` of them edited copies.

    >>> corpus = generate_corpus(50, seed=1, max_words=200)
    >>> len(corpus.table), corpus.table.column_names
    (50, ['id', 'text', 'planted_source', 'edit_rate'])
    """
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng, vocabulary_size)
    ranks = np.arange(1, len(vocab) + 1, dtype=np.float64)
    zipf = 1.0 / ranks**1.07
    cdf = np.cumsum(zipf / zipf.sum())
    cdf[-1] = 1.0
    punctuation = np.array([".", ".", ".", "?", "!", ";"])

    texts: list[str] = []
    sources: list[int | None] = []
    rates: list[float | None] = []
    words_of: list[np.ndarray] = []
    log_lo, log_hi = math.log(min_words), math.log(max_words)
    for i in range(num_docs):
        if i > 10 and rng.random() < duplicate_fraction:
            source = int(rng.integers(0, i))
            rate = float(edit_rates[int(rng.integers(0, len(edit_rates)))])
            words = _edit(rng, words_of[source], rate, vocab, cdf)
            sources.append(source)
            rates.append(rate)
        else:
            n = int(math.exp(rng.uniform(log_lo, log_hi)))
            words = vocab[np.searchsorted(cdf, rng.random(n))]
            sources.append(None)
            rates.append(None)
        words_of.append(words)
        texts.append(_render(rng, words, punctuation))
    table = pa.table(
        {
            "id": pa.array([f"doc-{i:07d}" for i in range(num_docs)]),
            "text": pa.array(texts, type=pa.large_string()),
            "planted_source": pa.array(
                [None if s is None else f"doc-{s:07d}" for s in sources], type=pa.string()
            ),
            "edit_rate": pa.array(rates, type=pa.float64()),
        }
    )
    return SyntheticCorpus(table)


def _edit(
    rng: np.random.Generator, words: np.ndarray, rate: float, vocab: np.ndarray, cdf: np.ndarray
) -> np.ndarray:
    if rate == 0.0:
        return np.array(words, copy=True)
    out = list(words)
    edits = max(1, round(rate * len(out)))
    replacements = vocab[np.searchsorted(cdf, rng.random(edits))]
    for new in replacements:
        kind = rng.integers(0, 3)
        pos = int(rng.integers(0, max(1, len(out))))
        if kind == 0 and out:
            out[pos] = new
        elif kind == 1:
            out.insert(pos, new)
        elif len(out) > 1:
            del out[pos]
    return np.array(out)


def _render(rng: np.random.Generator, words: np.ndarray, punctuation: np.ndarray) -> str:
    parts: list[str] = []
    i = 0
    n = len(words)
    while i < n:
        length = int(rng.integers(4, 25))
        sentence = list(words[i : i + length])
        sentence[0] = sentence[0].capitalize()
        parts.append(" ".join(sentence) + str(punctuation[int(rng.integers(0, len(punctuation)))]))
        i += length
        if rng.random() < 0.08:
            parts.append("\n\n")
    return " ".join(parts).replace(" \n\n ", "\n\n")


def write_shards(
    corpus: SyntheticCorpus, directory: str | Path, *, shards: int = 4, fmt: str = "parquet"
) -> list[Path]:
    """Write the corpus as ``shards`` files (``parquet`` or ``jsonl``) in ``directory``.

    Raises:
        ParameterError: for an unknown ``fmt`` or fewer than one shard (before writing anything).
    """
    from stemmatic.exceptions import ParameterError

    if fmt not in ("parquet", "jsonl"):
        raise ParameterError(f"unknown format {fmt!r}; expected 'parquet' or 'jsonl'")
    if shards < 1:
        raise ParameterError(f"shards must be at least 1, got {shards}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    table = corpus.table.select(["id", "text"])
    bounds = np.linspace(0, len(table), shards + 1).astype(int)
    paths = []
    for k in range(shards):
        part = table.slice(bounds[k], bounds[k + 1] - bounds[k])
        path = directory / f"part-{k:05d}.{fmt}"
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(part, path)
        else:
            import json

            with path.open("w", encoding="utf-8") as fh:
                for row in part.to_pylist():
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths
