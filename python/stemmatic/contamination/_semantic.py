"""Semantic matching: benchmark entries whose nearest document chunks in embedding space are close.

Paraphrased statements and code with renamed identifiers share few n-grams
with the original. This pass cuts every document into overlapping chunks of
``chunk_tokens`` words, embeds them (by default with the offline MiniLM
model), and looks up each chunk's nearest entries in a FAISS inner-product
index of the entries' embeddings; a (document, entry) pair whose best chunk
has cosine similarity at least ``threshold`` is a semantic hit. Each hit
carries its evidence: the similarity, the chunk's character range, and the
longest run of entry tokens the chunk shares (partial n-gram evidence).
Semantic hits are written apart from n-gram hits (``semantic.parquet``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from stemmatic.contamination._evidence import TokenOverlap, word_tokens
from stemmatic.contamination._index import ContaminationIndex
from stemmatic.exceptions import ParameterError

__all__ = ["DEFAULT_SEMANTIC_THRESHOLD", "SEMANTIC_SCHEMA", "SemanticMatcher"]

#: Cosine similarity a chunk needs (chosen on the planted cases of benches/bench_contamination.py).
DEFAULT_SEMANTIC_THRESHOLD = 0.75
DEFAULT_CHUNK_TOKENS = 128
#: Nearest entries looked up per chunk.
_NEIGHBOURS = 3

SEMANTIC_SCHEMA = pa.schema(
    [
        ("doc_id", pa.int64()),
        ("benchmark", pa.string()),
        ("item_id", pa.string()),
        ("field", pa.string()),
        ("similarity", pa.float32()),
        ("chunk_start", pa.int64()),
        ("chunk_end", pa.int64()),
        ("longest_span", pa.int64()),
        ("item_tokens", pa.int64()),
    ]
)


def nearest_entries(index: Any, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest entries of each chunk vector: (similarities, entry numbers; -1 where none).

    The one place the semantic pass searches, so it can move to a shared neighbour search.
    """
    similarities, found = index.search(np.ascontiguousarray(vectors, np.float32), k)
    return similarities, found.astype(np.int64)


def chunks_of(text: str, chunk_tokens: int) -> list[tuple[int, int]]:
    """Character ranges of overlapping windows of ``chunk_tokens`` words (stride half a window)."""
    _, starts, ends = word_tokens(text)
    if not len(starts):
        return []
    stride = max(1, chunk_tokens // 2)
    out = []
    for first in range(0, max(1, len(starts) - chunk_tokens + stride), stride):
        last = min(len(starts), first + chunk_tokens) - 1
        out.append((int(starts[first]), int(ends[last])))
        if last == len(starts) - 1:
            break
    return out


@dataclass
class SemanticMatcher:
    """Embeds the entries once, then finds them in batches of documents."""

    index: ContaminationIndex
    embedder: Any
    threshold: float
    chunk_tokens: int
    entries: np.ndarray  # entry numbers embedded
    overlap: TokenOverlap  # tokens of every entry, for the longest span a chunk shares
    faiss_index: Any
    rows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        index: ContaminationIndex,
        *,
        embedder: Any = "minilm",
        threshold: float = DEFAULT_SEMANTIC_THRESHOLD,
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
        fields: Sequence[str] | None = None,
    ) -> SemanticMatcher:
        from stemmatic.diversity.embed import get_embedder
        from stemmatic.diversity.index import build_index

        if not -1.0 <= threshold <= 1.0:
            raise ParameterError(f"invalid parameter `semantic_threshold`: {threshold}; must be in [-1, 1]")
        if not 8 <= chunk_tokens <= 100_000:
            raise ParameterError(
                f"invalid parameter `chunk_tokens`: {chunk_tokens}; must be between 8 and 100000"
            )
        texts = index.entry_texts()
        entries, _ = index.entries_of_fields(fields, "semantic_fields")
        model = get_embedder(embedder)
        vectors = (
            model.embed([texts[k] for k in entries.tolist()]) if len(entries) else np.zeros((0, model.dim))
        )
        faiss_index = build_index(np.asarray(vectors, np.float32), "flat") if len(entries) else None
        overlap = TokenOverlap.for_texts(texts, index.tokenizer)
        return cls(index, model, threshold, chunk_tokens, entries, overlap, faiss_index)

    def scan(self, texts: Sequence[str | None], doc_ids: pa.Array) -> None:
        """Find the entries in ``texts`` (one batch); the hits accumulate in :attr:`rows`."""
        if self.faiss_index is None:
            return
        chunk_doc: list[int] = []
        chunk_span: list[tuple[int, int]] = []
        chunk_text: list[str] = []
        for row, text in enumerate(texts):
            if not text:
                continue
            for start, end in chunks_of(text, self.chunk_tokens):
                chunk_doc.append(row)
                chunk_span.append((start, end))
                chunk_text.append(text[start:end])
        if not chunk_text:
            return
        vectors = self.embedder.embed(chunk_text)
        k = min(_NEIGHBOURS, len(self.entries))
        similarities, found = nearest_entries(self.faiss_index, vectors, k)
        best: dict[tuple[int, int], tuple[float, int]] = {}
        for chunk, (sims, hits) in enumerate(zip(similarities, found, strict=True)):
            for sim, hit in zip(sims.tolist(), hits.tolist(), strict=True):
                if hit < 0 or sim < self.threshold:
                    continue
                key = (chunk_doc[chunk], hit)
                if key not in best or sim > best[key][0]:
                    best[key] = (sim, chunk)
        if not best:
            return
        entries = self.index.entries()
        pairs = sorted(best.items())
        chunks = np.array([chunk for _, (_, chunk) in pairs], np.int64)
        entry_ids = np.array([int(self.entries[hit]) for (_, hit), _ in pairs], np.int64)
        # The longest run of entry tokens each best chunk shares (partial n-gram evidence).
        longest = self.overlap.compare(pa.array(chunk_text, pa.string()), chunks, entry_ids).longest
        for ((row, _hit), (sim, chunk)), entry, run in zip(
            pairs, entry_ids.tolist(), longest.tolist(), strict=True
        ):
            self.rows.append(
                {
                    "doc_id": doc_ids[row].as_py(),
                    "benchmark": entries["benchmark"][entry].as_py(),
                    "item_id": entries["item_id"][entry].as_py(),
                    "field": entries["field"][entry].as_py(),
                    "similarity": float(sim),
                    "chunk_start": chunk_span[chunk][0],
                    "chunk_end": chunk_span[chunk][1],
                    "longest_span": int(run),
                    "item_tokens": int(entries["item_tokens"][entry].as_py()),
                }
            )

    def table(self, id_type: pa.DataType) -> pa.Table:
        schema = SEMANTIC_SCHEMA.set(0, pa.field("doc_id", id_type))
        return pa.Table.from_pylist(self.rows, schema=schema)
