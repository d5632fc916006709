"""stemmatic: curate LLM training data on a Rust core.

Near-duplicate and exact deduplication (MinHash + LSH), benchmark
contamination, embedding-space diversity, dataset lineage and ResoFilter.

>>> import stemmatic
>>> stemmatic.minhash(["one two three four five"], num_perm=4).shape
(1, 4)
"""

from __future__ import annotations

from stemmatic import _core
from stemmatic.contamination import ContaminationIndex
from stemmatic.contamination import build_index as build_contamination_index
from stemmatic.contamination import scan_corpus as scan_contamination
from stemmatic.exceptions import InvalidInputError, MissingExtraError, ParameterError, StemmaticError
from stemmatic.minhash import (
    DEFAULT_SEED,
    MinHashBatch,
    MinHasher,
    RowStatus,
    minhash,
    minhash_batch,
    shingle_hashes,
    tokenize,
)

__version__: str = _core.__version__
UNICODE_VERSION: str = _core.UNICODE_VERSION

__all__ = [
    "DEFAULT_SEED",
    "UNICODE_VERSION",
    "ContaminationIndex",
    "InvalidInputError",
    "MinHashBatch",
    "MinHasher",
    "MissingExtraError",
    "ParameterError",
    "RowStatus",
    "StemmaticError",
    "__version__",
    "build_contamination_index",
    "minhash",
    "minhash_batch",
    "scan_contamination",
    "shingle_hashes",
    "tokenize",
]
