"""MinHash signatures of texts, computed by the Rust engine.

The pipeline (all in Rust, GIL released, rayon-parallel):

1. normalize and tokenize (``auto``, the default: ``words``, with each
   character of a script written without spaces, such as Chinese, Japanese
   or Thai, a token of its own, and a document written mostly in such scripts
   cut into characters throughout; ``words``: ``re.findall(r"\\w+", text.lower())``;
   ``whitespace``: ``text.lower().split()``; ``chars``: characters of
   ``" ".join(text.lower().split())``; exact definitions in docs/hashing.md);
2. shingle: n-grams of tokens joined by one space (or n characters), each
   hashed with XXH3-64 seeded with ``seed``;
3. for each of ``num_perm`` permutations, the minimum permuted hash.

See :mod:`stemmatic_core::minhash` docs (README, "Hashing contract") for the
exact permutation functions; a document without tokens gets the all-ones
signature (``numpy.iinfo(dtype).max`` in every column).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from stemmatic import _core
from stemmatic._arrow import TextInput, as_text_column
from stemmatic.exceptions import ParameterError

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_TOKENIZER",
    "LONG_TOKEN_CHARS",
    "TOKENIZERS",
    "MinHashBatch",
    "MinHasher",
    "RowStatus",
    "TokenLengthCheck",
    "check_tokenizer",
    "long_token_warning",
    "minhash",
    "minhash_batch",
    "shingle_hashes",
    "tokenize",
]

Tokenizer = Literal["auto", "auto-span", "auto-document", "words", "whitespace", "chars"]
OnInvalid = Literal["raise", "skip"]

#: Every tokenizer, the default first: the one list that dedup, contamination,
#: the hashing embedder and lineage check names against.
TOKENIZERS: tuple[Tokenizer, ...] = ("auto", "auto-span", "auto-document", "words", "whitespace", "chars")

#: The tokenizer used when none is given: ``words`` on spaced scripts (the same
#: tokens and hashes), one unit per character of scripts written without spaces;
#: a whole document is cut into characters when a tenth of its letters and digits
#: are of those scripts (``auto-document``), except in the contamination index and
#: scan, whose spans keep the per-script units (``auto-span``).
DEFAULT_TOKENIZER: Tokenizer = "auto"


def check_tokenizer(tokenizer: object) -> None:
    """Raise :class:`~stemmatic.ParameterError` unless ``tokenizer`` names a tokenizer."""
    if tokenizer not in TOKENIZERS:
        expected = ", ".join(f'"{t}"' for t in TOKENIZERS[:-1]) + f' or "{TOKENIZERS[-1]}"'
        raise ParameterError(f"invalid parameter `tokenizer`: {tokenizer!r}; expected {expected}")


#: The seed used when none is given.
DEFAULT_SEED = 1


class RowStatus:
    """Codes of :attr:`MinHashBatch.status`."""

    OK = 0
    EMPTY = 1  #: valid text without tokens: the all-ones signature
    NULL = 2  #: null row, skipped (``on_invalid="skip"``)
    INVALID_UTF8 = 3  #: not UTF-8, skipped (``on_invalid="skip"``)


@dataclass(frozen=True)
class MinHashBatch:
    """Signatures of a batch with, per row, its shingle count and status."""

    signatures: np.ndarray
    num_shingles: np.ndarray
    status: np.ndarray

    @property
    def empty_rows(self) -> np.ndarray:
        """Indices of rows with no tokens."""
        return np.flatnonzero(self.status == RowStatus.EMPTY)

    @property
    def skipped_rows(self) -> np.ndarray:
        """Indices of null or non-UTF-8 rows skipped with ``on_invalid="skip"``."""
        return np.flatnonzero(self.status >= RowStatus.NULL)

    def counts(self) -> dict[str, int]:
        """Rows per status, for reports."""
        names = {
            RowStatus.OK: "ok",
            RowStatus.EMPTY: "empty",
            RowStatus.NULL: "null",
            RowStatus.INVALID_UTF8: "invalid_utf8",
        }
        values, counts = np.unique(self.status, return_counts=True)
        out = dict.fromkeys(names.values(), 0)
        out.update({names[int(v)]: int(c) for v, c in zip(values, counts, strict=True)})
        return out


#: A token of this many characters or more is "long": few words of a spaced
#: language are. On the catalogues of benches/bench_multilingual.py (135
#: languages), 16 set off the warning under `auto` on 13 of them (Danish,
#: Dutch, German, Swedish compounds: "Veröffentlichung"), 20 on 3 (Danish,
#: Limburgish, Nynorsk), while `words` on Chinese and Japanese still does.
LONG_TOKEN_CHARS = 20


@dataclass
class TokenLengthCheck:
    """Counts documents whose tokens are very long, on a sample of each batch.

    A document has long tokens when tokens of :data:`LONG_TOKEN_CHARS` or more
    characters hold at least a fifth of its token characters: the sign of a
    tokenizer that does not fit the text (``words`` on Chinese, whose "words"
    run from one punctuation mark to the next; or base64 and other encoded
    data). Only the first ``sample`` rows of each batch are tokenized again.

    >>> check = TokenLengthCheck("words")
    >>> check.add(pa.array(["这是一个没有空格的很长的句子因为中文不用空格分词", "plain English text"]))
    >>> check.counts()["long_token_rows"], check.warning() is not None
    (1, True)
    """

    tokenizer: str
    sample: int = 256
    checked: int = 0
    long_rows: int = 0
    longest: int = 0

    def add(self, texts: pa.Array | pa.ChunkedArray) -> None:
        head = texts.slice(0, self.sample)
        column = head if isinstance(head, pa.ChunkedArray) else pa.chunked_array([head])
        self.add_lengths(_core.token_lengths(column, tokenizer=self.tokenizer, long_chars=LONG_TOKEN_CHARS))

    def add_lengths(self, lengths: np.ndarray) -> None:
        """Count a batch from its token lengths already measured (``_core.token_lengths`` of
        its first ``sample`` rows with ``long_chars=LONG_TOKEN_CHARS``, or the
        ``token_lengths`` of a :class:`stemmatic._core.SketchBatch` made with
        ``length_rows=sample``), so the texts are not tokenized again."""
        with_tokens = lengths[:, 0] > 0
        self.checked += int(with_tokens.sum())
        self.long_rows += int((with_tokens & (5 * lengths[:, 1] >= lengths[:, 0])).sum())
        self.longest = max(self.longest, int(lengths[:, 2].max(initial=0)))

    def counts(self) -> dict[str, int]:
        return {
            "token_rows_checked": self.checked,
            "long_token_rows": self.long_rows,
            "longest_token_chars": self.longest,
        }

    def warning(self) -> str | None:
        """A sentence for the report when at least 1% of the checked documents have long tokens."""
        return long_token_warning(self.counts(), self.tokenizer)


def long_token_warning(counts: dict[str, Any], tokenizer: str) -> str | None:
    """The warning for :meth:`TokenLengthCheck.counts` (also read back from a checkpoint), or None."""
    checked, long_rows = int(counts.get("token_rows_checked", 0)), int(counts.get("long_token_rows", 0))
    if not long_rows or 100 * long_rows < checked:
        return None
    hint = (
        'the default tokenizer "auto" cuts Chinese, Japanese, Thai and other scripts written without spaces '
        "into characters"
        if not tokenizer.startswith("auto")
        else "a script the tokenizer does not cut, or encoded data (base64, hashes)"
    )
    return (
        f"{long_rows} of {checked} documents checked have very long tokens ({LONG_TOKEN_CHARS}+ characters "
        f"hold a fifth of their text; longest {counts.get('longest_token_chars', 0)}): tokenizer {tokenizer!r} "
        f"may not fit this text, and near-duplicates of it go unfound ({hint}; see docs/hashing.md)"
    )


@dataclass(frozen=True)
class MinHasher:
    """MinHash parameters; a plain picklable value, so it travels to Ray/Spark workers.

    >>> hasher = MinHasher(num_perm=16, ngram=2)
    >>> sig = hasher.signatures(["a b c d", "a b c e"])
    >>> sig.shape, sig.dtype
    ((2, 16), dtype('uint32'))
    """

    num_perm: int = 128
    ngram: int = 5
    tokenizer: Tokenizer = DEFAULT_TOKENIZER
    seed: int = DEFAULT_SEED
    bits: Literal[32, 64] = 32

    def __post_init__(self) -> None:
        if self.num_perm < 1:
            raise ParameterError(f"invalid parameter `num_perm`: {self.num_perm}; must be at least 1")
        if self.ngram < 1:
            raise ParameterError(f"invalid parameter `ngram`: {self.ngram}; must be at least 1")
        if self.bits not in (32, 64):
            raise ParameterError(f"invalid parameter `bits`: {self.bits}; expected 32 or 64")
        check_tokenizer(self.tokenizer)
        if not 0 <= self.seed < 2**64:
            raise ParameterError(f"invalid parameter `seed`: {self.seed}; must be in [0, 2**64)")

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint32 if self.bits == 32 else np.uint64)

    def batch(
        self,
        texts: TextInput | Iterable[str],
        *,
        workers: int | None = None,
        on_invalid: OnInvalid = "raise",
    ) -> MinHashBatch:
        """Signatures plus per-row shingle counts and statuses."""
        column = as_text_column(texts)
        signatures, num_shingles, status = _core.minhash_signatures(
            column,
            num_perm=self.num_perm,
            ngram=self.ngram,
            tokenizer=self.tokenizer,
            seed=self.seed,
            bits=self.bits,
            workers=workers,
            on_invalid=on_invalid,
        )
        return MinHashBatch(signatures, num_shingles, status)

    def signatures(
        self,
        texts: TextInput | Iterable[str],
        *,
        workers: int | None = None,
        on_invalid: OnInvalid = "raise",
    ) -> np.ndarray:
        """The ``(n, num_perm)`` signature matrix."""
        return self.batch(texts, workers=workers, on_invalid=on_invalid).signatures

    def shingles(self, text: str) -> np.ndarray:
        """Sorted distinct 64-bit shingle hashes of one text (what exact Jaccard compares)."""
        return _core.shingle_hashes(text, ngram=self.ngram, tokenizer=self.tokenizer, seed=self.seed)


def minhash(
    texts: TextInput | Iterable[str],
    *,
    num_perm: int = 128,
    ngram: int = 5,
    tokenizer: Tokenizer = DEFAULT_TOKENIZER,
    seed: int = DEFAULT_SEED,
    bits: Literal[32, 64] = 32,
    workers: int | None = None,
    on_invalid: OnInvalid = "raise",
) -> np.ndarray:
    """MinHash signatures of ``texts`` as a ``(len(texts), num_perm)`` numpy array.

    Args:
        texts: a pyarrow string/large_string/string_view (Chunked)Array, a list
            of ``str`` or a numpy array of ``str``. Arrow input reaches Rust
            through the Arrow C data interface without copying the text.
        num_perm: number of permutations (columns).
        ngram: shingle size in tokens (characters for ``tokenizer="chars"``).
        tokenizer: ``"auto"`` (default), ``"auto-span"``, ``"auto-document"``, ``"words"``,
            ``"whitespace"`` or ``"chars"``
            (see docs/hashing.md).
        seed: seeds the shingle hash and the permutations.
        bits: 32 (``uint32``, default) or 64 (``uint64``) signature values.
        workers: threads; default ``STEMMATIC_NUM_THREADS`` or all CPUs. The
            result does not depend on it.
        on_invalid: ``"raise"`` (an :class:`~stemmatic.InvalidInputError`
            naming the first null or non-UTF-8 row) or ``"skip"`` (such rows get
            the all-ones signature; :func:`minhash_batch` reports which).

    >>> import stemmatic
    >>> sig = stemmatic.minhash(["the cat sat on the mat", "The cat sat on the mat!"], num_perm=8)
    >>> bool((sig[0] == sig[1]).all())
    True
    """
    hasher = MinHasher(num_perm=num_perm, ngram=ngram, tokenizer=tokenizer, seed=seed, bits=bits)
    return hasher.signatures(texts, workers=workers, on_invalid=on_invalid)


def minhash_batch(
    texts: TextInput | Iterable[str],
    *,
    num_perm: int = 128,
    ngram: int = 5,
    tokenizer: Tokenizer = DEFAULT_TOKENIZER,
    seed: int = DEFAULT_SEED,
    bits: Literal[32, 64] = 32,
    workers: int | None = None,
    on_invalid: OnInvalid = "raise",
) -> MinHashBatch:
    """Like :func:`minhash`, with per-row shingle counts and statuses (empty, skipped).

    >>> batch = minhash_batch(["a b c", "", None], num_perm=4, on_invalid="skip")
    >>> batch.counts()
    {'ok': 1, 'empty': 1, 'null': 1, 'invalid_utf8': 0}
    """
    hasher = MinHasher(num_perm=num_perm, ngram=ngram, tokenizer=tokenizer, seed=seed, bits=bits)
    return hasher.batch(texts, workers=workers, on_invalid=on_invalid)


def shingle_hashes(
    text: str, *, ngram: int = 5, tokenizer: Tokenizer = DEFAULT_TOKENIZER, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """Sorted distinct shingle hashes of ``text``: XXH3-64 of each n-gram, seeded.

    >>> import xxhash
    >>> int(shingle_hashes("Hello big", ngram=2, seed=0)[0]) == xxhash.xxh3_64_intdigest(b"hello big", seed=0)
    True
    """
    return _core.shingle_hashes(text, ngram=ngram, tokenizer=tokenizer, seed=seed)


def tokenize(text: str, tokenizer: Tokenizer = DEFAULT_TOKENIZER) -> list[str]:
    """Tokens of ``text`` (characters for ``"chars"``), as whole-document similarity cuts it.

    >>> tokenize("Hello, WORLD_1!")
    ['hello', 'world_1']
    >>> tokenize("東京タワーTokyo Tower", tokenizer="auto-span")
    ['東', '京', 'タ', 'ワ', 'ー', 'tokyo', 'tower']
    >>> tokenize("東京タワーTokyo Tower")  # a third of its letters are kana and Han
    ['東', '京', 'タ', 'ワ', 'ー', 't', 'o', 'k', 'y', 'o', 't', 'o', 'w', 'e', 'r']
    """
    return _core.tokenize(text, tokenizer=tokenizer)
