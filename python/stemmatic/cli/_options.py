"""Options that several commands share, defined once (typer reads them from the annotations)."""

from __future__ import annotations

from typing import Annotated

import typer

#: ``--ray-address`` of the commands with ``--engine ray``.
RayAddress = Annotated[
    str | None,
    typer.Option(help="--engine ray: cluster address (auto, ray://host:10001); default local."),
]
#: ``--spark-master`` of the commands with ``--engine spark``.
SparkMaster = Annotated[
    str | None, typer.Option(help="--engine spark: master URL (local[8], spark://host:7077, yarn).")
]

#: ``--workers`` of the commands that run the Rust engine's thread pool.
Workers = Annotated[
    int | None,
    typer.Option(min=0, help="Threads (default: STEMMATIC_NUM_THREADS or all CPUs; 0 = all CPUs)."),
]

#: The corpus inputs of every corpus command.
Inputs = Annotated[
    list[str],
    typer.Argument(
        help="Files (Parquet, JSON(L), CSV/TSV, Arrow; .gz/.zst/.bz2), directories or globs, local or "
        "URLs (s3://, gs://, hf://, memory://, ... through pyarrow/fsspec)."
    ),
]
TextColumn = Annotated[str, typer.Option(help="Column holding the text.")]
OnError = Annotated[
    str,
    typer.Option(
        help="raise | skip: what to do with a malformed line (skipped lines go to rejected/, counted)."
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]

# The near-duplicate parameters, shared by `dedup` and `index build` (an index keeps them).
Threshold = Annotated[float, typer.Option(help="Jaccard similarity at or above which rows are duplicates.")]
NumPerm = Annotated[int, typer.Option(help="MinHash permutations (at most 8,192).")]
Ngram = Annotated[int, typer.Option(help="Shingle size (tokens, or characters for --tokenizer chars).")]
Tokenizer = Annotated[
    str,
    typer.Option(
        help="auto (words, and one unit per character of Chinese, Japanese, Thai...) | words | whitespace | chars."
    ),
]
Seed = Annotated[int, typer.Option(help="Seed of the shingle hash and the permutations.")]
Bands = Annotated[int | None, typer.Option(help="LSH bands (default: chosen for the threshold, printed).")]
Rows = Annotated[int | None, typer.Option(help="Rows per LSH band (give with --bands).")]
