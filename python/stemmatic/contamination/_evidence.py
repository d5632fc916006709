"""How much a hit proves: specificity of the entry, and token-level overlap measures.

**Specificity.** A hit on a long entry shared by one document is evidence; a
hit on ``return x + y``, found in every file that has the line, is not. Each
hit is classed (:func:`classify`):

* ``short``: the entry has fewer than ``min_specific_tokens`` tokens (default
  10, the shortest match Llama 2's contamination study counts; Touvron et al.
  2023, appendix A.6). Such entries are matched whole and common phrases
  match them by chance;
* ``common``: the entry is found in more than ``max_entry_docs`` documents
  of the corpus and this hit covers less than half of its n-grams: a shared
  boilerplate n-gram, not a copy (a copy of most of the entry stays
  ``strong`` however often it occurs: popular benchmarks are copied often);
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
from dataclasses import dataclass

import numpy as np

__all__ = [
    "COMMON_MAX_COVERAGE",
    "EVIDENCE",
    "LLAMA2_CLEAN",
    "LLAMA2_DIRTY",
    "TokenOverlap",
    "classify",
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
_BASE = np.uint64(0x100000001B3)


def classify(
    item_tokens: np.ndarray,
    entry_docs: np.ndarray,
    coverage: np.ndarray,
    *,
    min_specific_tokens: int,
    max_entry_docs: int | None,
) -> np.ndarray:
    """Evidence code (index into :data:`EVIDENCE`) of each hit.

    >>> classify(np.array([4, 40, 40, 40]), np.array([1, 1, 500, 500]), np.array([1.0, 0.1, 0.1, 0.9]),
    ...          min_specific_tokens=10, max_entry_docs=10).tolist()
    [1, 0, 2, 0]
    """
    codes = np.zeros(len(item_tokens), np.int8)
    if max_entry_docs is not None:
        codes[(entry_docs > max_entry_docs) & (coverage < COMMON_MAX_COVERAGE)] = COMMON
    codes[item_tokens < min_specific_tokens] = SHORT
    return codes


def word_tokens(text: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The ``words`` tokens of ``text`` (lowercased) with their ``[start, end)`` character offsets."""
    tokens, starts, ends = [], [], []
    for match in _WORD.finditer(text):
        tokens.append(match.group().lower())
        starts.append(match.start())
        ends.append(match.end())
    return tokens, np.asarray(starts, np.int64), np.asarray(ends, np.int64)


def tokens_of(text: str, tokenizer: str) -> np.ndarray:
    """Token keys of ``text`` with the engine's tokenizer (the tokens the index hashes)."""
    from stemmatic import _core

    return token_keys(_core.tokenize(text, tokenizer=tokenizer))


def token_keys(tokens: list[str]) -> np.ndarray:
    """A 64-bit key per token (equal tokens, equal keys) for comparisons within this process."""
    return np.fromiter((hash(t) for t in tokens), np.int64, len(tokens)).view(np.uint64)


_INVERSE_BASE = np.uint64(pow(int(_BASE), -1, 2**64))


class _Windows:
    """Keys of every n-token window of a sequence in O(length) for any n, from prefix sums.

    ``prefix[i] = sum(keys[k] * B**k for k < i)`` (wrapping uint64); the window
    at ``i`` has key ``(prefix[i + n] - prefix[i]) * B**-i``, the same for the
    same tokens wherever they stand (B is odd, so invertible modulo 2**64).
    """

    def __init__(self, keys: np.ndarray) -> None:
        self.length = len(keys)
        with np.errstate(over="ignore"):
            powers = np.cumprod(np.full(len(keys), _BASE, np.uint64)) * _INVERSE_BASE
            self.inverse = np.cumprod(np.full(len(keys), _INVERSE_BASE, np.uint64)) * _BASE
            self.prefix = np.concatenate([np.zeros(1, np.uint64), np.cumsum(keys * powers, dtype=np.uint64)])

    def keys(self, n: int) -> np.ndarray:
        if self.length < n:
            return np.zeros(0, np.uint64)
        with np.errstate(over="ignore"):
            return (self.prefix[n:] - self.prefix[:-n]) * self.inverse[: self.length - n + 1]


def _gram_keys(keys: np.ndarray, n: int) -> np.ndarray:
    """Keys of every n-token window of ``keys``."""
    return _Windows(keys).keys(n)


def _shared_windows(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(i, j)`` where the n-token windows of ``a`` and ``b`` are equal."""
    ka, kb = _gram_keys(a, n), _gram_keys(b, n)
    if not len(ka) or not len(kb):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(kb, kind="stable")
    sorted_b = kb[order]
    lo = np.searchsorted(sorted_b, ka, "left")
    hi = np.searchsorted(sorted_b, ka, "right")
    counts = hi - lo
    i = np.repeat(np.arange(len(ka), dtype=np.int64), counts)
    within = np.arange(len(i), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    j = order[np.repeat(lo, counts) + within]
    return i.astype(np.int64), j.astype(np.int64)


def longest_common_run(entry: np.ndarray, doc: np.ndarray) -> int:
    """Length of the longest run of consecutive tokens of ``entry`` that occurs in ``doc``."""
    if not len(entry) or not len(doc):
        return 0
    doc_set = np.unique(doc)
    if not np.isin(entry, doc_set).any():
        return 0
    lo, hi = 1, min(len(entry), len(doc))
    entry_windows, doc_windows = _Windows(entry), _Windows(doc)
    while lo < hi:  # the longest n with a shared n-gram; "shares an n-gram" is monotone in n
        mid = (lo + hi + 1) // 2
        if np.isin(entry_windows.keys(mid), doc_windows.keys(mid)).any():
            lo = mid
        else:
            hi = mid - 1
    return lo


def llama2_spans(
    entry: np.ndarray,
    doc: np.ndarray,
    *,
    min_span: int = LLAMA2_MIN_SPAN,
    skip_budget: int = LLAMA2_SKIP_BUDGET,
) -> list[tuple[int, int]]:
    """Entry token ranges ``[start, end)`` matched in ``doc`` as Llama 2 defines them (see the module doc)."""
    seeds_i, seeds_j = _shared_windows(entry, doc, min_span)
    if not len(seeds_i):
        return []
    spans: list[tuple[int, int]] = []
    reached: dict[int, int] = {}  # diagonal (j - i) -> entry position its last span reached
    for i, j in zip(seeds_i.tolist(), seeds_j.tolist(), strict=True):
        diagonal = j - i
        if reached.get(diagonal, -1) > i:
            continue
        last = i + min_span  # one past the last matching token
        misses = 0
        p, q = last, j + min_span
        while p < len(entry) and q < len(doc):
            if entry[p] == doc[q]:
                last = p + 1
            else:
                misses += 1
                if misses > skip_budget:
                    break
            p += 1
            q += 1
        reached[diagonal] = last
        spans.append((i, last))
    return spans


@dataclass
class TokenOverlap:
    """Per entry: which of its tokens are contaminated (Llama 2) and its longest span found, over all documents."""

    entry_keys: list[np.ndarray]
    covered: list[np.ndarray]
    longest: np.ndarray
    #: The index's tokenizer: tokens are counted as the index counts them.
    tokenizer: str

    @classmethod
    def for_texts(cls, texts: list[str], tokenizer: str) -> TokenOverlap:
        keys = [tokens_of(t, tokenizer) for t in texts]
        return cls(keys, [np.zeros(len(k), bool) for k in keys], np.zeros(len(keys), np.int64), tokenizer)

    def add(self, entry: int, doc_keys: np.ndarray) -> int:
        """Compare entry ``entry`` with a document; return the longest run they share."""
        keys = self.entry_keys[entry]
        run = longest_common_run(keys, doc_keys)
        if run > self.longest[entry]:
            self.longest[entry] = run
        if run >= LLAMA2_MIN_SPAN:
            for start, end in llama2_spans(keys, doc_keys):
                self.covered[entry][start:end] = True
        return run

    def coverage(self) -> np.ndarray:
        """Share of each entry's tokens contaminated (0 for an entry without tokens)."""
        return np.array([c.mean() if len(c) else 0.0 for c in self.covered])
