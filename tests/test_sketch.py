"""The fused sketch (`_core.Sketcher`, `stemmatic.dedup.steps`) equals the separate engine calls."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stemmatic import _core
from stemmatic.dedup import steps
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.minhash import LONG_TOKEN_CHARS, TokenLengthCheck

TOKENIZERS = ["auto", "words", "whitespace", "chars"]

# Scripts with and without spaces, final sigma, casing that changes length, combining marks.
texts = st.lists(
    st.one_of(
        st.none(),
        st.text(max_size=60),
        st.text(alphabet="aZ Σσς İı中文ไทย\u0301 \t\n.,!0_", max_size=60),
    ),
    max_size=30,
)


@given(
    texts,
    st.sampled_from(TOKENIZERS),
    st.integers(1, 4),
    st.integers(0, 2**64 - 1),
    st.sampled_from([32, 64]),
    st.sampled_from([1, 3]),
)
@settings(max_examples=80, deadline=None)
def test_fused_equals_separate_calls(
    values: list[str | None], tokenizer: str, ngram: int, seed: int, bits: int, workers: int
) -> None:
    column = pa.chunked_array([pa.array(values, pa.string())])
    params = {"num_perm": 24, "ngram": ngram, "tokenizer": tokenizer, "seed": seed, "bits": bits}
    sketcher = _core.Sketcher(
        24, ngram, tokenizer, seed, 5, 4, bits=bits, exact=True, keep_sets=True, length_rows=7
    )
    got = sketcher.sketch(column, workers=workers, on_invalid="skip")
    signatures, counts, status, values_, offsets = _core.minhash_sketch(
        column, **params, workers=workers, on_invalid="skip"
    )
    assert len(got) == len(values)
    assert got.signatures.dtype == signatures.dtype
    np.testing.assert_array_equal(got.signatures, signatures)
    np.testing.assert_array_equal(got.num_shingles, counts)
    np.testing.assert_array_equal(got.status, status)
    np.testing.assert_array_equal(got.set_values, values_)
    np.testing.assert_array_equal(got.set_offsets, offsets)
    np.testing.assert_array_equal(got.band_keys, _core.band_keys(signatures, bands=5, rows=4))
    np.testing.assert_array_equal(got.exact_keys, _core.exact_keys(column, tokenizer=tokenizer))
    lengths = [0 if v is None else len(v.encode()) for v in values]
    np.testing.assert_array_equal(got.lengths, np.array(lengths, np.uint64))
    head = pa.chunked_array([pa.array(values[:7], pa.string())])
    np.testing.assert_array_equal(
        got.token_lengths, _core.token_lengths(head, tokenizer=tokenizer, long_chars=16).reshape(-1, 3)
    )


def test_outputs_not_asked_for_are_none_and_the_sketcher_pickles() -> None:
    sketcher = steps.make_sketcher(num_perm=16, ngram=2, tokenizer="words", seed=3, bands=4, rows=4)
    batch = steps.sketch(sketcher, pa.array(["a b c", "", None]), workers=1)
    assert batch.exact_keys is None and batch.set_values is None and batch.set_offsets is None
    assert batch.token_lengths.shape == (0, 3)
    assert batch.status.tolist() == [0, 1, 2]
    again = pickle.loads(pickle.dumps(sketcher))
    assert repr(again) == repr(sketcher)
    np.testing.assert_array_equal(
        steps.sketch(again, pa.array(["a b c"]), workers=1).band_keys, batch.band_keys[:1]
    )


def test_errors_carry_row_and_byte() -> None:
    sketcher = _core.Sketcher(16, 2, "words", 1, 4, 4)
    column = pa.chunked_array([pa.array([b"fine", b"ab\xffc"], pa.binary())])
    with pytest.raises(InvalidInputError) as info:
        sketcher.sketch(column)
    assert (info.value.row, info.value.byte) == (1, 2)  # type: ignore[attr-defined]
    with pytest.raises(ParameterError, match="bands"):
        _core.Sketcher(16, 2, "words", 1, 5, 4)
    with pytest.raises(ParameterError, match="bits"):
        _core.Sketcher(16, 2, "words", 1, 4, 4, bits=16)
    with pytest.raises(InvalidInputError, match="has type int64, expected strings"):
        steps.text_column(pa.table({"text": [1]}), "text", "f.parquet: ")


def test_token_check_from_the_sketch_equals_its_own_pass() -> None:
    values = ["这是一个没有空格的很长的句子因为中文不用空格分词", "plain English text", None] * 100
    own, fused = TokenLengthCheck("words"), TokenLengthCheck("words")
    own.add(pa.array(values))
    sketcher = _core.Sketcher(16, 2, "words", 1, 4, 4, length_rows=fused.sample, long_chars=LONG_TOKEN_CHARS)
    fused.add_lengths(steps.sketch(sketcher, pa.array(values), workers=1).token_lengths)
    assert (
        fused.counts()
        == own.counts()
        == {
            "token_rows_checked": 171,
            "long_token_rows": 86,
            "longest_token_chars": 24,
        }
    )


def test_exact_edges_group_equal_keys_from_the_smallest_row() -> None:
    docs = np.array([5, 1, 3, 2, 4], np.uint64)
    low = np.array([7, 7, 9, 7, 9], np.uint64)
    high = np.zeros(5, np.uint64)
    assert steps.exact_edges(docs, low, high).tolist() == [[1, 2], [1, 5], [3, 4]]


def test_candidate_pairs_from_band_key_batches_equal_those_of_flat_records() -> None:
    # The sketch's (n, bands) band keys, held per batch, give the pairs of one
    # flat (key, doc) record per band; excluded documents give none.
    words = [f"w{i}" for i in range(40)]
    rng = np.random.default_rng(3)
    base = [" ".join(rng.choice(words, 30)) for _ in range(50)]
    docs_text = [t if i % 3 else t.replace("w1", "w2", 1) for i, t in enumerate(base * 4)]
    sketcher = steps.make_sketcher(num_perm=32, ngram=2, tokenizer="words", seed=1, bands=8, rows=4)
    keys = steps.sketch(sketcher, pa.array(docs_text), workers=1).band_keys
    docs = np.arange(len(docs_text), dtype=np.uint64)
    flat = _core.candidate_pairs(keys.ravel(), np.repeat(docs, 8), clique_max=3, workers=2)
    assert len(flat) > 100 and np.all(flat[:, 0] < flat[:, 1])
    halves = [keys[:77], keys[77:]], [docs[:77], docs[77:]]
    assert np.array_equal(_core.candidate_pairs_batched(*halves, clique_max=3, workers=2), flat)
    excluded = docs % 5 == 0
    expected = flat[~excluded[flat[:, 0]] & ~excluded[flat[:, 1]]]
    got = _core.candidate_pairs_batched(*halves, excluded=excluded, clique_max=3, workers=1)
    # A bucket smaller without the excluded documents may give a clique, not a star.
    assert {tuple(p) for p in expected} <= {tuple(p) for p in got}
    assert not excluded[got].any()
    with pytest.raises(ParameterError, match="do not fit"):
        _core.candidate_pairs_batched([keys], [docs[:10]])
    with pytest.raises(ParameterError, match="excluded"):
        _core.candidate_pairs_batched([keys], [docs], excluded=excluded[:10])


def test_a_sketcher_is_made_once_per_set_of_parameters() -> None:
    params = dict(num_perm=16, ngram=2, tokenizer="words", seed=1, bands=4, rows=4)
    first = steps.make_sketcher(**params)
    assert steps.make_sketcher(**params) is first
    assert steps.make_sketcher(**{**params, "seed": 2}).seed == 2
    assert repr(pickle.loads(pickle.dumps(first))) == repr(first)


def test_without_signatures_kept_the_band_keys_and_sets_are_the_same() -> None:
    texts = pa.array(["a b c d", "a b c e", None, "", "x y z"] * 300)
    params = dict(
        num_perm=32, ngram=2, tokenizer="words", seed=5, bands=8, rows=4, exact=True, keep_sets=True
    )
    full = steps.sketch(steps.make_sketcher(**params), texts, workers=2)
    lean_sketcher = steps.make_sketcher(**params, keep_signatures=False)
    lean = steps.sketch(lean_sketcher, texts, workers=2)
    assert full.signatures is not None and lean.signatures is None
    for name in ("band_keys", "status", "exact_keys", "set_values", "set_offsets", "lengths", "num_shingles"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name))
    assert pickle.loads(pickle.dumps(lean_sketcher)).keep_signatures is False


def test_set_batches_are_the_sets_by_runs_of_rows() -> None:
    # Enough text for several runs on 2 workers; null and empty rows have empty sets.
    texts = pa.array([None if i % 50 == 0 else f"row {i} " + "w x y z " * (i % 9) for i in range(20_000)])
    sketcher = steps.make_sketcher(
        num_perm=16, ngram=2, tokenizer="words", seed=1, bands=4, rows=4, keep_sets=True
    )
    batch = steps.sketch(sketcher, texts, workers=2)
    runs = batch.set_batches
    assert runs is not None and len(runs) > 1
    assert [first for first, _, _ in runs] == list(np.cumsum([0] + [len(o) - 1 for _, _, o in runs[:-1]]))
    assert sum(len(o) - 1 for _, _, o in runs) == len(texts)
    np.testing.assert_array_equal(batch.set_values, np.concatenate([v for _, v, _ in runs]))
    sizes = np.concatenate([np.diff(o) for _, _, o in runs])
    np.testing.assert_array_equal(np.diff(batch.set_offsets), sizes)
    values, offsets = _core.shingle_sets(
        pa.chunked_array([texts.fill_null("")]), ngram=2, tokenizer="words", seed=1
    )
    np.testing.assert_array_equal(batch.set_values, values)
    np.testing.assert_array_equal(batch.set_offsets, offsets)
