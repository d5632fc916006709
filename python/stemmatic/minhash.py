"""MinHash signatures of texts, computed by the Rust engine.

The pipeline (all in Rust, GIL released, rayon-parallel):

1. normalize and tokenize (``words``: ``re.findall(r"\\w+", text.lower())``;
   ``whitespace``: ``text.lower().split()``; ``chars``: characters of
   ``" ".join(text.lower().split())``);
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
from typing import Literal

import numpy as np

from stemmatic import _core
from stemmatic._arrow import TextInput, as_text_column
from stemmatic.exceptions import ParameterError

__all__ = [
    "DEFAULT_SEED",
    "MinHashBatch",
    "MinHasher",
    "RowStatus",
    "minhash",
    "minhash_batch",
    "shingle_hashes",
    "tokenize",
]

Tokenizer = Literal["words", "whitespace", "chars"]
OnInvalid = Literal["raise", "skip"]

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
    tokenizer: Tokenizer = "words"
    seed: int = DEFAULT_SEED
    bits: Literal[32, 64] = 32

    def __post_init__(self) -> None:
        if self.num_perm < 1:
            raise ParameterError(f"invalid parameter `num_perm`: {self.num_perm}; must be at least 1")
        if self.ngram < 1:
            raise ParameterError(f"invalid parameter `ngram`: {self.ngram}; must be at least 1")
        if self.bits not in (32, 64):
            raise ParameterError(f"invalid parameter `bits`: {self.bits}; expected 32 or 64")
        if self.tokenizer not in ("words", "whitespace", "chars"):
            raise ParameterError(
                f'invalid parameter `tokenizer`: {self.tokenizer!r}; expected "words", "whitespace" or "chars"'
            )
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
    tokenizer: Tokenizer = "words",
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
        tokenizer: ``"words"``, ``"whitespace"`` or ``"chars"``.
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
    tokenizer: Tokenizer = "words",
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
    text: str, *, ngram: int = 5, tokenizer: Tokenizer = "words", seed: int = DEFAULT_SEED
) -> np.ndarray:
    """Sorted distinct shingle hashes of ``text``: XXH3-64 of each n-gram, seeded.

    >>> import xxhash
    >>> int(shingle_hashes("Hello big", ngram=2, seed=0)[0]) == xxhash.xxh3_64_intdigest(b"hello big", seed=0)
    True
    """
    return _core.shingle_hashes(text, ngram=ngram, tokenizer=tokenizer, seed=seed)


def tokenize(text: str, tokenizer: Tokenizer = "words") -> list[str]:
    """Tokens of ``text`` (characters for ``"chars"``).

    >>> tokenize("Hello, WORLD_1!")
    ['hello', 'world_1']
    """
    return _core.tokenize(text, tokenizer=tokenizer)
