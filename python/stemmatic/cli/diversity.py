"""``stemmatic diversity embed|semdedup|select|measure``: embedding-space tools on sharded corpora.

Every command reads Parquet/JSONL(.gz/.zst) inputs (files, directories, globs;
see :mod:`stemmatic.io`) and takes its vectors from one of: an input column of
embeddings (``--embedding-column``), a ``.npy`` aligned with the ordered input
rows (``--embeddings``, e.g. written by ``embed``), or an embedder run on a
text column (``--embedder hashing|minilm|DIR``). Filters (``semdedup``,
``select``) write ``OUT/kept/`` and ``OUT/removed/`` mirroring the input shards
(removed rows gain ``duplicate_of``, ``cluster_id``, ``similarity``,
``reason``) and ``OUT/report.json``; kept + removed = input, always.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import typer

from stemmatic.cli._errors import check_on_error
from stemmatic.cli._errors import clean_errors as _clean_errors
from stemmatic.cli._options import Workers
from stemmatic.diversity.neighbors import DEFAULT_BOUNDARY
from stemmatic.exceptions import InvalidInputError, ParameterError, StemmaticError

app = typer.Typer(
    name="diversity",
    help="Embedding-space diversity: embed, semantic dedup (SemDeDup), diverse selection, metrics.",
    no_args_is_help=True,
)

#: Columns the removed rows gain.
REMOVED_COLUMNS = ("duplicate_of", "cluster_id", "similarity", "reason")

ProgressFn = Callable[[str, int, int], None]


@contextlib.contextmanager
def _progress(enabled: bool = True) -> Iterator[ProgressFn]:
    """A rich progress display (on stderr) driven by ``progress(stage, done, total)`` calls."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not enabled:
        yield lambda stage, done, total: None
        return
    bars = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    with bars:
        yield update


# ---------------------------------------------------------------- loading


@dataclass
class Loaded:
    """Vectors and per-row metadata of the ordered input rows."""

    files: list[Any]
    vectors: np.ndarray
    ids: pa.Array
    scores: np.ndarray | None
    source: dict[str, Any]
    rows_per_file: list[int]
    rejected: int = 0
    chunk_starts: list[int] = field(default_factory=list)
    chunk_files: list[int] = field(default_factory=list)
    chunk_file_rows: list[int] = field(default_factory=list)

    def row_name(self, row: int) -> str:
        k = int(np.searchsorted(np.asarray(self.chunk_starts), row, side="right")) - 1
        if k < 0:
            return f"row {row}"
        file = self.files[self.chunk_files[k]]
        return f"{file.path} row {self.chunk_file_rows[k] + row - self.chunk_starts[k]}"


@dataclass
class EmbeddingOptions:
    embedding_column: str | None
    embeddings: Path | None
    embedder: str
    text_column: str
    dim: int
    batch_size: int
    cache_dir: Path | None

    def describe(self) -> dict[str, Any]:
        if self.embedding_column:
            return {"source": "column", "column": self.embedding_column}
        if self.embeddings:
            return {"source": "npy", "path": str(self.embeddings)}
        return {"source": "embedder", "embedder": self.embedder, "text_column": self.text_column}


def _scores_of(column: pa.ChunkedArray | pa.Array, name: str, first_row: int) -> np.ndarray:
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise InvalidInputError(f"score column {name!r}: row {first_row + row} is null")
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        raise InvalidInputError(f"score column {name!r}: expected numbers, got {column.type}")
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def load_inputs(
    inputs: list[Path],
    options: EmbeddingOptions,
    *,
    id_column: str | None,
    score_column: str | None,
    on_error: str,
    rejected_dir: Path | None,
    progress: ProgressFn,
) -> Loaded:
    """Stream the inputs once: ids, scores and vectors of every row, in input order."""
    from stemmatic.diversity.embed import embed_texts, embeddings_from_arrow, get_embedder, load_npy
    from stemmatic.io import RejectedWriter, iter_chunks, resolve_inputs

    files = resolve_inputs(inputs)
    if options.embedding_column and options.embeddings:
        raise ParameterError("give either --embedding-column or --embeddings, not both")
    embedder = None
    if not options.embedding_column and not options.embeddings:
        extra = {"dim": options.dim} if options.embedder == "hashing" else {}
        embedder = get_embedder(options.embedder, **extra)
    columns = [c for c in (id_column, score_column) if c]
    if options.embedding_column:
        columns.append(options.embedding_column)
    elif embedder is not None:
        columns.append(options.text_column)
    rejected = RejectedWriter(rejected_dir) if rejected_dir is not None and on_error == "skip" else None
    ids: list[pa.Array] = []
    scores: list[np.ndarray] = []
    vectors: list[np.ndarray] = []
    loaded = Loaded(
        files, np.empty((0, 0), np.float32), pa.array([]), None, options.describe(), [0] * len(files)
    )
    total_rows = None
    if all(f.format == "parquet" for f in files):
        import pyarrow.parquet as pq

        total_rows = sum(pq.read_metadata(f.path).num_rows for f in files)
    try:
        for chunk in iter_chunks(
            files,
            columns=sorted(set(columns)) or None,
            on_error=on_error,  # type: ignore[arg-type]
            skippable=True,
            on_rejected=rejected,
        ):
            batch = chunk.batch
            loaded.chunk_starts.append(chunk.global_row)
            loaded.chunk_files.append(chunk.file_index)
            loaded.chunk_file_rows.append(chunk.file_row)
            loaded.rows_per_file[chunk.file_index] += batch.num_rows
            where = f"{chunk.file.path} (rows from {chunk.file_row})"
            if id_column:
                ids.append(batch.column(id_column))
            if score_column:
                scores.append(_scores_of(batch.column(score_column), f"{score_column}' in '{where}", 0))
            if options.embedding_column:
                try:
                    vectors.append(embeddings_from_arrow(batch.column(options.embedding_column)))
                except InvalidInputError as err:
                    raise InvalidInputError(f"{where}: {err}") from err
            elif embedder is not None:
                try:
                    vectors.append(
                        embed_texts(
                            batch.column(options.text_column),
                            embedder,
                            batch_size=options.batch_size,
                            cache_dir=options.cache_dir,
                        )
                    )
                except InvalidInputError as err:
                    raise InvalidInputError(f"{where}: text column {options.text_column!r}: {err}") from err
            done = chunk.global_row + batch.num_rows
            progress("read+embed" if embedder is not None else "read", done, total_rows or done)
    finally:
        if rejected is not None:
            rejected.close()
            loaded.rejected = rejected.count
    n = sum(loaded.rows_per_file)
    if n == 0:
        raise InvalidInputError("the inputs have no rows")
    if options.embeddings:
        loaded.vectors = np.asarray(load_npy(options.embeddings, rows=n))
    else:
        dims = {v.shape[1] for v in vectors}
        if len(dims) > 1:
            raise InvalidInputError(
                f"column {options.embedding_column!r}: embeddings of different dimensions {sorted(dims)} "
                "in different batches or files"
            )
        loaded.vectors = np.concatenate(vectors) if len(vectors) > 1 else vectors[0]
    if id_column:
        loaded.ids = pa.concat_arrays(
            [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in ids]
        )
    else:
        loaded.ids = pa.array(np.arange(n, dtype=np.int64))
    loaded.scores = np.concatenate(scores) if score_column else None
    return loaded


def check_vectors(loaded: Loaded) -> np.ndarray:
    """Normalized vectors, with errors that name the file and row."""
    from stemmatic.diversity._vectors import as_unit_vectors

    return as_unit_vectors(loaded.vectors, name="embeddings", row_namer=loaded.row_name)


# ---------------------------------------------------------------- writing


@dataclass
class Decision:
    """Per input row: kept or not, and for removed rows what they duplicate and why."""

    keep: np.ndarray
    duplicate_of: np.ndarray  # row index, -1 for kept rows
    cluster_id: np.ndarray | None
    similarity: np.ndarray
    reason: Callable[[np.ndarray], list[str]]


def write_outputs(
    out: Path, loaded: Loaded, decision: Decision, *, fmt: str, on_error: str, progress: ProgressFn
) -> dict[str, int]:
    """Second pass over the inputs: each row to OUT/kept or OUT/removed, mirroring the shards."""
    from stemmatic.io import MirroredWriter, iter_chunks

    kept_writer = MirroredWriter(out / "kept", loaded.files, fmt)  # type: ignore[arg-type]
    removed_writer = MirroredWriter(out / "removed", loaded.files, fmt)  # type: ignore[arg-type]
    kept_schemas: dict[int, pa.Schema] = {}
    removed_schemas: dict[int, pa.Schema] = {}
    n = len(decision.keep)
    written = 0
    for chunk in iter_chunks(loaded.files, on_error=on_error, skippable=True):  # type: ignore[arg-type]
        batch = chunk.batch
        clash = [c for c in REMOVED_COLUMNS if c in batch.schema.names]
        if clash:
            raise InvalidInputError(
                f"{chunk.file.path}: column {clash[0]!r} exists; removed rows gain the columns "
                f"{', '.join(REMOVED_COLUMNS)}"
            )
        rows = np.arange(chunk.global_row, chunk.global_row + batch.num_rows)
        if rows[-1] >= n:
            raise InvalidInputError("the inputs changed between the two passes (more rows than before)")
        keep = decision.keep[rows]
        kept = batch.filter(pa.array(keep))
        removed_rows = rows[~keep]
        removed = batch.filter(pa.array(~keep))
        dup = decision.duplicate_of[removed_rows]
        has_dup = dup >= 0
        dup_ids = loaded.ids.take(pa.array(np.where(has_dup, dup, 0))).to_pylist()
        duplicate_of = pa.array(
            [v if ok else None for v, ok in zip(dup_ids, has_dup.tolist(), strict=True)], type=loaded.ids.type
        )
        cluster = (
            pa.array(decision.cluster_id[removed_rows], pa.int64())
            if decision.cluster_id is not None
            else pa.nulls(len(removed_rows), pa.int64())
        )
        similarity = decision.similarity[removed_rows].astype(np.float32)
        removed = pa.RecordBatch.from_arrays(
            [
                *removed.columns,
                duplicate_of,
                cluster,
                pa.array(similarity, pa.float32(), mask=np.isnan(similarity)),
                pa.array(decision.reason(removed_rows), pa.string()),
            ],
            names=[*removed.schema.names, *REMOVED_COLUMNS],
        )
        kept_schemas.setdefault(chunk.file_index, kept.schema)
        removed_schemas.setdefault(chunk.file_index, removed.schema)
        if kept.num_rows:
            kept_writer.write(chunk.file_index, kept)
        if removed.num_rows:
            removed_writer.write(chunk.file_index, removed)
        written += batch.num_rows
        progress("write", written, n)
    if written != n:
        raise InvalidInputError(f"the inputs changed between the two passes ({n} rows, then {written})")
    kept_writer.close(kept_schemas)
    removed_writer.close(removed_schemas)
    return {"kept": kept_writer.rows_written, "removed": removed_writer.rows_written}


def _report(
    command: str, loaded: Loaded, parameters: dict[str, Any], timer: Any, **sections: Any
) -> dict[str, Any]:
    import stemmatic

    return {
        "command": f"stemmatic diversity {command}",
        "stemmatic_version": stemmatic.__version__,
        "inputs": [
            {"path": str(f.path), "rows": rows}
            for f, rows in zip(loaded.files, loaded.rows_per_file, strict=True)
        ],
        "embeddings": {**loaded.source, "dim": int(loaded.vectors.shape[1])},
        "parameters": parameters,
        **sections,
        "rejected_lines": loaded.rejected,
        "timings": timer.stages,
    }


# ---------------------------------------------------------------- shared options

Inputs = Annotated[list[Path], typer.Argument(help="Parquet/JSONL(.gz/.zst) files, directories or globs.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output directory (refused if not empty).")]
EmbeddingColumn = Annotated[
    str | None, typer.Option(help="Input column holding each row's embedding (list of floats).")
]
Embeddings = Annotated[
    Path | None, typer.Option(help=".npy of embeddings, one row per input row in input order.")
]
EmbedderOpt = Annotated[
    str, typer.Option(help="hashing (built-in), minilm (bundled all-MiniLM-L6-v2) or a local model dir.")
]
TextColumn = Annotated[str, typer.Option(help="Text column, for the embedder.")]
Dim = Annotated[int, typer.Option(help="Dimension of the hashing embedder.")]
BatchSize = Annotated[int, typer.Option(help="Texts per embedding batch (and cache file).")]
CacheDir = Annotated[
    Path | None, typer.Option(help="Cache embeddings here (per batch, keyed by model and texts).")
]
IdColumn = Annotated[
    str | None, typer.Option(help="Column of row ids (default: row position in the ordered inputs).")
]
ScoreColumn = Annotated[str | None, typer.Option(help="Quality score column (higher is better).")]
Seed = Annotated[int, typer.Option(help="Seed (k-means, sampling); same seed, same output.")]
Fmt = Annotated[str, typer.Option("--format", help="Output shard format: parquet or jsonl.")]
OnError = Annotated[str, typer.Option(help="Malformed JSONL line: raise, or skip (to OUT/rejected/).")]
Overwrite = Annotated[bool, typer.Option(help="Replace a non-empty OUT.")]
Quiet = Annotated[bool, typer.Option(help="No progress bars.")]


def _options(
    embedding_column: str | None,
    embeddings: Path | None,
    embedder: str,
    text_column: str,
    dim: int,
    batch_size: int,
    cache_dir: Path | None,
) -> EmbeddingOptions:
    return EmbeddingOptions(embedding_column, embeddings, embedder, text_column, dim, batch_size, cache_dir)


def parse_budget(text: str) -> int | float:
    """``"1000"`` is a count, ``"0.1"`` or ``"10%"`` a ratio.

    >>> parse_budget("1000"), parse_budget("0.25"), parse_budget("10%")
    (1000, 0.25, 0.1)
    """
    text = text.strip()
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100.0
        if any(c in text for c in ".eE"):
            return float(text)
        return int(text)
    except ValueError:
        raise ParameterError(
            f"invalid --budget {text!r}; expected a count (1000) or a ratio (0.1, 10%)"
        ) from None


# ---------------------------------------------------------------- commands


@app.command()
def embed(
    inputs: Inputs,
    out: Out,
    embedder: EmbedderOpt = "hashing",
    text_column: TextColumn = "text",
    dim: Dim = 384,
    batch_size: BatchSize = 1024,
    cache_dir: CacheDir = None,
    id_column: IdColumn = None,
    on_error: OnError = "raise",
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Embed a text column: OUT/embeddings.npy (float32, unit rows, input order), OUT/ids.parquet, report.json."""
    from stemmatic.io import StageTimer, output_dir, write_report

    with _clean_errors():
        check_on_error(on_error)
        with output_dir(out, overwrite=overwrite, inputs=inputs) as target:
            timer = StageTimer()
            options = _options(None, None, embedder, text_column, dim, batch_size, cache_dir)
            with _progress(not quiet) as progress, timer.stage("embed"):
                loaded = load_inputs(
                    inputs,
                    options,
                    id_column=id_column,
                    score_column=None,
                    on_error=on_error,
                    rejected_dir=target / "rejected",
                    progress=progress,
                )
            with timer.stage("write"):
                np.save(target / "embeddings.npy", np.ascontiguousarray(loaded.vectors, dtype=np.float32))
                import pyarrow.parquet as pq

                pq.write_table(pa.table({"id": loaded.ids}), target / "ids.parquet")
            from stemmatic.diversity.embed import get_embedder

            model = get_embedder(embedder, **({"dim": dim} if embedder == "hashing" else {}))
            report = _report(
                "embed",
                loaded,
                {"embedder": embedder, "fingerprint": model.fingerprint, "batch_size": batch_size},
                timer,
                counts={"input": len(loaded.vectors)},
                outputs={"embeddings": "embeddings.npy", "ids": "ids.parquet"},
            )
            write_report(target / "report.json", report)
            typer.echo(f"embedded {len(loaded.vectors)} rows ({loaded.vectors.shape[1]} dims) -> {target}")


@app.command()
def semdedup(
    inputs: Inputs,
    out: Out,
    eps: Annotated[float, typer.Option(help="Rows with cosine similarity > 1 - eps are duplicates.")] = 0.05,
    n_clusters: Annotated[int | None, typer.Option(help="k-means clusters (default n/1000).")] = None,
    centroids: Annotated[Path | None, typer.Option(help="Reuse these centroids (.npy).")] = None,
    scores_only: Annotated[
        bool,
        typer.Option(
            help="Only write each row's max similarity, a histogram and, per eps, rows and pairs "
            "above 1 - eps (and pairs across clusters)."
        ),
    ] = False,
    boundary: Annotated[
        float,
        typer.Option(
            help="Rows near a cluster boundary are also compared with the neighbouring clusters within "
            "this fraction of the margin that guarantees every pair (1 = none missed, 0 = in-cluster only)."
        ),
    ] = DEFAULT_BOUNDARY,
    max_probes: Annotated[int, typer.Option(help="Neighbouring clusters a row visits at most.")] = 4,
    workers: Workers = None,
    score_column: ScoreColumn = None,
    niter: Annotated[int, typer.Option(help="k-means iterations.")] = 20,
    embedding_column: EmbeddingColumn = None,
    embeddings: Embeddings = None,
    embedder: EmbedderOpt = "hashing",
    text_column: TextColumn = "text",
    dim: Dim = 384,
    batch_size: BatchSize = 1024,
    cache_dir: CacheDir = None,
    id_column: IdColumn = None,
    seed: Seed = 0,
    fmt: Fmt = "parquet",
    on_error: OnError = "raise",
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """SemDeDup: remove rows whose embedding is within 1 - eps cosine of a kept row (across cluster boundaries)."""
    from stemmatic.diversity.index import save_centroids
    from stemmatic.diversity.semdedup import SemDedupResult, semdedup_scores
    from stemmatic.diversity.semdedup import semdedup as run_semdedup
    from stemmatic.io import StageTimer, output_dir, write_report

    with _clean_errors():
        check_on_error(on_error)
        if not 0.0 < eps < 2.0:
            raise ParameterError(f"invalid --eps {eps}; must be in (0, 2)")
        with output_dir(
            out, overwrite=overwrite, inputs=[*inputs, *([embeddings] if embeddings else [])]
        ) as target:
            timer = StageTimer()
            options = _options(
                embedding_column, embeddings, embedder, text_column, dim, batch_size, cache_dir
            )
            with _progress(not quiet) as progress:
                with timer.stage("read"):
                    loaded = load_inputs(
                        inputs,
                        options,
                        id_column=id_column,
                        score_column=score_column,
                        on_error=on_error,
                        rejected_dir=target / "rejected",
                        progress=progress,
                    )
                    x = check_vectors(loaded)
                common: dict[str, Any] = {
                    "n_clusters": n_clusters,
                    "centroids": str(centroids) if centroids else None,
                    "niter": niter,
                    "seed": seed,
                    "boundary": boundary,
                    "max_probes": max_probes,
                    "workers": workers,
                    "progress": progress,
                }
                with timer.stage("semdedup"):
                    if scores_only:
                        result = semdedup_scores(x, **common)
                    else:
                        result = run_semdedup(x, eps=eps, scores=loaded.scores, **common)
                save_centroids(target / "centroids.npy", result.centroids)
                parameters = {
                    "eps": eps,
                    "threshold": 1.0 - eps,
                    "n_clusters": len(result.centroids),
                    "centroids": str(centroids) if centroids else None,
                    "niter": niter,
                    "seed": seed,
                    "boundary": boundary,
                    "max_probes": max_probes,
                    "score_column": score_column,
                    "id_column": id_column,
                    "keep_rule": f"highest {score_column}" if score_column else "farthest from centroid",
                    "scores_only": scores_only,
                }
                n = len(x)
                sections: dict[str, Any] = {
                    "similarity_histogram": result.histogram(),
                    "eps_table": result.eps_table(),
                    "cluster_sizes": {
                        "min": int(np.bincount(result.cluster_id).min()),
                        "max": int(np.bincount(result.cluster_id).max()),
                        "mean": round(n / len(result.centroids), 2),
                    },
                }
                if scores_only:
                    import pyarrow.parquet as pq

                    with timer.stage("write"):
                        nearest = result.nearest
                        ok = nearest >= 0
                        nearest_ids = loaded.ids.take(pa.array(np.where(ok, nearest, 0)))
                        table = pa.table(
                            {
                                "id": loaded.ids,
                                "cluster_id": pa.array(result.cluster_id, pa.int64()),
                                "max_similarity": pa.array(
                                    result.max_similarity, pa.float32(), mask=np.isnan(result.max_similarity)
                                ),
                                "nearest_id": pa.array(
                                    [
                                        v if o else None
                                        for v, o in zip(nearest_ids.to_pylist(), ok.tolist(), strict=True)
                                    ],
                                    loaded.ids.type,
                                ),
                            }
                        )
                        pq.write_table(table, target / "scores.parquet")
                    report = _report(
                        "semdedup",
                        loaded,
                        parameters,
                        timer,
                        counts={"input": n},
                        **sections,
                        outputs={"scores": "scores.parquet", "centroids": "centroids.npy"},
                    )
                    write_report(target / "report.json", report)
                    typer.echo(
                        f"scored {n} rows in {len(result.centroids)} clusters -> {target}/scores.parquet"
                    )
                    return
                assert isinstance(result, SemDedupResult)
                threshold = 1.0 - eps
                decision = Decision(
                    result.keep,
                    result.duplicate_of,
                    result.cluster_id,
                    result.similarity,
                    lambda rows: [f"semdedup: cosine similarity > {threshold:g} to a kept row"] * len(rows),
                )
                with timer.stage("write"):
                    counts = write_outputs(
                        target, loaded, decision, fmt=fmt, on_error=on_error, progress=progress
                    )
            counts = {"input": n, **counts}
            if counts["kept"] + counts["removed"] != n:
                raise StemmaticError(f"internal error: kept + removed != input ({counts})")
            report = _report(
                "semdedup",
                loaded,
                parameters,
                timer,
                counts=counts,
                **sections,
                outputs={"kept": "kept/", "removed": "removed/", "centroids": "centroids.npy"},
            )
            write_report(target / "report.json", report)
            typer.echo(
                f"kept {counts['kept']} of {n} rows, removed {counts['removed']} semantic duplicates -> {target}"
            )


@app.command("select")
def select_command(
    inputs: Inputs,
    out: Out,
    budget: Annotated[str, typer.Option(help="Rows to keep: a count (1000) or a ratio (0.1, 10%).")],
    method: Annotated[
        str, typer.Option(help="kcenter, cluster-balanced, score-first or facility-location.")
    ] = "kcenter",
    score_column: ScoreColumn = None,
    max_similarity: Annotated[
        float, typer.Option(help="score-first: skip rows more similar than this to a selected row.")
    ] = 0.9,
    n_clusters: Annotated[
        int | None, typer.Option(help="cluster-balanced, score-first: k-means clusters.")
    ] = None,
    neighbors: Annotated[int, typer.Option(help="facility-location: kNN graph degree.")] = 10,
    quality_weight: Annotated[float, typer.Option(help="facility-location: weight of the score.")] = 1.0,
    workers: Workers = None,
    embedding_column: EmbeddingColumn = None,
    embeddings: Embeddings = None,
    embedder: EmbedderOpt = "hashing",
    text_column: TextColumn = "text",
    dim: Dim = 384,
    batch_size: BatchSize = 1024,
    cache_dir: CacheDir = None,
    id_column: IdColumn = None,
    seed: Seed = 0,
    fmt: Fmt = "parquet",
    on_error: OnError = "raise",
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Select a diverse subset within a budget; unselected rows name their nearest selected row."""
    from stemmatic.diversity.select import METHODS, select
    from stemmatic.io import StageTimer, output_dir, write_report

    with _clean_errors():
        check_on_error(on_error)
        if method not in METHODS:
            raise ParameterError(f"invalid --method {method!r}; expected one of {', '.join(METHODS)}")
        amount = parse_budget(budget)
        with output_dir(
            out, overwrite=overwrite, inputs=[*inputs, *([embeddings] if embeddings else [])]
        ) as target:
            timer = StageTimer()
            options = _options(
                embedding_column, embeddings, embedder, text_column, dim, batch_size, cache_dir
            )
            method_options: dict[str, Any] = {"seed": seed}
            if method == "score-first":
                method_options.update(max_similarity=max_similarity, n_clusters=n_clusters, workers=workers)
            elif method == "cluster-balanced":
                method_options["n_clusters"] = n_clusters
            elif method == "facility-location":
                method_options.update(neighbors=neighbors, quality_weight=quality_weight)
                method_options.pop("seed")
            with _progress(not quiet) as progress:
                with timer.stage("read"):
                    loaded = load_inputs(
                        inputs,
                        options,
                        id_column=id_column,
                        score_column=score_column,
                        on_error=on_error,
                        rejected_dir=target / "rejected",
                        progress=progress,
                    )
                    x = check_vectors(loaded)
                with timer.stage("select"):
                    selection = select(
                        x, amount, method, scores=loaded.scores, progress=progress, **method_options
                    )
                keep = selection.mask
                duplicate_of = np.where(keep, -1, selection.nearest)
                decision = Decision(
                    keep,
                    duplicate_of,
                    selection.cluster_id,
                    np.where(keep, np.nan, selection.similarity),
                    lambda rows: (
                        [f"not selected by {method}; nearest selected row is duplicate_of"] * len(rows)
                    ),
                )
                with timer.stage("write"):
                    counts = write_outputs(
                        target, loaded, decision, fmt=fmt, on_error=on_error, progress=progress
                    )
                    import pyarrow.parquet as pq

                    pq.write_table(
                        pa.table(
                            {
                                "rank": pa.array(np.arange(len(selection.indices), dtype=np.int64)),
                                "id": loaded.ids.take(pa.array(selection.indices)),
                            }
                        ),
                        target / "selection.parquet",
                    )
            n = len(x)
            counts = {"input": n, **counts}
            if counts["kept"] + counts["removed"] != n:
                raise StemmaticError(f"internal error: kept + removed != input ({counts})")
            similarity = selection.similarity.astype(np.float64)
            report = _report(
                "select",
                loaded,
                {
                    "method": method,
                    "budget": budget,
                    "score_column": score_column,
                    "id_column": id_column,
                    **method_options,
                },
                timer,
                counts=counts,
                selection={
                    **selection.info,
                    "coverage_radius": selection.coverage_radius,
                    "mean_distance_to_selected": float(np.sqrt(np.maximum(2 - 2 * similarity, 0)).mean()),
                },
                outputs={"kept": "kept/", "removed": "removed/", "selection_order": "selection.parquet"},
            )
            write_report(target / "report.json", report)
            typer.echo(
                f"selected {counts['kept']} of {n} rows with {method} "
                f"(coverage radius {selection.coverage_radius:.4f}) -> {target}"
            )


@app.command()
def measure(
    datasets: Annotated[
        list[str],
        typer.Argument(
            help="Datasets to compare: each a .npy of embeddings, or data files/dirs/globs "
            "(NAME=PATH names it; PATH1,PATH2 joins paths into one dataset)."
        ),
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write OUT/report.json here.")] = None,
    n_clusters: Annotated[
        int | None, typer.Option(help="Shared k-means clusters (default sqrt(n), max 1000).")
    ] = None,
    centroids: Annotated[Path | None, typer.Option(help="Use these shared centroids (.npy).")] = None,
    save_centroids_to: Annotated[
        Path | None, typer.Option("--save-centroids", help="Save the shared centroids (.npy).")
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="Coverage radius of each dataset over this one (.npy or data).")
    ] = None,
    vendi_kernel: Annotated[str, typer.Option(help="cosine (exact for any n) or rbf.")] = "cosine",
    vendi_max_exact: Annotated[int, typer.Option(help="rbf: exact up to this n, sampled beyond.")] = 2000,
    embedding_column: EmbeddingColumn = None,
    embedder: EmbedderOpt = "hashing",
    text_column: TextColumn = "text",
    dim: Dim = 384,
    batch_size: BatchSize = 1024,
    cache_dir: CacheDir = None,
    seed: Seed = 0,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Diversity metrics per dataset (Vendi score, mean centroid distance, cluster entropy, coverage)."""
    from stemmatic.diversity.embed import load_npy
    from stemmatic.diversity.index import load_centroids, save_centroids
    from stemmatic.diversity.metrics import measure_many
    from stemmatic.io import StageTimer, output_dir, write_report

    with _clean_errors():
        read_paths: list[str | Path] = [
            path for item in datasets for path in (item.partition("=")[2] if "=" in item else item).split(",")
        ]
        read_paths += [p for p in (reference, centroids) if p]
        held = (
            output_dir(out, inputs=read_paths, overwrite=overwrite)
            if out is not None
            else contextlib.nullcontext(None)
        )
        with held as target:
            timer = StageTimer()
            options = _options(embedding_column, None, embedder, text_column, dim, batch_size, cache_dir)

            def vectors_of(spec: str, progress: ProgressFn) -> np.ndarray:
                paths = spec.split(",")
                if len(paths) == 1 and paths[0].endswith(".npy"):
                    return np.asarray(load_npy(paths[0]))
                loaded = load_inputs(
                    [Path(p) for p in paths],
                    options,
                    id_column=None,
                    score_column=None,
                    on_error="raise",
                    rejected_dir=None,
                    progress=progress,
                )
                return check_vectors(loaded)

            named: dict[str, str] = {}
            for item in datasets:
                name, _, path = item.partition("=") if "=" in item else (item, "", item)
                if name in named:
                    raise ParameterError(f"dataset name {name!r} given twice")
                named[name] = path
            with _progress(not quiet) as progress:
                with timer.stage("read"):
                    arrays = {name: vectors_of(path, progress) for name, path in named.items()}
                    ref = vectors_of(reference, progress) if reference else None
                    shared = load_centroids(centroids) if centroids else None
                with timer.stage("measure"):
                    if shared is None:
                        from stemmatic.diversity.index import spherical_kmeans

                        union = np.vstack(
                            [a / np.linalg.norm(a, axis=1, keepdims=True) for a in arrays.values()]
                        )
                        k = (
                            n_clusters
                            if n_clusters is not None
                            else max(1, min(1000, round(math.sqrt(len(union)))))
                        )
                        progress("kmeans", 0, 1)
                        shared = spherical_kmeans(union, k, seed=seed).centroids
                        progress("kmeans", 1, 1)
                        del union
                    results = measure_many(
                        arrays,
                        centroids=shared,
                        reference=ref,
                        vendi_kernel=vendi_kernel,
                        vendi_max_exact=vendi_max_exact,
                        seed=seed,
                    )
            if save_centroids_to is not None:
                save_centroids(save_centroids_to, shared)
            report = {
                "command": "stemmatic diversity measure",
                "datasets": {name: {"path": path, **results[name]} for name, path in named.items()},
                "parameters": {
                    "n_clusters": len(shared),
                    "centroids": str(centroids) if centroids else None,
                    "reference": reference,
                    "vendi_kernel": vendi_kernel,
                    "vendi_max_exact": vendi_max_exact,
                    "seed": seed,
                    "embeddings": options.describe(),
                },
                "timings": timer.stages,
            }
            if target is not None:
                write_report(target / "report.json", report)
            _print_table(results)
            if target is None:
                typer.echo(json.dumps(report, indent=2, default=str))


def _print_table(results: dict[str, dict[str, Any]]) -> None:
    from rich.table import Table

    from stemmatic.cli._errors import literal_console

    table = Table(
        "dataset", "rows", "vendi", "mean centroid dist", "cluster entropy (norm.)", "coverage radius"
    )
    for name, r in results.items():
        coverage = r.get("coverage_radius", {}).get("max")
        table.add_row(
            name,
            str(r["rows"]),
            f"{r['vendi']['value']:.2f}" + ("" if r["vendi"]["exact"] else " (sampled)"),
            f"{r['mean_centroid_distance']:.4f}",
            f"{r['cluster_entropy']['entropy']:.3f} ({r['cluster_entropy']['normalized']:.3f})",
            "-" if coverage is None else f"{coverage:.4f}",
        )
    literal_console(stderr=True).print(table)
