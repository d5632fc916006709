"""Type stubs of the Rust extension module ``stemmatic._core``."""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str
UNICODE_VERSION: str

def minhash_signatures(
    texts: Any,
    *,
    num_perm: int,
    ngram: int,
    tokenizer: str,
    seed: int,
    bits: int = 32,
    workers: int | None = None,
    on_invalid: str = "raise",
) -> tuple[npt.NDArray[Any], npt.NDArray[np.uint32], npt.NDArray[np.uint8]]: ...
def shingle_hashes(text: str, *, ngram: int, tokenizer: str, seed: int) -> npt.NDArray[np.uint64]: ...
def tokenize(text: str, *, tokenizer: str = "words") -> list[str]: ...
