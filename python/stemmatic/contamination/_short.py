"""Short statements: a second, shorter n-gram pass over chosen fields.

A problem statement copied without its code shares no 13-token run with the
indexed prompt when the statement itself is short (a one-line docstring).
A second index of the same entries with shorter n-grams (built in memory from
the texts the index stores, scanned by the same Rust scanner) finds them; a
hit of this pass needs ``min_ngrams`` distinct short n-grams, and counts
only for pairs (document, entry) the main pass did not find.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from stemmatic._arrow import to_numpy
from stemmatic.contamination._index import ContaminationIndex, _RawHits
from stemmatic.exceptions import ParameterError

__all__ = ["MATCHES", "ShortStatements", "merge_hits"]

#: How a hit was found, by code: the index's n-grams, the short pass, (semantic hits live apart).
MATCHES = ("ngram", "short")
NGRAM, SHORT = 0, 1


@dataclass
class ShortStatements:
    """The short-n-gram index of an index's entries (those of ``fields``), mapped back to its entries."""

    index: ContaminationIndex
    #: Main entry number of each short-index entry.
    entry_of: np.ndarray
    #: Per main entry, its number of distinct short n-grams (0: not in the short pass).
    item_ngrams: np.ndarray
    ngram: int
    fields: list[str]
    min_ngrams: int

    @classmethod
    def build(
        cls,
        index: ContaminationIndex,
        *,
        ngram: int,
        fields: Sequence[str] | None,
        min_ngrams: int,
        workers: int | None = None,
    ) -> ShortStatements:
        if not 1 <= ngram < index.ngram:
            raise ParameterError(
                f"invalid parameter `short_ngram`: {ngram}; must be between 1 and the index's n-gram "
                f"size minus one ({index.ngram - 1})"
            )
        if min_ngrams < 1:
            raise ParameterError(f"invalid parameter `short_min_ngrams`: {min_ngrams}; must be at least 1")
        texts = index.entry_texts()
        selected, chosen = index.entries_of_fields(fields, "short_fields")
        params = (index.build_info.get("parameters") or {}) if index.build_info else {}
        records = pa.table(
            {
                "entry": pa.array([str(k) for k in selected.tolist()], pa.string()),
                "text": pa.array([texts[k] for k in selected.tolist()], pa.string()),
            }
        )
        short = ContaminationIndex.from_records(
            records,
            fields=["text"],
            benchmark="short",
            id_field="entry",
            ngram=ngram,
            tokenizer=index.tokenizer,  # type: ignore[arg-type]
            seed=index.seed,
            max_item_frequency=params.get("max_item_frequency"),
            workers=workers,
        )
        short_entries = short.entries()
        entry_of = np.asarray(short_entries["item_id"].to_pylist(), np.int64)
        item_ngrams = np.zeros(index.num_entries, np.int64)
        item_ngrams[entry_of] = to_numpy(short_entries["item_ngrams"]).astype(np.int64, copy=False)
        return cls(short, entry_of, item_ngrams, ngram, chosen, min_ngrams)

    def scan(self, texts: pa.Array, workers: int | None) -> _RawHits:
        """The short-pass hits of ``texts``, with entries numbered as in the main index."""
        raw = self.index.scan_raw(texts, min_ngrams=self.min_ngrams, workers=workers)
        return _RawHits(
            raw.rows,
            self.entry_of[raw.entries.astype(np.int64)],
            raw.matched,
            raw.coverage,
            raw.span_offsets,
            raw.span_starts,
            raw.span_ends,
            raw.null_rows,
        )


def merge_hits(main: _RawHits, extra: _RawHits, num_entries: int) -> tuple[_RawHits, np.ndarray]:
    """``main`` plus the hits of ``extra`` on (row, entry) pairs ``main`` lacks, ordered by row then entry.

    Returns the merged hits and the match code (:data:`MATCHES`) of each.
    """
    main_keys = main.rows.astype(np.int64) * num_entries + main.entries.astype(np.int64)
    extra_keys = extra.rows.astype(np.int64) * num_entries + extra.entries.astype(np.int64)
    take = np.flatnonzero(~np.isin(extra_keys, main_keys))
    if not len(take):
        return main, np.full(len(main), NGRAM, np.int8)
    keys = np.concatenate([main_keys, extra_keys[take]])
    order = np.argsort(keys, kind="stable")
    match = np.concatenate([np.full(len(main), NGRAM, np.int8), np.full(len(take), SHORT, np.int8)])[order]

    def spans(raw: _RawHits, hits: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        offsets = raw.span_offsets.astype(np.int64)
        return [
            (raw.span_starts[offsets[h] : offsets[h + 1]], raw.span_ends[offsets[h] : offsets[h + 1]])
            for h in hits.tolist()
        ]

    all_spans = spans(main, np.arange(len(main))) + spans(extra, take)
    ordered = [all_spans[k] for k in order.tolist()]
    lengths = np.array([len(s) for s, _ in ordered], np.int64)
    merged = _RawHits(
        np.concatenate([main.rows, extra.rows[take]])[order],
        np.concatenate([main.entries.astype(np.int64), extra.entries[take].astype(np.int64)])[order],
        np.concatenate([main.matched, extra.matched[take]])[order],
        np.concatenate([main.coverage, extra.coverage[take]])[order],
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        np.concatenate([s for s, _ in ordered] or [np.zeros(0, np.int64)]).astype(np.int64),
        np.concatenate([e for _, e in ordered] or [np.zeros(0, np.int64)]).astype(np.int64),
        main.null_rows,
    )
    return merged, match
