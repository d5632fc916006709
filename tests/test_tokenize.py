"""The tokenizers equal their Python definitions on arbitrary Unicode."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import stemmatic

WORD_RE = re.compile(r"\w+")
SAME_UNICODE = unicodedata.unidata_version == stemmatic.UNICODE_VERSION


def _agrees_with_tables(ch: str) -> bool:
    # Under a Python built on another Unicode version, characters whose
    # properties changed between versions cannot agree; keep the rest.
    return SAME_UNICODE or stemmatic.tokenize(ch * 2 + " x") == WORD_RE.findall((ch * 2 + " x").lower())


# Every code point but surrogates (which UTF-8 cannot carry), weighted towards
# the interesting ones: combining marks, digits of other scripts, astral
# characters, final-sigma contexts and case-mapping oddities.
any_char = st.characters(exclude_categories=["Cs"]).filter(_agrees_with_tables)
tricky_char = st.sampled_from(
    list("ΣσςİIıK\u0130\u0307\u0301\u00df\u1e9e\u2160\u2170\u00b2\u0663\u0966\U0001d7d8\U0001f600")
    + list("'.:_-\u00b7\u2019\u05f4\u200d\u00ad \t\n\x1c\x1f\u3000\u00a0\u2028\U00010400\U00010428")
)
texts = st.text(st.one_of(any_char, tricky_char, st.sampled_from("aZ09 ")), max_size=60)


@given(texts)
@example("ΟΔΟΣ.Σ'Σ:Α ΣΑ aΣ\u0301 b")
@example("İstanbul ǅemal ᾼ")
def test_words_equals_python_regex(text: str) -> None:
    assert stemmatic.tokenize(text, "words") == WORD_RE.findall(text.lower())


@given(texts)
def test_whitespace_equals_python_split(text: str) -> None:
    assert stemmatic.tokenize(text, "whitespace") == text.lower().split()


@given(texts)
def test_chars_are_characters_of_collapsed_text(text: str) -> None:
    assert stemmatic.tokenize(text, "chars") == list(" ".join(text.lower().split()))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World! foo_bar 42x", ["hello", "world", "foo_bar", "42x"]),
        ("İstanbul", ["i", "stanbul"]),  # İ -> i + U+0307, which is not \w
        ("ΟΔΟΣ ΟΔΟΣ.", ["οδος", "οδος"]),  # final sigma
        ("٣٤ २० 𝔘𝔫𝔦", ["٣٤", "२०", "𝔘𝔫𝔦"]),  # digits of other scripts, astral letters
        ("", []),
    ],
)
def test_words_exact_cases(text: str, expected: list[str]) -> None:
    assert stemmatic.tokenize(text) == expected


def test_unknown_tokenizer_is_a_parameter_error() -> None:
    with pytest.raises(stemmatic.ParameterError, match='unknown tokenizer "bpe"'):
        stemmatic.tokenize("x", "bpe")  # type: ignore[arg-type]
