"""Diversity in embedding space: semantic dedup, diverse selection, diversity metrics.

Embeddings come from a Parquet column, a ``.npy`` file or an embedder
(:mod:`~stemmatic.diversity.embed`); FAISS (extra ``[diversity]``, imported
only when needed, GPU when present) provides k-means and nearest-neighbour
search (:mod:`~stemmatic.diversity.index`).

* :func:`semdedup` / :func:`semdedup_scores` — SemDeDup (:mod:`~stemmatic.diversity.semdedup`);
* :func:`select` — k-center greedy, cluster-balanced, DEITA-style score-first,
  facility location (:mod:`~stemmatic.diversity.select`);
* :func:`neighbors_within` — every pair above a cosine similarity, across
  k-means boundaries (:mod:`~stemmatic.diversity.neighbors`; serves SemDeDup,
  score-first and semantic contamination matching);
* :func:`vendi_score`, :func:`measure`, :func:`measure_many` — metrics
  (:mod:`~stemmatic.diversity.metrics`);
* :func:`semdedup_corpus`, :func:`semdedup_scores_corpus`, :func:`select_corpus`,
  :func:`embed_corpus`, :func:`measure_corpus` — the same on corpora: files or
  tables in, kept/removed files or Arrow tables out (:mod:`~stemmatic.diversity.corpus`).

>>> import numpy as np
>>> from stemmatic import diversity
>>> x = diversity.embed_texts(["a cat sat", "a cat sat!", "stocks fell"], "hashing")
>>> diversity.select(x, 2, "kcenter", seed=0).indices.size
2
"""

from __future__ import annotations

from stemmatic.diversity.corpus import (
    EmbedCorpusResult,
    MeasureCorpusResult,
    SelectCorpusResult,
    SemDedupCorpusResult,
    SemDedupScoresCorpusResult,
    SplitResult,
    embed_corpus,
    measure_corpus,
    select_corpus,
    semdedup_corpus,
    semdedup_scores_corpus,
)
from stemmatic.diversity.embed import (
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    embed_texts,
    embeddings_from_arrow,
    get_embedder,
    load_npy,
)
from stemmatic.diversity.index import (
    IndexSpec,
    KMeansResult,
    build_index,
    choose_index,
    knn,
    load_centroids,
    save_centroids,
    spherical_kmeans,
)
from stemmatic.diversity.metrics import (
    VendiScore,
    cluster_entropy,
    coverage_radius,
    mean_centroid_distance,
    measure,
    measure_many,
    vendi_score,
)
from stemmatic.diversity.neighbors import NeighborPairs, neighbors_within
from stemmatic.diversity.select import (
    METHODS,
    Selection,
    cluster_balanced,
    facility_location,
    kcenter_greedy,
    nearest_selected,
    score_first,
    select,
)
from stemmatic.diversity.semdedup import SemDedupResult, SemDedupScores, semdedup, semdedup_scores

__all__ = [
    "METHODS",
    "EmbedCorpusResult",
    "Embedder",
    "HashingEmbedder",
    "IndexSpec",
    "KMeansResult",
    "MeasureCorpusResult",
    "NeighborPairs",
    "SelectCorpusResult",
    "Selection",
    "SemDedupCorpusResult",
    "SemDedupResult",
    "SemDedupScores",
    "SemDedupScoresCorpusResult",
    "SentenceTransformerEmbedder",
    "SplitResult",
    "VendiScore",
    "build_index",
    "choose_index",
    "cluster_balanced",
    "cluster_entropy",
    "coverage_radius",
    "embed_corpus",
    "embed_texts",
    "embeddings_from_arrow",
    "facility_location",
    "get_embedder",
    "kcenter_greedy",
    "knn",
    "load_centroids",
    "load_npy",
    "mean_centroid_distance",
    "measure",
    "measure_corpus",
    "measure_many",
    "nearest_selected",
    "neighbors_within",
    "save_centroids",
    "score_first",
    "select",
    "select_corpus",
    "semdedup",
    "semdedup_corpus",
    "semdedup_scores",
    "semdedup_scores_corpus",
    "spherical_kmeans",
    "vendi_score",
]
