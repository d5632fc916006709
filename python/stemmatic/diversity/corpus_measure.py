"""Embedding a corpus and measuring the diversity of datasets: corpora in, vectors and numbers out.

Part of the corpus API (:mod:`stemmatic.diversity.corpus`, which documents
``inputs``, ``output`` and where vectors come from); these two split no rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from stemmatic.diversity._corpus_io import (
    EmbeddingSource,
    corpus_run,
    describe_source,
)
from stemmatic.exceptions import ParameterError
from stemmatic.io._sinks import write_parquet

if TYPE_CHECKING:
    from stemmatic._run import Progress
    from stemmatic.diversity.embed import Embedder

__all__ = ["EmbedCorpusResult", "MeasureCorpusResult", "embed_corpus", "measure_corpus"]

PathLike = str | os.PathLike[str]


@dataclass
class EmbedCorpusResult:
    """:func:`embed_corpus`'s result: ``vectors`` (float32, unit rows, input order) and their ``ids``."""

    vectors: np.ndarray
    ids: pa.Array
    report: dict[str, Any]
    output: Path | str | None = None
    rejected_rows: int = 0


@dataclass
class MeasureCorpusResult:
    """:func:`measure_corpus`'s result: ``metrics`` per dataset and the shared ``centroids``."""

    metrics: dict[str, dict[str, Any]]
    centroids: np.ndarray
    report: dict[str, Any]


# ---------------------------------------------------------------- embed


def embed_corpus(
    inputs: Any,
    output: PathLike | None = None,
    *,
    embedder: str | Embedder = "hashing",
    text_column: str = "text",
    dim: int = 384,
    batch_size: int = 1024,
    cache_dir: PathLike | None = None,
    id_column: str | None = None,
    on_error: str = "raise",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> EmbedCorpusResult:
    """Embed a text column of a corpus: unit vectors in input order, and each row's id.

    With ``output``: ``embeddings.npy`` (float32), ``ids.parquet`` and
    ``report.json``, ready for ``embeddings=`` of the other tools.

    >>> import pyarrow as pa
    >>> result = embed_corpus(pa.table({"text": ["a cat sat", "stocks fell"]}), dim=32)
    >>> result.vectors.shape, result.ids.to_pylist()
    ((2, 32), [0, 1])
    """
    from stemmatic.io import StageTimer

    source = EmbeddingSource(None, None, embedder, text_column, dim, batch_size, cache_dir)
    with corpus_run(inputs, output, overwrite=overwrite, on_error=on_error, progress=progress) as run:
        timer = StageTimer()
        with timer.stage("embed"):
            loaded = run.load(source, id_column=id_column, score_column=None)
        vectors = np.ascontiguousarray(loaded.vectors, dtype=np.float32)
        if run.target is not None:
            with timer.stage("write"):
                np.save(run.target / "embeddings.npy", vectors)
                write_parquet(pa.table({"id": loaded.ids}), run.target / "ids.parquet")
        report = run.report(
            "embed",
            loaded,
            parameters={
                "embedder": source.describe()["embedder"],
                "fingerprint": source.model().fingerprint,
                "batch_size": batch_size,
                "id_column": id_column,
            },
            timer=timer,
            outputs={"embeddings": "embeddings.npy", "ids": "ids.parquet"},
        )
        run.finish(report)
        return EmbedCorpusResult(vectors, loaded.ids, report, run.location, loaded.rejected)


# ---------------------------------------------------------------- measure


def _is_npy(spec: Any) -> bool:
    return isinstance(spec, (str, os.PathLike)) and os.fspath(spec).endswith(".npy")


def measure_corpus(
    datasets: Mapping[str, Any],
    output: PathLike | None = None,
    *,
    n_clusters: int | None = None,
    centroids: PathLike | np.ndarray | None = None,
    reference: Any = None,
    vendi_kernel: str = "cosine",
    vendi_max_exact: int = 2000,
    seed: int = 0,
    embedding_column: str | None = None,
    embedder: str | Embedder = "hashing",
    text_column: str = "text",
    dim: int = 384,
    batch_size: int = 1024,
    cache_dir: PathLike | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> MeasureCorpusResult:
    """Diversity metrics of one or more datasets, in k-means clusters they share.

    Per dataset: the Vendi score, the mean cosine distance to the mean
    direction, the cluster entropy in clusters fitted on the union of the
    datasets (``n_clusters``, default sqrt(n) up to 1000) or given as
    ``centroids``, and with ``reference`` the coverage radius (largest
    distance from a reference row to its nearest row of the dataset).

    Args:
        datasets: name -> a ``.npy`` of embeddings, an array, a path or list
            of paths of data files, or a table-like object.
        output: write ``report.json`` here (``None``: nothing is written).
        reference: a dataset as in ``datasets``.
        vendi_kernel: ``cosine`` (exact for any n) or ``rbf`` (exact up to
            ``vendi_max_exact`` rows, the mean of seeded subsets beyond).
        Other arguments: where vectors come from (see the module).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> wide, narrow = rng.normal(size=(200, 16)), 1 + 0.01 * rng.normal(size=(200, 16))
    >>> result = measure_corpus({"wide": wide, "narrow": narrow}, n_clusters=4)
    >>> result.metrics["narrow"]["vendi"]["value"] < result.metrics["wide"]["vendi"]["value"]
    True
    """
    import contextlib

    from stemmatic._run import NoProgress, Rows, input_summary, run_report, steps_callback
    from stemmatic.diversity.embed import load_npy
    from stemmatic.diversity.index import load_centroids, spherical_kmeans
    from stemmatic.diversity.metrics import measure_many
    from stemmatic.io import StageTimer, output_dir, write_report

    if not datasets:
        raise ParameterError("measure: no datasets given")
    source = EmbeddingSource(embedding_column, None, embedder, text_column, dim, batch_size, cache_dir)
    shown = progress if progress is not None else NoProgress()
    read: list[Any] = []  # the files read, for the report

    def vectors_of(spec: Any) -> np.ndarray:
        if isinstance(spec, np.ndarray):
            return spec
        if _is_npy(spec):
            read.append(spec)
            return np.asarray(load_npy(spec))
        with corpus_run(spec, None, overwrite=False, on_error="raise", progress=shown) as run:
            if getattr(run.files, "table", None) is None:
                read.extend(run.files)
            return run.load(source, id_column=None, score_column=None).unit_vectors()

    def paths_of(spec: Any) -> list[Any]:
        if isinstance(spec, (str, os.PathLike)):
            return [spec]
        if isinstance(spec, (list, tuple)):
            return [p for p in spec if isinstance(p, (str, os.PathLike))]
        return []

    read_paths = [p for spec in [*datasets.values(), reference, centroids] for p in paths_of(spec)]
    held = (
        output_dir(output, inputs=read_paths, overwrite=overwrite)
        if output is not None
        else contextlib.nullcontext(None)
    )
    with held as target:
        timer = StageTimer()
        with timer.stage("read"):
            arrays = {name: vectors_of(spec) for name, spec in datasets.items()}
            ref = vectors_of(reference) if reference is not None else None
            shared = (
                None
                if centroids is None
                else np.asarray(centroids)
                if isinstance(centroids, np.ndarray)
                else load_centroids(centroids)
            )
        with timer.stage("measure"):
            if shared is None:
                union = np.vstack([a / np.linalg.norm(a, axis=1, keepdims=True) for a in arrays.values()])
                k = n_clusters if n_clusters is not None else max(1, min(1000, round(math.sqrt(len(union)))))
                steps = steps_callback(shown)
                steps("kmeans", 0, 1)
                shared = spherical_kmeans(union, k, seed=seed).centroids
                steps("kmeans", 1, 1)
                shown.finish()
                del union
            metrics = measure_many(
                arrays,
                centroids=shared,
                reference=ref,
                vendi_kernel=vendi_kernel,
                vendi_max_exact=vendi_max_exact,
                seed=seed,
            )
        if isinstance(centroids, (str, os.PathLike)):
            read.append(centroids)
        rows = {name: int(metrics[name]["rows"]) for name in datasets}
        report = run_report(
            "diversity measure",
            parameters={
                "n_clusters": len(shared),
                "centroids": describe_source(centroids) if centroids is not None else None,
                "reference": describe_source(reference) if reference is not None else None,
                "vendi_kernel": vendi_kernel,
                "vendi_max_exact": vendi_max_exact,
                "seed": seed,
                "embeddings": source.describe(),
            },
            inputs=input_summary(read),
            rows=Rows(sum(rows.values()), detail=rows),
            timer=timer,
            outputs={"report": "report.json"} if target is not None else {},
            datasets={
                name: {"path": describe_source(spec), **metrics[name]} for name, spec in datasets.items()
            },
        )
        if target is not None:
            write_report(target / "report.json", report)
        return MeasureCorpusResult(metrics, shared, report)
