"""``stemmatic dedup``: near-duplicate (and exact) deduplication of sharded corpora."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from stemmatic.cli._engine import given, refuse_local_only_options
from stemmatic.cli._errors import fail, literal_console
from stemmatic.cli._options import (
    SHARDS,
    SIMILARITY,
    Clustering,
    IdColumn,
    Inputs,
    OnError,
    OutAlias,
    Output,
    Overwrite,
    Quiet,
    RayAddress,
    RemovedText,
    Resume,
    Shards,
    Similarity,
    SparkMaster,
    TextColumn,
    Workers,
    output_of,
    with_option_groups,
)
from stemmatic.exceptions import ParameterError, StemmaticError

if TYPE_CHECKING:
    from stemmatic.dedup import DedupConfig


@with_option_groups
def dedup(
    ctx: typer.Context,
    inputs: Inputs,
    output: Output = None,
    text_column: TextColumn = "text",
    id_column: IdColumn = None,
    similarity: Similarity = SIMILARITY,
    verify: Annotated[
        str, typer.Option(help="exact (Jaccard of shingle sets) | estimate (from signatures) | none.")
    ] = "exact",
    keep: Annotated[
        str, typer.Option(help="Row kept per cluster: first | longest | column:NAME (largest).")
    ] = "first",
    exact: Annotated[
        bool, typer.Option("--exact", help="Also remove exact duplicates of the normalized text.")
    ] = False,
    workers: Workers = None,
    memory_limit: Annotated[
        str,
        typer.Option(
            help="Budget for what dedup holds in memory between stages (band-key records, shingle "
            "sets, cached text), e.g. 4GB, at least 1MiB; beyond it they spill to disk. Not a bound on the "
            "process's RSS: the batch being processed and per-row metadata come on top."
        ),
    ] = "4GB",
    shards: Shards = SHARDS,
    emit_pairs: Annotated[
        bool, typer.Option("--emit-pairs", help="Write verified pairs to pairs.parquet.")
    ] = False,
    removed_text: RemovedText = True,
    on_error: OnError = "raise",
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    engine: Annotated[
        str,
        typer.Option(help="local | ray | spark (ray/spark write kept/, removed/, clusters/, report.json)."),
    ] = "local",
    ray_address: RayAddress = None,
    spark_master: SparkMaster = None,
    max_cluster_size: Annotated[
        int | None,
        typer.Option(
            help="Giant-component guard: split clusters above this size by verified similarity (any engine)."
        ),
    ] = None,
    clustering: Clustering = "components",
    against: Annotated[
        list[str] | None,
        typer.Option(
            help="Index of earlier releases (stemmatic index build), repeatable: rows duplicating an indexed "
            "row are removed too (reason near_duplicate_of_index). Parameters must be the index's."
        ),
    ] = None,
    update_index: Annotated[
        bool, typer.Option("--update-index", help="Append the kept rows to the --against index as a release.")
    ] = False,
    out: OutAlias = None,
) -> None:
    """Remove near-duplicate rows (MinHash + LSH, verified) and write kept/, removed/, clusters, report."""
    from stemmatic.cli._progress import RichStages
    from stemmatic.dedup import dedup as run_dedup

    target = output_of(output, out)
    console = literal_console(stderr=True)
    try:
        config = similarity.config(
            text_column=text_column,
            id_column=id_column,
            verify=verify,
            keep=keep,
            exact=exact,
            memory_limit=memory_limit,
            fmt=shards.fmt,
            compression=shards.compression,
            max_shard_size=shards.max_shard_size,
            max_shard_rows=shards.max_shard_rows,
            emit_pairs=emit_pairs,
            on_error=on_error,
            max_cluster_size=max_cluster_size,
            clustering=clustering,
            removed_text=removed_text,
        )
        if not quiet:
            typer.echo(f"LSH {config.banding().describe()}", err=True)
        if engine != "local":
            if clustering != "components":
                # Refused before a Ray or Spark session starts (the engines say the same).
                raise ParameterError(
                    f"--clustering {clustering} runs on the local engine only, not --engine {engine}: "
                    "the Ray and Spark engines cluster by connected components"
                )
            if update_index:
                raise ParameterError(
                    f"--update-index applies to the local engine only, not --engine {engine}: "
                    "append the kept rows with `stemmatic index add INDEX OUTPUT/kept`"
                )
            refuse_local_only_options(
                engine,
                resume=resume,
                workers=workers,
                memory_limit=given(ctx, "memory_limit"),
                emit_pairs=emit_pairs,
                no_removed_text=not removed_text,
                compression=shards.compression,
                max_shard_size=shards.max_shard_size,
                max_shard_rows=shards.max_shard_rows,
            )
            _run_engine(
                engine,
                inputs,
                target,
                config,
                ray_address,
                spark_master,
                overwrite,
                against,
            )
            return
        result = run_dedup(
            inputs,
            target,
            config=config,
            workers=workers,
            resume=resume,
            overwrite=overwrite,
            progress=RichStages(console, enabled=not quiet),
            against=against,
            update_index=update_index,
        )
    except StemmaticError as err:
        fail(err)
    from rich.table import Table

    report = result.report
    table = Table(title=f"stemmatic dedup → {result.output}", show_header=False)
    rows_, detail = report["rows"], report["rows"]["detail"]
    table.add_row("input rows", f"{rows_['in']:,}")
    table.add_row("kept", f"{rows_['kept']:,}")
    table.add_row("removed (near-duplicate)", f"{detail['removed_near_duplicate']:,}")
    table.add_row("removed (exact)", f"{detail['removed_exact_duplicate']:,}")
    if "removed_against_index" in detail:
        table.add_row("removed (duplicate of an indexed row)", f"{detail['removed_against_index']:,}")
    table.add_row("rejected lines", f"{rows_['rejected']:,}")
    table.add_row("clusters", f"{report['clusters']['count']:,}")
    table.add_row(
        "candidate / verified pairs", f"{report['pairs']['candidates']:,} / {report['pairs']['verified']:,}"
    )
    table.add_row("time", f"{report['seconds']:.2f} s")
    literal_console().print(table)
    if "index_update" in report:
        update = report["index_update"]
        typer.echo(f"appended {update['release']['rows']:,} kept rows to {update['index']}", err=True)
    for warning in report.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)


def _run_engine(
    engine: str,
    inputs: list[str],
    output: str,
    config: DedupConfig,
    ray_address: str | None,
    spark_master: str | None,
    overwrite: bool,
    against: list[str] | None = None,
) -> None:
    """``--engine ray|spark``: the same dedup as a Ray or Spark job (``--against`` too)."""
    from stemmatic.engines import EngineOptions

    common: dict[str, Any] = {
        "config": config,
        "options": EngineOptions(),
        "overwrite": overwrite,
        "against": against,
    }
    if engine == "ray":
        from stemmatic.engines.ray import dedup_to_directory as run_ray

        report = run_ray(inputs, output, address=ray_address, **common)
    elif engine == "spark":
        from stemmatic.engines.spark import dedup_to_directory as run_spark

        report = run_spark(inputs, output, master=spark_master, **common)
    else:
        raise ParameterError(f"invalid parameter `engine`: {engine!r}; expected local, ray or spark")
    rows = report["rows"]
    literal_console().print(
        f"stemmatic dedup ({engine}) → {output}: {rows['in']:,} rows, kept {rows['kept']:,}, "
        f"removed {rows['removed']:,}, rejected {rows['rejected']:,}, clusters {report['clusters']['count']:,}"
    )
