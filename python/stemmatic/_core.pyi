"""Type stubs of the Rust extension module ``stemmatic._core``."""

import os
from collections.abc import Sequence
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_NUM_PERM",
    "TOKEN_BOUNDS_KERNEL",
    "UNICODE_VERSION",
    "ClusterArrays",
    "EntryTokens",
    "GuardSplit",
    "JsonlEncoder",
    "NgramIndex",
    "Overlaps",
    "ScreenedBlock",
    "SketchBatch",
    "Sketcher",
    "__version__",
    "band_keys",
    "candidate_pairs",
    "candidate_pairs_batched",
    "cluster_decision",
    "connected_components",
    "exact_keys",
    "jsonl_screen",
    "kernel",
    "minhash_signatures",
    "minhash_sketch",
    "resolve_workers",
    "shingle_hashes",
    "shingle_sets",
    "split_giant_components",
    "stitch_parquet",
    "token_lengths",
    "tokenize",
    "unique_pairs",
    "verify_pairs",
    "verify_pairs_batched",
]
__version__: str
UNICODE_VERSION: str
MAX_NUM_PERM: int
# The contamination scanner's token-bounds kernel under kernel(): "avx512", "avx2" or "portable"
# (AVX-512 needs VBMI2 besides the features of the "avx512" kernel, else it is "avx2").
TOKEN_BOUNDS_KERNEL: str

def kernel() -> str:
    """The CPU kernel of this process: ``"avx512"``, ``"avx2"`` or ``"portable"``.

    Chosen once, at import: the widest the CPU runs, or ``STEMMATIC_KERNEL``'s
    (an unknown value, or a kernel the CPU cannot run, makes the import raise
    ``ParameterError``).
    """

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
def minhash_sketch(
    texts: Any,
    *,
    num_perm: int,
    ngram: int,
    tokenizer: str,
    seed: int,
    bits: int = 32,
    workers: int | None = None,
    on_invalid: str = "raise",
) -> tuple[
    npt.NDArray[Any],
    npt.NDArray[np.uint32],
    npt.NDArray[np.uint8],
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint64],
]: ...
def shingle_hashes(text: str, *, ngram: int, tokenizer: str, seed: int) -> npt.NDArray[np.uint64]: ...
def band_keys(
    signatures: npt.NDArray[Any], *, bands: int, rows: int, workers: int | None = None
) -> npt.NDArray[np.uint64]: ...
def candidate_pairs(
    keys: npt.NDArray[np.uint64],
    docs: npt.NDArray[np.uint64],
    *,
    clique_max: int = 8,
    workers: int | None = None,
) -> npt.NDArray[np.uint64]: ...
def candidate_pairs_batched(
    keys: Sequence[npt.NDArray[np.uint64]],
    docs: Sequence[npt.NDArray[np.uint64]],
    *,
    excluded: npt.NDArray[np.bool_] | None = None,
    clique_max: int = 8,
    workers: int | None = None,
) -> npt.NDArray[np.uint64]: ...
def unique_pairs(pairs: npt.NDArray[np.uint64], *, workers: int | None = None) -> npt.NDArray[np.uint64]: ...
def shingle_sets(
    texts: Any, *, ngram: int, tokenizer: str, seed: int, workers: int | None = None
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]: ...
def verify_pairs(
    pairs: npt.NDArray[np.uint64],
    slot_docs: npt.NDArray[np.uint64],
    values: npt.NDArray[np.uint64],
    offsets: npt.NDArray[np.uint64],
    *,
    workers: int | None = None,
) -> npt.NDArray[np.float64]: ...
def verify_pairs_batched(
    pairs: npt.NDArray[np.uint64],
    first_docs: list[int],
    values: list[npt.NDArray[np.uint64]],
    offsets: list[npt.NDArray[np.uint64]],
    *,
    workers: int | None = None,
) -> npt.NDArray[np.float64]: ...
def exact_keys(
    texts: Any, *, tokenizer: str = "auto", workers: int | None = None
) -> npt.NDArray[np.uint64]: ...
def connected_components(num_nodes: int, edges: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]: ...

@final
class SketchBatch:
    """One batch's fused sketch (``Sketcher.sketch``): numpy arrays, one entry (row) per text."""

    def __len__(self) -> int: ...
    @property
    def signatures(self) -> npt.NDArray[np.uint32] | npt.NDArray[np.uint64] | None:
        """``(n, num_perm)``; all ones for rows without shingles, null or non-UTF-8 rows; None unless ``keep_signatures``."""
    @property
    def num_shingles(self) -> npt.NDArray[np.uint32]: ...
    @property
    def status(self) -> npt.NDArray[np.uint8]:
        """0 ok, 1 empty (no tokens), 2 null, 3 not UTF-8."""
    @property
    def band_keys(self) -> npt.NDArray[np.uint64]:
        """``(n, bands)``: the values of ``band_keys(signatures, bands=..., rows=...)``."""
    @property
    def exact_keys(self) -> npt.NDArray[np.uint64] | None:
        """``(n, 2)``, the values of ``exact_keys(texts, tokenizer=...)``; None unless ``exact``."""
    @property
    def set_values(self) -> npt.NDArray[np.uint64] | None:
        """Sorted distinct shingle hashes of every ok row, flattened; None unless ``keep_sets``.

        ``set_batches`` joined: a copy on each access.
        """
    @property
    def set_offsets(self) -> npt.NDArray[np.uint64] | None:
        """``(n + 1,)``: row ``i``'s set is ``set_values[set_offsets[i]:set_offsets[i + 1]]``."""
    @property
    def set_batches(self) -> list[tuple[int, npt.NDArray[np.uint64], npt.NDArray[np.uint64]]] | None:
        """The sets as the workers wrote them, without a copy: ``(first_row, values, offsets)`` per run of rows.

        Each is ``set_values``/``set_offsets`` of its rows, offsets from 0; None unless ``keep_sets``.
        """
    @property
    def lengths(self) -> npt.NDArray[np.uint64]:
        """Bytes of each text (0 for null)."""
    @property
    def token_lengths(self) -> npt.NDArray[np.uint64]:
        """``(min(n, length_rows), 3)``: the values of ``token_lengths(texts[:length_rows], long_chars=...)``."""

@final
class Sketcher:
    """The fused per-batch call of near-duplicate detection, its parameters parsed once.

    From one tokenization of each text: MinHash signature, shingle count,
    status, LSH band keys and byte length; with ``exact``, the exact-duplicate
    key; with ``keep_sets``, the shingle set; for the first ``length_rows``
    rows, the token lengths. Each equals the separate function's output.
    Without ``keep_signatures``, each row's signature only gives its band
    keys (``SketchBatch.signatures`` is None).
    Picklable.
    """

    def __new__(
        cls,
        num_perm: int,
        ngram: int,
        tokenizer: str,
        seed: int,
        bands: int,
        rows: int,
        bits: int = 32,
        exact: bool = False,
        keep_sets: bool = False,
        length_rows: int = 0,
        long_chars: int = 16,
        keep_signatures: bool = True,
    ) -> Sketcher: ...
    def sketch(self, texts: Any, *, workers: int | None = None, on_invalid: str = "raise") -> SketchBatch: ...
    def __reduce__(
        self,
    ) -> tuple[type[Sketcher], tuple[int, int, str, int, int, int, int, bool, bool, int, int, bool]]: ...
    @property
    def num_perm(self) -> int: ...
    @property
    def ngram(self) -> int: ...
    @property
    def tokenizer(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def bits(self) -> int: ...
    @property
    def bands(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def exact(self) -> bool: ...
    @property
    def keep_sets(self) -> bool: ...
    @property
    def length_rows(self) -> int: ...
    @property
    def long_chars(self) -> int: ...
    @property
    def keep_signatures(self) -> bool: ...

@final
class ClusterArrays:
    """Per-row decisions of ``cluster_decision`` (see ``stemmatic.dedup.clusters``)."""

    @property
    def removed(self) -> npt.NDArray[np.bool_]: ...
    @property
    def duplicate_of(self) -> npt.NDArray[np.int64]: ...
    @property
    def cluster_id(self) -> npt.NDArray[np.int64]: ...
    @property
    def similarity(self) -> npt.NDArray[np.float64]: ...
    @property
    def reason(self) -> npt.NDArray[np.uint8]: ...
    @property
    def cluster_size(self) -> npt.NDArray[np.int64]: ...
    @property
    def to_verify(self) -> npt.NDArray[np.uint64]: ...

def cluster_decision(
    num_nodes: int,
    edges: npt.NDArray[np.uint64],
    similarity: npt.NDArray[np.float64],
    reason: npt.NDArray[np.uint8],
    keep_score: npt.NDArray[np.float64] | None = None,
    *,
    clustering: str = "components",
    checked: npt.NDArray[np.uint64] | None = None,
) -> ClusterArrays: ...

@final
class GuardSplit:
    """Edges the giant-component guard keeps (see ``stemmatic.dedup.guard``)."""

    @property
    def keep(self) -> npt.NDArray[np.bool_]: ...
    @property
    def split(self) -> list[tuple[int, int, list[int]]]: ...

def split_giant_components(
    num_nodes: int, edges: npt.NDArray[np.uint64], similarity: npt.NDArray[np.float64], max_size: int
) -> GuardSplit: ...
def stitch_parquet(
    out: str | os.PathLike[str], parts: Sequence[str | os.PathLike[str]], order: Sequence[tuple[int, int]]
) -> None: ...
def resolve_workers(workers: int | None = None) -> int: ...
def token_lengths(texts: Any, *, tokenizer: str = "auto", long_chars: int = 16) -> npt.NDArray[np.uint64]: ...
def tokenize(text: str, *, tokenizer: str = "auto") -> list[str]: ...
def jsonl_screen(block: bytes | npt.NDArray[np.uint8], max_depth: int) -> ScreenedBlock: ...

@final
class ScreenedBlock:
    """What ``jsonl_screen`` found in a block of JSON lines."""

    @property
    def lines(self) -> int: ...
    @property
    def problems(self) -> list[tuple[int, str]]: ...

@final
class Overlaps:
    """What ``EntryTokens.compare`` found, per (document, entry) pair."""

    @property
    def longest(self) -> npt.NDArray[np.uint32]: ...
    @property
    def span_offsets(self) -> npt.NDArray[np.uint64]: ...
    @property
    def span_starts(self) -> npt.NDArray[np.uint32]: ...
    @property
    def span_ends(self) -> npt.NDArray[np.uint32]: ...

@final
class EntryTokens:
    """Tokens of benchmark entries: longest common run and Llama 2 spans against documents."""

    def __new__(cls, texts: list[str], tokenizer: str) -> EntryTokens: ...
    @property
    def num_entries(self) -> int: ...
    def lengths(self) -> npt.NDArray[np.uint32]: ...
    def compare(
        self,
        texts: Any,
        rows: npt.NDArray[np.uint32],
        entries: npt.NDArray[np.uint32],
        *,
        min_span: int = ...,
        skip_budget: int = ...,
        workers: int | None = None,
    ) -> Overlaps: ...

@final
class JsonlEncoder:
    """Encodes Arrow record batches as JSON lines; one encoder per output file."""

    def __init__(self) -> None: ...
    def write(self, table: Any, sink: Any, *, workers: int | None = None) -> int: ...
    @property
    def base64_columns(self) -> list[str]: ...

@final
class NgramIndex:
    """An n-gram index of benchmark entries (see ``stemmatic.contamination``)."""

    @staticmethod
    def build(
        *,
        benchmarks: list[str],
        fields: list[str],
        benchmark_ids: npt.NDArray[np.uint32],
        field_ids: npt.NDArray[np.uint32],
        item_ids: Any,
        texts: Any,
        ngram: int,
        tokenizer: str,
        seed: int,
        min_tokens: int = 1,
        max_item_frequency: int | None = None,
        allowlist: list[str] = ...,
        metadata: str = ...,
        workers: int | None = None,
    ) -> tuple[NgramIndex, npt.NDArray[np.uint8]]: ...
    @staticmethod
    def load(path: str) -> NgramIndex: ...
    @staticmethod
    def from_bytes(data: bytes) -> NgramIndex: ...
    def save(self, path: str) -> None: ...
    def to_bytes(self) -> bytes: ...
    def with_metadata(self, metadata: str) -> NgramIndex: ...
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
    def scan(
        self,
        texts: Any,
        *,
        min_ngrams: int = 1,
        min_coverage: float = 0.0,
        tokenizer: str | None = None,
        ngram: int | None = None,
        workers: int | None = None,
    ) -> tuple[
        npt.NDArray[np.uint64],
        npt.NDArray[np.uint32],
        npt.NDArray[np.uint32],
        npt.NDArray[np.float64],
        npt.NDArray[np.uint64],
        npt.NDArray[np.uint64],
        npt.NDArray[np.uint64],
        int,
    ]: ...
    def entry_arrays(
        self,
    ) -> tuple[
        npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.uint32]
    ]: ...
    def item_id_buffers(self) -> tuple[npt.NDArray[np.uint64], bytes]: ...
    def fingerprints(self) -> npt.NDArray[np.uint64]: ...
    def entries_of(self, hash: int) -> list[int]: ...
    @property
    def tokenizer(self) -> str: ...
    @property
    def ngram(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def min_tokens(self) -> int: ...
    @property
    def benchmarks(self) -> list[str]: ...
    @property
    def fields(self) -> list[str]: ...
    @property
    def num_entries(self) -> int: ...
    @property
    def num_ngrams(self) -> int: ...
    @property
    def metadata(self) -> str: ...
    @property
    def stats(self) -> dict[str, Any]: ...
