"""How much a hit proves: specificity of the entry, and token-level overlap measures.

**Specificity.** A hit on a long entry shared by one document is evidence; a
hit on ``return x + y``, found in every file that has the line, is not. Each
hit is classed (:func:`classify`):

* ``short``: the entry has fewer than ``min_specific_tokens`` tokens (default
  10, the shortest match Llama 2's contamination study counts; Touvron et al.
  2023, appendix A.6). Such entries are matched whole and common phrases
  match them by chance;
* ``common``: the hit covers less than half of the entry's n-grams and
  either the entry is found in more than ``max_entry_docs`` documents of the
  corpus, or the matched text has no letter (numbers and punctuation only,
  such as ``0, 1, 2, 3...``): a shared boilerplate run, not a copy (a copy of
  most of the entry stays ``strong`` however often it occurs: popular
  benchmarks are copied often);
* ``strong``: every other hit.

Only ``strong`` hits count as contamination by default (report, clean
benchmarks, ``--remove``); the others stay in ``hits.parquet``, reported apart.

**Token overlap** between an entry and the documents that hit it
(:class:`TokenOverlap`), in the index's tokens:

* the longest run of consecutive entry tokens found in a document
  (``longest_span``);
* Llama 2's token coverage: a token of the entry is contaminated when it lies
  in a matched span of at least ``min_span`` (10) tokens shared with a
  document, where a span may skip (mismatch) at most ``skip_budget`` (4)
  tokens, never within its first ``min_span`` tokens and never at its end.
  The share of contaminated tokens puts the entry in the paper's buckets:
  *clean* (< 20%), *not clean* (≥ 20%), *not dirty* (< 80%), *dirty* (≥ 80%).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa

from stemmatic.exceptions import ParameterError

__all__ = [
    "COMMON_MAX_COVERAGE",
    "EVIDENCE",
    "LLAMA2_CLEAN",
    "LLAMA2_DIRTY",
    "TokenOverlap",
    "classify",
    "letterless_hits",
    "word_tokens",
]

#: Evidence classes, by code.
EVIDENCE = ("strong", "short", "common")
STRONG, SHORT, COMMON = 0, 1, 2
#: A hit on a common entry that covers at least this share of its n-grams is a copy (strong).
COMMON_MAX_COVERAGE = 0.5
#: Llama 2's buckets: clean below 20% of tokens contaminated, dirty from 80%.
LLAMA2_CLEAN = 0.2
LLAMA2_DIRTY = 0.8
LLAMA2_MIN_SPAN = 10
LLAMA2_SKIP_BUDGET = 4

_WORD = re.compile(r"\w+")


def classify(
    item_tokens: np.ndarray,
    entry_docs: np.ndarray,
    coverage: np.ndarray,
    *,
    min_specific_tokens: int,
    max_entry_docs: int | None,
    letterless: np.ndarray | None = None,
) -> np.ndarray:
    """Evidence code (index into :data:`EVIDENCE`) of each hit.

    ``letterless`` marks the hits whose matched text has no letter (see :func:`letterless_hits`).

    >>> classify(np.array([4, 40, 40, 40, 40]), np.array([1, 1, 500, 500, 1]),
    ...          np.array([1.0, 0.1, 0.1, 0.9, 0.1]), min_specific_tokens=10, max_entry_docs=10,
    ...          letterless=np.array([False, False, False, False, True])).tolist()
    [1, 0, 2, 0, 2]
    """
    codes = np.zeros(len(item_tokens), np.int8)
    partial = coverage < COMMON_MAX_COVERAGE
    if max_entry_docs is not None:
        codes[(entry_docs > max_entry_docs) & partial] = COMMON
    if letterless is not None:
        codes[letterless & partial] = COMMON
    codes[item_tokens < min_specific_tokens] = SHORT
    return codes


_LETTER = re.compile(r"[^\W\d_]")


def letterless_hits(
    texts: pa.Array, rows: np.ndarray, coverage: np.ndarray, span_offsets: np.ndarray,
    span_starts: np.ndarray, span_ends: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Which hits cover less than half of their entry with matched text that has no letter.

    Runs of numbers and punctuation (``0, 1, 2, 3...``, ``0.1, 0.2, 0.3...``,
    tables of figures) recur in unrelated documents; a partial match made of
    them only is boilerplate, not a copy. Only hits below
    :data:`COMMON_MAX_COVERAGE` are looked at.

    >>> letterless_hits(pa.array(["x 0, 1, 2, 3 y", "a b c"]), np.array([0, 1]), np.array([0.1, 0.1]),
    ...                 np.array([0, 1, 2]), np.array([2, 0]), np.array([12, 5])).tolist()
    [True, False]
    """
    out = np.zeros(len(rows), bool)
    cache: dict[int, str] = {}
    for hit in np.flatnonzero(coverage < COMMON_MAX_COVERAGE).tolist():
        row = int(rows[hit])
        text = cache.get(row)
        if text is None:
            value = texts[row].as_py()
            text = cache[row] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value or ""
        lo, hi = int(span_offsets[hit]), int(span_offsets[hit + 1])
        out[hit] = hi > lo and not any(
            _LETTER.search(text, int(start), int(end))
            for start, end in zip(span_starts[lo:hi], span_ends[lo:hi], strict=True)
        )
    return out


def word_tokens(text: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The ``words`` tokens of ``text`` (lowercased) with their ``[start, end)`` character offsets."""
    tokens, starts, ends = [], [], []
    for match in _WORD.finditer(text):
        tokens.append(match.group().lower())
        starts.append(match.start())
        ends.append(match.end())
    return tokens, np.asarray(starts, np.int64), np.asarray(ends, np.int64)


class TokenOverlap:
    """Per entry: which of its tokens are contaminated (Llama 2) and its longest span found, over all documents.

    The comparison runs in the engine (``_core.EntryTokens``: one pass over
    each document's tokens per entry it hits, documents in parallel); this
    class accumulates its per-hit results.

    >>> overlap = TokenOverlap.for_texts(["a b c d e f g h i j k l"], "words", min_span=4)
    >>> overlap.add_batch(pa.array(["x a b c d e y", "f g h i j k"]), np.array([0, 1]), np.array([0, 0])).tolist()
    [5, 6]
    >>> overlap.coverage().round(2).tolist(), overlap.longest.tolist()
    ([0.92], [6])
    """

    def __init__(self, tokens: Any, min_span: int, skip_budget: int) -> None:
        self._tokens = tokens
        self.min_span, self.skip_budget = min_span, skip_budget
        lengths = np.asarray(tokens.lengths(), np.int64)
        self.lengths = lengths
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.covered = np.zeros(int(self.offsets[-1]), bool)
        self.longest = np.zeros(len(lengths), np.int64)

    @classmethod
    def for_texts(
        cls,
        texts: list[str],
        tokenizer: str,
        *,
        min_span: int = LLAMA2_MIN_SPAN,
        skip_budget: int = LLAMA2_SKIP_BUDGET,
    ) -> TokenOverlap:
        """Tokenize the entry ``texts`` with the index's ``tokenizer``."""
        from stemmatic import _core

        if not 1 <= min_span <= 2**32 - 1:
            raise ParameterError(f"invalid parameter `min_span`: {min_span}; must be at least 1")
        if not 0 <= skip_budget <= 2**32 - 1:
            raise ParameterError(f"invalid parameter `skip_budget`: {skip_budget}; must be at least 0")
        return cls(_core.EntryTokens(texts, tokenizer), min_span, skip_budget)

    def compare(
        self, texts: pa.Array, rows: np.ndarray, entries: np.ndarray, workers: int | None = None
    ) -> Any:
        """The engine's comparison of entry ``entries[k]`` with ``texts[rows[k]]`` (nothing accumulated)."""
        from stemmatic._arrow import as_text_column

        return self._tokens.compare(
            as_text_column(texts),
            np.asarray(rows, np.uint32),
            np.asarray(entries, np.uint32),
            min_span=self.min_span,
            skip_budget=self.skip_budget,
            workers=workers,
        )

    def add_batch(
        self, texts: pa.Array, rows: np.ndarray, entries: np.ndarray, workers: int | None = None
    ) -> np.ndarray:
        """Compare each hit's entry with its document (row of ``texts``); the longest span of each hit."""
        found = self.compare(texts, rows, entries, workers)
        self.accumulate(entries, found)
        return np.asarray(found.longest, np.int64)

    def accumulate(self, entries: np.ndarray, found: Any) -> None:
        """Add what :meth:`compare` found for hits on ``entries`` (longest spans, Llama 2 spans)."""
        longest = np.asarray(found.longest, np.int64)
        entries = np.asarray(entries, np.int64)
        np.maximum.at(self.longest, entries, longest)
        offsets = np.asarray(found.span_offsets, np.int64)
        if not offsets[-1]:
            return
        base = np.repeat(self.offsets[entries], np.diff(offsets))
        starts = base + np.asarray(found.span_starts, np.int64)
        ends = base + np.asarray(found.span_ends, np.int64)
        if len(starts) * 64 < len(self.covered):
            # Few spans (the usual batch): mark them one by one, not a pass over every entry token.
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                self.covered[start:end] = True
            return
        # Mark the spans' tokens: +1 at each start, -1 at each end, a running sum > 0 is covered.
        marks = np.zeros(len(self.covered) + 1, np.int64)
        np.add.at(marks, starts, 1)
        np.add.at(marks, ends, -1)
        self.covered |= np.cumsum(marks[:-1]) > 0

    def coverage(self) -> np.ndarray:
        """Share of each entry's tokens contaminated (0 for an entry without tokens)."""
        running = np.concatenate([[0], np.cumsum(self.covered, dtype=np.int64)])
        counts = running[self.offsets[1:]] - running[self.offsets[:-1]]
        return np.asarray(
            np.divide(counts, self.lengths, out=np.zeros(len(self.lengths)), where=self.lengths > 0),
            np.float64,
        )
