"""The default tokenizer, ``auto``: every language without a setting.

The contract (docs/hashing.md) is checked against the engine on arbitrary
Unicode: the blocks of scripts written without spaces are read from the docs
page itself, so the page, the generator of the engine's tables and the engine
cannot drift apart. ``auto`` is ``auto-document`` (per-script units, and the
document rule) for whole documents and ``auto-span`` (per-script units) in the
contamination index and scan.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import xxhash
from hypothesis import example, given, settings
from hypothesis import strategies as st

import stemmatic
from stemmatic import _core
from stemmatic.minhash import DEFAULT_TOKENIZER, TOKENIZERS, Tokenizer

ROOT = Path(__file__).resolve().parents[1]
SAME_UNICODE = unicodedata.unidata_version == stemmatic.UNICODE_VERSION


def _documented_blocks() -> list[tuple[int, int]]:
    text = (ROOT / "docs" / "hashing.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `U\+([0-9A-F]{4,6})` \| `U\+([0-9A-F]{4,6})` \|", text, flags=re.M)
    return [(int(a, 16), int(b, 16)) for a, b in rows]


BLOCKS = _documented_blocks()
UNSPACED = "".join(
    chr(cp) for a, b in BLOCKS for cp in range(a, b + 1) if unicodedata.category(chr(cp))[0] in "LMN"
)
# The reference expressions of docs/hashing.md.
AUTO_RE = re.compile(f"[{UNSPACED}]|[^\\W{UNSPACED}]+")
WORD_RE = re.compile(r"\w+")
UNSPACED_SET = frozenset(UNSPACED)


def reference(text: str) -> list[str]:
    """``auto-span``."""
    return AUTO_RE.findall(text.lower())


def document_reference(text: str) -> list[str]:
    """``auto-document`` (and ``auto`` for whole documents)."""
    lower = text.lower()
    chars = [c for c in lower if c.isalnum() or c in UNSPACED_SET]
    unspaced = sum(c in UNSPACED_SET for c in chars)
    if unspaced and 10 * unspaced >= len(chars):
        return chars
    return AUTO_RE.findall(lower)


def test_docs_list_the_generator_blocks() -> None:
    spec = importlib.util.spec_from_file_location(
        "gen", ROOT / "rust/stemmatic-core/tools/gen_unicode_tables.py"
    )
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert [(a, b) for a, b, _ in gen.UNSPACED_BLOCKS] == BLOCKS
    assert len(BLOCKS) >= 25


def _agrees_with_tables(ch: str) -> bool:
    # Under a Python built on another Unicode version, characters whose
    # properties changed between versions cannot agree; keep the rest.
    return SAME_UNICODE or stemmatic.tokenize(ch * 2 + " x") == reference(ch * 2 + " x")


unspaced_char = st.sampled_from(sorted(set(UNSPACED)))
block_char = st.one_of(*(st.integers(a, b) for a, b in BLOCKS)).map(chr).filter(lambda c: c != "\ud800")
any_char = st.characters(exclude_categories=["Cs"]).filter(_agrees_with_tables)
tricky_char = st.sampled_from(
    list("ΣσςİIıK\u0130\u0307\u0301\u00df\u2160\u00b2\u0663\U0001d7d8 \t\n\x1c\u3000\u00a0_")
    + list("。、「」・ー々〆〇\u3099\u309b\uff70\uff21\uff11ｶﾞ\u0e48\u0e33\u0f0b\u1039\u17d2")
)
texts = st.text(
    st.one_of(
        any_char, tricky_char, unspaced_char, block_char.filter(_agrees_with_tables), st.sampled_from("aZ09 ")
    ),
    max_size=60,
)


@given(texts)
@example("我爱北京天安门。Hello, World! 2024年コーヒー々 ที่นี่ Привет 안녕 ΟΔΟΣ İx")
@example("ｶﾞｷﾞ ＡＢＣ１２ abc\u3099x ༀ་ཀ")
def test_auto_span_equals_the_documented_expression(text: str) -> None:
    assert stemmatic.tokenize(text, "auto-span") == reference(text)


# Latin words and digits around a few unspaced characters: shares on both sides of a tenth.
mixed_texts = st.lists(
    st.one_of(
        st.text(st.sampled_from("abcXYZ019_ İΣß"), min_size=1, max_size=12),
        st.text(st.one_of(unspaced_char, tricky_char), min_size=1, max_size=3),
        st.text(any_char, max_size=3),
    ),
    max_size=12,
).map("".join)


@given(st.one_of(texts, mixed_texts))
@example("漢 abcdefghi")  # 1 of 10 token characters: cut into characters
@example("漢 abcdefghij")  # 1 of 11: per-script units
@example("İ東_x Σ")
@example("漢_abcdefghi")  # `_` is no letter: 1 of 10
def test_auto_document_equals_the_documented_expression(text: str) -> None:
    expected = document_reference(text)
    assert stemmatic.tokenize(text) == stemmatic.tokenize(text, "auto-document") == expected
    column = pa.chunked_array([pa.array([text])])
    key = xxhash.xxh3_128_intdigest(" ".join(expected).encode(), seed=0) if expected else 0
    low, high = _core.exact_keys(column, tokenizer="auto")[0].tolist()
    assert low | (high << 64) == key


@given(st.text(st.one_of(any_char, tricky_char, st.sampled_from("aZ09 ")), max_size=60))
def test_auto_is_words_without_unspaced_characters(text: str) -> None:
    if any(c in UNSPACED for c in text.lower()):
        return
    assert stemmatic.tokenize(text, "auto") == WORD_RE.findall(text.lower())
    for n in (1, 3, 5):
        assert np.array_equal(
            stemmatic.shingle_hashes(text, ngram=n, tokenizer="auto"),
            stemmatic.shingle_hashes(text, ngram=n, tokenizer="words"),
        )


@settings(max_examples=60)
@given(st.one_of(texts, mixed_texts), st.integers(1, 6), st.integers(0, 2**64 - 1))
def test_auto_shingles_are_space_joined_tokens(text: str, n: int, seed: int) -> None:
    for tokenizer, tokens in [("auto-span", reference(text)), ("auto", document_reference(text))]:
        grams = {" ".join(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1))} if tokens else set()
        expected = sorted(xxhash.xxh3_64_intdigest(g.encode(), seed=seed) for g in grams)
        hashes = stemmatic.shingle_hashes(text, ngram=n, tokenizer=tokenizer, seed=seed)
        assert hashes.tolist() == expected, tokenizer
        # MinHash and verification cut the same units (their one-pass path included).
        signature = stemmatic.minhash([text], num_perm=8, ngram=n, tokenizer=tokenizer, seed=seed)
        by_hashes = stemmatic.MinHasher(num_perm=8, ngram=n, tokenizer=tokenizer, seed=seed)
        assert np.array_equal(signature[0], by_hashes.signatures([text])[0])


def test_auto_is_the_default_everywhere() -> None:
    assert DEFAULT_TOKENIZER == "auto" == TOKENIZERS[0]
    assert stemmatic.MinHasher().tokenizer == "auto"
    assert stemmatic.tokenize("漢字") == ["漢", "字"]
    assert _core.tokenize("漢字") == ["漢", "字"]


@pytest.mark.parametrize(
    "text",
    [
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "대한민국의 수도는 서울이다. 한국어는 띄어쓰기를 한다.",
        "العربية لغة سامية يتحدثها أكثر من ٤٠٠ مليون",
        "עברית היא שפה שמית ממשפחת השפות האפרו-אסייתיות",
        "हिन्दी भारत की राजभाषा है और देवनागरी में लिखी जाती है",
        "Ο ΟΔΟΣ ΕΙΝΑΙ ΜΑΚΡΥΣ. İstanbul’da ağaç",
        "The quick brown fox jumps over the lazy dog 42 times_",
    ],
)
def test_spaced_scripts_keep_word_units(text: str) -> None:
    assert stemmatic.tokenize(text) == stemmatic.tokenize(text, "words") == WORD_RE.findall(text.lower())
    a = stemmatic.minhash([text], num_perm=64, tokenizer="auto")
    b = stemmatic.minhash([text], num_perm=64, tokenizer="words")
    assert np.array_equal(a, b)
    column = pa.chunked_array([pa.array([text])])
    assert np.array_equal(
        _core.exact_keys(column, tokenizer="auto"), _core.exact_keys(column, tokenizer="words")
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("用Python写代码", ["用", "python", "写", "代", "码"]),
        ("# 计算 the sum\nreturn a+b  # 返回", ["计", "算", "the", "sum", "return", "a", "b", "返", "回"]),
        ("東京タワーはTokyo Towerです", ["東", "京", "タ", "ワ", "ー", "は", "tokyo", "tower", "で", "す"]),
        ("2024年10月1日", ["2024", "年", "10", "月", "1", "日"]),
        ("ภาษาไทย", ["ภ", "า", "ษ", "า", "ไ", "ท", "ย"]),
        ("「引用」、。", ["引", "用"]),
    ],
)
def test_mixed_documents_per_script(text: str, expected: list[str]) -> None:
    assert stemmatic.tokenize(text, "auto-span") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Mostly unspaced: every letter and digit is a unit, Latin included.
        ("用Python写代码", ["用", "p", "y", "t", "h", "o", "n", "写", "代", "码"]),
        ("2024年10月1日", ["2", "0", "2", "4", "年", "1", "0", "月", "1", "日"]),
        ("my_var是变量", ["m", "y", "v", "a", "r", "是", "变", "量"]),
        # Under a tenth: per-script units.
        ("The capital of China is 北京, a city of 21 million", None),
        ("Привет 北京 мир, как дела у тебя сегодня вечером", None),
    ],
)
def test_document_rule(text: str, expected: list[str] | None) -> None:
    tokens = stemmatic.tokenize(text)
    assert tokens == (expected if expected is not None else stemmatic.tokenize(text, "auto-span"))
    assert tokens == stemmatic.tokenize(text, "auto-document") == document_reference(text)


def _jaccard(a: str, b: str, tokenizer: str) -> float:
    x = set(stemmatic.shingle_hashes(a, tokenizer=tokenizer).tolist())
    y = set(stemmatic.shingle_hashes(b, tokenizer=tokenizer).tolist())
    return len(x & y) / len(x | y)


ZH = "自然语言处理是计算机科学领域与人工智能领域中的一个重要方向，它研究能实现人与计算机之间用自然语言进行有效通信的各种理论和方法。"
JA = "自然言語処理は、人間が日常的に使っている自然言語をコンピュータに処理させる一連の技術であり、人工知能と言語学の一分野である。"
TH = "การประมวลผลภาษาธรรมชาติเป็นสาขาหนึ่งของปัญญาประดิษฐ์ที่ศึกษาการทำให้คอมพิวเตอร์เข้าใจภาษามนุษย์"


@pytest.mark.parametrize("text", [ZH, JA, TH])
def test_near_duplicates_of_unspaced_scripts_are_similar(text: str) -> None:
    # Two characters changed: `words` sees nothing in common, `auto` most.
    edited = text[:10] + "的" + text[11:40] + "了" + text[41:]
    assert _jaccard(text, edited, "auto") > 0.6
    assert _jaccard(text, edited, "words") < 0.5


def test_token_lengths_flag_a_tokenizer_that_does_not_fit() -> None:
    column = pa.chunked_array([pa.array([ZH, "plain English words here", None])])
    words = _core.token_lengths(column, tokenizer="words", long_chars=16)
    auto = _core.token_lengths(column, tokenizer="auto", long_chars=16)
    assert words[0, 1] > words[0, 0] // 2 and words[0, 2] >= 16
    assert auto[0].tolist() == [len(reference(ZH)), 0, 1]
    assert words[1].tolist() == auto[1].tolist() == [21, 0, 7]
    assert words[2].tolist() == [0, 0, 0]


def test_contamination_index_and_scan_use_auto(tmp_path: Path) -> None:
    question = "下列哪一项是中国的首都？北京是中华人民共和国的首都，也是全国政治文化中心。"
    index = stemmatic.ContaminationIndex.from_records(
        [{"id": "q1", "question": question}], fields=["question"], benchmark="zh", id_field="id"
    )
    assert index.tokenizer == "auto"
    # A web page quoting most of the question, with other text around it.
    doc = "网页正文开始。" + question[5:] + "以下是无关内容，与题目无关。"
    hits = index.scan([doc])
    assert hits.num_rows == 1
    assert hits["coverage"][0].as_py() > 0.7
    spans = hits["spans"][0].as_py()
    # Spans are character ranges of the document that slice back to the matched text.
    matched = "".join(doc[span["start"] : span["end"]] for span in spans)
    assert question[5:20] in matched
    assert all(doc[span["start"] : span["end"]] in question for span in spans)
    # The index keeps its tokenizer: a file written and read back scans the same.
    path = index.save(tmp_path / "zh.idx")
    assert stemmatic.ContaminationIndex.load(path).scan([doc]).equals(hits)
    # `words` sees one token per clause: the quote is not found.
    words = stemmatic.ContaminationIndex.from_records(
        [{"id": "q1", "question": question}],
        fields=["question"],
        benchmark="zh",
        id_field="id",
        tokenizer="words",
    )
    assert words.scan([doc]).num_rows == 0


def test_dedup_removes_cjk_near_duplicates_and_warns_on_long_tokens(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from stemmatic.dedup import dedup

    base = [ZH, JA, TH, "The quick brown fox jumps over the lazy dog, said the old man to the sea again."]
    near = [t[:30] + "X" + t[31:] for t in base[:3]] + [base[3].replace("old", "young")]
    pq.write_table(pa.table({"text": base + near}), tmp_path / "in.parquet")
    result = dedup(tmp_path / "in.parquet", tmp_path / "out", threshold=0.5)
    assert result.removed_rows == 3  # the CJK/Thai copies; the English pair is below 0.5
    assert result.report["parameters"]["tokenizer"] == "auto"
    assert result.report["warnings"] == []
    assert result.report["tokens"]["long_token_rows"] == 0
    words = dedup(tmp_path / "in.parquet", tmp_path / "out-words", threshold=0.5, tokenizer="words")
    assert words.removed_rows < 3  # Chinese and Japanese copies go unfound
    assert words.report["tokens"]["long_token_rows"] >= 2
    assert "very long tokens" in words.report["warnings"][0]


def test_hashing_embedder_and_lineage_use_auto() -> None:
    from stemmatic.diversity.embed import HashingEmbedder

    emb = HashingEmbedder(dim=256)
    edited = ZH[:20] + "的" + ZH[21:]
    v = emb.embed([ZH, edited, JA])
    assert v[0] @ v[1] > 0.8 > v[0] @ v[2]
    assert emb.features[0][0] == "auto"
    english = ["The cat sat on the mat.", "Stock prices fell sharply on Monday."]
    assert np.array_equal(emb.embed(english), HashingEmbedder(dim=256).embed(english))
    from stemmatic.lineage.redundancy import containment

    # A Chinese corpus and its copy with one character changed per document.
    corpus = [ZH[i:] + ZH[:i] for i in range(0, 40, 4)]
    copy = [t[:25] + "们" + t[26:] for t in corpus]
    assert containment(corpus, copy, threshold=0.7) == 1.0


def test_english_quoted_in_chinese_text_keeps_word_units(tmp_path: Path) -> None:
    # Why the contamination index and scan keep per-script units (`auto-span`, docs/hashing.md):
    # an English benchmark item quoted in a Chinese page is found by the index built from the item
    # alone, and its spans slice back to the quote; cut into characters (as dedup's document rule
    # cuts this mostly Chinese page) it would share no 13-gram.
    item = (
        "Check if in given list of numbers, are any two numbers closer to each other than given "
        "threshold. def has_close_elements(numbers, threshold): return any(abs(a - b) < threshold "
        "for a in numbers for b in numbers if a is not b)"
    )

    def index_of(tokenizer: Tokenizer) -> stemmatic.ContaminationIndex:
        records = [{"id": "h0", "prompt": item}]
        return stemmatic.ContaminationIndex.from_records(
            records, fields=["prompt"], benchmark="code", id_field="id", tokenizer=tokenizer
        )

    index = index_of("auto")
    page = (
        "这道题的要求如下："
        + item
        + "。我们的解法是两重循环，复杂度为平方级，下面逐行解释每一步的含义和边界情况。" * 3
    )
    assert all(len(token) == 1 for token in stemmatic.tokenize(page))  # dedup's units
    hits = index.scan([page])
    assert hits.num_rows == 1 and hits["coverage"][0].as_py() == 1.0
    for span in hits["spans"][0].as_py():
        assert page[span["start"] : span["end"]] in item
    # The same item in an index named `auto-span` scans the same; `auto-document` is refused.
    assert index_of("auto-span").scan([page]).equals(hits)
    with pytest.raises(stemmatic.ParameterError, match="auto-document"):
        index_of("auto-document")
    # And a Chinese name added to an English page weighs what two added words weigh: the page
    # keeps its word units (the document rule needs a tenth of its letters to be Chinese).
    english = (
        "The committee met in the capital on Tuesday to discuss the new trade agreement, which "
        "both delegations described as the most important since the end of the war. Officials "
        "said that tariffs on steel, grain and machinery would fall over five years, while a "
        "joint panel would settle disputes. Critics in parliament argued that farmers had not "
        "been consulted and that the text had been negotiated behind closed doors for months."
    )
    named = english.replace("in the capital", "in the capital (北京)")
    assert (
        _jaccard(english, named, "auto")
        == _jaccard(english, english.replace("capital", "capital x y"), "auto")
        > 0.8
    )


def test_long_token_warning_fits_compounds_and_unspaced_text() -> None:
    from stemmatic.minhash import TokenLengthCheck

    # German UI text with compounds: long words, but words; `auto` fits it.
    german = (
        "Seite veröffentlichen. Die Veröffentlichung wurde geplant. Ansichtsrestriktionen "
        "bearbeiten. Weiterleitungen verwalten. Berechtigungen für Sammlungen. "
        "Benachrichtigungen abonnieren. Veröffentlichung abbrechen."
    )
    check = TokenLengthCheck("auto")
    check.add(pa.array([german] * 3 + [ZH, JA, TH]))
    assert check.counts()["long_token_rows"] == 0 and check.warning() is None
    # `words` on Chinese, Japanese and Thai prose: clauses as tokens, the warning names `auto`.
    check = TokenLengthCheck("words")
    check.add(pa.array([german, ZH, JA, TH]))
    assert check.counts()["long_token_rows"] == 3
    warning = check.warning()
    assert warning is not None and "'words'" in warning and 'tokenizer "auto"' in warning
