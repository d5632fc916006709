"""``stemmatic diversity embed|semdedup|select|measure``: embedding-space tools on sharded corpora.

The commands parse options and call :mod:`stemmatic.diversity.corpus`, which
owns the workflow: inputs are files, directories, globs or URLs (see
:mod:`stemmatic.io`); vectors come from an input column of embeddings
(``--embedding-column``), a ``.npy`` aligned with the ordered input rows
(``--embeddings``, e.g. written by ``embed``), or an embedder run on a text
column (``--embedder hashing|minilm|DIR``). Filters (``semdedup``, ``select``)
write ``OUTPUT/kept/`` and ``OUTPUT/removed/`` mirroring the input shards
(removed rows gain ``duplicate_of``, ``cluster_id``, ``similarity``,
``reason``) and ``OUTPUT/report.json``; kept + removed = input, always.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from stemmatic.cli._errors import clean_errors as _clean_errors
from stemmatic.cli._options import (
    SHARDS,
    IdColumn,
    Inputs,
    OnError,
    OutAlias,
    Output,
    Overwrite,
    Quiet,
    Shards,
    Workers,
    option_group,
    output_of,
    with_option_groups,
)
from stemmatic.diversity.neighbors import DEFAULT_BOUNDARY, DEFAULT_MAX_PROBES
from stemmatic.diversity.select import Method
from stemmatic.exceptions import ParameterError

if TYPE_CHECKING:
    from stemmatic.cli._progress import RichStages

app = typer.Typer(
    name="diversity",
    help="Embedding-space diversity: embed, semantic dedup (SemDeDup), diverse selection, metrics.",
    no_args_is_help=True,
)


def _stages(quiet: bool) -> RichStages:
    """The progress display: bars on a terminal, log lines otherwise, nothing with -q."""
    from stemmatic.cli._errors import literal_console
    from stemmatic.cli._progress import RichStages

    return RichStages(literal_console(stderr=True), enabled=not quiet)


# ---------------------------------------------------------------- shared options

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
Dim = Annotated[int, typer.Option(min=1, help="Dimension of the hashing embedder.")]
BatchSize = Annotated[int, typer.Option(min=1, help="Texts per embedding batch (and cache file).")]
CacheDir = Annotated[
    Path | None, typer.Option(help="Cache embeddings here (per batch, keyed by model and texts).")
]
ScoreColumn = Annotated[str | None, typer.Option(help="Quality score column (higher is better).")]
Seed = Annotated[int, typer.Option(help="Seed (k-means, sampling); same seed, same output.")]


@option_group
@dataclass(frozen=True)
class Embedding:
    """The embedder a command runs on a text column (when its vectors come from neither an input column nor a ``.npy``)."""

    embedder: EmbedderOpt = "hashing"
    text_column: TextColumn = "text"
    dim: Dim = 384
    batch_size: BatchSize = 1024
    cache_dir: CacheDir = None


#: The default of a command's ``embedding`` parameter.
EMBEDDING = Embedding()


# ---------------------------------------------------------------- commands


@app.command()
@with_option_groups
def embed(
    inputs: Inputs,
    output: Output = None,
    embedding: Embedding = EMBEDDING,
    id_column: IdColumn = None,
    on_error: OnError = "raise",
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    out: OutAlias = None,
) -> None:
    """Embed a text column: OUTPUT/embeddings.npy (float32, unit rows, input order), OUTPUT/ids.parquet, report.json."""
    from stemmatic.diversity.corpus import embed_corpus

    target = output_of(output, out)
    progress = _stages(quiet)
    with _clean_errors():
        result = embed_corpus(
            inputs,
            target,
            **asdict(embedding),
            id_column=id_column,
            on_error=on_error,
            overwrite=overwrite,
            progress=progress,
        )
    rows, dims = result.vectors.shape
    typer.echo(f"embedded {rows} rows ({dims} dims) -> {target}")


@app.command()
@with_option_groups
def semdedup(
    inputs: Inputs,
    output: Output = None,
    eps: Annotated[float, typer.Option(help="Rows with cosine similarity > 1 - eps are duplicates.")] = 0.05,
    n_clusters: Annotated[int | None, typer.Option(min=1, help="k-means clusters (default n/1000).")] = None,
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
    max_probes: Annotated[int, typer.Option(help="Neighbouring clusters a row visits at most.")] = (
        DEFAULT_MAX_PROBES
    ),
    workers: Workers = None,
    score_column: ScoreColumn = None,
    niter: Annotated[int, typer.Option(min=1, help="k-means iterations.")] = 20,
    embedding_column: EmbeddingColumn = None,
    embeddings: Embeddings = None,
    embedding: Embedding = EMBEDDING,
    id_column: IdColumn = None,
    seed: Seed = 0,
    shards: Shards = SHARDS,
    on_error: OnError = "raise",
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    out: OutAlias = None,
) -> None:
    """SemDeDup: remove rows whose embedding is within 1 - eps cosine of a kept row (across cluster boundaries)."""
    from stemmatic.diversity.corpus import semdedup_corpus, semdedup_scores_corpus

    target = output_of(output, out)
    common: dict[str, Any] = {
        "n_clusters": n_clusters,
        "centroids": centroids,
        "boundary": boundary,
        "max_probes": max_probes,
        "niter": niter,
        "seed": seed,
        "workers": workers,
        "id_column": id_column,
        "on_error": on_error,
        "overwrite": overwrite,
        "embedding_column": embedding_column,
        "embeddings": embeddings,
        **asdict(embedding),
    }
    with _clean_errors():
        if not 0.0 < eps < 2.0:
            raise ParameterError(f"invalid --eps {eps}; must be in (0, 2)")
        progress = _stages(quiet)
        if scores_only:
            if score_column is not None:
                raise ParameterError("--score-column chooses the row kept; --scores-only keeps no row")
            scored = semdedup_scores_corpus(inputs, target, progress=progress, **common)
            typer.echo(
                f"scored {scored.scores.num_rows} rows in {len(scored.centroids)} clusters "
                f"-> {target}/scores.parquet"
            )
            return
        result = semdedup_corpus(
            inputs,
            target,
            eps=eps,
            score_column=score_column,
            **shards.options(),
            progress=progress,
            **common,
        )
    typer.echo(
        f"kept {result.kept_rows} of {result.input_rows} rows, removed {result.removed_rows} "
        f"semantic duplicates -> {target}"
    )


@app.command("select")
@with_option_groups
def select_command(
    inputs: Inputs,
    budget: Annotated[str, typer.Option(help="Rows to keep: a count (1000) or a ratio (0.1, 10%).")],
    output: Output = None,
    method: Annotated[Method, typer.Option(help="The selector.")] = "kcenter",
    score_column: ScoreColumn = None,
    max_similarity: Annotated[
        float, typer.Option(help="score-first: skip rows more similar than this to a selected row.")
    ] = 0.9,
    n_clusters: Annotated[
        int | None, typer.Option(min=1, help="cluster-balanced, score-first: k-means clusters.")
    ] = None,
    neighbors: Annotated[int, typer.Option(min=1, help="facility-location: kNN graph degree.")] = 10,
    quality_weight: Annotated[float, typer.Option(help="facility-location: weight of the score.")] = 1.0,
    workers: Workers = None,
    embedding_column: EmbeddingColumn = None,
    embeddings: Embeddings = None,
    embedding: Embedding = EMBEDDING,
    id_column: IdColumn = None,
    seed: Seed = 0,
    shards: Shards = SHARDS,
    on_error: OnError = "raise",
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    out: OutAlias = None,
) -> None:
    """Select a diverse subset within a budget; unselected rows name their nearest selected row."""
    from stemmatic.diversity.corpus import select_corpus

    target = output_of(output, out)
    progress = _stages(quiet)
    with _clean_errors():
        result = select_corpus(
            inputs,
            target,
            budget=budget,
            method=method,
            score_column=score_column,
            max_similarity=max_similarity,
            n_clusters=n_clusters,
            neighbors=neighbors,
            quality_weight=quality_weight,
            seed=seed,
            workers=workers,
            id_column=id_column,
            **shards.options(),
            on_error=on_error,
            overwrite=overwrite,
            progress=progress,
            embedding_column=embedding_column,
            embeddings=embeddings,
            **asdict(embedding),
        )
    typer.echo(
        f"selected {result.kept_rows} of {result.input_rows} rows with {method} "
        f"(coverage radius {result.coverage_radius:.4f}) -> {target}"
    )


def _dataset(spec: str) -> str | list[str]:
    """``PATH`` or ``PATH1,PATH2,...`` (one dataset of several paths)."""
    paths = spec.split(",")
    return paths[0] if len(paths) == 1 else paths


@app.command()
@with_option_groups
def measure(
    datasets: Annotated[
        list[str],
        typer.Argument(
            help="Datasets to compare: each a .npy of embeddings, or data files/dirs/globs "
            "(NAME=PATH names it; PATH1,PATH2 joins paths into one dataset)."
        ),
    ],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write OUTPUT/report.json here.")
    ] = None,
    n_clusters: Annotated[
        int | None, typer.Option(min=1, help="Shared k-means clusters (default sqrt(n), max 1000).")
    ] = None,
    centroids: Annotated[Path | None, typer.Option(help="Use these shared centroids (.npy).")] = None,
    save_centroids_to: Annotated[
        Path | None, typer.Option("--save-centroids", help="Save the shared centroids (.npy).")
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="Coverage radius of each dataset over this one (.npy or data).")
    ] = None,
    vendi_kernel: Annotated[
        Literal["cosine", "rbf"],
        typer.Option(help="cosine (exact for any n) or rbf (sampled beyond --vendi-max-exact)."),
    ] = "cosine",
    vendi_max_exact: Annotated[
        int, typer.Option(min=1, help="rbf: exact up to this n, sampled beyond.")
    ] = 2000,
    embedding_column: EmbeddingColumn = None,
    embedding: Embedding = EMBEDDING,
    seed: Seed = 0,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    out: OutAlias = None,
) -> None:
    """Diversity metrics per dataset (Vendi score, mean centroid distance, cluster entropy, coverage)."""
    from stemmatic.diversity.corpus import measure_corpus
    from stemmatic.diversity.index import save_centroids

    target = output_of(output, out, required=False)
    with _clean_errors():
        named: dict[str, str | list[str]] = {}
        for item in datasets:
            name, _, path = item.partition("=") if "=" in item else (item, "", item)
            if name in named:
                raise ParameterError(f"dataset name {name!r} given twice")
            named[name] = _dataset(path)
        progress = _stages(quiet)
        result = measure_corpus(
            named,
            target,
            n_clusters=n_clusters,
            centroids=centroids,
            reference=_dataset(reference) if reference else None,
            vendi_kernel=vendi_kernel,
            vendi_max_exact=vendi_max_exact,
            seed=seed,
            embedding_column=embedding_column,
            **asdict(embedding),
            overwrite=overwrite,
            progress=progress,
        )
        if save_centroids_to is not None:
            save_centroids(save_centroids_to, result.centroids)
    _print_table(result.metrics)
    if target is None:
        typer.echo(json.dumps(result.report, indent=2, default=str))


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
