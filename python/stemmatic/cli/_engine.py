"""What ``--engine ray|spark`` shares across commands: refusing the local engine's own options."""

from __future__ import annotations

import typer


def given(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave option ``name`` (not its default) on the command line or in the environment."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def refuse_local_only_options(engine: str, **options: object) -> None:
    """Refuse, naming it, an option the local engine has and ``--engine ray|spark`` would ignore.

    ``options`` maps an option (``resume``, ``workers``, ``memory_limit``,
    ``emit_pairs``, ``batch_rows``, ``max_shard_size``, ...) to its value; a value that is neither
    None nor False counts as given.
    """
    from stemmatic.engines._directory import ROW_CAP_REFUSAL
    from stemmatic.exceptions import ParameterError

    parallelism = (
        "Ray's CPUs (ray start --num-cpus, or --ray-address)"
        if engine == "ray"
        else "Spark's executors (--spark-master local[N], or the cluster's)"
    )
    why = {
        "resume": "engine runs keep no checkpoints; run again with --overwrite",
        "workers": f"the engine's parallelism is {parallelism}",
        "memory_limit": "it budgets the local engine's external sort; the engine manages its own memory",
        "emit_pairs": "the engine does not write pairs.parquet",
        "batch_rows": "the engine reads each input file in one task",
        "no_removed_text": "the engine writes removed rows whole",
        "compression": "the engine writes its own part files, with its own codec",
        "max_shard_size": "the engine writes its own part files, one per task",
        "max_shard_rows": ROW_CAP_REFUSAL,
    }
    for name, value in options.items():
        if name == "max_shard_rows" and engine == "spark":
            continue  # Spark caps the rows of its part files (maxRecordsPerFile)
        if value is not None and value is not False:
            option = "--" + name.replace("_", "-")
            where = "the local and Spark engines" if name == "max_shard_rows" else "the local engine"
            raise ParameterError(f"{option} applies to {where} only, not --engine {engine}: {why[name]}")
