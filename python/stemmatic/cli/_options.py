"""Options that several commands share, defined once (typer reads them from the annotations)."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

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
    Literal["raise", "skip"],
    typer.Option(help="What to do with a malformed line (skipped lines go to rejected/, counted)."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
RemovedText = Annotated[
    bool,
    typer.Option(
        "--removed-text/--no-removed-text",
        help="Write the removed rows with their text column (--no-removed-text: every other column, "
        "and why each row was removed, but not the text).",
    ),
]

#: ``-o/--output`` of the corpus commands; optional here so that :data:`OutAlias` can stand in
#: for it (:func:`output_of` makes one of the two required).
Output = Annotated[
    str | None,
    typer.Option(
        "--output", "-o", help="Output directory, local or a URL (uploaded when the run ends). Required."
    ),
]
#: ``--out``: the earlier name of ``--output``, still accepted, not listed in ``--help``.
OutAlias = Annotated[str | None, typer.Option("--out", hidden=True)]
IdColumn = Annotated[
    str | None,
    typer.Option(help="Column of unique row ids (default: row position in the ordered inputs)."),
]
Format = Annotated[Literal["parquet", "jsonl"], typer.Option("--format", help="Format of the output shards.")]
Compression = Annotated[
    str | None,
    typer.Option(
        help="Output compression: a Parquet codec (default zstd; snappy, gzip, brotli, lz4, none) or for "
        "JSONL gzip | zstd | bz2 | none (default: each input file's own)."
    ),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty output directory.")]


def output_of(output: str | None, out: str | None, *, required: bool = True) -> str | None:
    """The output directory given as ``-o/--output`` or as the hidden alias ``--out``.

    Exits with code 2 and one ``error:`` line (as for any bad option) when
    both are given with different values, or neither while ``required``.
    """
    from stemmatic.cli._errors import fail

    if output is not None and out is not None and output != out:
        fail("give the output directory once, as -o/--output")
    value = output if output is not None else out
    if value is None and required:
        fail("missing option -o/--output (the output directory)")
    return value


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


_D = TypeVar("_D", str, None)


def renamed(value: str | None, old: str | None, *, option: str, old_option: str, default: _D) -> str | _D:
    """The value of an option given under its name ``option`` or its earlier name ``old_option``.

    Both are declared with the default ``None`` (the earlier name hidden:
    accepted, not listed in ``--help``); ``default`` applies when neither is
    given. Exits with code 2 and one ``error:`` line when both are given with
    different values.
    """
    from stemmatic.cli._errors import fail

    if value is not None and old is not None and value != old:
        fail(f"give {option} once ({old_option} is its earlier name)")
    if value is not None:
        return value
    return old if old is not None else default


#: ``--clustering`` of the commands that turn verified pairs into kept and removed rows.
Clustering = Annotated[
    Literal["components", "star"],
    typer.Option(
        help="components (connected components of verified pairs; a removed row may chain far below "
        "--threshold to its kept row) | star (every removed row is verified at or above --threshold "
        "to its kept row; local engine)."
    ),
]
