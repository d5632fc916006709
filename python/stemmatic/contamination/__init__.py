"""Benchmark contamination: find evaluation items inside training corpora, with the evidence.

Build an n-gram index of benchmark items (:func:`build_index`; add
benchmarks to it later with :meth:`ContaminationIndex.add_benchmarks`), scan
corpora with it (:meth:`ContaminationIndex.scan` for texts in memory,
:func:`scan_corpus` for sharded Parquet/JSONL, writing ``hits.parquet``,
``items.parquet`` and ``report.json``), and optionally remove or cut the
contaminated documents (:func:`gpt3_cut`).

Matching (the contract a plain-Python reference reproduces):

* an *entry* is one field of one benchmark item; its text is tokenized with
  the dedup tokenizers (default ``auto``: ``words``, i.e.
  ``re.findall(r"\\w+", text.lower())``, with each character of scripts
  written without spaces a token of its own; so re-indented, re-spaced or
  re-wrapped copies still match);
* its fingerprints are the XXH3-64 hashes (seeded) of its n-grams, the
  tokens joined by one space; an entry with fewer than n tokens has one
  fingerprint, all its tokens, and is matched whole;
* a document *contains* an entry when at least ``min_ngrams`` of the entry's
  distinct fingerprints occur in it and they are at least ``min_coverage``
  of them; ``coverage`` is that fraction, and ``spans`` are the character
  ranges of the document covered by the matched n-grams (overlapping or
  touching n-grams merged).

:func:`scan_corpus` adds what a hit proves (``short`` and ``common`` entries
are reported apart, see ``_evidence``), and on request a short-statement pass
(``_short``), Llama 2's token coverage with the longest matched span, semantic
matching in embedding space (``_semantic``) and the clean part of each
benchmark (:func:`write_clean_benchmarks`).
"""

from __future__ import annotations

from stemmatic.contamination._clean import write_clean_benchmarks
from stemmatic.contamination._cut import CutResult, gpt3_cut
from stemmatic.contamination._index import DEFAULT_NGRAM, HITS_SCHEMA, ContaminationIndex, build_index
from stemmatic.contamination._scan import scan_corpus

__all__ = [
    "DEFAULT_NGRAM",
    "HITS_SCHEMA",
    "ContaminationIndex",
    "CutResult",
    "build_index",
    "gpt3_cut",
    "scan_corpus",
    "write_clean_benchmarks",
]
