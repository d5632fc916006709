"""One batch of the contamination scan: the step the local scan and the Ray/Spark engines share.

A batch of texts gives its hits (the Rust n-gram scan, merged with the
short-statement pass when asked for), and for each hit what can be known
from the batch alone: how it matched (``match``), whether its matched text
has no letter (a partial match of numbers is boilerplate, see
:func:`~stemmatic.contamination._evidence.letterless_hits`) and, on request,
its longest span and Llama 2 spans. What needs the whole corpus (how many
documents contain each entry, hence the ``evidence`` of each hit) is added
by the caller once every batch is scanned (:func:`evidence_columns`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from stemmatic._arrow import from_numpy, strings, to_numpy
from stemmatic.contamination._evidence import EVIDENCE, TokenOverlap, classify, letterless_hits
from stemmatic.contamination._index import ContaminationIndex, _RawHits
from stemmatic.contamination._short import MATCHES, SHORT, ShortStatements, merge_hits

__all__ = ["BatchHits", "evidence_columns", "scan_batch"]


@dataclass
class BatchHits:
    """The hits of one batch, ordered by row then entry."""

    raw: _RawHits
    #: Match code of each hit (into ``MATCHES``: n-gram or short statement).
    match: np.ndarray
    #: Whether each hit covers under half its entry with matched text that has no letter.
    letterless: np.ndarray
    #: The engine's token overlap of each hit (``_core.Overlaps``), when measured.
    overlaps: Any | None = None

    @property
    def rows(self) -> np.ndarray:
        return self.raw.rows.astype(np.int64)

    @property
    def entries(self) -> np.ndarray:
        return self.raw.entries.astype(np.int64)

    def counted_now(self, entry_tokens: np.ndarray, min_specific_tokens: int, count_weak: bool) -> np.ndarray:
        """Hits that ``--remove`` counts while the corpus is still being read: all but short and letterless ones."""
        if count_weak:
            return np.ones(len(self.raw), bool)
        return np.asarray((entry_tokens[self.entries] >= min_specific_tokens) & ~self.letterless, bool)

    def table(self, index: ContaminationIndex, doc_ids: pa.Array, short: ShortStatements | None) -> pa.Table:
        """The hits table: ``HITS_SCHEMA``, ``match`` and, with token overlap, ``longest_span``."""
        table = index.tabulate(self.raw, doc_ids)
        if short is not None and (self.match == SHORT).any():
            item_ngrams = np.where(
                self.match == SHORT, short.item_ngrams[self.entries], to_numpy(table["item_ngrams"])
            )
            table = table.set_column(
                table.schema.get_field_index("item_ngrams"),
                "item_ngrams",
                from_numpy(np.asarray(item_ngrams), pa.int64()),
            )
        table = table.append_column("match", strings(np.asarray(MATCHES, object)[self.match].tolist()))
        if self.overlaps is not None:
            longest = np.asarray(self.overlaps.longest, np.int64)
            table = table.append_column("longest_span", from_numpy(np.asarray(longest), pa.int64()))
        return table


def scan_batch(
    index: ContaminationIndex,
    texts: pa.Array,
    *,
    min_ngrams: int,
    min_coverage: float,
    workers: int | None,
    short: ShortStatements | None = None,
    overlap: TokenOverlap | None = None,
    guard: Callable[[Callable[[], _RawHits]], _RawHits] | None = None,
) -> BatchHits:
    """Scan ``texts``; ``guard`` wraps each engine scan (to name a bad row by its place in the input)."""

    def run(scan: Callable[[], _RawHits]) -> _RawHits:
        return guard(scan) if guard is not None else scan()

    raw = run(
        lambda: index.scan_raw(texts, min_ngrams=min_ngrams, min_coverage=min_coverage, workers=workers)
    )
    match = np.zeros(len(raw), np.int8)
    if short is not None:
        extra = run(lambda: short.scan(texts, workers))
        raw, match = merge_hits(raw, extra, index.num_entries)
    rows = raw.rows.astype(np.int64)
    letterless = letterless_hits(texts, rows, raw.coverage, raw.span_offsets, raw.span_starts, raw.span_ends)
    hits = BatchHits(raw, match, letterless)
    if overlap is not None and len(raw):
        hits.overlaps = overlap.compare(texts, rows, raw.entries.astype(np.int64), workers)
    return hits


def evidence_columns(
    entries: np.ndarray,
    coverage: np.ndarray,
    letterless: np.ndarray,
    docs_per_entry: np.ndarray,
    entry_tokens: np.ndarray,
    *,
    min_specific_tokens: int,
    max_entry_docs: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``entry_docs`` (documents containing the hit's entry) and the evidence code of each hit."""
    entry_docs = docs_per_entry[entries]
    evidence = classify(
        entry_tokens[entries],
        entry_docs,
        coverage,
        min_specific_tokens=min_specific_tokens,
        max_entry_docs=max_entry_docs,
        letterless=letterless,
    )
    return entry_docs, evidence


#: Evidence names by code, for the hits tables.
EVIDENCE_NAMES = np.asarray(EVIDENCE, object)
