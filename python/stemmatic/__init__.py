"""stemmatic: curate LLM training data on a Rust core.

Near-duplicate and exact deduplication (MinHash + LSH), benchmark
contamination, embedding-space diversity, dataset lineage and ResoFilter.

>>> import stemmatic
>>> stemmatic.minhash(["one two three four five"], num_perm=4).shape
(1, 4)

The public names are imported when first used (PEP 562), so ``import
stemmatic`` (and the command line's start) does not load numpy, pyarrow or
the feature packages until something needs them.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stemmatic.contamination import ContaminationIndex
    from stemmatic.contamination import build_index as build_contamination_index
    from stemmatic.contamination import scan_corpus as scan_contamination
    from stemmatic.diversity.corpus import embed_corpus, select_corpus, semdedup_corpus
    from stemmatic.diversity.corpus import measure_corpus as measure_diversity
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

    __version__: str
    UNICODE_VERSION: str

#: Where each public name lives: (module, name in that module).
_LAZY: dict[str, tuple[str, str]] = {
    "ContaminationIndex": ("stemmatic.contamination", "ContaminationIndex"),
    "build_contamination_index": ("stemmatic.contamination", "build_index"),
    "scan_contamination": ("stemmatic.contamination", "scan_corpus"),
    "embed_corpus": ("stemmatic.diversity.corpus", "embed_corpus"),
    "measure_diversity": ("stemmatic.diversity.corpus", "measure_corpus"),
    "select_corpus": ("stemmatic.diversity.corpus", "select_corpus"),
    "semdedup_corpus": ("stemmatic.diversity.corpus", "semdedup_corpus"),
    "InvalidInputError": ("stemmatic.exceptions", "InvalidInputError"),
    "MissingExtraError": ("stemmatic.exceptions", "MissingExtraError"),
    "ParameterError": ("stemmatic.exceptions", "ParameterError"),
    "StemmaticError": ("stemmatic.exceptions", "StemmaticError"),
    "DEFAULT_SEED": ("stemmatic.minhash", "DEFAULT_SEED"),
    "MinHashBatch": ("stemmatic.minhash", "MinHashBatch"),
    "MinHasher": ("stemmatic.minhash", "MinHasher"),
    "RowStatus": ("stemmatic.minhash", "RowStatus"),
    "minhash": ("stemmatic.minhash", "minhash"),
    "minhash_batch": ("stemmatic.minhash", "minhash_batch"),
    "shingle_hashes": ("stemmatic.minhash", "shingle_hashes"),
    "tokenize": ("stemmatic.minhash", "tokenize"),
    "__version__": ("stemmatic._core", "__version__"),
    "UNICODE_VERSION": ("stemmatic._core", "UNICODE_VERSION"),
}

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
    "embed_corpus",
    "measure_diversity",
    "minhash",
    "minhash_batch",
    "scan_contamination",
    "select_corpus",
    "semdedup_corpus",
    "shingle_hashes",
    "tokenize",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'stemmatic' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package: its public names win over submodules of the same name.

    Importing the submodule ``stemmatic.minhash`` binds it as the package's
    ``minhash`` attribute; the public name is the function (as when this file
    imported it eagerly), so that binding is dropped.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
