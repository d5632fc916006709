"""MinHash signatures: the hashing contract, determinism, accuracy, bad input."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

import stemmatic
from stemmatic.minhash import MinHasher, RowStatus

MASK64 = (1 << 64) - 1


def _splitmix64(state: int):
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def reference_shingles(text: str, ngram: int, seed: int) -> set[int]:
    """The documented contract of the `words` tokenizer, in plain Python (`auto` has its own: test_tokenizer_scripts)."""
    tokens = re.findall(r"\w+", text.lower())
    if not tokens:
        return set()
    grams = [" ".join(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)] or [" ".join(tokens)]
    return {xxhash.xxh3_64_intdigest(g.encode(), seed=seed) for g in grams}


def reference_signature(text: str, num_perm: int, ngram: int, seed: int, bits: int) -> list[int]:
    stream = _splitmix64(seed ^ 0x5851F42D4C957F2D)
    hashes = reference_shingles(text, ngram, seed)
    out = []
    for _ in range(num_perm):
        s, m = next(stream), next(stream) | 1
        if bits == 32:
            s32, m32 = s & 0xFFFFFFFF, m & 0xFFFFFFFF
            vals = [((((x ^ (x >> 32)) & 0xFFFFFFFF) ^ s32) * m32) & 0xFFFFFFFF for x in hashes]
            out.append(min(vals, default=0xFFFFFFFF))
        else:
            out.append(min((((x ^ s) * m) & MASK64 for x in hashes), default=MASK64))
    return out


@given(st.text(max_size=80), st.integers(1, 6), st.integers(0, 2**64 - 1), st.sampled_from([32, 64]))
@settings(max_examples=60)
def test_signature_equals_reference_implementation(text: str, ngram: int, seed: int, bits: int) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        return
    sig = stemmatic.minhash([text], num_perm=8, ngram=ngram, seed=seed, bits=bits, tokenizer="words")
    assert sig.dtype == (np.uint32 if bits == 32 else np.uint64)
    assert sig[0].tolist() == reference_signature(text, 8, ngram, seed, bits)


def test_shingle_hashes_follow_the_contract() -> None:
    text = "The cat sat on the mat, and the cat sat again."
    got = stemmatic.shingle_hashes(text, ngram=3, seed=7, tokenizer="words")
    assert got.tolist() == sorted(reference_shingles(text, 3, 7))
    # A document shorter than n: one shingle of all its tokens.
    assert stemmatic.shingle_hashes("Two words", ngram=5, seed=0).tolist() == [
        xxhash.xxh3_64_intdigest(b"two words", seed=0)
    ]
    assert stemmatic.shingle_hashes(" ... ", ngram=5).size == 0


def test_pinned_values_do_not_change() -> None:
    # Stored signatures and indexes depend on these exact numbers.
    sig = stemmatic.minhash(["the quick brown fox jumps over the lazy dog"], num_perm=4, seed=1)
    assert sig.tolist() == [reference_signature("the quick brown fox jumps over the lazy dog", 4, 5, 1, 32)]
    assert sig[0, 0] == np.uint32(
        reference_signature("the quick brown fox jumps over the lazy dog", 1, 5, 1, 32)[0]
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda t: t,
        lambda t: np.array(t, dtype=object),
        lambda t: pa.array(t),
        lambda t: pa.array(t, type=pa.large_string()),
        lambda t: pa.array(t).cast(pa.string_view()),
        lambda t: pa.chunked_array([t[:3], t[3:]]),
        lambda t: pa.array([s.encode() for s in t], type=pa.binary()),
    ],
)
def test_every_input_kind_gives_the_same_signatures(make) -> None:
    texts = [f"document number {i} " + "shared words here " * (i % 5) for i in range(7)]
    expected = stemmatic.minhash(texts, num_perm=16)
    assert np.array_equal(stemmatic.minhash(make(texts), num_perm=16), expected)


def test_determinism_across_runs_and_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    from stemmatic.synthetic import generate_corpus

    texts = generate_corpus(300, seed=3, max_words=400).table.column("text")
    one = stemmatic.minhash(texts, workers=1)
    assert np.array_equal(one, stemmatic.minhash(texts, workers=2))
    assert np.array_equal(one, stemmatic.minhash(texts, workers=3))
    monkeypatch.setenv("STEMMATIC_NUM_THREADS", "2")
    assert np.array_equal(one, stemmatic.minhash(texts))
    monkeypatch.setenv("STEMMATIC_NUM_THREADS", "many")
    with pytest.raises(stemmatic.ParameterError, match="STEMMATIC_NUM_THREADS"):
        stemmatic.minhash(texts)


def test_estimate_is_within_binomial_error_of_exact_jaccard() -> None:
    from stemmatic.synthetic import generate_corpus

    corpus = generate_corpus(400, seed=5, max_words=600, duplicate_fraction=0.5).table
    num_perm = 256
    sig = stemmatic.minhash(corpus.column("text"), num_perm=num_perm)
    hasher = MinHasher(num_perm=num_perm)
    ids = corpus.column("id").to_pylist()
    index = {d: i for i, d in enumerate(ids)}
    z_scores = []
    for i, source in enumerate(corpus.column("planted_source").to_pylist()):
        if source is None:
            continue
        j = index[source]
        a, b = hasher.shingles(corpus["text"][i].as_py()), hasher.shingles(corpus["text"][j].as_py())
        exact = len(np.intersect1d(a, b)) / len(np.union1d(a, b))
        estimate = float(np.mean(sig[i] == sig[j]))
        sd = max(np.sqrt(exact * (1 - exact) / num_perm), 1 / num_perm)
        z_scores.append((estimate - exact) / sd)
    z = np.array(z_scores)
    assert len(z) > 100
    assert np.all(np.abs(z) < 5), z[np.abs(z) >= 5]
    # Unbiased: the mean z-score of ~200 pairs stays near 0.
    assert abs(z.mean()) < 0.5


def test_empty_and_invalid_rows() -> None:
    batch = stemmatic.minhash_batch(["a b c d e f", "  ", None], num_perm=4, on_invalid="skip")
    assert batch.status.tolist() == [RowStatus.OK, RowStatus.EMPTY, RowStatus.NULL]
    assert batch.empty_rows.tolist() == [1] and batch.skipped_rows.tolist() == [2]
    assert (batch.signatures[1:] == np.iinfo(np.uint32).max).all()
    assert batch.num_shingles.tolist() == [2, 0, 0]
    with pytest.raises(stemmatic.InvalidInputError, match="row 2: text is null"):
        stemmatic.minhash(["a", "b", None])
    bad = pa.Array.from_buffers(
        pa.string(),
        2,
        [None, pa.py_buffer(np.array([0, 2, 5], dtype=np.int32).tobytes()), pa.py_buffer(b"okb\xffd")],
    )
    with pytest.raises(
        stemmatic.InvalidInputError, match=r"row 1: text is not valid UTF-8 \(first bad byte at offset 1"
    ):
        stemmatic.minhash(bad)
    assert stemmatic.minhash_batch(bad, on_invalid="skip").counts()["invalid_utf8"] == 1


def test_row_errors_carry_row_and_byte_as_attributes() -> None:
    with pytest.raises(stemmatic.InvalidInputError) as null:
        stemmatic.minhash(["a", "b", None])
    assert (null.value.row, null.value.byte) == (2, None)
    assert null.value.reason is not None and null.value.reason.startswith("text is null")
    bad = pa.Array.from_buffers(
        pa.string(),
        3,
        [None, pa.py_buffer(np.array([0, 2, 2, 7], dtype=np.int32).tobytes()), pa.py_buffer(b"okabc\xffd")],
    )
    with pytest.raises(stemmatic.InvalidInputError) as utf8:
        stemmatic.minhash(bad)
    assert (utf8.value.row, utf8.value.byte) == (2, 3)
    assert str(utf8.value) == f"row 2: {utf8.value.reason}"
    # Errors that are not about one row have none.
    with pytest.raises(stemmatic.InvalidInputError) as other:
        stemmatic.minhash(["a", 3])  # type: ignore[list-item]
    assert other.value.row is None and other.value.byte is None
    with pytest.raises(stemmatic.InvalidInputError, match="row 1: expected str or None, got int"):
        stemmatic.minhash(["a", 3])  # type: ignore[list-item]
    with pytest.raises(stemmatic.InvalidInputError, match="row 0: text is not valid Unicode"):
        stemmatic.minhash(["\ud800"])
    with pytest.raises(stemmatic.InvalidInputError, match="expected an Arrow column of strings"):
        stemmatic.minhash(pa.array([1, 2]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_perm": 0}, "num_perm"),
        ({"ngram": 0}, "ngram"),
        ({"bits": 16}, "bits"),
        ({"tokenizer": "bpe"}, "tokenizer"),
        ({"seed": -1}, "seed"),
        ({"on_invalid": "ignore"}, "on_invalid"),
    ],
)
def test_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(stemmatic.ParameterError, match=message):
        stemmatic.minhash(["a b c"], **kwargs)


def test_hasher_pickles() -> None:
    import pickle

    hasher = MinHasher(num_perm=32, ngram=3, seed=9)
    clone = pickle.loads(pickle.dumps(hasher))
    assert clone == hasher
    assert np.array_equal(clone.signatures(["a b c d"]), hasher.signatures(["a b c d"]))
